"""One bootstrap interval method per metric, each the one justified for what the metric is
(docs/design.md §4b), read off the fast resamples of `guardcal.calibration.bootstrap`.

- **percentile** for means (NLL, Brier, accuracy) and ȳ(1 − ȳ): unbiased or nearly so, and
  their bootstrap distribution is centred on the estimate.
- **BCa** (bias-corrected and accelerated, Efron 1987) for the ratios and curve areas (precision,
  recall, F1, AUPRC, AP): smooth functions of means whose distribution is skewed near 0 or 1, where
  BCa is second-order accurate. Its acceleration comes from leave-one-out values computed in
  O(N) (`guardcal.calibration.jackknife`); the formulas are scipy.stats.bootstrap's (tested equal).
- **basic** for the plug-in calibration errors (ECE, MCE, smooth, equal-mass, top-label and RMS
  ECE, Brier reliability and resolution): they sit on the boundary 0 and are biased upward by an
  amount the resamples repeat (θ* − θ̂ mimics θ̂ − θ), so the interval is reflected about the
  estimate, [2θ̂ − q_hi, 2θ̂ − q_lo], which removes the bias the percentile interval carries twice.
- **centred** for the debiased ECE: the estimator has removed its own bias, but its resamples are
  biased again (their label noise is the sample's plus the resample's, the correction only one of
  them), so the resamples give its spread and not its bias: [θ̂ − (θ̄* − q_lo), θ̂ + (q_hi − θ̄*)].

A calibration error's truth is ≥ 0, so its interval is cut at 0 (at the estimate when a debiased
estimate is below 0), and it is widened to contain the estimate, which the bias can put above
2θ̂ − q_lo when the resamples lie far above it. Neither the percentile interval nor BCa can hold a
biased estimate: both contain θ̂ exactly when |ẑ₀| ≤ z_{1−α/2}, i.e. when θ̂ is inside the central
resamples, which is what fails for a calibration error on a few hundred examples. Differences
between two methods (`difference=True`) have no boundary: the same methods, no cut. At a true
error of 0 the ECE's intervals cover far less often than their nominal rate (the resamples are
noisier than the sample); whether a guard could be calibrated is the question of
`guardcal.calibration.calibration_tests`, never folded into an interval.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtr, ndtri

from guardcal.calibration.bootstrap import CONFIDENCE, percentile_interval
from guardcal.calibration.reliability import EXTENDED_KEYS

METRIC_INTERVALS = {
    "ece": "basic",
    "mce": "basic",
    "nll": "percentile",
    "brier": "percentile",
    "f1": "bca",
    "precision": "bca",
    "recall": "bca",
    "accuracy": "percentile",
    "auprc": "bca",
    "ap": "bca",
    "ece_debiased": "centred",
    "smooth_ece": "basic",
    "ece_equal_mass": "basic",
    "ece_top_label": "basic",
    "ece_rms": "basic",
    "brier_reliability": "basic",
    "brier_resolution": "basic",
    "brier_uncertainty": "percentile",
}
"""The interval method of each metric of the extended table (the basic and centred ones are
calibration errors, ≥ 0 in truth)."""


def _alphas(confidence: float) -> tuple[float, float]:
    """The two tail probabilities of a two-sided interval."""
    alpha = (1 - confidence) / 2
    return alpha, 1 - alpha


def _bounded(
    lo: np.ndarray, hi: np.ndarray, value: np.ndarray, floor: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] widened to contain `value` and, where `floor` is given (the truth is ≥ it), cut at
    min(floor, value)."""
    lo, hi = np.fmin(lo, value), np.fmax(hi, value)
    if floor is not None:
        lo = np.fmax(lo, np.fmin(floor, value))
    return lo, hi


def _quantiles(stats: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """percentile_interval, quiet about a column undefined on every resample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return percentile_interval(stats, confidence)


def basic_interval(
    stats: np.ndarray,
    value: np.ndarray,
    confidence: float = CONFIDENCE,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """[2θ̂ − q_hi, 2θ̂ − q_lo] (scipy.stats.bootstrap's method="basic"), widened to contain θ̂
    and, where `floor` is given, cut at min(floor, θ̂)."""
    q_lo, q_hi = _quantiles(stats, confidence)
    return _bounded(2 * value - q_hi, 2 * value - q_lo, value, floor)


def centred_interval(
    stats: np.ndarray,
    value: np.ndarray,
    confidence: float = CONFIDENCE,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval moved by the resamples' mean shift θ̄* − θ̂: [θ̂ − (θ̄* − q_lo),
    θ̂ + (q_hi − θ̄*)], for an estimator that is unbiased where its resamples are not; widened
    and cut as `basic_interval`."""
    q_lo, q_hi = _quantiles(stats, confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stats, axis=0)
    return _bounded(value - (mean - q_lo), value + (q_hi - mean), value, floor)


def acceleration(jackknife: np.ndarray) -> np.ndarray:
    """BCa's â = Σ d³ / (6 (Σ d²)^{3/2}), d = mean − θ̂_(j) over the leave-one-out values of each
    column (undefined ones skipped); 0 where they do not vary."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no jackknife values
        d = np.nanmean(jackknife, axis=0) - jackknife
    num, den = np.nansum(d**3, axis=0), np.nansum(d**2, axis=0)
    return np.where(den > 0, num / (6 * np.where(den > 0, den, 1.0) ** 1.5), 0.0)


def bca_interval(
    stats: np.ndarray,
    value: np.ndarray,
    jackknife: np.ndarray,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray]:
    """BCa interval per column of (B, K) `stats`: ẑ₀ = Φ⁻¹(share of resamples below θ̂, ties
    counted half), the acceleration from the (N, K) leave-one-out values, and the quantiles
    Φ(ẑ₀ + (ẑ₀ + z_α)/(1 − â(ẑ₀ + z_α))) of the resamples (scipy.stats.bootstrap's formulas;
    resamples with an undefined value are skipped)."""
    defined = ~np.isnan(stats)
    count = defined.sum(axis=0)
    below = np.sum(defined & (stats < value), axis=0) + np.sum(defined & (stats <= value), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = ndtri(below / (2 * count))
    a = acceleration(jackknife)
    lo, hi = np.full(value.shape, np.nan), np.full(value.shape, np.nan)
    for k in np.flatnonzero(count > 0):
        levels = []
        for tail in _alphas(confidence):
            z = z0[k] + ndtri(tail)
            with np.errstate(invalid="ignore"):  # ẑ₀ = ±inf: θ̂ outside every resample
                levels.append(ndtr(z0[k] + z / (1 - a[k] * z)))
        if np.all(np.isfinite(levels)):
            lo[k], hi[k] = np.quantile(stats[defined[:, k], k], levels)
    return lo, hi


INTERVALS = {
    "percentile": lambda s, v, jk, confidence, floor: _quantiles(s, confidence),
    "bca": lambda s, v, jk, confidence, floor: bca_interval(s, v, jk, confidence),
    "basic": lambda s, v, jk, confidence, floor: basic_interval(s, v, confidence, floor),
    "centred": lambda s, v, jk, confidence, floor: centred_interval(s, v, confidence, floor),
}
"""Each interval method as (stats, values, jackknife, confidence, floor) → (lo, hi)."""


def metric_intervals(
    stats: np.ndarray,
    value: np.ndarray,
    jackknife: np.ndarray,
    confidence: float = CONFIDENCE,
    difference: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of every metric of EXTENDED_KEYS, each by its METRIC_INTERVALS method: (B, K)
    resampled values, (K,) estimates and (N, K) leave-one-out values (NaN where unused). For a
    difference between two methods, the calibration errors' intervals are not cut at 0."""
    lo, hi = np.full(value.shape, np.nan), np.full(value.shape, np.nan)
    for method, interval in INTERVALS.items():
        cols = [i for i, key in enumerate(EXTENDED_KEYS) if METRIC_INTERVALS[key] == method]
        floor = None if difference else np.zeros(len(cols))
        jk = jackknife[:, cols] if method == "bca" else None  # only BCa reads them
        lo[cols], hi[cols] = interval(stats[:, cols], value[cols], jk, confidence, floor)
    return lo, hi
