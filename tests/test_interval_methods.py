"""Each metric's interval method: BCa and basic equal scipy.stats.bootstrap's on the same resamples,
the fast leave-one-out values equal the metrics without each example, every interval contains its
estimate, and the calibration errors' intervals cover a known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    auc,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from guardcal.calibration import bootstrap as bs
from guardcal.calibration.calibrators import BatchCalibration
from guardcal.calibration.intervals import (
    INTERVALS,
    METRIC_INTERVALS,
    basic_interval,
    bca_interval,
    centred_interval,
    metric_intervals,
)
from guardcal.calibration.jackknife import JACKKNIFE_KEYS, jackknife_metrics
from guardcal.calibration.reliability import EXTENDED_KEYS, evaluate_extended
from guardcal.calibration.simulation import KnownGuard, interval_coverage


def values_of(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The extended metrics as an array in EXTENDED_KEYS order."""
    scores = evaluate_extended(y, p)
    return np.array([scores[k] for k in EXTENDED_KEYS])


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    """90 examples with tied p (two decimals) of a slightly miscalibrated guard."""
    rng = np.random.default_rng(3)
    p = np.round(rng.random(90), 2)
    return (rng.random(90) < p**1.3).astype(np.int64), p


def sklearn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The jackknifed metrics as scikit-learn computes them (the reference)."""
    flagged = p >= 0.5
    precision, recall, _ = precision_recall_curve(y, p)
    return {
        "precision": precision_score(y, flagged, zero_division=0),
        "recall": recall_score(y, flagged, zero_division=0),
        "f1": f1_score(y, flagged, zero_division=0),
        "auprc": auc(recall, precision),
        "ap": average_precision_score(y, p),
    }


def test_every_metric_has_an_interval_method_and_bca_ones_a_jackknife() -> None:
    assert set(METRIC_INTERVALS) == set(EXTENDED_KEYS)
    assert set(METRIC_INTERVALS.values()) == set(INTERVALS)
    assert {k for k, m in METRIC_INTERVALS.items() if m == "bca"} <= set(JACKKNIFE_KEYS)


# ---------------------------------------------------------------- leave-one-out values


def test_jackknife_equals_the_metrics_without_each_example(small) -> None:
    y, p = small
    got = jackknife_metrics(y, p, bs.FixedProba(p).loo_thresholds())
    for j in range(y.shape[0]):
        keep = np.arange(y.shape[0]) != j
        want = sklearn_metrics(y[keep], p[keep])
        for key in JACKKNIFE_KEYS:
            assert got[j, EXTENDED_KEYS.index(key)] == pytest.approx(want[key], abs=1e-12), (j, key)
    others = [EXTENDED_KEYS.index(k) for k in EXTENDED_KEYS if k not in JACKKNIFE_KEYS]
    assert np.isnan(got[:, others]).all()


def test_batch_calibration_jackknife_moves_the_prior(small) -> None:
    """Without example j, BC's prior is the other examples' mean: the verdicts follow it."""
    y, _ = small
    rng = np.random.default_rng(4)
    z = np.column_stack([rng.normal(0, 1, y.shape[0]), rng.normal(0.3, 2, y.shape[0])])
    row = bs.BatchResampled(z, 1.5)
    full = row(np.ones((1, y.shape[0])))[0]
    got = jackknife_metrics(y, full, row.loo_thresholds())
    moved = 0
    for j in range(y.shape[0]):
        keep = np.arange(y.shape[0]) != j
        p_j = BatchCalibration(gamma=1.5).predict_proba(z[keep])[:, 1]
        want = sklearn_metrics(y[keep], p_j)
        moved += (p_j >= 0.5).sum() != (full[keep] >= 0.5).sum()
        for key in JACKKNIFE_KEYS:
            assert got[j, EXTENDED_KEYS.index(key)] == pytest.approx(want[key], abs=1e-12), (j, key)
    assert moved > 0  # the prior's move flips some verdicts, so the thresholds matter


# ---------------------------------------------------------------- the same formulas as scipy


def _precision(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    flagged = p >= 0.5
    return np.sum(flagged & (y == 1), axis=axis) / np.sum(flagged, axis=axis)


REFERENCES = {
    "precision": _precision,
    "ap": average_precision_score,
    "auprc": lambda y, p: auc(*precision_recall_curve(y, p)[1::-1]),
}


@pytest.mark.parametrize("key", list(REFERENCES))
def test_bca_equals_scipys_on_the_same_resamples(small, key: str) -> None:
    """scipy draws rng.integers(0, n, (B, n)); the same draw through the fast bootstrap and the
    O(N) jackknife gives scipy's BCa interval to rounding."""
    y, p = small
    resamples, seed = 300, 7
    indices = np.random.default_rng(seed).integers(0, y.shape[0], size=(resamples, y.shape[0]))
    got = bs.resampled_metrics(y, {"p": p}, indices.astype(np.int32), progress=False, smooth=False)
    jackknife = jackknife_metrics(y, p, bs.FixedProba(p).loo_thresholds())
    lo, hi = bca_interval(got["p"], values_of(y, p), jackknife)
    ref = stats.bootstrap(
        (y, p),
        REFERENCES[key],
        paired=True,
        vectorized=key == "precision",
        n_resamples=resamples,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    k = EXTENDED_KEYS.index(key)
    np.testing.assert_allclose(ref.bootstrap_distribution, got["p"][:, k], atol=1e-12)
    assert (lo[k], hi[k]) == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)


def test_basic_is_scipys_reflected_interval_widened_to_the_estimate() -> None:
    rng = np.random.default_rng(2)
    stats_ = rng.normal(1.0, 0.1, (2000, 2))
    value = np.array([1.0, 0.7])  # the second far below its resamples, like a biased ECE
    lo, hi = basic_interval(stats_, value)
    q_lo, q_hi = np.quantile(stats_, [0.025, 0.975], axis=0)
    assert (lo[0], hi[0]) == pytest.approx((2 - q_hi[0], 2 - q_lo[0]))
    assert lo[1] == pytest.approx(1.4 - q_hi[1]) and hi[1] == 0.7  # reflected, then widened
    lo, _ = basic_interval(stats_, value, floor=np.zeros(2))
    assert (lo >= 0).all()
    lo, _ = basic_interval(stats_, np.array([-0.05, 0.2]) - 1, floor=np.zeros(2))
    assert lo[0] == pytest.approx(-1.05)  # a negative (debiased) estimate stays inside


def test_centred_moves_the_percentile_interval_by_the_resamples_mean_shift() -> None:
    rng = np.random.default_rng(2)
    stats_ = rng.gamma(4.0, 0.05, (4000, 1)) + 0.3  # skewed resamples far above the estimate
    lo, hi = centred_interval(stats_, np.array([0.25]), floor=np.zeros(1))
    q_lo, q_hi = np.quantile(stats_, [0.025, 0.975])
    shift = stats_.mean() - 0.25
    assert (lo[0], hi[0]) == pytest.approx((q_lo - shift, q_hi - shift))


# ---------------------------------------------------------------- intervals hold their estimate


def test_every_interval_contains_its_estimate_where_percentile_ones_do_not() -> None:
    """A confident calibrated guard on 300 examples whose ECE lies below most resamples' ECE (the
    percentile interval excludes it): every metric's own interval holds its estimate."""
    y, p = KnownGuard(mu=0, sd=4).draw(300, np.random.default_rng(6))
    resampled = bs.resampled_metrics(y, {"p": p}, bs.resample_indices(300, 500, 1), progress=False)
    value = values_of(y, p)
    jackknife = jackknife_metrics(y, p, bs.FixedProba(p).loo_thresholds())
    lo, hi = metric_intervals(resampled["p"], value, jackknife)
    outside = (lo > value) | (value > hi)
    assert not outside.any(), [EXTENDED_KEYS[k] for k in np.flatnonzero(outside)]
    p_lo, _ = bs.percentile_interval(resampled["p"])
    assert p_lo[EXTENDED_KEYS.index("ece")] > value[EXTENDED_KEYS.index("ece")]
    d_lo, d_hi = metric_intervals(resampled["p"] - 0.01, value - 0.01, jackknife, difference=True)
    assert ((d_lo <= value - 0.01) & (value - 0.01 <= d_hi)).all()


def test_calibration_error_intervals_cover_a_known_truth() -> None:
    """An overconfident guard (true binned ECE 0.070) on 300 examples, 30 simulations: each
    calibration error's interval holds the exact truth at close to 95 %, where the percentile
    interval of the plug-in ECE and Brier reliability misses it most of the time
    (benchmarks/bench_coverage.py gives the full table)."""
    result = interval_coverage(KnownGuard(slope=1 / 1.6), n=300, sims=30, resamples=200)
    for key, c in result.items():
        assert c.covered >= 0.8, (key, c)
        assert c.contains_estimate == 1.0, (key, c)
    assert result["ece"].covered_percentile <= 0.6
    assert result["brier_reliability"].covered_percentile <= 0.6
