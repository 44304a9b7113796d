"""Liu et al.'s calibration error (`ece_rms`) equals what their evaluation code computes: Kumar et
al.'s `calibration.get_calibration_error(p, y, debias=False)` (the `uncertainty-calibration`
package; Liu et al.'s calibration/utils.py is a copy of it), on continuous and discrete scores."""

from __future__ import annotations

import calibration as kumar  # uncertainty-calibration: the reference, not guardcal's own
import numpy as np
import pytest

from guardcal.calibration import bootstrap as bs
from guardcal.calibration.reliability import evaluate_extended, rms_calibration_error


def _scores(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "continuous":
        return rng.random(n)
    if kind == "sharp":  # a guard's p(unsafe): piled up near 0 and 1
        return 1 / (1 + np.exp(-rng.normal(0, 8, n)))
    if kind == "few_values":  # discrete: fewer distinct values than n/4
        return rng.choice(rng.random(int(rng.integers(1, 6))), n)
    if kind == "rounded":  # ties, sometimes discrete, sometimes not
        return np.round(rng.random(n), 2)
    return rng.choice([0.0, 0.5, 1.0], n)  # the extremes themselves


@pytest.mark.parametrize("kind", ["continuous", "sharp", "few_values", "rounded", "extremes"])
def test_equals_liu_et_als_library(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for n in (1, 2, 7, 15, 16, 31, 100, 600):
        for _ in range(5):
            p, y = _scores(kind, n, rng), rng.integers(0, 2, n)
            want = kumar.get_calibration_error(p, y, debias=False)
            assert rms_calibration_error(y, p) == pytest.approx(want, abs=1e-12), (kind, n)


def test_by_hand():
    """Discrete: 8 scores, 2 values (< 8/4) → one bin each: sqrt(½·0.05² + ½·0.3²)."""
    p = np.array([0.2, 0.2, 0.2, 0.2, 0.8, 0.8, 0.8, 0.8])
    y = np.array([0, 0, 0, 1, 1, 1, 0, 0])
    assert rms_calibration_error(y, p) == pytest.approx(np.sqrt(0.5 * 0.05**2 + 0.5 * 0.3**2))
    # continuous, 4 distinct of 4, two equal-mass bins: edge (0.2 + 0.6) / 2
    p, y = np.array([0.1, 0.2, 0.6, 0.9]), np.array([0, 1, 1, 1])
    gaps = [(0.15 - 0.5) ** 2 * 2, (0.75 - 1.0) ** 2 * 2]
    assert rms_calibration_error(y, p, n_bins=2) == pytest.approx(np.sqrt(sum(gaps) / 4))


def test_resampled_values_equal_the_library_on_tied_scores():
    """The bootstrap's vectorised ece_rms on resamples of tied scores, where one resample can be
    discrete and the next not, equals the library on each resampled set."""
    rng = np.random.default_rng(3)
    for levels in (2, 30, 120):
        p = rng.integers(0, levels, 400) / levels
        y = (rng.random(400) < p).astype(int)
        indices = bs.resample_indices(400, 8, seed=levels)
        got = bs.resampled_metrics(y, {"p": p}, indices, progress=False, smooth=False)["p"]
        k = list(evaluate_extended(y[:2], p[:2])).index("ece_rms")
        for b, idx in enumerate(indices):
            want = kumar.get_calibration_error(p[idx], y[idx], debias=False)
            assert got[b, k] == pytest.approx(want, abs=1e-12), (levels, b)
