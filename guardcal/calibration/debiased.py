"""The debiased binned ECE of Kumar, Liang & Ma (2019, "Verified Uncertainty Calibration"): the
plug-in ECE minus an estimate of its upward bias (docs/design.md §4b).

In bin m the plug-in reads |d̂_m|, d̂_m = ȳ_m − p̄_m, and E|d̂_m| > |d_m| because the absolute value
folds the label noise up. Kumar et al. model d̂_m as N(d_m, s_m²), s_m² = ȳ_m(1 − ȳ_m)/n_m, and
correct each bin by the bias the model predicts at d̂_m:

    ECE_debiased = Σ_m n_m/N · (2|d̂_m| − E|N(d̂_m, s_m²)|),
    E|N(μ, s²)| = s·√(2/π)·exp(−μ²/2s²) + μ·(1 − 2Φ(−μ/s))     (the folded normal's mean).

Their code estimates E|N(d̂_m, s_m²)| by drawing 1,000 normals; the closed form is that draw's
exact limit, so the estimate is deterministic. A bin whose labels are all equal (s_m = 0, as in
every bin of one example) keeps its plug-in term. The estimate can fall below 0 when the data are
consistent with a calibrated guard: that is the price of removing the bias, and it is not clipped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from guardcal.calibration.metrics import ECE_BINS, _bin_sums, _check


def folded_normal_mean(mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E|X| for X ~ N(mu, sd²), elementwise; |mu| where sd = 0."""
    spread = sd > 0
    safe = np.where(spread, sd, 1.0)
    z = mu / safe
    value = safe * np.sqrt(2 / np.pi) * np.exp(-0.5 * z**2) + mu * (1 - 2 * ndtr(-z))
    return np.where(spread, value, np.abs(mu))


def debiased_ece_of_bins(count: np.ndarray, sum_y: np.ndarray, sum_p: np.ndarray) -> np.ndarray:
    """Σ_m n_m/N (2|d̂_m| − E|N(d̂_m, s_m²)|) over the last axis of per-bin counts and sums
    (N = Σ_m n_m); any leading axes (resamples) are kept."""
    filled = count > 0
    n_m = np.where(filled, count, 1.0)
    mean_y = sum_y / n_m
    gap = mean_y - sum_p / n_m
    sd = np.sqrt(np.clip(mean_y * (1 - mean_y), 0.0, None) / n_m)
    terms = np.where(filled, count * (2 * np.abs(gap) - folded_normal_mean(gap, sd)), 0.0)
    return terms.sum(axis=-1) / count.sum(axis=-1)


def debiased_ece(labels: ArrayLike, proba_unsafe: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Kumar et al.'s debiased ECE of p_unsafe over §4's M equal-width bins."""
    y, p = _check(labels, proba_unsafe)
    counts, sum_p, sum_y = _bin_sums(y, p, n_bins)
    return float(debiased_ece_of_bins(counts.astype(np.float64), sum_y, sum_p))
