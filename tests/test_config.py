"""Config loading: the shipped configs validate, and every bad key is named."""

import re

import pytest

from guardcal.config import (
    CONFIG_DIR,
    ConfigError,
    UnknownModelError,
    config_text,
    load_config,
    resolve_path,
)


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
name: mine
dataset:
  validation: val.jsonl
  test: {path: test.jsonl}
models:
  - {name: g, model: some/guard}
"""


def test_shipped_configs_load():
    demo = load_config()
    assert demo.name == "demo" and len(demo.models) == 3
    assert [m.study_role for m in demo.models] == [None, "base", "fine-tuned"]
    assert demo.dataset.validation.fraction == 0.3
    study = load_config(CONFIG_DIR / "beavertails.yaml")
    assert study.dataset.validation.hf == "PKU-Alignment/BeaverTails"
    assert study.dataset.validation.split == "330k_train"
    assert study.dataset.validation.fraction == 0.1 and study.dataset.validation.seed == 42
    assert [m.model for m in study.models] == [
        "meta-llama/Llama-Guard-3-8B",
        "saiteki-kai/QA-Llama-Guard-3-8B",
    ]
    assert [m.study_role for m in study.models] == ["base", "fine-tuned"]


def test_an_unknown_model_name_is_a_config_error_naming_the_file():
    demo = load_config()
    with pytest.raises(UnknownModelError, match=r"demo\.yaml: no model named 'nobody'") as caught:
        demo.model("nobody")
    assert isinstance(caught.value, ConfigError) and not isinstance(caught.value, KeyError)


def test_minimal_config_gets_the_study_defaults(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.dataset.validation.path == "val.jsonl"
    assert cfg.calibration.ece_bins == 15 and cfg.calibration.plot_bins == 10
    assert cfg.calibration.temperature_grid == (0.1, 20.0, 0.1)
    assert cfg.calibration.gamma_grid == (-10.0, 10.0, 0.1)
    assert cfg.content_free == (" ",)
    assert cfg.prompt.verbalizer == {"safe": "safe", "unsafe": "unsafe"}
    assert cfg.models[0].trust_remote_code is False
    assert resolve_path("val.jsonl", tmp_path) == tmp_path / "val.jsonl"
    assert resolve_path("package:data/demo/train.jsonl", None).name == "train.jsonl"


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda t: t.replace("name: mine", "nmae: mine"), "nmae"),
        (lambda t: t.replace("  test: {path: test.jsonl}\n", ""), "dataset.test"),
        (
            lambda t: t.replace("{path: test.jsonl}", "{path: t.jsonl, fracton: 0.5}"),
            "dataset.test.fracton",
        ),
        (
            lambda t: t.replace("{path: test.jsonl}", "{path: t.jsonl, fraction: 1.5}"),
            "dataset.test.fraction",
        ),
        (lambda t: t.replace("{path: test.jsonl}", "{hf: x/y}"), "dataset.test.split"),
        (lambda t: t.replace("model: some/guard", "model: 3"), "models[0].model"),
        (lambda t: t + "prompt: {controversial: maybe}\n", "prompt.controversial"),
        (lambda t: t + "prompt: {taxonomy: nope}\n", "prompt.taxonomy"),
        (lambda t: t + "calibration: {ece_bins: 0}\n", "calibration.ece_bins"),
        (lambda t: t + "calibration: {gamma_grid: [1, 2]}\n", "calibration.gamma_grid"),
        (lambda t: t + "decisions: {target_fpr: 0}\n", "decisions.target_fpr"),
        (lambda t: t + "decisions: {delta: 1}\n", "decisions.delta"),
        (lambda t: t + "dataset2: 1\n", "dataset2"),
        (
            lambda t: t.replace(
                "dataset:\n", "dataset:\n  label_values: {safe: [0, 1], unsafe: [1]}\n"
            ),
            "dataset.label_values",
        ),
        (lambda t: t.replace("models:\n  - {name: g, model: some/guard}", "models: []"), "models"),
        (lambda t: t.replace("some/guard}", "some/guard, reasoning: on}"), "models[0].reasoning"),
        (
            lambda t: t.replace("some/guard}", "some/guard, reasoning: {samples: 0}}"),
            "models[0].reasoning.samples",
        ),
        (
            lambda t: t.replace("some/guard}", "some/guard, reasoning: {temperature: 0}}"),
            "models[0].reasoning.temperature",
        ),
        (
            lambda t: t.replace("some/guard}", "some/guard, reasoning: {sampels: 3}}"),
            "models[0].reasoning.sampels",
        ),
        (
            lambda t: t.replace("some/guard}", "some/guard, max_reasoning_tokens: 0}"),
            "models[0].max_reasoning_tokens",
        ),
    ],
)
def test_errors_name_the_bad_key(tmp_path, edit, key):
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        load_config(write(tmp_path, edit(MINIMAL)))


def test_reasoning_is_off_greedy_or_k_samples_and_survives_the_run_copy(tmp_path):
    models = """models:
  - {name: quiet, model: some/guard, reasoning: off}
  - {name: greedy, model: some/guard, reasoning: greedy, max_reasoning_tokens: 64}
  - {name: sampled, model: some/guard, reasoning: {samples: 3, temperature: 0.7, seed: 5}}
  - {name: plain, model: some/guard}
"""
    cfg = load_config(write(tmp_path, MINIMAL.split("models:")[0] + models))
    got = [(m.reasoning.mode, m.reasoning.on, m.reasoning.samples) for m in cfg.models]
    assert got == [("off", False, 1), ("greedy", True, 1), ("sample", True, 3), ("off", False, 1)]
    assert cfg.models[2].reasoning.temperature == 0.7 and cfg.models[2].reasoning.seed == 5
    assert [m.max_reasoning_tokens for m in cfg.models] == [1024, 64, 1024, 1024]
    copy = tmp_path / "run.yaml"
    copy.write_text(config_text(cfg), encoding="utf-8")
    assert load_config(copy).models == cfg.models


def test_unreadable_configs_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_reports_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GUARDCAL_REPORTS", str(tmp_path / "elsewhere"))
    assert load_config(write(tmp_path, MINIMAL)).run_dir == tmp_path / "elsewhere" / "mine"
    monkeypatch.delenv("GUARDCAL_REPORTS")
    assert str(load_config(write(tmp_path, MINIMAL)).run_dir) == "reports/mine"
