"""Kumar et al.'s debiased ECE: the closed form is the limit of their Monte Carlo estimator, and it
removes much of the plug-in's upward bias against a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from guardcal.calibration.debiased import debiased_ece, folded_normal_mean
from guardcal.calibration.metrics import bin_index, expected_calibration_error
from guardcal.calibration.simulation import KnownGuard


def test_folded_normal_mean_is_the_mean_of_absolute_normals() -> None:
    rng = np.random.default_rng(0)
    for mu, sd in ((0.0, 1.0), (0.3, 0.2), (-1.0, 0.5)):
        draws = np.abs(rng.normal(mu, sd, 400_000))
        assert folded_normal_mean(np.array(mu), np.array(sd)) == pytest.approx(
            draws.mean(), abs=4 * draws.std() / np.sqrt(draws.size)
        )
    assert folded_normal_mean(np.array(-0.2), np.array(0.0)) == 0.2


def test_debiased_ece_is_the_limit_of_kumars_monte_carlo_estimator() -> None:
    """Their library's `normal_debiased_ce` (power 1; uncertainty-calibration, the code of Kumar
    et al.) on guardcal's bins: 2·plug-in − the mean plug-in over label means drawn from
    N(ȳ_m, ȳ_m(1 − ȳ_m)/n_m), here with 4,000 draws, equals the closed form within its
    Monte Carlo error."""
    from calibration.utils import normal_debiased_ce

    y, p = KnownGuard(slope=1 / 1.6).draw(400, np.random.default_rng(1))
    bins = bin_index(p, 15)
    binned = [np.column_stack([p[bins == m], y[bins == m]]) for m in np.unique(bins)]
    assert min(map(len, binned)) >= 2  # their estimator needs two points per bin
    state = np.random.get_state()  # noqa: NPY002 (the library draws from the global generator)
    np.random.seed(2)  # noqa: NPY002
    try:
        theirs = normal_debiased_ce(binned, power=1, resamples=4_000)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    size = np.array([len(b) for b in binned])
    mean_y = np.array([b[:, 1].mean() for b in binned])
    sd = np.sqrt(mean_y * (1 - mean_y) / size) @ (size / size.sum())  # ≥ the draws' sd
    assert debiased_ece(y, p) == pytest.approx(theirs, abs=4 * sd / np.sqrt(4_000))
    assert debiased_ece(y, p) < expected_calibration_error(y, p)


def test_debiased_ece_is_less_biased_than_the_plug_in() -> None:
    """200 splits of 300 examples: the overconfident guard's plug-in ECE is 0.03 above its true
    0.070 on average, the debiased one less than half that; for a calibrated guard (truth 0) the
    debiased mean is lower too."""
    for guard, share in ((KnownGuard(slope=1 / 1.6), 0.5), (KnownGuard(), 0.8)):
        truth, rng = guard.ece(), np.random.default_rng(3)
        splits = [guard.draw(300, rng) for _ in range(200)]
        plug_in = np.mean([expected_calibration_error(y, p) for y, p in splits]) - truth
        debiased = np.mean([debiased_ece(y, p) for y, p in splits]) - truth
        assert plug_in > 0.02
        assert abs(debiased) < share * plug_in, (guard, plug_in, debiased)
