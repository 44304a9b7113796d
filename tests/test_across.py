"""The "Across benchmarks" tables from scores files (no model): every guard × benchmark × method ×
metric with an interval, the transfer gap on held-out rows, the vanilla/jailbreak slices, the
suite's predictions, and Liu et al.'s RMS ECE equal to their own library's on the scores."""

from __future__ import annotations

from pathlib import Path

import calibration as kumar  # uncertainty-calibration: Liu et al.'s estimator, independently
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from guardcal import scores
from guardcal.benchmarks.suite import load_split
from guardcal.calibration.methods import method_names
from guardcal.config import load_config
from guardcal.reporting import across
from guardcal.reporting.pipeline import read_predictions

DATA = Path(__file__).parent / "data" / "benchmarks"
MODELS = ["guard a", "guard b"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """A suite of three fixture benchmarks with scores files written for two made-up guards
    (logits that lean towards the label), and its tables."""
    root = tmp_path_factory.mktemp("across")
    raw = {
        "name": "suite",
        "reports_dir": str(root / "reports"),
        "models": [
            {"name": MODELS[0], "model": "embedded:smollm2-135m"},
            {"name": MODELS[1], "model": "embedded:smollm2-135m-finetuned"},
        ],
        "benchmarks": [
            {"name": "openai_moderation", "path": str(DATA / "openai_moderation_samples.jsonl.gz")},
            {
                "name": "wildguardmix",
                "mode": "response",
                "path": str(DATA / "wildguardtest.parquet"),
            },
            {
                "name": "pku_saferlhf",
                "convention": "all",
                "path": str(DATA / "pku_saferlhf_test.jsonl"),
            },
        ],
        "calibrate_on": {"benchmark": "pku_saferlhf-all", "fraction": 0.5, "seed": 0},
        "in_domain": {"fraction": 0.5, "seed": 0},
        "calibration": {"bootstrap_resamples": 50},
    }
    (root / "suite.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(root / "suite.yaml")
    rng = np.random.default_rng(0)
    for m, model in enumerate(MODELS):
        for split in cfg.splits:
            frame = load_split(cfg, split)
            label = frame["label"].to_numpy()
            gap = 2.0 * (label == 1) - 1.0 + rng.normal(0, 1.5 + m, len(frame))
            out = pd.DataFrame(
                {
                    "id": frame["id"].astype(str),
                    "label": label,
                    "logit_safe": -gap / 2,
                    "logit_unsafe": gap / 2,
                    "label_mass": 0.9,
                }
            )
            path = cfg.layout.scores(model, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            scores.write_table(out, path, {"synthetic": True})
    return cfg, across.evaluate_across(cfg)


def test_every_guard_benchmark_method_and_metric(suite):
    cfg, tables = suite
    t = tables.benchmarks
    transfer = t[~t["method"].str.endswith(across.IN_DOMAIN)]
    keys = ["openai_moderation", "wildguardmix-response", "pku_saferlhf-all"]
    assert list(dict.fromkeys(transfer["benchmark"])) == keys
    assert len(transfer) == len(MODELS) * len(keys) * len(method_names()) * len(
        across.ACROSS_METRICS
    )
    defined = t.dropna(subset=["lo", "hi"])
    assert (defined["lo"] <= defined["hi"]).all() and len(defined) > 0.9 * len(t)
    written = pd.read_csv(cfg.layout.table("benchmarks"))
    assert list(written.columns) == list(across.BENCHMARK_COLUMNS)


def test_rms_ece_equals_liu_et_als_library_on_the_scores_files(suite):
    cfg, tables = suite
    t = tables.benchmarks
    for model in MODELS:
        for entry in cfg.benchmarks:
            s = scores.read_scores(cfg, model, cfg.benchmark_split(entry.key))
            p = expit(s["logit_unsafe"] - s["logit_safe"]).to_numpy()
            want = kumar.get_calibration_error(p, s["label"].to_numpy(), debias=False)
            row = t[(t["model"] == model) & (t["benchmark"] == entry.key)]
            row = row[(row["method"] == "uncalibrated") & (row["metric"] == "ece_rms")]
            assert row["value"].item() == pytest.approx(want, abs=1e-12)


def test_the_source_benchmark_is_evaluated_on_its_rest(suite):
    cfg, tables = suite
    preds = tables.predictions
    pku = preds[(preds["benchmark"] == "pku_saferlhf-all") & (preds["method"] == "uncalibrated")]
    validation = load_split(cfg, "validation")
    assert len(pku) == len(load_split(cfg, "test")) * len(MODELS) == 6 * len(MODELS)
    assert not set(pku["id"]) & set(validation["id"])
    study = read_predictions(cfg)  # what the study's sections read: the test split only
    assert set(study.columns) == {"model", "method", "id", "label", "proba_unsafe"}
    assert len(study) == 6 * len(MODELS) * len(method_names(study=True))


def test_transfer_gap_pairs_both_fits_on_the_same_rows(suite):
    _, tables = suite
    gap = tables.gap
    assert set(gap["method"]) == set(method_names()) - {"uncalibrated", "cc"}  # CC: no labels
    np.testing.assert_allclose(gap["gap"], gap["transfer"] - gap["in_domain"])
    in_domain = tables.benchmarks[tables.benchmarks["method"] == "ts" + across.IN_DOMAIN]
    assert set(in_domain["benchmark"]) == set(gap["benchmark"])


def test_slices_where_a_benchmark_marks_jailbreaks(suite):
    _, tables = suite
    s = tables.slices
    assert set(s["benchmark"]) == {"wildguardmix-response"}
    assert set(s["slice"]) == {"vanilla", "jailbreak"}


def test_liu_layout_latex(suite):
    cfg, _ = suite
    tex = cfg.layout.table("benchmarks", ".tex").read_text()
    assert "OpenAI Moderation" in tex and "WildGuardMix Test (response)" in tex and "Avg." in tex
    assert tex.count("\\begin{tabular}") == 2 and "+TS" in tex
