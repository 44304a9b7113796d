"""A guard whose calibration is known exactly, to check estimators and intervals against the truth
(tests and benchmarks/bench_coverage.py).

The guard's logit g is N(μ, s²) and it says p = σ(g); the true probability of unsafe at that p is
c(p) = σ(a·g + b) (a < 1: overconfident, b ≠ 0: biased; a = 1, b = 0: calibrated). Its calibration
errors are integrals over g, computed by adaptive quadrature bin by bin:

    binned ECE = Σ_m |D_m|,  Brier reliability = Σ_m D_m² / P_m,
    D_m = E[(c(p) − p)·1{p ∈ B_m}],  P_m = P(p ∈ B_m)    (§4's equal-width bins),
    L1 error E|c(p) − p|,

and smooth ECE is relplot's own functional applied to the population: relplot.smECE on equally
weighted quantile nodes of p with the expected label c(p) as the outcome (its kernel smoothing is
linear in the outcome, so that is the expectation over labels), the density floor negligible at
that many nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import relplot
from scipy import integrate, special, stats

from guardcal.calibration.metrics import ECE_BINS, bin_edges

SMOOTH_NODES = 100_000
"""Quantile nodes of the population smooth ECE (its value moves by < 1e-9 from 10⁵ to 3·10⁶)."""


@dataclass(frozen=True)
class KnownGuard:
    """p = σ(g), g ~ N(mu, sd²); P(unsafe | p) = σ(slope·g + bias)."""

    mu: float = -0.3
    sd: float = 2.5
    slope: float = 1.0
    bias: float = 0.0

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(labels, p) of n examples."""
        g = rng.normal(self.mu, self.sd, n)
        y = (rng.random(n) < special.expit(self.slope * g + self.bias)).astype(np.int64)
        return y, special.expit(g)

    def _density(self, g: float) -> float:
        return float(stats.norm.pdf(g, self.mu, self.sd))

    def bin_gaps(self, n_bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray]:
        """(P_m, D_m) of each equal-width bin of p."""
        with np.errstate(divide="ignore"):
            cuts = special.logit(bin_edges(n_bins))  # −inf … +inf
        mass, gap = np.empty(n_bins), np.empty(n_bins)
        for m in range(n_bins):
            lo, hi = cuts[m], cuts[m + 1]
            mass[m] = stats.norm.cdf(hi, self.mu, self.sd) - stats.norm.cdf(lo, self.mu, self.sd)
            gap[m] = integrate.quad(
                lambda g: (
                    (special.expit(self.slope * g + self.bias) - special.expit(g))
                    * self._density(g)
                ),
                lo,
                hi,
                epsabs=1e-13,
                epsrel=1e-11,
                limit=200,
            )[0]
        return mass, gap

    def ece(self, n_bins: int = ECE_BINS) -> float:
        """The binned ECE of the population: Σ_m |D_m|."""
        return float(np.abs(self.bin_gaps(n_bins)[1]).sum())

    def brier_reliability(self, n_bins: int = ECE_BINS) -> float:
        """The Brier reliability of the population: Σ_m D_m² / P_m."""
        mass, gap = self.bin_gaps(n_bins)
        filled = mass > 0
        return float(np.sum(gap[filled] ** 2 / mass[filled]))

    def l1_error(self) -> float:
        """E|c(p) − p|, the unbinned calibration error."""
        value = integrate.quad(
            lambda g: (
                abs(special.expit(self.slope * g + self.bias) - special.expit(g)) * self._density(g)
            ),
            -np.inf,
            np.inf,
            epsabs=1e-13,
            limit=200,
        )[0]
        return float(value)

    @cached_property
    def smooth_ece(self) -> float:
        """relplot's smooth ECE of the population (its own bandwidth search)."""
        q = (np.arange(SMOOTH_NODES) + 0.5) / SMOOTH_NODES
        g = stats.norm.ppf(q, self.mu, self.sd)
        return float(relplot.smECE(special.expit(g), special.expit(self.slope * g + self.bias)))


COVERAGE_KEYS = ("ece", "ece_debiased", "smooth_ece", "brier_reliability")
"""The calibration errors whose intervals are checked against the known truth."""


@dataclass(frozen=True)
class Coverage:
    """Of one estimator over the simulations: how often each interval held the truth, how often
    it held the estimate, its mean width, and the mean estimate."""

    truth: float
    covered: float
    covered_percentile: float
    contains_estimate: float
    width: float
    mean_estimate: float


def interval_coverage(
    guard: KnownGuard, n: int, sims: int, resamples: int, seed: int = 0
) -> dict[str, Coverage]:
    """Draw `sims` test splits of n examples from `guard`, put each estimator's interval (its
    METRIC_INTERVALS method, and the percentile interval beside it) under the estimate from
    `resamples` bootstrap resamples, and count how often each contains the true value."""
    from guardcal.calibration.bootstrap import resample_indices, resampled_metrics
    from guardcal.calibration.intervals import metric_intervals, percentile_interval
    from guardcal.calibration.reliability import EXTENDED_KEYS

    truth = {
        "ece": guard.ece(),
        "ece_debiased": guard.ece(),
        "smooth_ece": guard.smooth_ece,
        "brier_reliability": guard.brier_reliability(),
    }
    cols = [EXTENDED_KEYS.index(k) for k in COVERAGE_KEYS]
    want = np.array([truth[k] for k in COVERAGE_KEYS])
    tally = np.zeros((5, len(cols)))
    rng = np.random.default_rng(seed)
    no_jackknife = np.full((n, len(EXTENDED_KEYS)), np.nan)
    for sim in range(sims):
        y, p = guard.draw(n, rng)
        indices = resample_indices(n, resamples, seed=seed * 100_003 + sim)
        # the sample itself as row 0: the estimates, equal to evaluate_extended's (tested)
        sample = np.arange(n, dtype=indices.dtype)[None, :]
        both = resampled_metrics(y, {"p": p}, np.vstack([sample, indices]), progress=False)["p"]
        value, resampled = both[0], both[1:]
        lo, hi = metric_intervals(resampled, value, no_jackknife)
        p_lo, p_hi = percentile_interval(resampled[:, cols])
        lo, hi, v = lo[cols], hi[cols], value[cols]
        tally += [
            (lo <= want) & (want <= hi),
            (p_lo <= want) & (want <= p_hi),
            (lo <= v) & (v <= hi),
            hi - lo,
            v,
        ]
    rates = tally / sims
    return {
        key: Coverage(truth[key], *(float(r) for r in rates[:, i]))
        for i, key in enumerate(COVERAGE_KEYS)
    }
