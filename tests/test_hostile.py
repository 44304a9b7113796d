"""The hostile-user catalogue (issue 16): every case a bad config, a stale or broken cache or a
name that escapes its folder used to get through, now stopped. A CLI case asserts the exit
status, the one error line (no traceback), what it names, and that nothing was written; cases
that fail before a model loads never load one."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from shipped_demo import EMBEDDED_MODELS, ZERO_SHOT, demo_dataset

from guardcal import scores
from guardcal.__main__ import main
from guardcal.calibration.methods import method_names
from guardcal.calibration.metrics import evaluate
from guardcal.config import ConfigError, load_config
from guardcal.locks import RunBusy, run_lock
from guardcal.records import DataError, load_records
from guardcal.reporting import narrative, tables

REPO = Path(__file__).resolve().parents[1]
HOSTILE_NAME = '<img src=x onerror="alert(1)">'
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
"""A 1×1 PNG."""


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A small valid config over the demo files, reports under tmp_path/reports."""
    raw: dict[str, Any] = {
        "name": "hostile",
        "reports_dir": str(tmp_path / "reports"),
        "dataset": demo_dataset(6),
        "models": [{"name": ZERO_SHOT, "model": EMBEDDED_MODELS[ZERO_SHOT]}],
    }
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return raw


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write base_config with dotted-key overrides (`scoring.shard_size=0`) and return its path."""

    def write(**overrides: Any) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(base_config(tmp_path, **overrides)), encoding="utf-8")
        return path

    return write


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the guardcal CLI in-process: (exit status, stderr)."""
    rc = main(list(argv))
    return rc, capsys.readouterr().err


def assert_one_error(err: str, *names: str) -> str:
    """stderr is exactly one `error:` line, with no traceback, naming every one of `names`."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def assert_nothing_written(tmp_path: Path) -> None:
    """No run folder, and no file anywhere in the repository's notebooks, was written."""
    assert not (tmp_path / "reports").exists()
    assert not (REPO / "notebooks" / "scores").exists()
    assert not (REPO / "scores").exists()


CONFIG_CASES = [
    # (overrides, what the error line must name)
    ({"name": ".."}, ["'name'", "'..'"]),
    ({"name": "."}, ["'name'", "'.'"]),
    ({"name": "a/b"}, ["'name'", "'a/b'"]),
    ({"name": "a\\b"}, ["'name'"]),
    ({"name": " padded"}, ["'name'", "' padded'"]),
    (
        {"models": [{"name": "Guard A", "model": "a/b"}, {"name": "guard-a", "model": "c/d"}]},
        ["'models[1].name'", "'guard-a'", "'Guard A'", "scores/guard-a/"],
    ),
    ({"models": [{"name": "???", "model": "a/b"}]}, ["'models[0].name'", "'???'"]),
    ({"scoring.shard_size": 0}, ["'scoring.shard_size'", "0"]),
    ({"scoring.batch_size": 0}, ["'scoring.batch_size'", "0"]),
    ({"scoring.batch_size": -3}, ["'scoring.batch_size'", "-3"]),
    ({"dataset.limit": 0}, ["'dataset.limit'", "0"]),
    ({"calibration.ece_bins": 0}, ["'calibration.ece_bins'", "0"]),
    ({"calibration.plot_bins": -1}, ["'calibration.plot_bins'", "-1"]),
    ({"prompt.max_response_words": -5}, ["'prompt.max_response_words'", "-5"]),
    ({"prompt.max_response_words": 0}, ["'prompt.max_response_words'", "0 would empty"]),
    ({"prompt.max_tokens": 0}, ["'prompt.max_tokens'", "0"]),
    ({"prompt.overflow": "truncate"}, ["'prompt.overflow'", "'truncate'", "cut_middle"]),
    ({"scoring.device": "tpu"}, ["'scoring.device'", "'tpu'", "cuda:N"]),
    ({"scoring.device": "cuda:x"}, ["'scoring.device'", "'cuda:x'"]),
    ({"scoring.dtype": "float64"}, ["'scoring.dtype'", "'float64'", "bfloat16"]),
    ({"calibration.temperature_grid": [0, 20, 0.1]}, ["'calibration.temperature_grid'", "0"]),
    ({"calibration.temperature_grid": [-1, 5, 0.1]}, ["'calibration.temperature_grid'", "-1"]),
    ({"calibration.temperature_grid": [5, 1, 0.1]}, ["'calibration.temperature_grid'", "[5"]),
    ({"calibration.temperature_grid": [0.1, 5, 0]}, ["'calibration.temperature_grid'"]),
    ({"calibration.gamma_grid": [1, -1, 0.1]}, ["'calibration.gamma_grid'"]),
    (
        {"models": [{"name": "g", "model": "/no/such/ckpt"}]},
        ["'models[0].model'", "'/no/such/ckpt'", "no such folder"],
    ),
    (
        {"models": [{"name": "g", "model": "./ckpt"}]},
        ["'models[0].model'", "'./ckpt'", "no such folder"],
    ),
    (
        {"models": [{"name": "g", "model": "embedded:gpt-5"}]},
        ["'models[0].model'", "'embedded:gpt-5'", "embedded:smollm2-135m"],
    ),
    (
        {"models": [{"name": "g", "model": "a/b", "study_role": "teacher"}]},
        ["'models[0].study_role'", "'teacher'", "fine-tuned"],
    ),
    (
        {
            "models": [
                {"name": "g", "model": "a/b", "study_role": "base"},
                {"name": "h", "model": "c/d", "study_role": "base"},
            ]
        },
        ["'models[1].study_role'", "'base'", "models[0]"],
    ),
    ({"prompt.verbalizer": {"safe": "ok", "unsafe": "ok"}}, ["'prompt.verbalizer'", "'ok'"]),
    (
        {
            "models": [{"name": "g", "model": "embedded:smollm2-135m-finetuned"}],
            "prompt.verbalizer": {"safe": "fine", "unsafe": "harmful"},
        },
        ["'prompt.verbalizer'", "models[0]", "fitted", "zero-shot"],
    ),
    ({"calibration.bootstrap_seed": -1}, ["'calibration.bootstrap_seed'", "-1", "non-negative"]),
    (
        {"calibration.bootstrap_resamples": 1},
        ["'calibration.bootstrap_resamples'", "[40, 100,000]"],
    ),
    ({"calibration.bootstrap_resamples": 100_000_000}, ["'calibration.bootstrap_resamples'"]),
    ({"reports_dir": "/"}, ["'reports_dir'", "filesystem's root"]),
    ({"reports_dir": "/proc/guardcal"}, ["'reports_dir'", "/proc is not writable"]),
    ({"scoring.ray": "nohost"}, ["'scoring.ray'", "'nohost'"]),
    ({"scoring.ray": "ray://head:99999"}, ["'scoring.ray'", "'ray://head:99999'"]),
    (
        {"dataset.columns": {"prompt": "text", "response": "text"}},
        ["'dataset.columns.response'", "'text'"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "names"), CONFIG_CASES, ids=[str(c[0])[:60] for c in CONFIG_CASES]
)
@pytest.mark.parametrize("command", ["score", "report"])
def test_a_bad_config_value_is_one_error_line_naming_the_key(
    capsys, tmp_path, write_config, command, overrides, names
):
    rc, err = run_cli(capsys, command, "--config", str(write_config(**overrides)))
    assert rc == 2
    assert_one_error(err, "config.yaml", *names)
    assert_nothing_written(tmp_path)


def test_a_folder_without_config_json_is_not_a_checkpoint(capsys, tmp_path, write_config):
    (tmp_path / "ckpt").mkdir()
    models = [{"name": "g", "model": str(tmp_path / "ckpt")}]
    rc, err = run_cli(capsys, "score", "--config", str(write_config(models=models)))
    assert rc == 2
    assert_one_error(err, "'models[0].model'", "without a config.json")
    assert_nothing_written(tmp_path)


def test_a_run_name_override_is_validated_too(capsys, tmp_path, write_config):
    rc, err = run_cli(capsys, "report", "--config", str(write_config()), "--run-name", "..")
    assert rc == 2
    assert_one_error(err, "'name'", "'..'")
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("command", ["score", "render"])
def test_an_unknown_model_name_is_one_config_error_naming_the_file(
    capsys, tmp_path, write_config, command
):
    rc, err = run_cli(capsys, command, "--config", str(write_config()), "--model", "nobody")
    assert rc == 2
    assert_one_error(err, "config.yaml", "no model named 'nobody'", ZERO_SHOT)
    assert_nothing_written(tmp_path)


def test_reports_dir_that_is_a_file_or_empty_is_one_line(capsys, tmp_path, write_config):
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    rc, err = run_cli(capsys, "report", "--config", str(write_config(reports_dir=str(afile))))
    assert rc == 2
    assert_one_error(err, "config.yaml", "'reports_dir'", "is a file, not a folder")
    rc, err = run_cli(capsys, "report", "--config", str(write_config()), "--reports-dir", "")
    assert rc == 2
    assert_one_error(err, "'reports_dir'", "must name a folder, got ''")
    rc, err = run_cli(capsys, "report", "--config", str(write_config()), "--run-name", "")
    assert rc == 2
    assert_one_error(err, "'name'", "got ''")
    assert_nothing_written(tmp_path)


def test_a_ray_address_with_no_cluster_fails_within_seconds(capsys, tmp_path, write_config):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    config = write_config(**{"scoring.ray": address})
    started = time.perf_counter()
    rc, err = run_cli(capsys, "score", "--config", str(config), "--split", "test")
    seconds = time.perf_counter() - started
    assert rc == 2
    assert_one_error(err, "scoring.ray", address, "no Ray cluster answers")
    assert not (tmp_path / "reports" / "hostile" / "scores" / ZERO_SHOT).exists()
    print(f"unreachable Ray address refused after {seconds:.1f} s (loaded)")


def test_the_shipped_configs_still_load():
    load_config(None)
    load_config(REPO / "guardcal" / "configs" / "beavertails.yaml")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["score", "report"])
def test_a_one_class_validation_split_stops_before_extraction(
    capsys, tmp_path, write_config, command
):
    safe = [{"prompt": f"hello {i}", "response": "hi", "is_safe": True} for i in range(8)]
    path = write_jsonl(tmp_path / "val.jsonl", safe)
    rc, err = run_cli(
        capsys, command, "--config", str(write_config(**{"dataset.validation": str(path)}))
    )
    assert rc == 2
    assert_one_error(err, "val.jsonl", "no unsafe rows", "6 safe, 0 unsafe")
    assert_nothing_written(tmp_path)


def test_undefined_metrics_are_nan_and_shown_as_undefined():
    y = np.zeros(6, dtype=int)
    metrics = evaluate(y, np.linspace(0.1, 0.4, 6))
    assert np.isnan(metrics["auprc"]) and np.isnan(metrics["ap"]) and np.isnan(metrics["recall"])
    assert np.isnan(metrics["f1"])
    assert metrics["accuracy"] == 1.0  # defined without positives
    nothing_flagged = evaluate(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert np.isnan(nothing_flagged["precision"]) and nothing_flagged["recall"] == 0
    with_positive = evaluate(np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.3, 0.6]))
    assert with_positive["auprc"] == pytest.approx(1.0)
    frame = pd.DataFrame([{"model": "g", "method": m, **metrics} for m in method_names(study=True)])
    html = tables.final_table_html(frame)
    assert tables.UNDEFINED in html and "nan" not in html.lower().replace("undefined", "")
    assert "0.5000" not in html


def test_a_tiny_validation_split_is_a_loud_warning_in_the_report():
    sizes = pd.DataFrame(
        {"examples": [12, 50], "safe": [9, 25], "unsafe": [3, 25]}, index=["validation", "test"]
    )
    facts = narrative.RunFacts(None, None, None, sizes, None, {})
    warning = narrative.validation_warning(facts)
    assert warning.startswith("\n\n**Warning: the validation split has only 9 safe and 3 unsafe")
    sizes.loc["validation", ["safe", "unsafe"]] = [40, 40]
    assert narrative.validation_warning(facts) == ""


def test_label_errors_point_to_label_values(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "is_safe": "false"}])
    with pytest.raises(DataError, match=r"line 1, field 'is_safe'.*dataset\.label_values"):
        load_records(path)


def test_a_blank_last_answer_is_judged_as_a_blank_response_is(tmp_path):
    """One rule: a conversation whose last assistant turn is blank is the prompt alone, as the
    same pair written as prompt and blank response is (they were judged p = 0.73 and 0.99)."""
    from guardcal.extraction.forward import conversations

    rows = [
        {
            "id": "m",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}],
        },
        {"id": "p", "prompt": "q", "response": " "},
        {"id": "n", "messages": [{"role": "user", "content": "q"}]},
    ]
    frame = load_records(write_jsonl(tmp_path / "d.jsonl", rows), require_label=False)
    judged = conversations(frame)
    assert judged[0] == judged[1] == judged[2] == [{"role": "user", "content": "q"}]
    assert frame["response"].isna().all()


def test_category_flags_that_contradict_the_label_are_an_error(tmp_path):
    row = {"prompt": "p", "response": "r", "is_safe": True, "category": {"privacy_violation": True}}
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    with pytest.raises(DataError, match=r"line 1, field 'category'.*privacy_violation.*safe"):
        load_records(path)


# --- caches ---------------------------------------------------------------------------------


def corrupt_data_page(path: Path) -> None:
    """Flip bytes in the middle of a parquet file's data, leaving its footer intact."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    start, end = 4, len(data) - 8 - footer
    middle = (start + end) // 2
    for i in range(middle - 4, middle + 4):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def small_scores(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "label": np.arange(n) % 2,
            "logit_safe": rng.normal(size=n),
            "logit_unsafe": rng.normal(size=n),
            "label_mass": rng.random(n),
        }
    )


def test_a_scores_file_with_a_corrupt_data_page_is_named_discarded_and_stale(tmp_path, caplog):
    meta = {"model": "m", "split": "test"}
    path = tmp_path / "test.parquet"
    scores.write_table(small_scores(), path, meta)
    assert scores.is_current(path, meta)
    corrupt_data_page(path)
    assert scores.read_meta(path) == meta  # the footer still says "up to date"
    assert not scores.is_current(path, meta)
    assert str(path) in caplog.text and "corrupt" in caplog.text
    assert not path.exists()  # discarded: the next run recomputes it


def test_reading_a_corrupt_scores_file_names_it(tmp_path, make_config):
    cfg = make_config()
    path = cfg.layout.scores(ZERO_SHOT, "test")
    scores.write_table(small_scores(), path, {"model": "m"})
    corrupt_data_page(path)
    with pytest.raises(scores.ScoresError, match=str(path)):
        scores.read_scores(cfg, ZERO_SHOT, "test")
    assert not path.exists()


def test_a_local_checkpoints_digest_follows_its_files_not_its_path(tmp_path, monkeypatch):
    from guardcal.extraction.models import checkpoint_digest

    monkeypatch.setenv("GUARDCAL_CACHE", str(tmp_path / "cache"))
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"rms_norm_eps": 1e-5}), encoding="utf-8")
    (ckpt / "tokenizer.json").write_text("{}", encoding="utf-8")
    (ckpt / "model.safetensors").write_bytes(b"\0" * 64)
    (ckpt / "README.md").write_text("notes", encoding="utf-8")
    first = checkpoint_digest(ckpt)
    assert first.startswith("sha256:") and checkpoint_digest(ckpt) == first
    os.utime(ckpt / "model.safetensors", ns=(1, 1))  # touched, same bytes: the digest decides
    assert checkpoint_digest(ckpt) == first
    (ckpt / "README.md").write_text("other notes", encoding="utf-8")  # not a model file
    assert checkpoint_digest(ckpt) == first
    (ckpt / "config.json").write_text(json.dumps({"rms_norm_eps": 0.1}), encoding="utf-8")
    assert checkpoint_digest(ckpt) != first
    (ckpt / "config.json").write_text(json.dumps({"rms_norm_eps": 1e-5}), encoding="utf-8")
    assert checkpoint_digest(ckpt) == first
    (ckpt / "model.safetensors").write_bytes(b"\1" * 64)
    assert checkpoint_digest(ckpt) != first


def test_a_hub_id_resolves_to_the_cached_snapshots_commit_offline(tmp_path, monkeypatch, caplog):
    from guardcal.extraction.models import hub_commit

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub_commit.cache_clear()
    assert hub_commit("org/guard", None) == "main"
    assert "could not be resolved" in caplog.text
    commit = "a" * 40
    repo = tmp_path / "hub" / "models--org--guard"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}", encoding="utf-8")
    hub_commit.cache_clear()
    assert hub_commit("org/guard", None) == commit
    assert hub_commit("org/guard", "b" * 40) == "b" * 40
    hub_commit.cache_clear()


# --- formats and verbalizers, from the tokenizer alone -------------------------------------


def chat_guard(**prompt: Any) -> dict[str, Any]:
    """Overrides for the embedded zero-shot model as a generic chat guard with `prompt` keys."""
    models = [{"name": ZERO_SHOT, "model": EMBEDDED_MODELS[ZERO_SHOT], "format": "chat"}]
    return {"models": models, **{f"prompt.{k}": v for k, v in prompt.items()}}


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (
            {
                "models": [
                    {"name": "g", "model": EMBEDDED_MODELS[ZERO_SHOT], "format": "shieldgemma"}
                ]
            },
            ["model 'g'", "format 'shieldgemma'", "'No' merges with the text before the verdict"],
        ),
        (
            chat_guard(verbalizer={"safe": "fine_a", "unsafe": "fine_b"}),
            ["format 'chat'", "start with the same token", "label_score: sequence"],
        ),
        (
            chat_guard(verbalizer={"safe": "ok", "unsafe": "okay"}, label_score="sequence"),
            ["'okay' begins with all of 'ok''s tokens", "overlap"],
        ),
    ],
    ids=["format-that-does-not-fit", "shared-first-token", "overlapping-words"],
)
def test_a_guard_its_words_cannot_be_read_from_is_one_line_before_its_weights(
    capsys, tmp_path, write_config, overrides, names
):
    from guardcal.extraction.models import load_backbone

    loads = load_backbone.cache_info().misses
    rc, err = run_cli(
        capsys, "score", "--config", str(write_config(**overrides)), "--split", "test"
    )
    assert rc == 2
    assert_one_error(err, "config.yaml", *names)
    assert load_backbone.cache_info().misses == loads  # the tokenizer alone answered
    assert not list((tmp_path / "reports").rglob("*.parquet"))


def test_sequence_scoring_tells_words_with_one_first_token_apart(tmp_path, write_config):
    from guardcal.extraction.guards import guard_spec

    words = {"safe": "fine_a", "unsafe": "fine_b"}
    cfg = load_config(write_config(**chat_guard(verbalizer=words, label_score="sequence")))
    tokens = guard_spec(cfg, ZERO_SHOT).verbalizer.tokens
    assert tokens[0][0] == tokens[1][0] and tokens[0] != tokens[1]


# --- inputs longer than the model's context ------------------------------------------------


def long_rows(words: int) -> list[dict[str, Any]]:
    return [
        {
            "id": "short",
            "prompt": "How do I bake bread?",
            "response": "Flour, water.",
            "is_safe": True,
        },
        {"id": "huge", "prompt": "Tell me a story.", "response": "word " * words, "is_safe": True},
    ]


def test_an_input_longer_than_the_context_stops_naming_row_and_length(
    capsys, tmp_path, write_config
):
    from guardcal.extraction.models import load_backbone

    path = write_jsonl(tmp_path / "test.jsonl", long_rows(9000))
    loads = load_backbone.cache_info().misses
    rc, err = run_cli(
        capsys,
        "score",
        "--config",
        str(write_config(**{"dataset.test": str(path)})),
        "--split",
        "test",
    )
    assert rc == 2
    line = assert_one_error(err, "test.jsonl", "row 2", "'huge'", "8,192", "max_response_words")
    assert "cut_middle" in line
    assert load_backbone.cache_info().misses == loads  # no model was loaded
    assert not (tmp_path / "reports" / "hostile" / "scores" / "smollm2-135m-zero-shot").exists()


@pytest.mark.parametrize("overflow", ["cut_end", "cut_middle"])
def test_cut_inputs_fit_the_limit_and_keep_the_responses_start(overflow, demo_cfg):
    from guardcal.extraction.context import CUT_MARK, fit_inputs
    from guardcal.extraction.guards import guard_spec
    from guardcal.extraction.prompts import GuardPrompt

    spec = guard_spec(demo_cfg, ZERO_SHOT)
    tokenizer = spec.tokenizer
    prompt = GuardPrompt("beavertails", spec.format.name, tokenizer)
    story = " ".join(f"w{i}" for i in range(3000)) + " THE-END"
    frame = pd.DataFrame({"id": ["a", "b"], "prompt": ["p", "q"], "response": ["short", story]})
    full = fit_inputs(prompt, tokenizer, frame, None, None, "stop", "x")
    limit = 900
    cut = fit_inputs(prompt, tokenizer, frame, None, limit, overflow, "x")
    assert cut[0] == full[0]  # short inputs untouched
    assert len(full[1]) > limit >= len(cut[1]) > limit - 40
    text = tokenizer.decode(cut[1])
    assert "w0 w1 w2" in text
    assert ("THE-END" in text and CUT_MARK.strip() in text) == (overflow == "cut_middle")
    with pytest.raises(DataError, match=r"x, row 2 \(id 'b'\).*more than the 900"):
        fit_inputs(prompt, tokenizer, frame, None, limit, "stop", "x")


# --- HTML, PDF -----------------------------------------------------------------------------


USER_TEXT = [
    HOSTILE_NAME,
    "[click](javascript:alert(1))",
    "a `tick` | pipe",
    "**bold** _it_ ~~s~~",
    "$\\href{javascript:alert(2)}{x}$ \\(y\\) $$z$$",
    "# heading\n- item\n\n```\ncode",
    "&lt;b&gt; &#60;i&#62; \\<u>",
    "<!-- comment --> <![CDATA[x]]>",
]
"""User text that Markdown, HTML or MathJax would read as markup."""


@pytest.mark.parametrize("value", USER_TEXT)
def test_user_text_reaches_the_report_as_text_not_markup(value):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from guardcal.reporting.markup import MATH_IGNORE, code, code_block, md, text

    for markdown in (
        text(value),
        code(value),
        code_block(value),
        md("| {} |", value),
        md("- **{}**: {:.3f} {}", value, 0.5, code(value)),
    ):
        soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
        tags = {t.name for t in soup.find_all(True)} - {"span", "code", "pre", "p", "ul", "li"}
        assert tags <= {"strong", "table", "thead", "tbody", "tr", "th", "td"}, tags
        assert value.replace("\n", " ").split()[0] in soup.get_text().replace("\n", " ")
        for node in soup.find_all(string=lambda s: "$" in s or "\\(" in s):
            assert node.find_parent(["code", "pre"]) or node.find_parent(class_="mathjax_ignore")
    soup = BeautifulSoup(markdown2html_mistune(text(value)), "html.parser")
    assert soup.span.get_text() == value  # shown exactly, every character
    assert soup.find("span")["class"] == MATH_IGNORE.split()
    frame = pd.DataFrame({"Model": [value], value: [1.5]})
    soup = BeautifulSoup(tables.table_html(frame, "t"), "html.parser")
    assert {t.name for t in soup.find_all(True)} <= {
        "style",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
    assert soup.get_text().count(value) == 2 and soup.table["class"] == MATH_IGNORE.split()


def test_narrative_is_displayed_only_from_escaped_markdown():
    from guardcal.reporting.markup import Markdown, md, show

    with pytest.raises(TypeError, match="unescaped"):
        show(f"**{HOSTILE_NAME}**")  # an f-string: refused
    with pytest.raises(TypeError, match=r"markup\.md"):
        md("**{}**", "a") + " plain"
    joined = Markdown(", ").join([HOSTILE_NAME, md("**{}**", "b")])
    assert "<img" not in joined and "**" in joined


def test_the_beyond_the_study_narrative_escapes_model_names_too():
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    diff = pd.DataFrame(
        [
            {
                "model": HOSTILE_NAME,
                "metric": "ece",
                "method": "ts",
                "value": -0.1,
                "lo": -0.2,
                "hi": -0.05,
            }
        ]
    )
    markdown = narrative.beyond_differences(diff, [HOSTILE_NAME])
    soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
    assert soup.find("img") is None and HOSTILE_NAME in soup.get_text()


def test_the_pdf_step_has_a_bounded_wait_and_a_one_line_error(tmp_path):
    from guardcal.reporting.render import RenderError, print_pdfs

    browser = tmp_path / "slow-chromium"
    browser.write_text("#!/bin/sh\nsleep 30\n", encoding="utf-8")
    browser.chmod(0o755)
    html = tmp_path / "report.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(RenderError) as info:
        pdfs = (tmp_path / "report.pdf", tmp_path / "slides.pdf")
        print_pdfs(html, html, pdfs, str(browser), timeout=1)
    assert "did not print within 1 s" in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "slow-chromium"]


# --- concurrency and stale outputs ---------------------------------------------------------


def test_a_second_run_on_a_locked_run_folder_stops_clearly(capsys, tmp_path, write_config):
    cfg = load_config(write_config())
    with run_lock(cfg.layout.lock("score"), "guardcal score (the first run)"):
        rc, err = run_cli(capsys, "score", "--config", str(write_config()), "--split", "test")
        with pytest.raises(RunBusy):
            with run_lock(cfg.layout.lock("score"), "x"):
                pass
    assert rc == 2
    assert_one_error(err, str(cfg.run_dir), "busy", "the first run")
    assert not cfg.layout.model_scores(ZERO_SHOT).exists()
    with run_lock(cfg.layout.lock("score"), "after"):  # released with its holder
        pass


def test_a_failed_report_removes_the_stale_render_and_lists_what_it_did_not_rebuild(
    tmp_path, write_config
):
    from guardcal.reporting.render import _mark_stale

    cfg = load_config(write_config())
    layout = cfg.layout
    for path in (layout.report_html, layout.slides_html, layout.table("metrics")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old", encoding="utf-8")
        os.utime(path, (1, 1))
    fresh = layout.table("dataset")
    fresh.write_text("new", encoding="utf-8")
    _mark_stale(cfg, started=100.0, exc=RuntimeError("02_tuning failed"))
    assert not layout.report_html.exists() and not layout.slides_html.exists()
    note = layout.report_failed.read_text(encoding="utf-8")
    assert "left from an earlier run" not in note
    assert "02_tuning failed" in note and "tables/metrics.csv" in note
    assert "tables/dataset.csv" not in note


def report_left(cfg) -> list[Path]:
    """Outputs an earlier report left in a run folder (old mtimes), with its digests written as
    a successful report writes them: the state `guardcal report` finds on a rerun."""
    from guardcal.reporting.render import report_state

    layout = cfg.layout
    outputs = [
        layout.report_html,
        layout.slides_html,
        layout.provenance,
        layout.table("operating_points"),
        layout.calibrator(cfg.models[0].name),
    ]
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("earlier", encoding="utf-8")
        os.utime(path, (1, 1))
    layout.report_inputs.write_text(report_state(cfg, pdf=False), encoding="utf-8")
    return outputs


@pytest.mark.parametrize("lost", ["tables/operating_points.csv", "calibrators/guard-a.json"])
@pytest.mark.parametrize("how", ["deleted", "edited"])
def test_the_up_to_date_check_covers_every_output_not_only_the_inputs(tmp_path, lost, how):
    from synthetic import scored_run

    from guardcal.reporting.render import up_to_date

    cfg = scored_run(tmp_path)
    report_left(cfg)
    assert up_to_date(cfg, pdf=False)
    output = cfg.layout.root / lost
    if how == "deleted":
        output.unlink()
    else:
        output.write_text("edited", encoding="utf-8")
    assert not up_to_date(cfg, pdf=False)  # the rerun rebuilds instead of saying "up to date"


def test_an_interrupt_during_the_notebooks_fails_the_report_like_any_error(tmp_path, monkeypatch):
    """A real SIGINT while the notebooks run: REPORT_FAILED.txt, the earlier report.html
    removed, the half-rebuilt table not called an earlier run's, the scores (inputs) not listed,
    and the next run rebuilds."""
    import signal

    from synthetic import scored_run

    from guardcal.reporting import render

    cfg = scored_run(tmp_path)
    old = report_left(cfg)
    cfg.layout.report_inputs.unlink()  # something changed: the report is rebuilt

    def interrupted(cfg, parameters, **_):
        render.write_text(cfg.layout.table("dataset"), "half\n")  # one table rebuilt, then ^C
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal arrives here, as KeyboardInterrupt

    monkeypatch.setattr(render, "run_notebooks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render.build_report(cfg, pdf=False)
    layout = cfg.layout
    assert not layout.report_html.exists() and not layout.slides_html.exists()
    note = layout.report_failed.read_text(encoding="utf-8").splitlines()
    assert note[0].endswith("failed: KeyboardInterrupt: interrupted")
    listed = note[3:]
    assert "tables/operating_points.csv" in listed and "calibrators/guard-a.json" in listed
    assert "tables/dataset.csv" not in listed  # written by this attempt
    assert not any(line.startswith("scores/") for line in listed)  # inputs, just scored
    assert "earlier report's, not rebuilt" in note[2] and "left from an earlier run" not in note[2]
    assert not layout.report_inputs.exists() and old[3].exists()


@pytest.mark.parametrize("linked", ["figures", "notebooks", "scores"])
@pytest.mark.parametrize("command", ["score", "report"])
def test_a_symbolic_link_inside_the_run_folder_is_never_written_through(
    capsys, tmp_path, write_config, linked, command
):
    config = write_config()
    run = load_config(config).run_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    run.mkdir(parents=True)
    (run / linked).symlink_to(outside, target_is_directory=True)
    rc, err = run_cli(capsys, command, "--config", str(config))
    assert rc == 2
    assert_one_error(err, str(run / linked), "symbolic link", str(outside))
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in run.iterdir()) == [linked]


# --- speed: nothing heavy before validation ------------------------------------------------


@pytest.mark.parametrize("command", ["score", "report"])
def test_bad_input_is_reported_before_torch_or_papermill_is_imported(tmp_path, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(base_config(tmp_path, **{"scoring.shard_size": 0})), encoding="utf-8"
    )
    probe = textwrap.dedent(
        f"""
        import sys
        from guardcal.__main__ import main
        rc = main([{command!r}, "--config", {str(bad)!r}])
        heavy = sorted(m for m in ("torch", "transformers", "papermill", "datasets")
                       if m in sys.modules)
        print(rc, heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.stdout.strip() == "2 []", out.stdout + out.stderr
    assert_one_error(out.stderr, "'scoring.shard_size'")


def test_configerror_is_raised_by_load_config_itself(tmp_path, write_config):
    with pytest.raises(ConfigError, match=r"'scoring\.dtype'"):
        load_config(write_config(**{"scoring.dtype": "int8"}))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, demo_cfg) -> Path:
    """A tiny random Llama saved with the embedded model's real tokenizer: a local checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from guardcal.extraction.guards import guard_spec

    tokenizer = guard_spec(demo_cfg, ZERO_SHOT).tokenizer
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.model
def test_a_local_checkpoint_edited_in_place_is_rescored(
    capsys, tmp_path, write_config, tiny_checkpoint, monkeypatch
):
    monkeypatch.setenv("GUARDCAL_CACHE", str(tmp_path / "cache"))
    models = [{"name": "tiny", "model": str(tiny_checkpoint), "format": "chat"}]
    path = write_config(models=models, **{"dataset.limit": 4})
    cfg = load_config(path)
    scores_file = cfg.layout.scores("tiny", "test")
    assert main(["score", "--config", str(path), "--split", "test", "-q"]) == 0
    first = scores.read_meta(scores_file)
    before = scores.read_scores(cfg, "tiny", "test")
    assert first["revision"].startswith("sha256:")
    config_file = tiny_checkpoint / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config_file.write_text(json.dumps({**config, "rms_norm_eps": 0.1}), encoding="utf-8")
    assert main(["score", "--config", str(path), "--split", "test", "-q"]) == 0
    second = scores.read_meta(scores_file)
    assert second["revision"] != first["revision"]
    after = scores.read_scores(cfg, "tiny", "test")
    assert not np.allclose(before["logit_unsafe"], after["logit_unsafe"])
    config_file.write_text(json.dumps(config), encoding="utf-8")  # the module's other tests


# --- user text through every section of a rendered report ----------------------------------

HOSTILE = {
    "guard": HOSTILE_NAME,
    "other guard": "[a](javascript:alert(2)) $\\href{javascript:alert(3)}{x}$ **b** | c",
    "run": "<svg onload=alert(4)> $$x^{2}$$ #r",
    "file": "<iframe src=javascript:alert(5)> $x$.jsonl",
    "id": "<script>alert(6)</script>",
    "answer": "`<b onclick=alert(7)>` ``` $y$",
    "input": "</pre><img src=z onerror=alert(8)> \\(z\\)",
}
"""A hostile value for every kind of user text the report shows: guard and run names, a data
file's name, an example's id, input and the guard's answer."""
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster")
NAMED_FIGURES = ("uncalibrated", "tuning_temperature", "calibration_curves")
"""Figures that write the guards' names on the image (titles, a log axis beside them): drawn for
real; the others are placeholders, since the page shows a figure as an image and its alt text."""


def assert_no_markup_from_user_text(page: str, hostile: dict[str, str]) -> dict[str, int]:
    """No element, event attribute or javascript: URL on the page came from user text, and each
    hostile value is shown as text: the number of places showing each."""
    soup = BeautifulSoup(page, "html.parser")
    for element in soup.find_all(True):
        if element.name in ("script", "iframe", "svg", "b", "style"):
            assert not any(f"alert({i})" in str(element) for i in range(10)), str(element)[:200]
        if element.name == "img":
            assert element.get("src", "").startswith("data:image/png;base64,"), element
        for attribute, value in element.attrs.items():
            assert not attribute.lower().startswith("on"), (element.name, attribute)
            if attribute.lower() in URL_ATTRIBUTES:
                assert not str(value).strip().lower().startswith("javascript:"), (attribute, value)
    text = soup.get_text()
    places = {kind: text.count(value) for kind, value in HOSTILE.items()}
    assert all(places.values()), places
    return places


@pytest.mark.report
def test_hostile_user_text_stays_text_through_every_section_of_the_report(tmp_path, capsys):
    """The real report notebook on a run whose every user string is hostile, rendered by the real
    exporters; its DOM (and, with Chromium, the DOM after MathJax has typeset the page) holds no
    element, attribute or URL scheme from user text, and every value is shown literally."""
    from synthetic import finished_run

    from guardcal.config import write_run_config
    from guardcal.reporting import figures
    from guardcal.reporting.figure_data import load_run
    from guardcal.reporting.render import (
        chromium,
        ensure_assets,
        render_html,
        render_slides,
        run_notebooks,
    )

    guards = (HOSTILE["guard"], HOSTILE["other guard"])
    files = ("v " + HOSTILE["file"], HOSTILE["file"])
    cfg = finished_run(tmp_path, name=HOSTILE["run"], models=guards, files=files).cfg
    example = {"id": HOSTILE["id"], "input": HOSTILE["input"], "answer": HOSTILE["answer"]}
    for guard in guards:
        scores.write_example(cfg, guard, example)
    run = load_run(cfg)
    for kind in figures.CATALOGUE:
        if kind.name in NAMED_FIGURES:  # mathtext would fail on the names' `$…$`
            figures.save_figure(kind.draw(kind.prepare(run)), cfg.layout.figures, kind.name)
    for name in figures.figure_descriptions(cfg):
        if not cfg.layout.figure(name).is_file():
            cfg.layout.figure(name).write_bytes(PLACEHOLDER_PNG)
    write_run_config(cfg)
    notebook = run_notebooks(cfg, {"run_dir": str(cfg.run_dir)}, notebooks=["05_report"])[-1]
    modules = ensure_assets()
    places = {}
    for render, out in (
        (render_html, cfg.layout.report_html),
        (render_slides, cfg.layout.slides_html),
    ):
        places[out.name] = assert_no_markup_from_user_text(
            render(notebook, out, modules).read_text(encoding="utf-8"), HOSTILE
        )
    tex = cfg.layout.table("metrics", ".tex").read_text(encoding="utf-8")
    assert "\\href" not in tex and "\\textbackslash href" in tex and "\\$" in tex
    browser = chromium()
    if browser:  # after MathJax: a `$\href{javascript:…}$` would now be a live link
        typeset = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--dump-dom",
                "--virtual-time-budget=20000",
                cfg.layout.report_html.absolute().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert "mjx-container" in typeset  # MathJax ran and typeset the report's own formulas
        places["report.html after MathJax"] = assert_no_markup_from_user_text(typeset, HOSTILE)
    with capsys.disabled():
        for page, counts in places.items():
            print(f"\n{page}: {sum(counts.values())} places show user text as text: {counts}")


# --- the calibrated-guard file and predict --------------------------------------------------

DELETE = object()
"""An ARTIFACT_CASES change that removes the key."""


def reverse(values: list[float]) -> list[float]:
    return values[::-1]


ARTIFACT_CASES = [
    # (dotted key, its new value, a function of the old one, or DELETE; what the line names)
    ("calibrators.isotonic.gap_thresholds", reverse, ["'gap_thresholds'", "sorted"]),
    ("calibrators.isotonic.proba_thresholds", lambda v: [p + 1 for p in v], ["[0, 1]"]),
    ("calibrators.histogram.edges", reverse, ["'edges'", "strictly increasing"]),
    ("calibrators.histogram.bin_proba", lambda v: [-0.5, *v[1:]], ["'bin_proba'", "[0, 1]"]),
    ("calibrators.histogram.n_bins", 2.5, ["'n_bins'", "wrong type"]),
    ("threshold", 2, ["'threshold'", "(0, 1)"]),
    ("threshold", "0.5", ["'threshold'", "wrong type"]),
    ("calibrators.bc.prior_proba", [0, 0], ["'prior_proba'", "distribution"]),
    ("calibrators.bc.prior_log_proba", [0.5, 0.1], ["'prior_log_proba'", "≤ 0"]),
    ("calibrators.bc.prior_proba", [0.9, 0.1], ["'prior_log_proba'", "disagree"]),
    ("calibrators.cc.content_free_log_proba", [0.0, 0.0], ["'content_free_log_proba'"]),
    ("calibrators.bc.gamma", 1e308, ["'gamma'", "[-10000, 10000]"]),
    ("calibrators.ts.temperature", 0, ["'temperature'", "[0.0001, 10000]"]),
    ("calibrators.ts.temperature", 1e-300, ["'temperature'"]),
    ("calibrators.platt.slope", float("nan"), ["'slope'", "finite"]),
    ("calibrators.beta.a", 1e308, ["'a'", "[-10000, 10000]"]),
    ("calibrators.ts", DELETE, ["missing key 'ts'"]),
    ("threshold", DELETE, ["missing key 'threshold'"]),
    ("model.name", 7, ["'name'", "wrong type"]),
    ("guard", {"model": "x"}, ["'guard.revision'", "missing"]),
    ("prompt.colour", "red", ["colour"]),
    ("records.label_values", DELETE, ["'label_values'", "missing"]),
]
"""Calibrated-guard files a fit never writes: each refused on read with one line naming the file
and the key (reversed isotonic knots gave p = 1 everywhere, `threshold: 2` called p = 0.84 safe,
`gamma: 1e308` gave p = 1, a missing threshold was a KeyError after scoring)."""


def change_key(document: dict[str, Any], dotted: str, change: Any) -> None:
    """Set, transform (a callable) or DELETE the value at a dotted key."""
    *parents, last = dotted.split(".")
    node = document
    for key in parents:
        node = node[key]
    if change is DELETE:
        del node[last]
    else:
        node[last] = change(node[last]) if callable(change) else change


def guard_copy(tmp_path: Path, synthetic_run, run: str = "unit") -> tuple[Path, dict[str, Any]]:
    """A run folder `tmp_path/<run>` and the synthetic run's first calibrated guard (parsed),
    whose file predict reads from `<run>/calibrators/guard-a.json` once written."""
    from synthetic import MODELS

    source = synthetic_run.cfg.layout.calibrator(MODELS[0])
    path = tmp_path / run / "calibrators" / source.name
    path.parent.mkdir(parents=True)
    return path, json.loads(source.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("key", "change", "names"),
    ARTIFACT_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(ARTIFACT_CASES)],
)
def test_a_bad_calibrated_guard_file_is_one_line_naming_file_and_key(
    capsys, tmp_path, synthetic_run, key, change, names
):
    from guardcal.extraction.models import load_backbone

    path, document = guard_copy(tmp_path, synthetic_run)
    name = document["model"]["name"]
    change_key(document, key, change)
    path.write_text(json.dumps(document), encoding="utf-8")
    records = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p", "response": "r"}])
    out = tmp_path / "scored.jsonl"
    loads = load_backbone.cache_info().misses
    argv = ["--run", str(path.parent.parent), "--model", name]
    rc, err = run_cli(capsys, "predict", *argv, "-o", str(out), str(records))
    assert rc == 2
    assert_one_error(err, str(path), *names)
    assert not out.exists()
    assert load_backbone.cache_info().misses == loads  # no model was loaded


def test_an_unknown_method_is_one_line_naming_the_file(capsys, tmp_path, synthetic_run):
    path, document = guard_copy(tmp_path, synthetic_run)
    path.write_text(json.dumps(document), encoding="utf-8")
    records = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p"}])
    argv = ["--run", str(path.parent.parent), "--model", document["model"]["name"]]
    rc, err = run_cli(capsys, "predict", *argv, "--method", "vector", str(records))
    assert rc == 2
    assert_one_error(err, str(path), "no calibrator 'vector'", "'ts'")


def test_a_calibrated_guard_copied_from_another_run_is_named_so(capsys, tmp_path, synthetic_run):
    from guardcal.guard import CalibratedGuard

    path, document = guard_copy(tmp_path, synthetic_run, run="elsewhere")
    path.write_text(json.dumps(document), encoding="utf-8")
    guard = CalibratedGuard.from_run(path.parent.parent, document["model"]["name"])
    assert guard.fitted_in == "unit"
    records = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p"}])
    argv = ["--run", str(path.parent.parent), "--model", guard.name, "--method", "vector"]
    rc, err = run_cli(capsys, "predict", *argv, str(records))
    note, error = err.strip().splitlines()
    assert note.startswith(f"note: {path} was fitted in run 'unit' and copied into")
    assert rc == 2 and error.startswith("error: ")
    twin = path.with_name("twin.json")
    twin.write_text(json.dumps(document), encoding="utf-8")
    rc, err = run_cli(capsys, "predict", *argv, str(records))
    assert rc == 2
    assert_one_error(err, str(twin), "as guard-a.json does", "remove the copy")


def predict_output_cases(tmp_path: Path, records: Path) -> list[tuple[str, Path, list[str]]]:
    """(what, -o path, what the line names): every output predict must refuse before scoring."""
    (tmp_path / "out").mkdir()
    link = tmp_path / "link.jsonl"
    link.symlink_to(records)
    hard = tmp_path / "hard.jsonl"
    os.link(records, hard)
    return [
        ("a folder", tmp_path / "out", ["is a folder"]),
        ("no such folder", tmp_path / "nowhere" / "x.jsonl", ["no such folder"]),
        ("unwritable", Path("/proc/scored.jsonl"), ["/proc is not writable"]),
        ("the input", records, ["is the input"]),
        ("the input, spelled otherwise", tmp_path / "out" / ".." / records.name, ["is the input"]),
        ("a link to the input", link, ["is the input"]),
        ("a hard link of the input", hard, ["is the input"]),
    ]


def test_predicts_output_is_checked_before_anything_is_read(capsys, tmp_path, synthetic_run):
    path, document = guard_copy(tmp_path, synthetic_run)
    path.write_text(json.dumps(document), encoding="utf-8")
    records = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p"}])
    before = records.read_bytes()
    argv = ["--run", str(path.parent.parent), "--model", document["model"]["name"]]
    for what, output, names in predict_output_cases(tmp_path, records):
        rc, err = run_cli(capsys, "predict", *argv, "-o", str(output), str(records))
        assert rc == 2, what
        assert_one_error(err, f"-o {output}", *names)
        assert records.read_bytes() == before, what
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_predict_names_file_and_id_for_turns_the_guards_format_cannot_render(
    capsys, tmp_path, demo_report
):
    from guardcal.extraction.models import load_backbone

    turns = [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]
    records = write_jsonl(tmp_path / "turns.jsonl", [{"id": "two-users", "messages": turns}])
    run = str(demo_report.cfg.run_dir)
    loads = load_backbone.cache_info().misses
    rc, err = run_cli(capsys, "predict", "--run", run, "--model", ZERO_SHOT, str(records))
    assert rc == 2
    assert_one_error(err, str(records), "'two-users'", "roles must alternate")
    assert load_backbone.cache_info().misses == loads


def test_a_bad_calibrated_guard_is_refused_before_torch_is_imported(tmp_path, synthetic_run):
    path, document = guard_copy(tmp_path, synthetic_run)
    document["threshold"] = 2
    path.write_text(json.dumps(document), encoding="utf-8")
    records = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p"}])
    argv = ["predict", "--run", str(path.parent.parent), "--model", document["model"]["name"]]
    probe = textwrap.dedent(
        f"""
        import sys
        from guardcal.__main__ import main
        rc = main({[*argv, str(records)]!r})
        heavy = sorted(m for m in ("torch", "transformers", "papermill") if m in sys.modules)
        print(rc, heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.stdout.strip() == "2 []", out.stdout + out.stderr
    assert_one_error(out.stderr, str(path), "'threshold'")
