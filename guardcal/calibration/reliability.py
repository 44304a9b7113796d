"""How reliable p(unsafe) is, measured other ways than the binned ECE (docs/design.md §4b): the
debiased ECE (`guardcal.calibration.debiased`), smooth ECE (relplot), equal-mass ECE, top-label
ECE, Liu et al.'s RMS calibration error, the Brier score's decomposition into reliability,
resolution and uncertainty, and the Wilson interval of a reliability bin's unsafe fraction.
`evaluate_extended` gathers them with the metrics of §4 in one dict."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from guardcal.calibration.debiased import debiased_ece
from guardcal.calibration.metrics import (
    ECE_BINS,
    METRIC_KEYS,
    THRESHOLD,
    _check,
    bin_index,
    evaluate,
)

RELIABILITY_KEYS = (
    "ece_debiased",
    "smooth_ece",
    "ece_equal_mass",
    "ece_top_label",
    "ece_rms",
    "brier_reliability",
    "brier_resolution",
    "brier_uncertainty",
)
"""The measures of this module, in the order of the extended table."""

EXTENDED_KEYS = (*METRIC_KEYS, *RELIABILITY_KEYS)
"""Every metric of the extended table: those of §4, then these."""


def smooth_ece(labels: ArrayLike, proba_unsafe: ArrayLike) -> tuple[float, float]:
    """relplot's smooth ECE of p_unsafe (Błasiok & Nakkiran 2023) and the bandwidth σ it chose."""
    import relplot  # imports matplotlib, so the other measures and Wilson load without it

    y, p = _check(labels, proba_unsafe)
    value, sigma = relplot.smECE(p, y.astype(np.float64), return_width=True)
    return float(value), float(sigma)


def equal_mass_sizes(n: int, n_bins: int) -> np.ndarray:
    """Bin boundaries 0 = q_0 ≤ … ≤ q_M = n of M equal-mass bins (np.array_split's sizes)."""
    sizes = np.full(n_bins, n // n_bins) + (np.arange(n_bins) < n % n_bins)
    return np.concatenate([[0], np.cumsum(sizes)])


def equal_mass_ece(labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Adaptive ECE (Nixon et al. 2019): Σ_m |B_m|/N · |ȳ(B_m) − p̄(B_m)| over M bins of equal
    count (np.array_split's sizes) of the examples sorted by p. A run of tied p cut by a bin
    boundary is shared in proportion: each side gets the run's mean label per example, so the
    value depends on the sample only, never on the order of tied rows."""
    y, p = _check(labels, proba_unsafe)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    cy = np.concatenate([[0.0], np.cumsum(y[order])])
    cp = np.concatenate([[0.0], np.cumsum(ps)])
    q = equal_mass_sizes(y.shape[0], n_bins)
    at = np.minimum(q, y.shape[0] - 1)
    start = np.searchsorted(ps, ps[at], side="left")
    end = np.searchsorted(ps, ps[at], side="right")
    inside = q - start
    mass_y = cy[start] + inside * (cy[end] - cy[start]) / (end - start)
    mass_p = cp[start] + inside * ps[at]
    return float(np.abs(np.diff(mass_y) - np.diff(mass_p)).sum() / y.shape[0])


def top_label(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence max(p, 1 − p) of the verdict ŷ = 1 iff p ≥ 0.5, and whether ŷ is right."""
    unsafe = proba >= THRESHOLD
    return np.where(unsafe, proba, 1.0 - proba), (unsafe == (labels == 1)).astype(np.float64)


def top_label_ece(labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """ECE of the verdict's confidence max(p, 1 − p) against its accuracy, M equal-width bins
    (as §4's bins, on the confidence): Guo et al.'s (2017) ECE of a classifier's verdict."""
    y, p = _check(labels, proba_unsafe)
    confidence, correct = top_label(y, p)
    gap = np.bincount(bin_index(confidence, n_bins), weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / y.shape[0])


def rms_calibration_error(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> float:
    """Liu et al.'s (2025) calibration error: sqrt(Σ_m |B_m|/N · (p̄(B_m) − ȳ(B_m))²), the
    root-mean-square gap over M equal-mass bins of p(unsafe) — the sorted p cut at
    np.array_split's sizes (min(M, N) parts), each edge the midpoint of the two p it falls
    between, the last 1, a p on an edge in the bin below — or, when p is discrete (fewer distinct
    values than N/4), one bin per distinct value. Kumar et al.'s (2019) plug-in estimator, as
    Liu et al.'s eval.py calls it: `calibration.get_calibration_error(p, y, debias=False)`."""
    y, p = _check(labels, proba_unsafe)
    n = p.shape[0]
    values = np.unique(p)
    if values.shape[0] < n / 4:
        edges = np.append((values[:-1] + values[1:]) / 2.0, 1.0)
    else:
        s = np.sort(p)
        cuts = equal_mass_sizes(n, min(n_bins, n))[1:-1]
        edges = np.append((s[cuts - 1] + s[cuts]) / 2.0, 1.0)
    bins = np.searchsorted(edges, p)
    counts = np.bincount(bins, minlength=edges.shape[0])
    gap = np.bincount(bins, weights=p - y, minlength=edges.shape[0])
    filled = counts > 0
    return float(np.sqrt(np.sum(gap[filled] ** 2 / counts[filled]) / n))


def brier_decomposition(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> dict[str, float]:
    """Murphy's decomposition over the M equal-width bins of §4: reliability Σ |B|/N (p̄ − ȳ)²,
    resolution Σ |B|/N (ȳ_B − ȳ)², uncertainty ȳ(1 − ȳ); Brier ≈ REL − RES + UNC, exact when
    p is constant within each bin (the rest is the within-bin spread of p)."""
    y, p = _check(labels, proba_unsafe)
    bins = bin_index(p, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    base = y.mean()
    filled = counts > 0
    c = counts[filled]
    return {
        "brier_reliability": float(np.sum((sum_p[filled] - sum_y[filled]) ** 2 / c) / y.shape[0]),
        "brier_resolution": float(np.sum(c * (sum_y[filled] / c - base) ** 2) / y.shape[0]),
        "brier_uncertainty": float(base * (1.0 - base)),
    }


def evaluate_extended(
    labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS
) -> dict[str, float]:
    """The study's metrics (`evaluate`) and every estimator above, keyed as EXTENDED_KEYS."""
    y, p = _check(labels, proba_unsafe)
    scores = {
        **evaluate(y, p, n_bins),
        "ece_debiased": debiased_ece(y, p, n_bins),
        "smooth_ece": smooth_ece(y, p)[0],
        "ece_equal_mass": equal_mass_ece(y, p, n_bins),
        "ece_top_label": top_label_ece(y, p, n_bins),
        "ece_rms": rms_calibration_error(y, p, n_bins),
        **brier_decomposition(y, p, n_bins),
    }
    return {key: float(scores[key]) for key in EXTENDED_KEYS}


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (NaN where there are no trials): what a
    reliability diagram's bin of n examples, k unsafe, can claim about its unsafe fraction."""
    k, n = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        center = (k + z**2 / 2) / (n + z**2)
        half = z / (n + z**2) * np.sqrt(k * (n - k) / n + z**2 / 4)
    empty = n == 0
    return np.where(empty, np.nan, center - half), np.where(empty, np.nan, center + half)
