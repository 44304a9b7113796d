"""Shared fixtures: the demo config, its three embedded guards (loaded once per session), a
factory for small run configs over the demo files in a temporary reports folder, and real guard
tokenizers with tiny checkpoints built offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardcal.config import Config, load_config
from guardcal.records import load_split

DEMO_DIR = Path(__file__).resolve().parents[1] / "guardcal" / "data" / "demo"
POLICIES_DIR = DEMO_DIR.parent / "policies"
ZERO_SHOT = "SmolLM2-135M zero-shot"
BASE = "SmolLM2-135M base (MLCommons rows)"
FINE_TUNED = "SmolLM2-135M fine-tuned"
EMBEDDED_MODELS = {
    ZERO_SHOT: "embedded:smollm2-135m",
    BASE: "embedded:smollm2-135m-mlcommons",
    FINE_TUNED: "embedded:smollm2-135m-finetuned",
}


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
    from guardcal.extraction.models import load_guard

    return {name: load_guard(demo_cfg, name) for name in EMBEDDED_MODELS}


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
            "dataset": {
                "validation": {"path": str(DEMO_DIR / "train.jsonl"), "fraction": 0.3, "seed": 42},
                "test": str(DEMO_DIR / "test.jsonl"),
                "limit": overrides.pop("limit", 4),
            },
            "models": [
                m if isinstance(m, dict) else {"name": m, "model": EMBEDDED_MODELS[m]}
                for m in models
            ],
            "scoring": {"shard_size": 2, "batch_size": 2, **overrides.pop("scoring", {})},
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
