"""Calibration and classification metrics of the unsafe class, positive class = 1 (docs/design.md
§4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    auc,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from guardcal.calibration.defaults import ECE_BINS, PLOT_BINS

THRESHOLD = 0.5
"""ŷ = 1 iff p_unsafe ≥ THRESHOLD (inclusive)."""

METRIC_KEYS = (
    "ece",
    "mce",
    "nll",
    "brier",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "auprc",
    "ap",
)
"""The keys of `evaluate`, in the order of the study's tables."""


def check_labels(labels: ArrayLike, n: int | None = None) -> np.ndarray:
    """Labels as a 1-D int array of 0/1 (1 = unsafe), or a ValueError saying what is wrong."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("labels are empty: need at least one example")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"labels have {y.shape[0]} rows but the predictions have {n}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be 0/1 numbers or booleans, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"labels must be 0 (safe) or 1 (unsafe): row {i} is {y[i].item()!r}")
    return y.astype(np.int64)


def check_proba(proba_unsafe: ArrayLike) -> np.ndarray:
    """Return p_unsafe as a finite float64 array with values in [0, 1], or raise ValueError."""
    p = np.asarray(proba_unsafe, dtype=np.float64)
    if p.size == 0:
        raise ValueError("proba_unsafe is empty: need at least one example")
    bad = ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), p.shape)
        where = int(i[0]) if p.ndim == 1 else tuple(int(k) for k in i)
        raise ValueError(
            f"proba_unsafe must be finite and in [0, 1]: row {where} is {p[i].item()!r}"
        )
    return p


def _check(labels: ArrayLike, proba_unsafe: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (labels, 1-D p_unsafe) pair of equal length."""
    p = check_proba(proba_unsafe)
    if p.ndim != 1:
        raise ValueError(f"proba_unsafe must be 1-D, got shape {p.shape}")
    return check_labels(labels, n=p.shape[0]), p


def bin_edges(n_bins: int) -> np.ndarray:
    """Edges m/M, m = 0..M, each the double nearest to m/M (so p = 0.3 sits exactly on an edge)."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return np.arange(int(n_bins) + 1) / int(n_bins)


def bin_index(proba_unsafe: ArrayLike, n_bins: int) -> np.ndarray:
    """Bin of each p: bin m holds (m/M, (m+1)/M], bin 0 also holds p = 0 (docs/design.md §4)."""
    edges = bin_edges(n_bins)
    idx = np.searchsorted(edges, np.asarray(proba_unsafe, dtype=np.float64), side="left") - 1
    return np.clip(idx, 0, len(edges) - 2)


def _bin_sums(
    labels: np.ndarray, proba: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin count, Σp and Σy with shape proba.shape[:-1] + (M,), via one bincount."""
    rows = int(np.prod(proba.shape[:-1], dtype=np.int64))
    flat = bin_index(proba, n_bins).reshape(rows, -1)
    flat = flat + (np.arange(rows) * n_bins)[:, None]
    size = rows * n_bins
    counts = np.bincount(flat.ravel(), minlength=size)
    sum_p = np.bincount(flat.ravel(), weights=proba.ravel(), minlength=size)
    y = np.broadcast_to(labels.astype(np.float64), (rows, labels.shape[0]))
    sum_y = np.bincount(flat.ravel(), weights=y.ravel(), minlength=size)
    shape = (*proba.shape[:-1], n_bins)
    return counts.reshape(shape), sum_p.reshape(shape), sum_y.reshape(shape)


def calibration_errors(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Binary ECE and MCE of p_unsafe; a (G, N) input gives one (ECE, MCE) per row, for grids."""
    p = check_proba(proba_unsafe)
    if p.ndim not in (1, 2):
        raise ValueError(f"proba_unsafe must be (N,) or (G, N), got shape {p.shape}")
    y = check_labels(labels, n=p.shape[-1])
    counts, sum_p, sum_y = _bin_sums(y, p, n_bins)
    nonempty = counts > 0
    safe_counts = np.where(nonempty, counts, 1)
    gap = np.where(nonempty, np.abs(sum_y / safe_counts - sum_p / safe_counts), 0.0)
    ece = np.sum(counts / y.shape[0] * gap, axis=-1)
    mce = np.max(gap, axis=-1)  # empty bins contribute 0, never more than a non-empty one
    return ece, mce


def expected_calibration_error(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> float:
    """ECE = Σ_m |B_m|/N · |ȳ(B_m) − p̄(B_m)| over M equal-width bins of p_unsafe."""
    y, p = _check(labels, proba_unsafe)
    return float(calibration_errors(y, p, n_bins)[0])


def maximum_calibration_error(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> float:
    """MCE = max over non-empty bins of |ȳ(B_m) − p̄(B_m)|."""
    y, p = _check(labels, proba_unsafe)
    return float(calibration_errors(y, p, n_bins)[1])


def reliability_bins(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = PLOT_BINS
) -> pd.DataFrame:
    """One row per bin (empty ones too, count 0 and NaN means): what reliability diagrams draw."""
    y, p = _check(labels, proba_unsafe)
    counts, sum_p, sum_y = _bin_sums(y, p, n_bins)
    edges = bin_edges(n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(counts > 0, sum_p / counts, np.nan)
        positive_rate = np.where(counts > 0, sum_y / counts, np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": counts,
            "confidence": confidence,
            "positive_rate": positive_rate,
            "gap": positive_rate - confidence,
        }
    )


def negative_log_likelihood(labels: ArrayLike, proba_unsafe: ArrayLike) -> float:
    """Mean binary cross-entropy; sklearn's log_loss clips p to [ε, 1−ε], ε = float64 eps ≈ 2.2e-16.

    The clip keeps p = 0 or 1 (logits of ±1e4) finite: a certain mistake costs −log ε ≈ 36.
    """
    y, p = _check(labels, proba_unsafe)
    return float(log_loss(y, p, labels=[0, 1]))


def brier_score(labels: ArrayLike, proba_unsafe: ArrayLike) -> float:
    """Mean squared error of p_unsafe against the 0/1 label."""
    y, p = _check(labels, proba_unsafe)
    return float(brier_score_loss(y, p, pos_label=1))


def predictions(proba_unsafe: ArrayLike) -> np.ndarray:
    """ŷ = 1 iff p_unsafe ≥ 0.5 (the guard's verdict)."""
    return (check_proba(proba_unsafe) >= THRESHOLD).astype(np.int64)


def auprc(labels: ArrayLike, proba_unsafe: ArrayLike) -> float:
    """Area under sklearn's precision–recall curve by the trapezoid rule (the study's number);
    NaN (undefined) without an unsafe example."""
    y, p = _check(labels, proba_unsafe)
    if not y.any():
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, p, pos_label=1)
    return float(auc(recall, precision))


def evaluate(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> dict[str, float]:
    """All metrics of one model/method as plain floats, keyed as in METRIC_KEYS. Without an
    unsafe example recall, AUPRC and AP, and with nothing predicted unsafe precision (and F1 then
    too), are undefined: NaN, never a made-up 0 or 0.5."""
    y, p = _check(labels, proba_unsafe)
    y_hat = predictions(p)
    ece, mce = calibration_errors(y, p, n_bins)
    scores = {
        "ece": ece,
        "mce": mce,
        "nll": negative_log_likelihood(y, p),
        "brier": brier_score(y, p),
        "f1": f1_score(y, y_hat, zero_division=np.nan),
        "precision": precision_score(y, y_hat, zero_division=np.nan),
        "recall": recall_score(y, y_hat, zero_division=np.nan),
        "accuracy": accuracy_score(y, y_hat),
        "auprc": auprc(y, p),
        "ap": average_precision_score(y, p) if y.any() else np.nan,
    }
    return {key: float(scores[key]) for key in METRIC_KEYS}
