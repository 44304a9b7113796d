"""The calibration-tests table (`tables/calibration_tests.csv`): per guard and method on the test
split, is the miscalibration more than a calibrated guard would show on this many examples?
(docs/design.md §4b; the tests are `guardcal.calibration.calibration_tests`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from guardcal.calibration.calibration_tests import (
    CONSISTENCY_DRAWS,
    consistency_test,
    hosmer_lemeshow,
    spiegelhalter,
)
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.config import Config
from guardcal.reporting.markup import Markdown, md
from guardcal.reporting.pipeline import PREDICTION_COLUMNS, read_predictions
from guardcal.reporting.tables import check_columns, write_csv

LEVEL = 0.05
"""Each test's level: p below it calls the miscalibration distinguishable from chance."""
TEST_COLUMNS = (
    "model",
    "method",
    "n",
    "ece",
    "ece_calibrated_95",
    "consistency_p",
    "spiegelhalter_z",
    "spiegelhalter_p",
    "hosmer_lemeshow",
    "hosmer_lemeshow_df",
    "hosmer_lemeshow_p",
)
"""`ece_calibrated_95` is the 95th percentile of the ECE of labels drawn from the method's own p
(what a calibrated guard reaches on these probabilities); the p-values are each test's own."""


def test_rows(
    labels: np.ndarray, proba: np.ndarray, n_bins: int, seed: int, draws: int = CONSISTENCY_DRAWS
) -> dict[str, float]:
    """The three tests of one guard and method (consistency draws seeded by `seed`)."""
    ece, consistency_p, null = consistency_test(labels, proba, n_bins, draws, seed)
    z, z_p = spiegelhalter(labels, proba)
    hl, df, hl_p = hosmer_lemeshow(labels, proba)
    return {
        "n": int(labels.shape[0]),
        "ece": ece,
        "ece_calibrated_95": float(np.quantile(null, 0.95)),
        "consistency_p": consistency_p,
        "spiegelhalter_z": z,
        "spiegelhalter_p": z_p,
        "hosmer_lemeshow": hl,
        "hosmer_lemeshow_df": df,
        "hosmer_lemeshow_p": hl_p,
    }


def calibration_tests_table(preds: pd.DataFrame, n_bins: int, seed: int) -> pd.DataFrame:
    """Every guard × method of `preds` (test p_unsafe) under the three tests, in registry order.
    One seed for every row: each row's label draws are the same uniforms against its own p."""
    preds = check_columns(preds, PREDICTION_COLUMNS, "predictions")
    rows = []
    for model in preds["model"].unique():
        for method in method_names():
            block = preds[(preds["model"] == model) & (preds["method"] == method)]
            if block.empty:
                continue
            y, p = block["label"].to_numpy(), block["proba_unsafe"].to_numpy()
            rows.append({"model": model, "method": method, **test_rows(y, p, n_bins, seed)})
    return check_columns(pd.DataFrame(rows), TEST_COLUMNS, "calibration tests table")


def write_calibration_tests(cfg: Config) -> pd.DataFrame:
    """Write `tables/calibration_tests.csv` from the study's and the other methods' predictions."""
    preds = pd.concat(
        [
            read_predictions(cfg),
            pd.read_parquet(cfg.layout.table("predictions_beyond", ".parquet")),
        ],
        ignore_index=True,
    )
    c = cfg.calibration
    table = calibration_tests_table(preds, c.ece_bins, c.bootstrap_seed)
    write_csv(table, cfg.layout.table("calibration_tests"))
    return table


def p_text(p: float, draws: int = CONSISTENCY_DRAWS) -> str:
    """A consistency-test p-value in words: `p ≤ 0.001` at its floor 1/(R + 1) (no draw reached
    the observed ECE), else 3 decimals below 0.01 and 2 above."""
    floor = 1 / (draws + 1)
    if p <= floor * (1 + 1e-9):
        return f"p ≤ {floor:.1g}"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def verdicts(table: pd.DataFrame) -> Markdown:
    """Per guard, in words: for which methods the miscalibration is distinguishable from chance
    (the consistency test at LEVEL) and for which it is not, each with its ECE beside what a
    calibrated guard reaches on the same probabilities; where Spiegelhalter's or Hosmer–
    Lemeshow's verdict differs, which one. Markdown, one bullet per guard."""
    table = check_columns(table, TEST_COLUMNS, "calibration tests table")
    lines = []
    for model, rows in table.groupby("model", sort=False):
        found, chance, split = [], [], []
        for r in rows.itertuples():
            name = REGISTRY[r.method].short
            item = md(
                "{} (ECE {:.3f} vs {:.3f}, {})",
                name,
                r.ece,
                r.ece_calibrated_95,
                p_text(r.consistency_p),
            )
            (found if r.consistency_p < LEVEL else chance).append(item)
            others = {
                "Spiegelhalter": r.spiegelhalter_p < LEVEL,
                "Hosmer–Lemeshow": r.hosmer_lemeshow_p < LEVEL,
            }
            differ = [k for k, v in others.items() if v != (r.consistency_p < LEVEL)]
            if differ:
                split.append(md("{} ({})", name, " and ".join(differ)))
        parts = [md("**{}** ({:,} test examples):", model, int(rows["n"].iloc[0]))]
        if found:
            parts.append(md("miscalibration beyond chance under {}.", Markdown(", ").join(found)))
        if chance:
            parts.append(
                md("Within what a calibrated guard shows: {}.", Markdown(", ").join(chance))
            )
        if split:
            parts.append(
                md("The other two tests read differently for {}.", Markdown(", ").join(split))
            )
        lines.append(md("- {}", Markdown(" ").join(parts)))
    return md(
        "Each ECE is set beside the 95th percentile of the ECE a calibrated guard shows on the "
        "same probabilities (labels drawn from them, {:,} times), with the consistency test's "
        "p-value; each test at {:.0f} %, unadjusted across guards and methods. This test, not "
        "the interval, says whether a guard could be calibrated: an interval says how large a "
        "calibration error is, and a bootstrap interval of the ECE holds a true error of 0 far "
        "less often than 95 %.\n\n{}",
        CONSISTENCY_DRAWS,
        LEVEL * 100,
        Markdown("\n").join(lines),
    )
