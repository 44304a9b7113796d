"""What a guard's user decides with, on a synthetic run: per-category metrics, operating points,
the calibrated-guard file and `guardcal predict`'s refusals (no model needed)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recompute import recompute_categories
from shown import shown
from sklearn.metrics import precision_score, recall_score
from synthetic import MODELS

from guardcal import artifact, records, scores
from guardcal.__main__ import main
from guardcal.calibration import BatchCalibration, label_log_proba
from guardcal.calibration.bootstrap import resample_indices
from guardcal.calibration.methods import method_names
from guardcal.calibration.thresholds import (
    review_band,
    risk_coverage,
    rule_metrics,
    threshold_for_precision,
    threshold_for_recall,
)
from guardcal.guard import CalibratedGuard
from guardcal.reporting import decisions, narrative, pipeline


@pytest.fixture(scope="module")
def run(synthetic_run):
    """The session's finished synthetic run, its per-category table and operating points."""
    return synthetic_run.cfg, synthetic_run.categories, synthetic_run.points


def test_category_table_equals_a_recomputation(run) -> None:
    cfg, categories, _ = run
    preds = pipeline.read_predictions(cfg)
    split = records.load_split(cfg, "test")
    want = recompute_categories(preds, split, cfg.calibration.ece_bins)
    got = pd.read_csv(cfg.layout.table("category_metrics"))
    assert list(got.columns) == list(decisions.CATEGORY_METRICS_COLUMNS)
    assert set(got["method"]) == set(method_names(study=True)) and set(got["model"]) == set(MODELS)
    keys = ["model", "method", "category"]
    got, want = (t.sort_values(keys).reset_index(drop=True) for t in (got, want))
    pd.testing.assert_frame_equal(got, want, atol=1e-6, check_dtype=False)
    # TS never changes a verdict, so it never changes a category's recall
    ts = categories[categories["method"] == "ts"]["recall"].to_numpy()
    assert np.array_equal(ts, categories[categories["method"] == "uncalibrated"]["recall"])


def brute_force_band(y: np.ndarray, p: np.ndarray, tp: float, tr: float) -> float:
    """The fewest items any [low, high) band over the scores (and +inf) reviews within targets."""
    candidates = [*np.unique(p), np.inf]
    best = np.inf
    for low, high in itertools.combinations_with_replacement(candidates, 2):
        m = rule_metrics(y, p, low, high)
        precision_ok = np.isnan(m["precision"]) or m["precision"] >= tp
        if precision_ok and m["recall"] >= tr:
            best = min(best, m["review"])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_thresholds_and_band_match_a_brute_force_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(30) < 0.4).astype(int)
    y[0] = 1
    p = np.clip(0.35 * y + rng.random(30) * 0.65, 0, 1).round(2)  # ties on purpose
    tp, tr = 0.8, 0.85
    t = threshold_for_precision(y, p, tp)
    reach = [s for s in np.unique(p) if precision_score(y, p >= s, zero_division=0) >= tp]
    assert t == (min(reach) if reach else np.inf)
    t = threshold_for_recall(y, p, tr)
    assert t == max(s for s in np.unique(p) if recall_score(y, p >= s) >= tr)
    low, high = review_band(y, p, tp, tr)
    m = rule_metrics(y, p, low, high)
    assert m["recall"] >= tr and (np.isnan(m["precision"]) or m["precision"] >= tp)
    assert m["review"] == brute_force_band(y, p, tp, tr)


def test_risk_coverage_ends_at_the_overall_accuracy() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.9, 0.1, 0.4, 0.6, 0.6, 0.55])
    curve = risk_coverage(y, p)
    # confidences 0.9, 0.9 | 0.6, 0.6, 0.6 | 0.55: ties are decided together
    assert curve["coverage"].tolist() == [2 / 6, 5 / 6, 1.0]
    assert curve["accuracy"].tolist() == [1.0, 2 / 5, np.mean((p >= 0.5) == (y == 1))]


def test_operating_points_are_chosen_on_validation_and_measured_on_test(run) -> None:
    cfg, _, points = run
    assert list(points.columns) == list(decisions.OPERATING_COLUMNS)
    assert len(points) == len(MODELS) * len(method_names(study=True)) * len(decisions.POINTS)
    preds = pipeline.read_predictions(cfg)
    d = cfg.decisions
    for row in points.dropna(subset=["low"]).itertuples():
        test = preds[(preds["model"] == row.model) & (preds["method"] == row.method)]
        got = rule_metrics(test["label"], test["proba_unsafe"], row.low, row.high)
        assert got["review"] == pytest.approx(row.test_review, abs=1e-6)
        assert got["fpr"] == pytest.approx(row.test_fpr, abs=1e-6)
        if row.point == "precision" and np.isfinite(row.low):
            assert row.val_precision >= d.target_precision
        if row.point in ("recall", "review_band", "recall_guaranteed"):
            assert row.val_recall >= d.target_recall
        if row.point == "fpr_guaranteed":  # certified with room to spare on validation
            assert row.val_fpr <= d.target_fpr and row.delta == d.delta
    # a guarantee costs: its threshold is never above the one that just reaches the recall
    by_point = points.set_index(["model", "method", "point"])["low"]
    for model, method in points[["model", "method"]].drop_duplicates().itertuples(index=False):
        sure = by_point[(model, method, "recall_guaranteed")]
        assert np.isnan(sure) or sure <= by_point[(model, method, "recall")]
    # TS is a fixed monotone map of p: the same test items at every point
    cols = [c for c in points.columns if c.startswith("test_")]
    by = points.set_index(["model", "method", "point"])[cols].sort_index()
    for model in MODELS:
        pd.testing.assert_frame_equal(
            by.loc[(model, "ts")], by.loc[(model, "uncalibrated")], check_exact=False
        )


def test_the_calibrated_guard_file_reproduces_every_calibrator(run) -> None:
    cfg, _, _ = run
    fitted = pipeline.fit_run(cfg)
    for model in MODELS:
        path = cfg.layout.calibrator(model)
        text = path.read_text(encoding="utf-8")
        assert json.loads(text)["format_version"] == artifact.FORMAT_VERSION
        guard = CalibratedGuard.from_run(cfg.run_dir, model)
        assert guard.name == model and guard.methods == method_names()
        z = pipeline.logits_of(scores.read_scores(cfg, model, "test"))
        want = fitted[model].proba_unsafe(z)
        for method in method_names():
            assert np.array_equal(guard.calibrate(z, method), want[method]), method
        # BC with the validation prior: log p̂ = log p − γ log p(y|C_val), renormalised
        bc = fitted[model]["bc"]
        shifted = label_log_proba(z) - bc.gamma_ * bc.prior_log_proba_
        expected = np.exp(shifted[:, 1] - np.logaddexp(shifted[:, 0], shifted[:, 1]))
        got = guard.calibrate(z, "bc", prior="validation")
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        # the validation and test priors differ, so with γ ≠ 0 the two BCs do too
        assert bc.gamma_ == 0 or not np.allclose(got, want["bc"])
        assert guard.artifact["guard"] is None  # synthetic scores carry no fingerprint


def test_validation_prior_needs_a_fit() -> None:
    with pytest.raises(Exception, match="not fitted"):
        BatchCalibration(gamma=1.0, prior="validation").predict_proba([[0.0, 1.0]])
    with pytest.raises(ValueError, match="prior must be one of"):
        BatchCalibration(gamma=1.0, prior="test").predict_proba([[0.0, 1.0]])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=99), "'format_version' is 99"),
        (lambda d: d["calibrators"]["ts"].pop("temperature"), "missing key 'temperature'"),
        (lambda d: d["calibrators"]["ts"].update(temperature=-1.0), "must lie in"),
        (lambda d: d["calibrators"]["bc"].update(prior_log_proba=[0.1]), "two finite numbers"),
        (lambda d: d.update(kind="pickle"), "not a guardcal calibrated guard"),
        (lambda d: d["calibrators"].pop("isotonic"), "missing key 'isotonic'"),
        (lambda d: d["calibrators"]["beta"].update(a=float("nan")), "'a' must hold finite numbers"),
        (lambda d: d["calibrators"]["histogram"]["edges"].append(1e3), "one more bin_proba"),
    ],
)
def test_a_bad_calibrated_guard_file_is_named(run, tmp_path: Path, change, message) -> None:
    cfg, _, _ = run
    data = json.loads(cfg.layout.calibrator(MODELS[0]).read_text(encoding="utf-8"))
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(artifact.ArtifactError, match=message) as err:
        artifact.read_artifact(bad)
    assert str(bad) in str(err.value)


def _input(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "new.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("argv", "lines", "message"),
    [
        (["--model", "nobody"], ['{"prompt": "hi"}'], "no calibrated guard named 'nobody'"),
        (["--method", "vector"], ['{"prompt": "hi"}'], "no calibrator 'vector'"),
        ([], ['{"prompt": "hi"}', '{"prompt": "x", '], "new.jsonl: line 2: malformed JSON"),
        ([], ['{"text": "hi", "label": 1}'], "new.jsonl: line 1, field 'label': unknown column"),
        ([], ['{"prompt": "hi", "is_safe": "maybe"}'], "field 'is_safe': label 'maybe'"),
    ],
)
def test_predict_refuses_bad_input_with_one_line_and_no_output(
    run, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, lines, message
) -> None:
    cfg, _, _ = run
    out = tmp_path / "out.jsonl"
    args = ["predict", "--run", str(cfg.run_dir), "--model", MODELS[0], *argv]
    assert main([*args, "-o", str(out), str(_input(tmp_path, lines))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists() and list(tmp_path.glob(".out.jsonl*")) == []


def test_predict_names_a_run_without_calibrators(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty-run").mkdir()
    args = ["predict", "--run", str(tmp_path / "empty-run"), "--model", "g", "x.jsonl"]
    assert main(args) == 2
    assert "empty-run/calibrators: no calibrated guards" in capsys.readouterr().err


def test_predict_refuses_a_guard_it_cannot_reidentify(run, tmp_path: Path, capsys) -> None:
    cfg, _, _ = run
    path = _input(tmp_path, ['{"prompt": "hi"}'])
    args = ["predict", "--run", str(cfg.run_dir), "--model", MODELS[0], str(path)]
    assert main(args) == 2
    assert "key 'guard' is empty" in capsys.readouterr().err


def test_narrative_names_under_flagged_categories_and_operating_points(run) -> None:
    cfg, categories, points = run
    facts = narrative.RunFacts.load(cfg)
    text = shown(narrative.categories_note(facts, categories))
    assert text.count("\n- **") == len(MODELS)
    for model in MODELS:
        overall = facts.value(model, "uncalibrated", "recall")
        for item in narrative.under_flagged(categories, model, overall):
            assert shown(item) in text
        assert "TS changes no category's recall" in text
    note = shown(narrative.operating_points_note(facts, points))
    for model in MODELS:
        row = points.set_index(["model", "method", "point"]).loc[
            (model, "uncalibrated", "review_band")
        ]
        assert f"{row['test_review']:.0%} of test items" in note
        sure = points.set_index(["model", "method", "point"]).loc[
            (model, "uncalibrated", "fpr_guaranteed")
        ]
        assert (
            f"needs p ≥ {sure['low']:.3f} (test: FPR {sure['test_fpr']:.2f}" in note
            if np.isfinite(sure["low"])
            else "cannot be certified" in note
        )
    assert note.count("Guaranteed with probability ≥ 90 %") == len(MODELS)
    assert "TS move" in note  # TS picks the same items as uncalibrated
    guard_note = narrative.calibrated_guard_note(facts)
    t = json.loads(cfg.layout.calibrator(MODELS[0]).read_text())["calibrators"]["ts"]
    assert f"$T = {t['temperature']:.3f}$" in guard_note and "guardcal predict" in guard_note


def test_no_category_flags_means_an_empty_table_and_a_sentence(run) -> None:
    cfg, _, _ = run
    preds = pipeline.read_predictions(cfg)
    split = records.load_split(cfg, "test").assign(categories=lambda d: [[]] * len(d))
    table = decisions.category_metrics(preds, split, 15)
    assert table.empty and list(table.columns) == list(decisions.CATEGORY_METRICS_COLUMNS)
    facts = narrative.RunFacts.load(cfg)
    assert "no harm-category flags" in narrative.categories_note(facts, table)


def test_operating_point_intervals_equal_the_rule_on_each_resampled_batch(run) -> None:
    cfg, _, points = run
    model = MODELS[0]
    test = scores.read_scores(cfg, model, "test")
    z, y = pipeline.logits_of(test), test["label"].to_numpy()
    gamma = pipeline.fit_run(cfg, ["bc"])[model]["bc"].gamma_
    indices = resample_indices(
        len(y), cfg.calibration.bootstrap_resamples, cfg.calibration.bootstrap_seed
    )
    row = points.set_index(["model", "method", "point"]).loc[(model, "bc", "review_band")]
    stats = []
    for idx in indices:  # the slow way: BC applied to each resampled batch, then the rule
        p = BatchCalibration(gamma=gamma).predict_proba(z[idx])[:, 1]
        stats.append(rule_metrics(y[idx], p, row["low"], row["high"])["review"])
    lo, hi = np.quantile(stats, [0.025, 0.975])
    assert row["test_review_lo"] == pytest.approx(lo, abs=1e-6)
    assert row["test_review_hi"] == pytest.approx(hi, abs=1e-6)
    assert row["test_review_lo"] <= row["test_review"] <= row["test_review_hi"]
