"""Calibrators of guardcal.calibration: hand cases, the tuning grids, and their properties."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score

from guardcal.calibration import (
    GAMMA_GRID,
    TEMPERATURE_GRID,
    BatchCalibration,
    ContextualCalibration,
    TemperatureScaling,
    label_proba,
    proba_unsafe,
    select_gamma,
)
from guardcal.calibration.metrics import auprc, evaluate, predictions


def _logits_for(p_unsafe: list[float]) -> np.ndarray:
    """Logits [log(1 − p), log p] whose softmax is exactly the given probabilities."""
    return np.array([[math.log(1 - p), math.log(p)] for p in p_unsafe])


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ---------------------------------------------------------------- softmax helpers


def test_label_proba_by_hand_and_for_huge_logits() -> None:
    """softmax([0, log 3]) = [1/4, 3/4]; ±1e4 gives exactly 0 and 1."""
    np.testing.assert_allclose(label_proba([[0.0, math.log(3)]]), [[0.25, 0.75]], rtol=1e-15)
    assert proba_unsafe([[1e4, -1e4], [-1e4, 1e4], [5.0, 5.0]]).tolist() == [0.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("logits", "message"),
    [
        (np.zeros((3, 3)), r"shape \(N, 2\)"),
        (np.zeros(4), r"shape \(N, 2\)"),
        (np.zeros((0, 2)), r"shape \(N, 2\)"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), "row 1, logit_safe is inf"),
        (np.array([[0.0, np.nan]]), "row 0, logit_unsafe is nan"),
    ],
)
def test_bad_logits_are_refused(logits: np.ndarray, message: str) -> None:
    """Wrong shapes and non-finite logits raise ValueError naming the row and field."""
    with pytest.raises(ValueError, match=message):
        proba_unsafe(logits)
    with pytest.raises(ValueError, match=message):
        TemperatureScaling().fit(logits, np.zeros(len(logits), dtype=int))


def test_labels_must_match_and_be_binary() -> None:
    """fit refuses labels of the wrong length or outside {0, 1}."""
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match="labels have 2 rows"):
        BatchCalibration().fit(z, [0, 1])
    with pytest.raises(ValueError, match="row 2 is -1"):
        TemperatureScaling().fit(z, [0, 1, -1])


# ---------------------------------------------------------------- temperature scaling


def test_temperature_scaling_at_a_known_temperature() -> None:
    """p̂_unsafe = σ((z_u − z_s) / T) at T = 2."""
    ts = TemperatureScaling()
    ts.temperature_ = 2.0
    proba = ts.predict_proba([[0.0, 2.0], [1.0, -1.0], [3.0, 3.0]])
    expected = [_sigmoid(1.0), _sigmoid(-1.0), 0.5]
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-15)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)


def test_temperature_fit_finds_the_analytic_optimum() -> None:
    """All gaps 2 with 3 of 4 unsafe: NLL is minimal where σ(2/T) = 3/4, i.e. T = 2 / log 3."""
    z = np.array([[0.0, 2.0]] * 4)
    y = [1, 1, 1, 0]
    ts = TemperatureScaling().fit(z, y)
    assert ts.grid_temperature_ == 1.8
    assert ts.temperature_ == pytest.approx(2 / math.log(3), abs=1e-5)
    row = ts.history_.loc[ts.history_["temperature"] == 1.8].iloc[0]
    p = _sigmoid(2 / 1.8)
    assert row["nll"] == pytest.approx(-(3 * math.log(p) + math.log(1 - p)) / 4, rel=1e-13)
    # all four p̂ share one bin: ECE = MCE = |3/4 − p|
    assert row["ece"] == pytest.approx(abs(0.75 - p), rel=1e-12)
    assert row["mce"] == pytest.approx(abs(0.75 - p), rel=1e-12)


def test_temperature_history_grid() -> None:
    """200 values 0.1 … 20.0, each exactly k/10, with validation nll, ece, mce."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (300, 2))
    ts = TemperatureScaling().fit(z, (rng.random(300) < 0.3).astype(int))
    h = ts.history_
    assert list(h.columns) == ["temperature", "nll", "ece", "mce"]
    assert len(h) == 200
    assert h["temperature"].tolist() == [k / 10 for k in range(1, 201)]
    assert TEMPERATURE_GRID[0] == 0.1 and TEMPERATURE_GRID[-1] == 20.0
    assert ts.grid_temperature_ == h["temperature"].iloc[int(h["nll"].idxmin())]
    assert abs(ts.temperature_ - ts.grid_temperature_) <= 0.1
    # the refined T is at least as good as the grid's best
    y = (rng.random(300) < 0.3).astype(int)
    ts = TemperatureScaling().fit(z, y)
    refined_nll = evaluate(y, ts.predict_proba(z)[:, 1])["nll"]
    assert refined_nll <= ts.history_["nll"].min() + 1e-12


def test_temperature_history_matches_evaluate_at_each_grid_value() -> None:
    """The tuning figure's ECE/MCE at T equal evaluate() on softmax(z / T)."""
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (500, 2))
    y = (rng.random(500) < proba_unsafe(z / 2)).astype(int)
    ts = TemperatureScaling().fit(z, y)
    for t in (0.5, 2.0, 13.7):
        row = ts.history_.loc[ts.history_["temperature"] == t].iloc[0]
        fixed = TemperatureScaling()
        fixed.temperature_ = t
        scores = evaluate(y, fixed.predict_proba(z)[:, 1])
        assert row["ece"] == pytest.approx(scores["ece"], rel=1e-12, abs=1e-15)
        assert row["mce"] == pytest.approx(scores["mce"], rel=1e-12, abs=1e-15)
        assert row["nll"] == pytest.approx(scores["nll"], rel=1e-9)


@pytest.mark.parametrize("t0", [0.5, 1.5, 4.0])
def test_fitted_temperature_recovers_the_generating_one(t0: float) -> None:
    """Labels drawn from softmax(z / T₀): the fitted T is within 5% of T₀ (N = 20000, seeded)."""
    rng = np.random.default_rng(int(t0 * 10))
    z = rng.normal(0, 4, (20000, 2))
    y = (rng.random(20000) < proba_unsafe(z / t0)).astype(int)
    ts = TemperatureScaling().fit(z, y)
    assert ts.temperature_ == pytest.approx(t0, rel=0.05)


def test_predict_before_fit_is_refused() -> None:
    """TS and BC without gamma have nothing to predict with before fit."""
    with pytest.raises(NotFittedError):
        TemperatureScaling().predict_proba([[0.0, 1.0]])
    with pytest.raises(NotFittedError):
        BatchCalibration().predict_proba([[0.0, 1.0]])


# ---------------------------------------------------------------- contextual calibration


def test_contextual_calibration_by_hand() -> None:
    """p_cf = mean((.9, .1), (.7, .3)) = (.8, .2); p = (.5, .5) → (.625, 2.5)/3.125 = (.2, .8)."""
    cc = ContextualCalibration().fit(_logits_for([0.1, 0.3]))
    np.testing.assert_allclose(cc.content_free_proba_, [0.8, 0.2], rtol=1e-14)
    assert cc.fit(_logits_for([0.1, 0.3])) is cc
    proba = cc.predict_proba(_logits_for([0.5, 0.2]))
    # p = (.8, .2): (.8/.8, .2/.2) = (1, 1) → 0.5
    np.testing.assert_allclose(proba[:, 1], [0.8, 0.5], rtol=1e-14)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)


def test_contextual_calibration_refuses_bad_content_free_logits() -> None:
    """The content-free logits are validated like any other."""
    with pytest.raises(ValueError, match="logit_unsafe is nan"):
        ContextualCalibration().fit([[0.0, np.nan]])


# ---------------------------------------------------------------- batch calibration


def test_batch_calibration_by_hand() -> None:
    """p = (.8, .2), (.4, .6): prior (.6, .4); γ = 1 → 3/11, 9/13; γ = 2 divides by prior²."""
    z = _logits_for([0.2, 0.6])
    np.testing.assert_allclose(BatchCalibration.batch_log_prior(z), np.log([0.6, 0.4]), rtol=1e-14)
    one = BatchCalibration(gamma=1.0).predict_proba(z)
    np.testing.assert_allclose(one[:, 1], [3 / 11, 9 / 13], rtol=1e-14)
    two = BatchCalibration(gamma=2.0).predict_proba(z)
    row1 = (0.8 / 0.36, 0.2 / 0.16)
    row2 = (0.4 / 0.36, 0.6 / 0.16)
    expected = [row1[1] / sum(row1), row2[1] / sum(row2)]
    np.testing.assert_allclose(two[:, 1], expected, rtol=1e-14)


def test_batch_prior_is_taken_from_the_rows_being_calibrated() -> None:
    """The same row is calibrated differently in two batches with different priors."""
    bc = BatchCalibration(gamma=1.0)
    alone = bc.predict_proba(_logits_for([0.6]))
    mixed = bc.predict_proba(_logits_for([0.6, 0.2]))
    assert alone[0, 1] == pytest.approx(0.5, rel=1e-14)
    # prior (.6, .4): (.4/.6, .6/.4) → (2/3, 3/2) → 9/13
    assert mixed[0, 1] == pytest.approx(9 / 13, rel=1e-14)


def test_batch_grid_and_history() -> None:
    """201 γ values with 0.0 exactly; history metrics at γ agree with sklearn on predict_proba."""
    assert len(GAMMA_GRID) == 201 and GAMMA_GRID[0] == -10.0 and GAMMA_GRID[-1] == 10.0
    assert (GAMMA_GRID == 0.0).sum() == 1
    assert GAMMA_GRID.tolist() == [k / 10 for k in range(-100, 101)]
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, (600, 2)) + np.array([0.0, -1.0])
    y = (rng.random(600) < 0.45).astype(int)
    bc = BatchCalibration().fit(z, y)
    h = bc.history_
    assert list(h.columns) == [
        "gamma",
        "nll",
        "ece",
        "mce",
        "accuracy",
        "f1",
        "precision",
        "recall",
    ]
    assert len(h) == 201
    assert bc.gamma_ in GAMMA_GRID
    assert h["accuracy"].max() == h.loc[h["gamma"] == bc.gamma_, "accuracy"].iloc[0]
    for g in (bc.gamma_, -3.0, 0.0, 7.5):
        row = h.loc[h["gamma"] == g].iloc[0]
        scores = evaluate(y, BatchCalibration(gamma=g).predict_proba(z)[:, 1])
        for key in ("accuracy", "f1", "precision", "recall", "ece", "mce"):
            assert row[key] == pytest.approx(scores[key], rel=1e-12, abs=1e-15), (g, key)
        assert row["nll"] == pytest.approx(scores["nll"], rel=1e-9)


def test_fixed_gamma_is_kept_by_fit() -> None:
    """BatchCalibration(gamma=g) predicts without fit, and fit keeps g (history_ still filled);
    as for any scikit-learn estimator, the fitted gamma_ exists only after fit."""
    bc = BatchCalibration(gamma=0.7)
    assert not hasattr(bc, "gamma_")
    z = _logits_for([0.2, 0.6, 0.9])
    before = bc.predict_proba(z)
    bc.fit(z, [0, 1, 1])
    assert bc.gamma_ == 0.7 and len(bc.history_) == 201
    np.testing.assert_array_equal(bc.predict_proba(z), before)


def test_select_gamma_tie_breaking() -> None:
    """Most correct first; then the lower NLL; then the smaller |γ|; then the smaller γ."""
    gammas = np.array([-0.2, -0.1, 0.0, 0.1, 0.2, 0.3])
    # most correct: indices 1, 3, 4; lowest NLL among them: 3 and 4; smaller |γ|: 3
    assert select_gamma([5, 7, 6, 7, 7, 2], [1.0, 0.5, 0.1, 0.4, 0.4, 0.0], gammas) == 3
    # most correct: 1 and 4 with equal NLL; |−0.1| < |0.2|
    assert select_gamma([5, 7, 6, 5, 7, 2], [1.0, 0.4, 0.1, 0.4, 0.4, 0.0], gammas) == 1
    # most correct: 0, 1, 3 with equal NLL; |γ| ties between −0.1 and 0.1: the smaller γ
    assert select_gamma([7, 7, 6, 7, 2, 2], [0.3, 0.3, 0.1, 0.3, 0.0, 0.0], gammas) == 1
    # NLL compared exactly: one ulp lower wins over a smaller |γ|
    assert select_gamma([7] * 6, [0.3, 0.3, 0.3, 0.3, np.nextafter(0.3, 0), 0.3], gammas) == 4
    assert select_gamma([7] * 6, [0.3] * 6, gammas) == 2


def test_accuracy_tie_is_broken_by_nll() -> None:
    """All gaps 1, 3 of 4 unsafe: every γ < 1 predicts unsafe (accuracy 3/4); the NLL is lowest
    where σ(1 − γ) = 3/4, i.e. γ = 1 − log 3 ≈ −0.099, so the grid picks −0.1 (not 0 nor −10)."""
    z = np.array([[0.0, 1.0]] * 4)
    bc = BatchCalibration().fit(z, [1, 1, 1, 0])
    h = bc.history_
    # (at γ = 1 exactly p̂ = 0.5 up to rounding of the batch mean, so it is left out)
    assert (h.loc[h["gamma"] < 1.0, "accuracy"] == 0.75).all()
    assert (h.loc[h["gamma"] > 1.0, "accuracy"] == 0.25).all()
    assert bc.gamma_ == -0.1


def test_exact_ties_everywhere_go_to_gamma_zero() -> None:
    """With every p = (.5, .5) all γ give identical accuracy and NLL: the smallest |γ| (0) wins."""
    z = np.zeros((6, 2))
    bc = BatchCalibration().fit(z, [1, 0, 1, 1, 0, 0])
    assert bc.history_["nll"].nunique() == 1
    assert bc.gamma_ == 0.0


# ---------------------------------------------------------------- properties

# Logits on a 1/16 grid in [−4, 4]: gaps are exact and distinct gaps stay ≥ 1/16 apart, so no
# calibrated probability saturates at 1.0 (|logit| ≤ 24) — float rounding can then neither merge
# nor split ranks, and "monotone" can be checked strictly.
coarse = st.integers(-64, 64).map(lambda k: k / 16)


@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) with at least one example of each class."""
    n = draw(st.integers(2, 40))
    z = draw(arrays(np.float64, (n, 2), elements=coarse))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[0], y[1] = 1, 0
    return z, y


def _calibrated(method: str, z: np.ndarray, param: np.ndarray) -> np.ndarray:
    """p̂_unsafe of one calibrator at a given parameter."""
    if method == "ts":
        ts = TemperatureScaling()
        ts.temperature_ = float(param[0])
        return ts.predict_proba(z)[:, 1]
    if method == "cc":
        return ContextualCalibration().fit(param.reshape(1, 2)).predict_proba(z)[:, 1]
    return BatchCalibration(gamma=float(param[0])).predict_proba(z)[:, 1]


PARAMS = {
    "ts": arrays(np.float64, 1, elements=st.floats(0.5, 5.0)),
    "cc": arrays(np.float64, 2, elements=coarse),
    "bc": arrays(np.float64, 1, elements=st.floats(-2.0, 2.0)),
}


@pytest.mark.parametrize("method", ["ts", "cc", "bc"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_calibrators_are_monotone_so_auprc_and_ap_do_not_move(
    method: str, data: st.DataObject
) -> None:
    """Order (and ties) of p_unsafe are kept, hence AUPRC and AP are identical after calibration."""
    z, y = data.draw(scored())
    param = data.draw(PARAMS[method])
    p = proba_unsafe(z)
    p_hat = _calibrated(method, z, param)
    np.testing.assert_array_equal(
        np.sign(p[:, None] - p[None, :]), np.sign(p_hat[:, None] - p_hat[None, :])
    )
    assert auprc(y, p_hat) == auprc(y, p)
    assert average_precision_score(y, p_hat) == average_precision_score(y, p)


@settings(max_examples=60, deadline=None)
@given(data=scored(), t=st.floats(0.1, 20.0))
def test_temperature_scaling_keeps_every_prediction(data: tuple, t: float) -> None:
    """ŷ = 1 iff p ≥ 0.5 is the sign of the logit gap, which dividing by T > 0 keeps."""
    z, _ = data
    ts = TemperatureScaling()
    ts.temperature_ = t
    np.testing.assert_array_equal(
        predictions(ts.predict_proba(z)[:, 1]), predictions(proba_unsafe(z))
    )


@settings(max_examples=60, deadline=None)
@given(
    z=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-50, 50)),
    cf=arrays(np.float64, st.tuples(st.integers(1, 5), st.just(1)), elements=st.floats(-50, 50)),
)
def test_identities(z: np.ndarray, cf: np.ndarray) -> None:
    """T = 1, γ = 0 and a uniform content-free prior leave the probabilities as they are."""
    p = label_proba(z)
    ts = TemperatureScaling()
    ts.temperature_ = 1.0
    np.testing.assert_array_equal(ts.predict_proba(z), p)
    np.testing.assert_allclose(BatchCalibration(gamma=0.0).predict_proba(z), p, rtol=1e-13)
    uniform = ContextualCalibration().fit(np.hstack([cf, cf]))
    np.testing.assert_array_equal(uniform.content_free_proba_, [0.5, 0.5])
    np.testing.assert_allclose(uniform.predict_proba(z), p, rtol=1e-13)


def test_huge_logits_give_finite_metrics_without_warnings() -> None:
    """Logits of ±1e4 (probabilities exactly 0 and 1, a confident mistake among them) through every
    calibrator and every metric: finite numbers, no warning, no floating-point error."""
    z = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, -1e4], [-1e4, 1e4], [0.0, 0.0], [-1e4, 1e4]])
    y = np.array([0, 1, 1, 0, 1, 1])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        methods = {
            "uncalibrated": label_proba(z),
            "ts": TemperatureScaling().fit(z, y).predict_proba(z),
            "cc": ContextualCalibration().fit([[1e4, -1e4], [3.0, 3.0]]).predict_proba(z),
            "bc": BatchCalibration().fit(z, y).predict_proba(z),
        }
        for name, proba in methods.items():
            assert np.isfinite(proba).all(), name
            scores = evaluate(y, proba[:, 1])
            assert all(math.isfinite(v) for v in scores.values()), (name, scores)


@pytest.mark.parametrize(
    "estimator",
    [
        TemperatureScaling(n_bins=10, grid=[0.5, 1.0, 2.0]),
        ContextualCalibration(),
        BatchCalibration(gamma=0.5, n_bins=10),
    ],
)
def test_calibrators_are_scikit_learn_estimators(estimator) -> None:
    """__init__ only stores parameters: get_params, clone and repr work; fit adds the state."""
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy.get_params() == params and copy is not estimator
    assert type(estimator).__name__ in repr(estimator)
    z = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.1], [2.0, -1.0]])
    fitted = copy.fit(z, [1, 0, 1, 0])
    assert fitted is copy
    assert {k for k in vars(copy) if k.endswith("_")} and not any(
        k.endswith("_") for k in vars(clone(copy))
    )
