"""guardcal.calibration.metrics pinned on hand-computed cases and cross-checked by a slow loop."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from guardcal.calibration.metrics import (
    METRIC_KEYS,
    auprc,
    bin_index,
    brier_score,
    calibration_errors,
    evaluate,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    predictions,
    reliability_bins,
)


def test_bin_index_on_exact_edges() -> None:
    """p on an edge m/M belongs to the bin it closes, p = 0 to the first bin, p = 1 to the last."""
    p = [0.0, 0.05, 0.1, 0.2, 0.2000000000000001, 0.3, 0.5, 0.7, 0.7000000000000001, 0.99, 1.0]
    assert bin_index(p, 10).tolist() == [0, 0, 0, 1, 2, 2, 4, 6, 7, 9, 9]


@pytest.mark.parametrize("n_bins", [1, 3, 10, 15, 20])
def test_every_edge_closes_its_bin(n_bins: int) -> None:
    """For every k, the double nearest k/M lands in bin k−1 (bin 0 for k = 0)."""
    p = np.array([k / n_bins for k in range(n_bins + 1)])
    assert bin_index(p, n_bins).tolist() == [max(k - 1, 0) for k in range(n_bins + 1)]


def test_ece_mce_with_points_on_edges() -> None:
    """0.2 shares bin (0.1, 0.2] with 0.15 and 0.3 shares (0.2, 0.3] with 0.25; 0 and 1 included."""
    p = [0.2, 0.15, 0.3, 0.25, 0.0, 1.0, 0.5, 0.7]
    y = [1, 0, 0, 1, 0, 1, 1, 0]
    # bins: (0.1,0.2] = {0.2:1, 0.15:0}, (0.2,0.3] = {0.3:0, 0.25:1}, [0,0.1] = {0:0},
    # (0.9,1] = {1:1}, (0.4,0.5] = {0.5:1}, (0.6,0.7] = {0.7:0}
    gaps = [abs(0.5 - 0.175), abs(0.5 - 0.275), 0.0, 0.0, 0.5, 0.7]
    sizes = [2, 2, 1, 1, 1, 1]
    expected_ece = sum(s / 8 * g for s, g in zip(sizes, gaps, strict=True))
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(expected_ece, abs=1e-15)
    assert maximum_calibration_error(y, p, n_bins=10) == pytest.approx(0.7, abs=1e-15)


def test_mce_ignores_empty_bins_and_single_bin_is_global_gap() -> None:
    """With one bin ECE = MCE = |mean y − mean p|; with 15 bins the empty ones do not count."""
    p = [0.9, 0.8, 0.1]
    y = [1, 0, 0]
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(abs(1 / 3 - 0.6), abs=1e-15)
    assert maximum_calibration_error(y, p, n_bins=1) == pytest.approx(abs(1 / 3 - 0.6), abs=1e-15)
    # 15 bins: 0.9 in (13/15, 14/15], 0.8 in (11/15, 12/15], 0.1 in (1/15, 2/15]
    assert expected_calibration_error(y, p, n_bins=15) == pytest.approx(
        (0.1 + 0.8 + 0.1) / 3, abs=1e-15
    )
    assert maximum_calibration_error(y, p, n_bins=15) == pytest.approx(0.8, abs=1e-15)


def test_reliability_bins_rows() -> None:
    """One row per bin; empty ones have count 0 and NaN means; gap = positive rate − confidence."""
    table = reliability_bins([1, 0, 1], [0.2, 0.1, 0.95], n_bins=4)
    assert list(table.columns) == [
        "bin",
        "lower",
        "upper",
        "count",
        "confidence",
        "positive_rate",
        "gap",
    ]
    assert table["bin"].tolist() == [0, 1, 2, 3]
    assert table["lower"].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert table["upper"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert table["count"].tolist() == [2, 0, 0, 1]
    assert table["confidence"].iloc[0] == pytest.approx(0.15, abs=1e-15)
    assert table["positive_rate"].iloc[0] == 0.5
    assert table["gap"].iloc[0] == pytest.approx(0.35, abs=1e-15)
    assert table["confidence"].iloc[3] == 0.95
    assert table["gap"].iloc[3] == pytest.approx(0.05, abs=1e-15)
    assert table.iloc[1:3][["confidence", "positive_rate", "gap"]].isna().all().all()


def _slow_bins(labels: list[int], p: list[float], n_bins: int) -> tuple[list, list, list]:
    """Independent binning: walk the bins up while p exceeds the bin's upper edge (m+1)/M."""
    counts, sum_p, sum_y = [0] * n_bins, [0.0] * n_bins, [0.0] * n_bins
    for label, prob in zip(labels, p, strict=True):
        m = 0
        while m < n_bins - 1 and prob > (m + 1) / n_bins:
            m += 1
        counts[m] += 1
        sum_p[m] += prob
        sum_y[m] += label
    return counts, sum_p, sum_y


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_matches_slow_python_loop(n_bins: int) -> None:
    """Per-bin sums agree exactly (same summation order); ECE to 1e-15 (np.sum adds pairwise)."""
    rng = np.random.default_rng(7)
    edges = [k / n_bins for k in range(n_bins + 1)]
    p = np.concatenate([rng.random(3000), np.repeat(edges, 20), rng.random(500) ** 8])
    y = (rng.random(p.shape[0]) < p**0.7).astype(int)
    counts, sum_p, sum_y = _slow_bins(y.tolist(), p.tolist(), n_bins)
    n = len(p)
    slow_ece = 0.0
    slow_mce = 0.0
    for c, sp, sy in zip(counts, sum_p, sum_y, strict=True):
        if c:
            gap = abs(sy / c - sp / c)
            slow_ece += c / n * gap
            slow_mce = max(slow_mce, gap)
    table = reliability_bins(y, p, n_bins=n_bins)
    assert table["count"].tolist() == counts
    filled = np.array(counts) > 0
    assert (table["confidence"].to_numpy()[filled] == (np.array(sum_p) / counts)[filled]).all()
    assert (table["positive_rate"].to_numpy()[filled] == (np.array(sum_y) / counts)[filled]).all()
    assert math.isclose(
        expected_calibration_error(y, p, n_bins), slow_ece, rel_tol=0, abs_tol=1e-15
    )
    assert maximum_calibration_error(y, p, n_bins) == slow_mce


def test_grid_errors_equal_row_by_row_errors() -> None:
    """A (G, N) input gives exactly each row's own ECE/MCE (the tuning grids rely on it)."""
    rng = np.random.default_rng(3)
    p = rng.random((5, 400))
    y = (rng.random(400) < 0.4).astype(int)
    ece, mce = calibration_errors(y, p, 15)
    for g in range(5):
        assert ece[g] == expected_calibration_error(y, p[g], 15)
        assert mce[g] == maximum_calibration_error(y, p[g], 15)


def test_nll_and_brier_by_hand() -> None:
    """NLL = −mean(y log p + (1−y) log(1−p)); Brier = mean (p − y)²."""
    y = [1, 0, 1]
    p = [0.8, 0.4, 0.5]
    nll = -(math.log(0.8) + math.log(0.6) + math.log(0.5)) / 3
    assert negative_log_likelihood(y, p) == pytest.approx(nll, rel=1e-15)
    assert brier_score(y, p) == pytest.approx((0.2**2 + 0.4**2 + 0.5**2) / 3, rel=1e-15)


def test_nll_of_certain_mistakes_is_clipped_and_finite() -> None:
    """p = 0 for an unsafe example costs −log ε, the documented float64 clip."""
    eps = np.finfo(np.float64).eps
    assert negative_log_likelihood([1, 0], [0.0, 0.0]) == pytest.approx(
        -math.log(eps) / 2, rel=1e-12
    )
    assert negative_log_likelihood([1, 0], [1.0, 0.0]) == pytest.approx(
        -math.log(1 - eps), abs=1e-15
    )


def test_classification_scores_threshold_is_inclusive() -> None:
    """ŷ = 1 iff p ≥ 0.5: tp = 2, fp = 1, fn = 1, tn = 1."""
    y = [1, 1, 0, 0, 1]
    p = [0.5, 0.9, 0.5, 0.1, 0.49999999]
    assert predictions(p).tolist() == [1, 1, 1, 0, 0]
    scores = evaluate(y, p)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(3 / 5)


def test_no_predicted_positive_leaves_precision_undefined_without_a_warning() -> None:
    """All ŷ = 0: precision is 0/0, undefined (NaN, shown as undefined), while recall and F1
    are 0 (their denominators count the missed unsafe items); sklearn warns about none."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = evaluate([1, 0, 1], [0.1, 0.2, 0.3])
    assert np.isnan(scores["precision"])
    assert (scores["recall"], scores["f1"]) == (0.0, 0.0)


def test_auprc_is_the_hand_trapezoid_and_ap_the_step_sum() -> None:
    """Curve (R, P): (0, 1), (.5, 1), (.5, .5), (1, 2/3) — sklearn stops at full recall."""
    y = [1, 0, 1, 0]
    p = [0.9, 0.8, 0.7, 0.1]
    trapezoid = 0.5 * (1 + 1) / 2 + 0.0 + 0.5 * (0.5 + 2 / 3) / 2
    assert auprc(y, p) == pytest.approx(trapezoid, rel=1e-15)
    assert evaluate(y, p)["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, rel=1e-15)


def test_evaluate_returns_exactly_the_table_keys_as_floats() -> None:
    """The dict feeds metrics.csv: exact keys, plain Python floats."""
    scores = evaluate([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert tuple(scores) == METRIC_KEYS
    assert list(scores) == [
        "ece",
        "mce",
        "nll",
        "brier",
        "f1",
        "precision",
        "recall",
        "accuracy",
        "auprc",
        "ap",
    ]
    assert all(type(v) is float for v in scores.values())


def test_inputs_as_pandas_and_booleans() -> None:
    """Series and boolean labels are accepted like arrays."""
    y = pd.Series([True, False, True])
    p = pd.Series([0.7, 0.2, 0.6])
    assert evaluate(y, p) == evaluate([1, 0, 1], [0.7, 0.2, 0.6])


@pytest.mark.parametrize(
    ("labels", "proba", "message"),
    [
        ([1, 0], [0.5], "labels have 2 rows"),
        ([1, 2], [0.5, 0.5], "row 1 is 2"),
        ([1, 0], [0.5, float("nan")], "row 1 is nan"),
        ([1, 0], [0.5, 1.5], r"in \[0, 1\]: row 1"),
        ([1, 0], [-0.1, 0.5], "row 0"),
        ([[1, 0]], [[0.5, 0.5]], "must be 1-D"),
        ([], [], "empty"),
        (["a", "b"], [0.5, 0.5], "dtype"),
    ],
)
def test_bad_inputs_raise_clear_errors(labels: list, proba: list, message: str) -> None:
    """Mismatched lengths, bad labels, NaN or out-of-range p and wrong shapes are refused."""
    with pytest.raises(ValueError, match=message):
        evaluate(labels, proba)


def test_bad_n_bins_is_refused() -> None:
    """n_bins must be a positive integer."""
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([1], [0.5], n_bins=0)
