"""Calibration tests with p-values: Spiegelhalter's Z and Hosmer–Lemeshow equal independent
implementations of their formulas, and the consistency-resampling test of the ECE has uniform
p-values under calibration and power against an overconfident guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss

from guardcal.calibration.calibration_tests import (
    consistency_bands,
    consistency_test,
    hosmer_lemeshow,
    spiegelhalter,
)
from guardcal.calibration.metrics import expected_calibration_error
from guardcal.calibration.simulation import KnownGuard


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    """500 examples of an overconfident guard."""
    return KnownGuard(slope=1 / 1.6).draw(500, np.random.default_rng(1))


def test_spiegelhalter_is_the_brier_scores_standardised_excess(sample) -> None:
    """Z = (Brier − E₀[Brier]) / √Var₀[Brier] under calibration: E₀ = mean p(1 − p),
    Var₀ = Σ (1 − 2p)² p(1 − p) / N² (Spiegelhalter 1986), Brier from scikit-learn."""
    y, p = sample
    n = y.shape[0]
    brier = brier_score_loss(y, p)
    expected = np.mean(p * (1 - p))
    sd = np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p))) / n
    z, p_value = spiegelhalter(y, p)
    assert z == pytest.approx((brier - expected) / sd, rel=1e-10)
    assert p_value == pytest.approx(2 * stats.norm.cdf(-abs((brier - expected) / sd)), rel=1e-10)
    assert p_value < 0.05  # an overconfident guard's Brier score is above a calibrated one's


def test_spiegelhalter_without_variance_is_undefined() -> None:
    assert np.isnan(spiegelhalter([0, 1, 1], [0.0, 0.5, 1.0])).all()


def test_hosmer_lemeshow_equals_pandas_deciles_and_scipys_chi2(sample) -> None:
    y, p = sample
    p = np.round(p, 2)  # ties at the cuts stay in one group
    groups = pd.qcut(p, 10, duplicates="drop")
    frame = pd.DataFrame({"y": y, "p": p, "g": groups}).groupby("g", observed=True)
    o, e, n = frame["y"].sum(), frame["p"].sum(), frame["y"].size()
    want = float(((o - e) ** 2 / (e * (1 - e / n))).sum())
    statistic, df, p_value = hosmer_lemeshow(y, p)
    assert statistic == pytest.approx(want, rel=1e-12)
    assert df == len(n)
    assert p_value == pytest.approx(stats.chi2.sf(want, len(n)), rel=1e-10)


def test_hosmer_lemeshow_of_certain_probabilities() -> None:
    """A group of p = 0 adds nothing when its labels are 0 and is impossible when one is 1."""
    p = np.r_[np.zeros(10), np.linspace(0.1, 0.9, 90)]
    y = (np.random.default_rng(0).random(100) < p).astype(int)
    assert np.isfinite(hosmer_lemeshow(y, p)[0])
    y[0] = 1
    assert hosmer_lemeshow(y, p)[2] == 0.0


def test_consistency_test_counts_the_draws_at_least_as_large(sample) -> None:
    y, p = sample
    ece, p_value, null = consistency_test(y, p, draws=199, seed=3)
    assert ece == pytest.approx(expected_calibration_error(y, p), abs=1e-15)
    assert p_value == (1 + np.sum(null >= ece)) / 200
    assert p_value <= 0.01  # overconfident at n = 500: far beyond a calibrated guard's ECE
    again = consistency_test(y, p, draws=199, seed=3)
    assert again[1] == p_value  # seeded


def test_consistency_p_values_are_uniform_under_calibration() -> None:
    """300 calibrated guards of 150 examples, 99 label draws each: the p-values pass a KS test
    for uniformity (the note's run uses more draws and examples)."""
    guard, rng = KnownGuard(), np.random.default_rng(8)
    p_values = [consistency_test(*guard.draw(150, rng), draws=99, seed=s)[1] for s in range(300)]
    assert stats.kstest(p_values, "uniform").pvalue > 0.05


def test_consistency_bands_are_binomial_quantiles_for_a_constant_bin() -> None:
    """A bin whose 400 items all have p = 0.3: its band is the binomial's 2.5 % and 97.5 %
    quantiles over 400 (up to the draws' resolution)."""
    p = np.r_[np.full(400, 0.3), np.full(100, 0.85)]
    mean_p, lo, hi = consistency_bands(p, n_bins=10, draws=4000, seed=0)
    assert mean_p[2] == pytest.approx(0.3) and np.isnan(mean_p[0])
    want = stats.binom(400, 0.3).ppf([0.025, 0.975]) / 400
    assert (lo[2], hi[2]) == pytest.approx(tuple(want), abs=0.006)
    assert np.isnan(lo[5]) and lo[8] < 0.85 < hi[8]
