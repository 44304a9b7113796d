"""Suite configs: `benchmarks:` and `calibrate_on:` validated on load, the run's splits drawn
from the benchmarks (a seeded share to calibrate on, the rest evaluated), every error naming its
key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from guardcal.benchmarks.suite import check_suite, in_domain_split, load_split, suite_benchmark
from guardcal.config import ConfigError, InDomain, load_config, with_overrides
from guardcal.records import split_fraction

DATA = Path(__file__).parent / "data" / "benchmarks"
MODELS = [{"name": "zero-shot", "model": "embedded:smollm2-135m"}]
SUITE = [
    {"name": "xstest", "path": str(DATA / "xstest_prompts.csv")},
    {"name": "openai_moderation", "path": str(DATA / "openai_moderation_samples.jsonl.gz")},
    {
        "name": "harmbench_classifier",
        "convention": "liu_adv",
        "path": str(DATA / "text_behaviors_val_set.json"),
    },
]


def _config(tmp_path: Path, **keys):
    path = tmp_path / "suite.yaml"
    raw = {"name": "suite", "models": MODELS, "benchmarks": SUITE, **keys}
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_suite_splits_from_calibrate_on(tmp_path):
    cfg = _config(tmp_path, calibrate_on={"benchmark": "xstest", "fraction": 0.5, "seed": 0})
    keys = [e.key for e in cfg.benchmarks]
    assert keys == ["xstest", "openai_moderation", "harmbench_classifier-liu_adv"]
    assert cfg.splits == (
        "validation",
        "test",
        "content_free",
        "openai_moderation",
        "harmbench_classifier-liu_adv",
    )
    assert cfg.benchmark_split("xstest") == "test"
    assert cfg.benchmark_split("openai_moderation") == "openai_moderation"
    check_suite(cfg)
    whole = load_split(cfg, "openai_moderation")
    assert (len(whole), int(whole["label"].sum())) == (8, 4)
    validation, test = load_split(cfg, "validation"), load_split(cfg, "test")
    xstest = suite_benchmark(cfg, "xstest").frame
    share, rest = split_fraction(xstest, 0.5, 0)  # the library's seeded split, as the study's
    assert validation["id"].tolist() == share["id"].tolist()
    assert test["id"].tolist() == rest["id"].tolist()
    assert len(validation) == 4 and sorted([*validation["id"], *test["id"]]) == sorted(xstest["id"])


def test_suite_with_a_validation_file(tmp_path):
    validation = Path(__file__).parents[1] / "examples" / "beavertails_jsonl" / "validation.jsonl"
    cfg = _config(tmp_path, calibrate_on={"validation": str(validation)})
    assert cfg.dataset.validation.path == str(validation)
    assert cfg.benchmark_split("xstest") == "test"  # the first benchmark, whole
    assert len(load_split(cfg, "test")) == 8
    assert len(load_split(cfg, "validation")) > 0


def test_limit_override_reaches_every_benchmark(tmp_path):
    cfg = _config(tmp_path, calibrate_on={"benchmark": "xstest", "fraction": 0.5, "seed": 0})
    limited = with_overrides(cfg, limit=3)
    assert [e.limit for e in limited.benchmarks] == [3, 3, 3]
    assert len(load_split(limited, "harmbench_classifier-liu_adv")) == 3


def test_in_domain_split_is_seeded_and_disjoint(tmp_path):
    cfg = _config(tmp_path, calibrate_on={"benchmark": "xstest", "fraction": 0.5, "seed": 0})
    frame = load_split(cfg, "openai_moderation")
    fit, rest = in_domain_split(frame, InDomain(fraction=0.5, seed=1))
    again = in_domain_split(frame, InDomain(fraction=0.5, seed=1))[0]
    assert fit["id"].tolist() == again["id"].tolist()
    assert sorted([*fit["id"], *rest["id"]]) == sorted(frame["id"])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, "key 'calibrate_on' is required with `benchmarks:`"),
        ({"calibrate_on": {"benchmark": "xs"}}, "key 'calibrate_on.benchmark' must be one of"),
        ({"calibrate_on": {"benchmark": "xstest", "fraction": 1}}, "key 'calibrate_on.fraction'"),
        ({"calibrate_on": {"benchmark": "xstest", "validation": "v.jsonl"}}, "exactly one of"),
        (
            {"calibrate_on": {"benchmark": "xstest"}, "in_domain": {"fraction": 0}},
            "key 'in_domain.fraction'",
        ),
        (
            {
                "calibrate_on": {"benchmark": "xstest"},
                "benchmarks": [*SUITE, {"name": "xstest", "path": "x.csv"}],
            },
            r"key 'benchmarks\[3\]' repeats 'xstest' \(benchmarks\[0\]\)",
        ),
        (
            {
                "calibrate_on": {"benchmark": "xstest"},
                "dataset": {"validation": "v.jsonl", "test": "t.jsonl"},
            },
            "key 'dataset' is a suite's to derive",
        ),
    ],
)
def test_suite_config_errors_name_the_key(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, **keys)


def test_registry_checks_name_the_entry(tmp_path):
    bad = [*SUITE[:2], {"name": "harmbench_classifier", "mode": "both", "path": "x.json"}]
    cfg = _config(tmp_path, benchmarks=bad, calibrate_on={"benchmark": "xstest"})
    with pytest.raises(ConfigError, match=r"key 'benchmarks\[2\]\.mode' must be one of"):
        check_suite(cfg)


def test_calibrate_on_needs_benchmarks(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "models": MODELS,
                "dataset": {"validation": "v.jsonl", "test": "t.jsonl"},
                "calibrate_on": {"benchmark": "xstest"},
            }
        )
    )
    with pytest.raises(ConfigError, match="key 'calibrate_on' is a suite's setting"):
        load_config(path)


def test_benchmarks_command_loads_a_suite(tmp_path, capsys):
    from guardcal.__main__ import main

    _config(tmp_path, calibrate_on={"benchmark": "xstest"})
    assert main(["benchmarks", "--config", str(tmp_path / "suite.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:5] == ["xstest", "prompt", "liu", "8", "4"]
    assert lines[3].split()[:5] == ["harmbench_classifier-liu_adv", "response", "liu_adv", "9", "5"]
    assert main(["benchmarks", "--config", str(tmp_path / "suite.yaml"), "--limit", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[3:5] == ["2", "1"]


def test_the_resolved_config_reads_back_to_the_same_suite(tmp_path):
    """`guardcal report` keeps the resolved config in the run folder; a suite's relative paths
    and its derived splits read back the same from there."""
    from guardcal.config import read_run_config, write_run_config

    suite = [dict(e) for e in SUITE]
    suite[0]["path"] = "data/xstest_prompts.csv"  # relative to the config
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "xstest_prompts.csv").write_bytes(
        (DATA / "xstest_prompts.csv").read_bytes()
    )
    cfg = _config(
        tmp_path,
        benchmarks=suite,
        reports_dir=str(tmp_path / "reports"),
        calibrate_on={"benchmark": "xstest", "fraction": 0.5, "seed": 0},
    )
    cfg = with_overrides(cfg, limit=6)
    write_run_config(cfg)
    again = read_run_config(cfg.run_dir)
    assert again.splits == cfg.splits and again.dataset == cfg.dataset
    assert [e.limit for e in again.benchmarks] == [6, 6, 6]
    assert load_split(again, "test")["id"].tolist() == load_split(cfg, "test")["id"].tolist()
