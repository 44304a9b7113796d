"""The estimators beyond the study and the vectorised bootstrap: each resample's metrics equal the
library's metrics of the resampled data, and the intervals cover what they claim."""

from __future__ import annotations

import numpy as np
import pytest
import relplot
from scipy import stats

from guardcal.calibration import bootstrap as bs
from guardcal.calibration.calibrators import BatchCalibration
from guardcal.calibration.metrics import brier_score
from guardcal.calibration.reliability import (
    EXTENDED_KEYS,
    brier_decomposition,
    equal_mass_ece,
    evaluate_extended,
    smooth_ece,
    top_label_ece,
    wilson_interval,
)


@pytest.fixture(scope="module")
def guard() -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of 600 examples of a miscalibrated guard."""
    rng = np.random.default_rng(11)
    z = np.column_stack([rng.normal(0, 1, 600), rng.normal(-0.5, 2, 600)])
    gap = z[:, 1] - z[:, 0]
    y = (rng.random(600) < 1 / (1 + np.exp(-(0.7 * gap + 0.3)))).astype(int)
    return z, y


# ---------------------------------------------------------------- the estimators


def test_smooth_ece_is_relplots_own_function(guard) -> None:
    z, y = guard
    p = 1 / (1 + np.exp(-(z[:, 1] - z[:, 0])))
    value, sigma = smooth_ece(y, p)
    assert value == relplot.smECE(p, y.astype(float))
    assert value == relplot.smECE_sigma(p, y.astype(float), sigma)


def test_equal_mass_ece_by_hand() -> None:
    """Six examples in three bins of two: |1 − 0.3| + |0 − 0.9| + |2 − 1.5|, over 6."""
    p = np.array([0.1, 0.2, 0.4, 0.5, 0.7, 0.8])
    y = np.array([1, 0, 0, 0, 1, 1])
    assert equal_mass_ece(y, p, n_bins=3) == pytest.approx((0.7 + 0.9 + 0.5) / 6)


def test_equal_mass_ece_shares_a_tied_run_in_proportion() -> None:
    """Four tied examples (two unsafe) cut in two: each half gets one unsafe in expectation, so
    any order of the tied rows gives the same value."""
    p = np.array([0.5, 0.5, 0.5, 0.5])
    for y in ([1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]):
        assert equal_mass_ece(y, p, n_bins=2) == pytest.approx(0.0, abs=1e-15)


def test_top_label_ece_by_hand() -> None:
    """Confidences max(p, 1 − p) = 0.9, 0.9, 0.6, 0.6; right, wrong, right, right (10 bins)."""
    p = np.array([0.1, 0.9, 0.4, 0.6])
    y = np.array([0, 0, 0, 1])
    # bin (0.8, 0.9]: accuracy 1/2, confidence 0.9; bin (0.5, 0.6]: accuracy 1, confidence 0.6
    want = (2 / 4) * abs(0.5 - 0.9) + (2 / 4) * abs(1.0 - 0.6)
    assert top_label_ece(y, p, n_bins=10) == pytest.approx(want)


def test_brier_decomposition_is_exact_when_p_is_constant_in_each_bin() -> None:
    rng = np.random.default_rng(3)
    p = rng.choice([0.05, 0.35, 0.65, 0.95], size=2000)
    y = (rng.random(2000) < p**1.5).astype(int)
    parts = brier_decomposition(y, p, n_bins=10)
    total = parts["brier_reliability"] - parts["brier_resolution"] + parts["brier_uncertainty"]
    assert total == pytest.approx(brier_score(y, p), abs=1e-12)
    assert parts["brier_uncertainty"] == pytest.approx(y.mean() * (1 - y.mean()))


# ---------------------------------------------------------------- resample by resample


@pytest.fixture(scope="module")
def resampled(guard):
    """Every metric of four rows on 6 resamples: a smooth p, a tied one, one without its key,
    and batch calibration with each resample's own prior."""
    z, y = guard
    gap = z[:, 1] - z[:, 0]
    p = 1 / (1 + np.exp(-gap))
    rows = {
        "smooth": bs.FixedProba(p, gap),
        "tied": bs.FixedProba(np.round(p, 1), gap),
        "tied_no_key": np.round(p, 1),
        "bc": bs.BatchResampled(z, 0.8),
    }
    indices = bs.resample_indices(y.shape[0], 6, seed=5)
    return z, y, rows, indices, bs.resampled_metrics(y, rows, indices, progress=False)


@pytest.mark.parametrize("row", ["smooth", "tied", "tied_no_key", "bc"])
def test_each_resample_equals_the_metrics_of_the_resampled_data(resampled, row: str) -> None:
    z, y, rows, indices, got = resampled
    bc = BatchCalibration(gamma=0.8)
    for b, idx in enumerate(indices):
        if row == "bc":
            p = bc.predict_proba(z[idx])[:, 1]  # BC on the resampled batch: its own prior
        else:
            p = getattr(rows[row], "proba", rows[row])[idx]
        want = evaluate_extended(y[idx], p)
        have = dict(zip(EXTENDED_KEYS, got[row][b], strict=True))
        sigma = smooth_ece(y, getattr(rows[row], "proba", rows[row]))[1] if row != "bc" else None
        for key in EXTENDED_KEYS:
            if key == "smooth_ece":
                if sigma is not None:  # relplot's bandwidth of the full sample, held fixed
                    want_s = relplot.smECE_sigma(p, y[idx].astype(float), sigma)
                    assert have[key] == pytest.approx(want_s, abs=1e-12), (row, b)
                continue
            assert have[key] == pytest.approx(want[key], abs=1e-10), (row, b, key)


def test_all_ones_counts_give_the_point_estimates(guard) -> None:
    z, y = guard
    p = 1 / (1 + np.exp(-(z[:, 1] - z[:, 0])))
    one = np.arange(y.shape[0], dtype=np.int32)[None, :]
    got = bs.resampled_metrics(y, {"p": p}, one, progress=False)["p"][0]
    want = evaluate_extended(y, p)
    np.testing.assert_allclose(got, [want[k] for k in EXTENDED_KEYS], atol=1e-12)


def test_the_draw_is_seeded_and_the_counts_add_up() -> None:
    a, b = bs.resample_indices(50, 20, seed=1), bs.resample_indices(50, 20, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, bs.resample_indices(50, 20, seed=2))
    counts = bs.resample_counts(a, 50)
    np.testing.assert_array_equal(counts.sum(axis=1), 50)
    np.testing.assert_array_equal(counts[3], np.bincount(a[3], minlength=50))


def test_bad_indices_are_refused(guard) -> None:
    _, y = guard
    with pytest.raises(ValueError, match=r"indices must have shape \(B, 600\)"):
        bs.resampled_metrics(y, {"p": np.full(600, 0.5)}, np.zeros((3, 10), np.int32))


# ---------------------------------------------------------------- coverage


TRUE = {"accuracy": 0.75, "precision": 7 / 12, "recall": 7 / 8, "brier": 1 / 6}
"""Population values when the guard says p = s, s ~ U(0, 1), and P(unsafe | s) = s²:
E[ŷπ] = ∫_½¹ s² ds = 7/24, E[ŷ] = ½, E[π] = ⅓, accuracy = 7/24 + ∫_0^½ (1 − s²) ds, Brier =
E[s² − 2s·s² + s²] = ⅔ − ½."""


def test_percentile_intervals_cover_the_true_values() -> None:
    """200 seeded simulations of 300 examples from the known model above, 1,000 resamples each:
    the 95 % interval of accuracy, precision, recall and Brier covers the true value in 90–99 %."""
    keys = [EXTENDED_KEYS.index(k) for k in TRUE]
    covered = np.zeros(len(TRUE))
    for sim in range(200):
        rng = np.random.default_rng(1000 + sim)
        s = rng.random(300)
        y = (rng.random(300) < s**2).astype(int)
        indices = bs.resample_indices(300, 1000, seed=sim)
        stats_ = bs.resampled_metrics(y, {"p": s}, indices, progress=False, smooth=False)["p"]
        lo, hi = bs.percentile_interval(stats_[:, keys])
        truth = np.array(list(TRUE.values()))
        covered += (lo <= truth) & (truth <= hi)
    rate = covered / 200
    assert ((rate >= 0.90) & (rate <= 0.99)).all(), dict(zip(TRUE, rate, strict=True))


def test_percentile_interval_agrees_with_scipy_bootstrap() -> None:
    """The same interval as scipy.stats.bootstrap(method="percentile") up to resampling noise."""
    rng = np.random.default_rng(9)
    s = rng.random(800)
    y = (rng.random(800) < s).astype(int)
    got = bs.resampled_metrics(
        y, {"p": s}, bs.resample_indices(800, 3000, seed=3), progress=False, smooth=False
    )["p"]
    lo, hi = bs.percentile_interval(got[:, EXTENDED_KEYS.index("brier")])
    ref = stats.bootstrap(
        (s, y),
        lambda a, b, axis=-1: np.mean((a - b) ** 2, axis=axis),
        paired=True,
        n_resamples=3000,
        method="percentile",
        rng=np.random.default_rng(4),
    ).confidence_interval
    assert lo == pytest.approx(ref.low, abs=2e-3)
    assert hi == pytest.approx(ref.high, abs=2e-3)


def test_wilson_interval_equals_scipys() -> None:
    k, n = np.array([0, 3, 7, 10]), np.array([10, 10, 10, 10])
    lo, hi = wilson_interval(k, n)
    for i in range(4):
        ref = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(0.95, method="wilson")
        assert (lo[i], hi[i]) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert np.isnan(wilson_interval([0], [0])[0]).all()
