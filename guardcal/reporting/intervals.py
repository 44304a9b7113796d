"""The interval tables: every registered method under every metric of the extended table, each
number with a seeded bootstrap 95 % interval by the method justified for that metric
(`guardcal.calibration.intervals`, named in the `interval` column; `metrics_ci.csv`), and paired
intervals of each method's difference to its guard's uncalibrated row (`metrics_diff_ci.csv`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from guardcal import scores
from guardcal.calibration.bootstrap import (
    CONFIDENCE,
    BatchResampled,
    FixedProba,
    ResampledProba,
    resample_counts,
    resample_indices,
    resampled_metrics,
)
from guardcal.calibration.fitted import FittedCalibrators
from guardcal.calibration.intervals import METRIC_INTERVALS, metric_intervals
from guardcal.calibration.jackknife import row_jackknife
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.reliability import EXTENDED_KEYS, evaluate_extended
from guardcal.config import Config
from guardcal.reporting.pipeline import fit_model, logits_of
from guardcal.reporting.tables import check_columns, write_csv, write_parquet

CI_COLUMNS = ("model", "method", "metric", "value", "lo", "hi", "interval")
"""`metrics_ci.csv` and `metrics_diff_ci.csv` (there `value` is method − uncalibrated);
`interval` names the metric's interval method (percentile, bca, basic, centred)."""


def method_probas(fitted: FittedCalibrators, logits: np.ndarray) -> dict[str, ResampledProba]:
    """p_unsafe of every method on `logits` as the bootstrap takes it: fixed for a calibrator
    fitted on validation, recomputed per resample for a batch-prior one (BC: its prior is the
    resample's mean)."""
    gap = logits[:, 1] - logits[:, 0]
    fixed = [m for m in fitted.methods if not REGISTRY[m].batch_prior]
    probas = fitted.proba_unsafe(logits, fixed)
    return {
        m: FixedProba(probas[m], gap) if m in probas else BatchResampled(logits, fitted[m].gamma_)
        for m in fitted.methods
    }


def refit_statistics(
    cfg: Config,
    model: str,
    validation: pd.DataFrame,
    content_free: pd.DataFrame,
    test: pd.DataFrame,
    test_indices: np.ndarray,
) -> dict[str, np.ndarray]:
    """(B, K) metrics per method when every resample also refits the calibrators on a resample of
    the validation split (one seeded draw for it), so the intervals include their uncertainty."""
    z, y = logits_of(test), test["label"].to_numpy()
    gap = z[:, 1] - z[:, 0]
    resamples = test_indices.shape[0]
    val_indices = resample_indices(len(validation), resamples, cfg.calibration.bootstrap_seed + 1)
    out = {m: np.empty((resamples, len(EXTENDED_KEYS))) for m in method_names()}
    for b in tqdm(range(resamples), desc=f"refit bootstrap ({model})", leave=False):
        val = validation.iloc[val_indices[b]].reset_index(drop=True)
        rows = method_probas(fit_model(model, val, content_free, cfg.calibration), z)
        counts = resample_counts(test_indices[b : b + 1], y.shape[0])
        fixed = {m: FixedProba(r(counts)[0], gap) for m, r in rows.items()}
        stats = resampled_metrics(
            y, fixed, test_indices[b : b + 1], cfg.calibration.ece_bins, progress=False
        )
        for m in method_names():
            out[m][b] = stats[m][0]
    return out


def interval_rows(
    model: str,
    values: dict[str, dict[str, float]],
    stats: dict[str, np.ndarray],
    jackknife: dict[str, np.ndarray],
) -> tuple[list[dict], list[dict]]:
    """The rows of both interval tables for one guard: each method's value and interval, and each
    method's paired difference to the uncalibrated row on the same resamples (its leave-one-out
    values the difference of the two methods' too)."""
    ci, diff = [], []
    base = np.array([values["uncalibrated"][key] for key in EXTENDED_KEYS])
    for method in method_names():
        value = np.array([values[method][key] for key in EXTENDED_KEYS])
        lo, hi = metric_intervals(stats[method], value, jackknife[method], CONFIDENCE)
        d_lo, d_hi = metric_intervals(
            stats[method] - stats["uncalibrated"],
            value - base,
            jackknife[method] - jackknife["uncalibrated"],
            CONFIDENCE,
            difference=True,
        )
        for k, key in enumerate(EXTENDED_KEYS):
            how = METRIC_INTERVALS[key]
            row = dict(model=model, method=method, metric=key)
            ci.append(dict(row, value=value[k], lo=lo[k], hi=hi[k], interval=how))
            if method != "uncalibrated":
                diff.append(
                    dict(row, value=value[k] - base[k], lo=d_lo[k], hi=d_hi[k], interval=how)
                )
    return ci, diff


def write_interval_tables(cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `metrics_ci.csv`, `metrics_diff_ci.csv` and the test predictions of the methods the
    study's table leaves out (`predictions_beyond.parquet`)."""
    calibration = cfg.calibration
    ci, diff, preds = [], [], []
    for m in cfg.models:
        validation = scores.read_scores(cfg, m.name, "validation")
        content_free = scores.read_scores(cfg, m.name, "content_free")
        test = scores.read_scores(cfg, m.name, "test")
        z, y = logits_of(test), test["label"].to_numpy()
        fitted = fit_model(m.name, validation, content_free, calibration)
        probas = fitted.proba_unsafe(z)
        values = {k: evaluate_extended(y, p, calibration.ece_bins) for k, p in probas.items()}
        indices = resample_indices(
            y.shape[0], calibration.bootstrap_resamples, calibration.bootstrap_seed
        )
        rows = method_probas(fitted, z)
        if calibration.bootstrap_refit:
            stats = refit_statistics(cfg, m.name, validation, content_free, test, indices)
        else:
            stats = resampled_metrics(y, rows, indices, calibration.ece_bins)
        # BCa's acceleration from the calibrators fitted once, also under refitting
        jackknife = {method: row_jackknife(y, row) for method, row in rows.items()}
        model_ci, model_diff = interval_rows(m.name, values, stats, jackknife)
        ci += model_ci
        diff += model_diff
        for method in method_names(study=False):
            preds.append(
                pd.DataFrame(
                    {
                        "model": m.name,
                        "method": method,
                        "id": test["id"].astype(str).to_numpy(),
                        "label": y.astype(np.int64),
                        "proba_unsafe": probas[method],
                    }
                )
            )
    ci_table = check_columns(pd.DataFrame(ci), CI_COLUMNS, "interval table")
    diff_table = check_columns(pd.DataFrame(diff), CI_COLUMNS, "difference table")
    write_csv(ci_table, cfg.layout.table("metrics_ci"))
    write_csv(diff_table, cfg.layout.table("metrics_diff_ci"))
    write_parquet(
        pd.concat(preds, ignore_index=True), cfg.layout.table("predictions_beyond", ".parquet")
    )
    return ci_table, diff_table
