"""Calibrators of one binary score: each equals its library fitted directly, and behaves as
stated."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from betacal import BetaCalibration as BetaCal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from guardcal.calibration import proba_unsafe
from guardcal.calibration.score_calibrators import (
    BetaCalibration,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
)

CALIBRATORS = (PlattScaling, IsotonicCalibration, HistogramBinning, BetaCalibration)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation logits and labels of a miscalibrated guard (true log-odds 0.6·gap − 1), and
    test logits."""
    rng = np.random.default_rng(7)
    z = np.column_stack([rng.normal(0, 1, 3000), rng.normal(0.5, 2.5, 3000)])
    gap = z[:, 1] - z[:, 0]
    y = (rng.random(3000) < 1 / (1 + np.exp(-(0.6 * gap - 1)))).astype(int)
    return z[:2000], y[:2000], z[2000:]


def test_platt_equals_sklearn_logistic_regression_on_the_gap(data) -> None:
    z, y, test = data
    got = PlattScaling().fit(z, y)
    direct = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    direct.fit((z[:, 1] - z[:, 0])[:, None], y)
    want = direct.predict_proba((test[:, 1] - test[:, 0])[:, None])
    np.testing.assert_allclose(got.predict_proba(test), want, atol=1e-8, rtol=0)
    # the data's true map is σ(0.6·gap − 1): maximum likelihood finds it
    assert got.slope_ == pytest.approx(0.6, abs=0.1)
    assert got.intercept_ == pytest.approx(-1.0, abs=0.15)


def test_isotonic_equals_sklearn_isotonic_regression_on_the_gap(data) -> None:
    z, y, test = data
    got = IsotonicCalibration().fit(z, y).predict_proba(test)
    direct = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    direct.fit(z[:, 1] - z[:, 0], y)
    np.testing.assert_allclose(got[:, 1], direct.predict(test[:, 1] - test[:, 0]), atol=1e-8)
    assert np.all(np.diff(got[np.argsort(test[:, 1] - test[:, 0]), 1]) >= 0)  # monotone


def test_beta_equals_betacal_on_p_unsafe(data) -> None:
    z, y, test = data
    got = BetaCalibration().fit(z, y)
    with warnings.catch_warnings():
        direct = BetaCal(parameters="abm").fit(proba_unsafe(z), y)
        want = direct.predict(proba_unsafe(test))
    np.testing.assert_allclose(got.predict_proba(test)[:, 1], want, atol=1e-8, rtol=0)
    # and it is the stated three-parameter logistic of ln p and ln(1 − p)
    p = proba_unsafe(test)
    formula = 1 / (1 + np.exp(-(got.a_ * np.log(p) - got.b_ * np.log(1 - p) + got.c_)))
    np.testing.assert_allclose(got.predict_proba(test)[:, 1], formula, atol=1e-10)
    assert got.a_ >= 0 and got.b_ >= 0


def test_beta_fitted_against_its_labels_reads_back() -> None:
    """betacal refits on one log when the other's coefficient is negative, and that one may be
    negative too (p running against the labels): the written file must read back the same."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 400)
    y = (rng.random(400) < 1 - p).astype(int)
    z = np.column_stack([np.zeros(400), np.log(p / (1 - p))])
    got = BetaCalibration().fit(z, y)
    assert got.a_ == 0 and got.b_ < 0
    back = BetaCalibration.from_json(got.to_json())
    np.testing.assert_array_equal(back.predict_proba(z), got.predict_proba(z))


def test_beta_leaves_the_callers_warning_filters_alone(data) -> None:
    z, y, _ = data
    before = list(warnings.filters)
    BetaCalibration().fit(z, y)
    assert warnings.filters == before


def test_histogram_binning_by_hand() -> None:
    """Six gaps in three equal-mass bins: each bin predicts its own unsafe fraction."""
    gaps = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    z = np.column_stack([np.zeros(6), gaps])
    y = np.array([1, 1, 0, 1, 0, 1])  # bins {−3, −2}: 2/2, {−1, 1}: 1/2, {2, 3}: 1/2
    fit = HistogramBinning(n_bins=3).fit(z, y)
    np.testing.assert_array_equal(fit.edges_, [-2.0, 1.0])
    got = fit.predict_proba(np.column_stack([np.zeros(4), [-9.0, 0.0, 1.0, 9.0]]))[:, 1]
    np.testing.assert_allclose(got, [1.0, 0.5, 0.5, 0.5])


def test_histogram_bins_hold_equal_mass_and_no_bin_is_empty(data) -> None:
    z, y, _ = data
    fit = HistogramBinning(n_bins=10).fit(z, y)
    bins = np.searchsorted(fit.edges_, z[:, 1] - z[:, 0], side="left")
    np.testing.assert_array_equal(np.bincount(bins), np.full(10, 200))
    assert np.isfinite(fit.bin_proba_).all()


@pytest.mark.parametrize("cls", CALIBRATORS)
def test_every_calibrator_is_an_sklearn_estimator_on_logits(cls, data) -> None:
    z, y, test = data
    estimator = cls()
    with pytest.raises(NotFittedError, match=cls.__name__):
        estimator.predict_proba(test)
    proba = clone(estimator).fit(z, y).predict_proba(test)
    assert proba.shape == (test.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert ((proba >= 0) & (proba <= 1)).all()
    with pytest.raises(ValueError, match="labels"):
        cls().fit(z, np.full(z.shape[0], 2))
