"""Tests of the hypothesis that a guard is calibrated, P(unsafe | p) = p, with p-values: is the
miscalibration more than a calibrated guard would show on this many examples? (docs/design.md §4b)

- **Spiegelhalter's Z** (1986): the Brier score's standardised distance from its expectation under
  calibration, Z = Σ (y − p)(1 − 2p) / √Σ (1 − 2p)² p(1 − p), two-sided p = 2Φ(−|Z|).
- **Hosmer–Lemeshow**: G groups at the deciles of p (tied p kept together), Ĉ = Σ_g (O_g − E_g)² /
  (E_g (1 − E_g/n_g)), against χ² with G degrees of freedom: the probabilities were not fitted on
  these examples (external validation, Hosmer, Lemeshow & Sturdivant 2013), so none is lost.
- **Consistency resampling** of the binned ECE (Bröcker & Smith 2007): labels drawn from the guard's
  own probabilities, y* ~ Bernoulli(p) with p as observed, give the ECE a calibrated guard shows at
  this n; p = (1 + #{ECE* ≥ ECE}) / (1 + R) over R draws is exact given p. The same draws give each
  reliability bin's consistency band: where a calibrated guard's observed frequency falls.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from guardcal.calibration.metrics import ECE_BINS, _check, bin_index

HL_GROUPS = 10
"""Hosmer–Lemeshow's groups: the deciles of p."""
CONSISTENCY_DRAWS = 1000
"""Label draws of the consistency test and bands."""
DRAW_BLOCK = 1 << 22
"""Draws × examples per block of uniforms (≈ 32 MiB), so memory is bounded at any N."""


def spiegelhalter(labels: ArrayLike, proba_unsafe: ArrayLike) -> tuple[float, float]:
    """Spiegelhalter's (Z, two-sided p); NaN when every p is 0, ½ or 1 (no variance)."""
    y, p = _check(labels, proba_unsafe)
    slope = 1 - 2 * p
    variance = np.sum(slope**2 * p * (1 - p))
    if variance <= 0:
        return float("nan"), float("nan")
    z = float(np.sum((y - p) * slope) / np.sqrt(variance))
    return z, float(2 * stats.norm.sf(abs(z)))


def decile_groups(proba: np.ndarray, groups: int = HL_GROUPS) -> np.ndarray:
    """Group 0..G'−1 of each p: cut at the deciles of p, a p equal to a cut in the lower group, so
    tied p share a group; empty groups dropped (G' ≤ G)."""
    cuts = np.quantile(proba, np.linspace(0, 1, groups + 1)[1:-1])
    raw = np.searchsorted(cuts, proba, side="left")
    return np.unique(raw, return_inverse=True)[1]


def hosmer_lemeshow(
    labels: ArrayLike, proba_unsafe: ArrayLike, groups: int = HL_GROUPS
) -> tuple[float, int, float]:
    """(Ĉ, degrees of freedom G', p-value) of the Hosmer–Lemeshow test at the deciles of p.

    A group whose p are all 0 or all 1 has no variance: it adds 0 when its labels agree with p,
    and makes Ĉ infinite (p-value 0) when they do not."""
    y, p = _check(labels, proba_unsafe)
    group = decile_groups(p, groups)
    size = np.bincount(group).astype(np.float64)
    observed = np.bincount(group, weights=y.astype(np.float64))
    expected = np.bincount(group, weights=p)
    variance = expected * (1 - expected / size)
    gap = (observed - expected) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(variance > 0, gap / np.where(variance > 0, variance, 1), 0.0)
    terms = np.where((variance <= 0) & (gap > 0), np.inf, terms)
    statistic, df = float(terms.sum()), int(size.shape[0])
    return statistic, df, float(stats.chi2.sf(statistic, df))


def _null_bin_sums(
    proba: np.ndarray, bins: np.ndarray, n_bins: int, draws: int, seed: int
) -> Iterator[np.ndarray]:
    """Per block of draws, the (b, M) label sums per bin of y* ~ Bernoulli(p), seeded: float32
    uniforms against p (a probability off by < 6e-8) and one matrix product with the items' bin
    indicators, exact in float32 up to 2^24 items per bin."""
    rng = np.random.default_rng(seed)
    n = proba.shape[0]
    p32 = proba.astype(np.float32)
    member = np.zeros((n, n_bins), dtype=np.float32)
    member[np.arange(n), bins] = 1.0
    size = max(1, DRAW_BLOCK // n)
    for start in range(0, draws, size):
        b = min(size, draws - start)
        hits = (rng.random((b, n), dtype=np.float32) < p32).astype(np.float32)
        yield (hits @ member).astype(np.float64)


def consistency_test(
    labels: ArrayLike,
    proba_unsafe: ArrayLike,
    n_bins: int = ECE_BINS,
    draws: int = CONSISTENCY_DRAWS,
    seed: int = 0,
) -> tuple[float, float, np.ndarray]:
    """(ECE, p-value, the R ECEs of calibrated label draws): how often a guard whose labels follow
    its own p shows an ECE at least as large as the observed one on these p."""
    y, p = _check(labels, proba_unsafe)
    bins = bin_index(p, n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y.astype(np.float64), minlength=n_bins)
    n = y.shape[0]
    observed = float(np.abs(sum_y - sum_p).sum() / n)
    null = np.concatenate(
        [np.abs(s - sum_p).sum(axis=1) / n for s in _null_bin_sums(p, bins, n_bins, draws, seed)]
    )
    p_value = (1 + np.sum(null >= observed - 1e-12 * max(observed, 1.0))) / (1 + draws)
    return observed, float(p_value), null


def consistency_bands(
    proba_unsafe: ArrayLike,
    n_bins: int,
    confidence: float = 0.95,
    draws: int = CONSISTENCY_DRAWS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: the mean p, and the (lo, hi) quantiles of the observed frequency ȳ*
    of labels drawn from p (Bröcker & Smith's consistency bars; NaN for an empty bin)."""
    p = np.asarray(proba_unsafe, dtype=np.float64)
    _check(np.zeros(p.shape[0], dtype=np.int64), p)
    bins = bin_index(p, n_bins)
    size = np.bincount(bins, minlength=n_bins).astype(np.float64)
    null = np.concatenate(list(_null_bin_sums(p, bins, n_bins, draws, seed)))
    filled = size > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(filled, np.bincount(bins, weights=p, minlength=n_bins) / size, np.nan)
        freq = null / np.where(filled, size, 1.0)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(freq, [alpha, 1 - alpha], axis=0)
    return mean_p, np.where(filled, lo, np.nan), np.where(filled, hi, np.nan)
