"""Guaranteed operating points (Learn-then-Test through MAPIE) keep their promise over repeated
validation draws, and AURC reads the risk–coverage curve."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats

from guardcal.calibration.guarantees import candidate_thresholds, guaranteed_threshold
from guardcal.calibration.selective import aurc, optimal_aurc
from guardcal.calibration.thresholds import threshold_for_recall

SAFE, UNSAFE = (-1.5, 1.5), (1.0, 1.5)
"""Logit (mean, sd) of the safe and unsafe items: the true FPR and recall of p ≥ t are normal
tails, so whether a threshold keeps its promise is known exactly."""


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.4).astype(np.int64)
    g = np.where(y == 1, rng.normal(*UNSAFE, n), rng.normal(*SAFE, n))
    return y, special.expit(g)


def true_rate(threshold: float, mean_sd: tuple[float, float]) -> float:
    """P(p ≥ threshold) for items whose logit is N(mean, sd²)."""
    return float(stats.norm.sf(special.logit(threshold), *mean_sd)) if threshold < 1 else 0.0


@pytest.mark.parametrize(("risk", "target"), [("fpr", 0.05), ("recall", 0.9)])
def test_the_promise_holds_in_at_least_1_minus_delta_of_validation_draws(risk, target) -> None:
    """150 validation draws of 300 items (the note runs 1,000): the FPR stays ≤ α (recall ≥ β)
    in at least 1 − δ of them, where the point-estimate threshold fails about half the time."""
    delta, rng = 0.1, np.random.default_rng(5)
    kept, point_kept = 0, 0
    for _ in range(150):
        y, p = draw(300, rng)
        t = guaranteed_threshold(y, p, risk, target, delta)
        if risk == "fpr":
            kept += true_rate(t, SAFE) <= target
            point = np.quantile(p[y == 0], 1 - target)  # the validation FPR is α here
            point_kept += true_rate(point, SAFE) <= target
        else:
            kept += true_rate(t, UNSAFE) >= target
            point_kept += true_rate(threshold_for_recall(y, p, target), UNSAFE) >= target
    assert kept / 150 >= 1 - delta
    assert point_kept / 150 < 0.8


def test_without_enough_items_nothing_is_certified() -> None:
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])
    assert np.isnan(guaranteed_threshold(y, p, "recall", 0.99, 0.05))
    with pytest.raises(ValueError, match="risk must be"):
        guaranteed_threshold(y, p, "precision", 0.9, 0.1)


def test_candidates_are_the_scores_thinned_by_rank() -> None:
    p = np.linspace(0, 1, 5001)
    assert candidate_thresholds(p[:50]).tolist() == p[:50].tolist()
    thinned = candidate_thresholds(p, limit=101)
    assert thinned.shape == (101,) and thinned[0] == 0 and thinned[-1] == 1


# ---------------------------------------------------------------- AURC


def test_aurc_by_hand_and_ties_averaged_over_their_orders() -> None:
    """Confidences 0.9, 0.8, 0.7 (verdicts right, wrong, right): risks 0, ½, ⅓."""
    y, p = np.array([1, 1, 0]), np.array([0.9, 0.2, 0.3])
    assert aurc(y, p) == pytest.approx((0 + 1 / 2 + 1 / 3) / 3)
    # four items of equal confidence (two wrong): the mean over all 24 orders
    y, p = np.array([1, 0, 1, 0]), np.array([0.8, 0.8, 0.2, 0.2])
    wrong = np.array([0, 1, 1, 0])
    orders = [
        np.mean(np.cumsum(wrong[list(o)]) / np.arange(1, 5))
        for o in itertools.permutations(range(4))
    ]
    assert aurc(y, p) == pytest.approx(np.mean(orders))


def test_aurc_is_at_least_the_optimal_ranking_and_equals_it_when_errors_rank_last() -> None:
    y, p = draw(400, np.random.default_rng(2))
    assert optimal_aurc(y, p) < aurc(y, p)
    y, p = np.array([1, 0, 0, 1, 0]), np.array([0.95, 0.1, 0.2, 0.45, 0.6])  # errors least sure
    assert aurc(y, p) == pytest.approx(optimal_aurc(y, p))
