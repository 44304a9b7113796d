"""The pipeline and its tables, on score files written in the contract format (synthetic logits)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax
from synthetic import MODELS, scored_run, write_config

from guardcal import records, scores
from guardcal.calibration import BatchCalibration, TemperatureScaling
from guardcal.calibration.methods import method_names
from guardcal.calibration.metrics import evaluate
from guardcal.config import ConfigError, load_config, with_overrides, write_run_config
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.reporting import pipeline, tables


@pytest.fixture
def cfg(tmp_path: Path):
    """A run whose scores files exist (no model involved); each test writes its own tables."""
    return scored_run(tmp_path)


def test_the_resolved_config_is_written_once_and_the_notebooks_read_it(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    cfg = with_overrides(load_config(path), run_name="other", limit=7, reports_dir=tmp_path / "r")
    assert cfg.name == "other" and cfg.dataset.limit == 7
    assert load_config(path).dataset.limit is None
    assert write_run_config(cfg) == tmp_path / "r" / "other" / "config.yaml"
    read = pipeline.run_config(cfg.run_dir)
    assert read.source_file == str((cfg.run_dir / "config.yaml").resolve())
    assert read.dataset.test.path == str(tmp_path / "test.jsonl")  # beside the user's file
    same = dataclasses.replace(read, source_file=cfg.source_file, dataset=cfg.dataset)
    assert same == cfg
    pd.testing.assert_frame_equal(records.load_split(read, "test"), records.load_split(cfg, "test"))
    assert pipeline.run_config(None) == load_config(None)  # a notebook opened by hand: the demo
    moved = cfg.run_dir.rename(tmp_path / "moved")
    with pytest.raises(ConfigError, match="not the one it lies in"):
        pipeline.run_config(moved)
    with pytest.raises(ConfigError, match="no such file"):
        pipeline.run_config(tmp_path / "r" / "other")


def test_metrics_table_has_the_contract_columns_and_rows(cfg) -> None:
    metrics = pipeline.evaluate_run(cfg)
    on_disk = pd.read_csv(cfg.layout.table("metrics"))
    assert tuple(on_disk.columns) == tables.METRICS_COLUMNS
    assert list(on_disk["model"]) == [m for m in MODELS for _ in method_names(study=True)]
    assert list(on_disk["method"]) == list(method_names(study=True)) * len(MODELS)
    np.testing.assert_allclose(
        on_disk[list(tables.METRIC_KEYS)], metrics[list(tables.METRIC_KEYS)], atol=1e-6
    )


def test_every_method_is_the_calibrator_applied_to_test(cfg) -> None:
    """Recompute each row by hand: TS/BC fitted on validation, CC from content-free, BC's prior
    from the test split itself."""
    metrics = pipeline.evaluate_run(cfg).set_index(["model", "method"])
    for model in MODELS:
        val, test, cf = (
            scores.read_scores(cfg, model, s) for s in ("validation", "test", "content_free")
        )
        zv = val[["logit_safe", "logit_unsafe"]].to_numpy()
        zt = test[["logit_safe", "logit_unsafe"]].to_numpy()
        zc = cf[["logit_safe", "logit_unsafe"]].to_numpy()
        y = test["label"].to_numpy()
        t = TemperatureScaling().fit(zv, val["label"]).temperature_
        gamma = BatchCalibration().fit(zv, val["label"]).gamma_
        log_p = log_softmax(zt, axis=1)
        p_cf = np.exp(log_softmax(zc, axis=1)).mean(axis=0)
        prior = np.exp(log_p).mean(axis=0)  # the test batch's own prior
        expected = {
            "uncalibrated": np.exp(log_p[:, 1]),
            "ts": np.exp(log_softmax(zt / t, axis=1)[:, 1]),
            "cc": np.exp(log_softmax(log_p - np.log(p_cf), axis=1)[:, 1]),
            "bc": np.exp(log_softmax(log_p - gamma * np.log(prior), axis=1)[:, 1]),
        }
        for method, p in expected.items():
            want = evaluate(y, p, n_bins=cfg.calibration.ece_bins)
            got = metrics.loc[(model, method)]
            for key, value in want.items():
                assert got[key] == pytest.approx(value, abs=1e-9), (model, method, key)


def test_monotone_calibrators_keep_auprc_and_ts_keeps_predictions(cfg) -> None:
    metrics = pipeline.evaluate_run(cfg)
    for model in MODELS:
        block = metrics[metrics["model"] == model].set_index("method")
        assert block["auprc"].max() - block["auprc"].min() < 1e-12
        for key in ("f1", "precision", "recall", "accuracy"):
            assert block.at["ts", key] == block.at["uncalibrated", key]


def test_bc_prior_comes_from_the_evaluated_split(cfg) -> None:
    fitted = pipeline.fit_run(cfg)[MODELS[0]]
    test = scores.read_scores(cfg, MODELS[0], "test")
    z = pipeline.logits_of(test)
    own = fitted.proba_unsafe(z)["bc"]
    half = fitted.proba_unsafe(z[: len(z) // 2])["bc"]
    # Calibrating half the batch changes the prior, hence the probabilities of the same rows.
    assert not np.allclose(own[: len(z) // 2], half)


def test_tuning_table_values_and_validation_metrics(cfg) -> None:
    tuning = pipeline.tune(cfg)
    on_disk = pd.read_csv(cfg.layout.table("tuning"))
    assert tuple(on_disk.columns) == tables.TUNING_COLUMNS
    assert list(on_disk["method"]) == ["ts", "bc"] * len(MODELS)
    assert list(on_disk["parameter"]) == ["temperature", "gamma"] * len(MODELS)
    for model in MODELS:
        val = scores.read_scores(cfg, model, "validation")
        z, y = pipeline.logits_of(val), val["label"].to_numpy()
        ts = TemperatureScaling().fit(z, y)
        bc = BatchCalibration().fit(z, y)
        rows = tuning[tuning["model"] == model].set_index("method")
        assert rows.at["ts", "value"] == ts.temperature_
        assert rows.at["bc", "value"] == bc.gamma_
        at_gamma = bc.history_.set_index("gamma").loc[bc.gamma_]
        assert rows.at["bc", "accuracy"] == pytest.approx(at_gamma["accuracy"])
        assert rows.at["bc", "f1"] == pytest.approx(at_gamma["f1"])
        want = evaluate(y, ts.predict_proba(z)[:, 1], n_bins=cfg.calibration.ece_bins)
        assert rows.at["ts", "nll"] == pytest.approx(want["nll"])
    histories = {n: pipeline.read_table(cfg, n) for n in ("tuning_temperature", "tuning_gamma")}
    assert len(histories["tuning_temperature"]) == 200 * len(MODELS)
    assert len(histories["tuning_gamma"]) == 201 * len(MODELS)
    assert list(histories["tuning_gamma"].columns[:2]) == ["model", "gamma"]


def test_config_grids_are_used(tmp_path: Path) -> None:
    cfg = scored_run(tmp_path, temperature_grid=[0.5, 3.0, 0.5], gamma_grid=[-1.0, 1.0, 0.25])
    pipeline.tune(cfg)
    temps = pipeline.read_table(cfg, "tuning_temperature")
    gammas = pipeline.read_table(cfg, "tuning_gamma")
    assert sorted(set(temps["temperature"])) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert sorted(set(gammas["gamma"])) == [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
    assert set(pipeline.read_table(cfg, "tuning").query("method == 'bc'")["value"]) <= set(
        gammas["gamma"]
    )


def test_tables_are_byte_identical_across_runs(cfg) -> None:
    names = (
        "metrics.csv",
        "metrics.tex",
        "tuning.csv",
        "tuning_temperature.csv",
        "tuning_gamma.csv",
    )
    pipeline.tune(cfg)
    pipeline.evaluate_run(cfg)
    first = {n: (cfg.layout.tables / n).read_bytes() for n in names}
    pipeline.tune(cfg)
    pipeline.evaluate_run(cfg)
    assert {n: (cfg.layout.tables / n).read_bytes() for n in names} == first
    leftovers = [p.name for p in cfg.layout.tables.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_latex_table_lists_every_model_and_method(cfg) -> None:
    pipeline.evaluate_run(cfg)
    tex = (cfg.layout.tables / "metrics.tex").read_text(encoding="utf-8")
    assert tex.startswith("\\begin{tabular}{lrrrrrrrr}") and "\\toprule" in tex
    body = [line for line in tex.splitlines() if line.endswith("\\\\")][1:]
    assert [line.split(" & ")[0] for line in body] == [
        name for m in MODELS for name in (m, "+CC", "+BC", "+TS")
    ]
    assert "\\bfseries" in tex


def test_final_table_html_bolds_each_models_best(cfg) -> None:
    metrics = pipeline.evaluate_run(cfg)
    html = tables.final_table_html(metrics)
    final = tables.final_table(metrics)
    assert list(final.columns) == [
        "Model",
        "ECE",
        "MCE",
        "NLL",
        "F1",
        "Precision",
        "Recall",
        "Accuracy",
        "AUPRC",
    ]
    best_row = int(final["ECE"].iloc[:4].astype(float).idxmin())
    assert f"#T_final_row{best_row}_col1" in html.split("</style>")[0]


def test_dataset_summary_counts_labels_and_multilabel_flags(cfg) -> None:
    sizes, categories = pipeline.summarise_data(cfg)
    test = records.load_split(cfg, "test")
    row = sizes.set_index("split").loc["test"]
    assert row["examples"] == len(test) and row["unsafe"] == int(test["label"].sum())
    assert row["safe"] + row["unsafe"] == row["examples"] and row["with_response"] == len(test)
    flagged = categories[categories["split"] == "test"].set_index("category")["count"]
    assert flagged["privacy_violation"] == sum("privacy_violation" in c for c in test["categories"])
    assert flagged.sum() > row["unsafe"]  # multi-label: more flags than unsafe pairs
    assert list(flagged.index) == [c for c in BEAVERTAILS_CATEGORIES if c in flagged.index]


def test_scores_summary_reports_label_mass_and_bias(cfg) -> None:
    summary = pipeline.scores_summary(cfg).set_index(["model", "split"])
    test = scores.read_scores(cfg, MODELS[0], "test")
    assert summary.at[(MODELS[0], "test"), "examples"] == len(test)
    assert summary.at[(MODELS[0], "test"), "mean_label_mass"] == pytest.approx(
        test["label_mass"].mean()
    )
    assert np.isnan(summary.at[(MODELS[0], "content_free"), "unsafe_share"])
    # Guard A is biased to safe: it says unsafe less often than the data is unsafe.
    row = summary.loc[(MODELS[0], "test")]
    assert row["mean_proba_unsafe"] < row["unsafe_share"]


def test_missing_table_names_the_notebook_to_run(cfg) -> None:
    with pytest.raises(FileNotFoundError, match=r"metrics\.csv"):
        pipeline.read_table(cfg, "metrics")
