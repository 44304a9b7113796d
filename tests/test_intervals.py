"""The interval tables on synthetic score files: their rows, values and wording (their figures:
test_figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shown import shown
from synthetic import MODELS, RESAMPLES, scored_run

from guardcal import scores
from guardcal.calibration.intervals import METRIC_INTERVALS
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.reliability import EXTENDED_KEYS, evaluate_extended
from guardcal.reporting import intervals, narrative, pipeline, tables


@pytest.fixture(scope="module")
def run(synthetic_run):
    """The session's finished synthetic run (100 resamples) and its interval tables."""
    return synthetic_run.cfg, synthetic_run.ci, synthetic_run.diff


def test_interval_tables_have_the_contract_columns_and_every_row(run) -> None:
    cfg, _, _ = run
    ci = pd.read_csv(cfg.layout.table("metrics_ci"))
    diff = pd.read_csv(cfg.layout.table("metrics_diff_ci"))
    assert list(ci.columns) == list(intervals.CI_COLUMNS) == list(diff.columns)
    assert len(ci) == len(MODELS) * len(method_names()) * len(EXTENDED_KEYS)
    assert len(diff) == len(MODELS) * (len(method_names()) - 1) * len(EXTENDED_KEYS)
    assert (ci["lo"] <= ci["hi"]).all()
    for table in (ci, diff):  # every defined value lies inside its own interval
        defined = table.dropna(subset=["value"])
        inside = (defined["lo"] <= defined["value"]) & (defined["value"] <= defined["hi"])
        assert inside.all(), defined[~inside]
    assert (ci["interval"] == ci["metric"].map(METRIC_INTERVALS)).all()


def test_study_rows_equal_metrics_csv_and_every_value_is_recomputable(run) -> None:
    cfg, ci, _ = run
    metrics = pd.read_csv(cfg.layout.table("metrics")).set_index(["model", "method"])
    study = ci[ci["method"].isin(method_names(study=True)) & ci["metric"].isin(metrics.columns)]
    for r in study.itertuples():
        assert r.value == pytest.approx(metrics.at[(r.model, r.method), r.metric], abs=1e-6)
    # an extra method's values: its calibrator fitted on validation, applied to test
    model = MODELS[0]
    val, test = (scores.read_scores(cfg, model, s) for s in ("validation", "test"))
    free = scores.read_scores(cfg, model, "content_free")
    fitted = pipeline.fit_model(model, val, free, cfg.calibration, ["isotonic"])
    p = fitted["isotonic"].predict_proba(pipeline.logits_of(test))[:, 1]
    want = evaluate_extended(test["label"].to_numpy(), p)
    got = ci[(ci["model"] == model) & (ci["method"] == "isotonic")].set_index("metric")["value"]
    for key in EXTENDED_KEYS:
        assert got[key] == pytest.approx(want[key], abs=1e-12)


def test_differences_are_paired_against_the_uncalibrated_row(run) -> None:
    _, ci, diff = run
    point = ci.set_index(["model", "method", "metric"])["value"]
    for r in diff.itertuples():
        want = point[(r.model, r.method, r.metric)] - point[(r.model, "uncalibrated", r.metric)]
        assert r.value == pytest.approx(want, abs=1e-12)
    # TS leaves every verdict alone: its accuracy difference is 0 on every resample
    ts = diff[(diff["method"] == "ts") & (diff["metric"] == "accuracy")]
    assert (ts[["value", "lo", "hi"]].abs().to_numpy() < 1e-12).all()


def test_intervals_are_deterministic_and_the_seed_matters(run, tmp_path: Path) -> None:
    cfg, ci, _ = run
    again = scored_run(tmp_path, bootstrap_resamples=RESAMPLES)
    pipeline.evaluate_run(again)
    intervals.write_interval_tables(again)
    assert (
        again.layout.table("metrics_ci").read_bytes() == cfg.layout.table("metrics_ci").read_bytes()
    )
    (tmp_path / "s").mkdir()
    other = scored_run(tmp_path / "s", bootstrap_resamples=RESAMPLES, bootstrap_seed=1)
    pipeline.evaluate_run(other)
    lo = intervals.write_interval_tables(other)[0]["lo"].to_numpy()
    assert not np.allclose(lo, ci["lo"].to_numpy())


def test_refit_option_widens_the_temperature_rows(tmp_path: Path) -> None:
    """Refitting on validation resamples adds the calibrators' uncertainty to their rows."""
    cfg = scored_run(tmp_path, bootstrap_resamples=40, bootstrap_refit=True)
    pipeline.evaluate_run(cfg)
    refit, _ = intervals.write_interval_tables(cfg)
    (tmp_path / "f").mkdir()
    fixed = scored_run(tmp_path / "f", bootstrap_resamples=40)
    pipeline.evaluate_run(fixed)
    once, _ = intervals.write_interval_tables(fixed)
    pd.testing.assert_series_equal(refit["value"], once["value"])
    width = lambda t: (t["hi"] - t["lo"])[(t["method"] == "ts") & (t["metric"] == "nll")]  # noqa: E731
    assert width(refit).sum() > width(once).sum()


def test_narrative_names_the_resamples_and_the_clear_differences(run) -> None:
    cfg, _, diff = run
    intro = shown(narrative.beyond_intro(cfg))
    assert f"{RESAMPLES} resamples" in intro and "fitted once on the validation split" in intro
    text = shown(narrative.beyond_differences(diff, list(MODELS)))
    for model in MODELS:
        rows = diff[(diff["model"] == model) & (diff["metric"] == "ece")]
        for r in rows.itertuples():
            assert f"{REGISTRY[r.method].short} ({r.value:+.3f}" in text
    fake = diff.assign(lo=-1.0, hi=1.0)
    assert "no method lowers it beyond noise" in shown(
        narrative.beyond_differences(fake, [MODELS[0]])
    )


def test_extended_table_shows_every_row_with_its_interval(run) -> None:
    _, ci, _ = run
    html = tables.extended_table_html(ci)
    assert html.count("<tr>") == 1 + len(MODELS) * len(method_names())
    r = ci.iloc[0]
    assert f"[{r.lo:.3f}, {r.hi:.3f}]" in html


def test_calibration_tests_table_has_every_guard_and_method_and_their_tests(
    run, synthetic_run
) -> None:
    """One row per guard × method from the test predictions, each test's numbers those of the
    library functions on that method's p (seeded, so the file is reproducible)."""
    from guardcal.calibration.calibration_tests import consistency_test, hosmer_lemeshow
    from guardcal.reporting import calibration_tests

    cfg, ci, _ = run
    table = synthetic_run.tests
    written = pd.read_csv(cfg.layout.table("calibration_tests"))
    assert list(written.columns) == list(calibration_tests.TEST_COLUMNS)
    assert len(table) == len(MODELS) * len(method_names())
    point = ci[ci["metric"] == "ece"].set_index(["model", "method"])["value"]
    preds = pd.read_parquet(cfg.layout.table("predictions_beyond", ".parquet"))
    row = table[(table["model"] == MODELS[0]) & (table["method"] == "isotonic")].iloc[0]
    block = preds[(preds["model"] == MODELS[0]) & (preds["method"] == "isotonic")]
    y, p = block["label"].to_numpy(), block["proba_unsafe"].to_numpy()
    _, want_p, null = consistency_test(
        y, p, cfg.calibration.ece_bins, seed=cfg.calibration.bootstrap_seed
    )
    assert row["consistency_p"] == want_p
    assert row["ece_calibrated_95"] == pytest.approx(np.quantile(null, 0.95))
    assert row["hosmer_lemeshow_p"] == pytest.approx(hosmer_lemeshow(y, p)[2])
    for r in table.itertuples():
        assert r.ece == pytest.approx(point[(r.model, r.method)], abs=1e-12)
        assert 0 < r.consistency_p <= 1 and r.n == len(y)


def test_calibration_verdicts_name_each_method_on_its_side_of_chance() -> None:
    from guardcal.reporting.calibration_tests import TEST_COLUMNS, p_text, verdicts

    rows = [
        ("Guard <1>", "uncalibrated", 300, 0.21, 0.06, 0.000999, 5.0, 1e-6, 80.0, 10, 1e-12),
        ("Guard <1>", "ts", 300, 0.05, 0.06, 0.31, 0.5, 0.6, 9.0, 10, 0.53),
        ("Guard <1>", "bc", 300, 0.07, 0.06, 0.03, 1.0, 0.3, 12.0, 10, 0.28),
    ]
    markdown = verdicts(pd.DataFrame(rows, columns=TEST_COLUMNS))
    assert "<1>" not in markdown  # the name is escaped
    text = shown(markdown)
    assert "Guard <1>" in text and "(300 test examples)" in text
    assert "beyond chance under uncalibrated (ECE 0.210 vs 0.060, p ≤ 0.001), BC (" in text
    assert "calibrated guard shows: TS (ECE 0.050 vs 0.060, p = 0.31)" in text
    assert "differently for BC (Spiegelhalter and Hosmer–Lemeshow)" in text
    assert p_text(0.0042) == "p = 0.004"
