"""Operating points of a guard: thresholds for a target precision or recall, the narrowest human
review band meeting both, and risk–coverage (docs/design.md §11).

A decision rule is a band [low, high) of p(unsafe): items with p ≥ high are flagged unsafe
automatically, items with p < low are passed as safe automatically, and the rest go to a human
reviewer (taken to decide correctly). A single threshold t is the band [t, t), which sends
nothing to review. Of a rule on labelled items:
    precision = unsafe among the auto-flagged / auto-flagged       (NaN when nothing is flagged)
    recall    = unsafe not auto-passed / unsafe                     (reviewed items are caught)
    fpr       = safe among the auto-flagged / safe                  (false positive rate)
    review    = share of items in the band
    auto_accuracy = correct among the auto-decided / auto-decided  (NaN when all are reviewed)
Thresholds are chosen among the scores themselves (sklearn's precision_recall_curve), so a
threshold is one of the validation p(unsafe) values, or +inf for "flag nothing".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import precision_recall_curve

from guardcal.calibration.metrics import _check

RULE_METRICS = ("precision", "recall", "fpr", "review", "auto_accuracy")


def _curve(labels: ArrayLike, proba: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(threshold, precision, recall) of `p ≥ threshold` at every distinct score, thresholds
    increasing; precision NaN where nothing is flagged (never the case at a score)."""
    y, p = _check(labels, proba)
    if not (y == 1).any():
        raise ValueError("operating points need at least one unsafe example")
    precision, recall, thresholds = precision_recall_curve(y, p, pos_label=1)
    return thresholds, precision[:-1], recall[:-1]


def threshold_for_precision(labels: ArrayLike, proba: ArrayLike, target: float) -> float:
    """The lowest threshold whose flagged items reach `target` precision (the most recall at that
    precision); +inf when no threshold reaches it."""
    t, precision, _ = _curve(labels, proba)
    ok = np.flatnonzero(precision >= target)
    return float(t[ok[0]]) if ok.size else float("inf")


def threshold_for_recall(labels: ArrayLike, proba: ArrayLike, target: float) -> float:
    """The highest threshold that still flags `target` of the unsafe items (the most precision at
    that recall); recall falls as the threshold rises, and the lowest score reaches recall 1."""
    t, _, recall = _curve(labels, proba)
    return float(t[np.flatnonzero(recall >= target)[-1]])


def review_band(
    labels: ArrayLike, proba: ArrayLike, target_precision: float, target_recall: float
) -> tuple[float, float]:
    """(low, high): the band sending the fewest items to review while the auto-flagged items
    reach `target_precision` and the unsafe items not auto-passed reach `target_recall`.

    low = the highest threshold meeting the recall target: any lower one only adds reviews.
    high = the lowest threshold ≥ low meeting the precision target (+inf: flag nothing, review
    everything from low up). When a threshold ≤ low already meets the precision target, one
    threshold meets both and nothing is reviewed: the highest such one is returned as (t, t)."""
    t, precision, _ = _curve(labels, proba)
    low = threshold_for_recall(labels, proba, target_recall)
    ok = precision >= target_precision
    below = np.flatnonzero(ok & (t <= low))
    if below.size:
        single = float(t[below[-1]])
        return single, single
    above = np.flatnonzero(ok & (t > low))
    return low, float(t[above[0]]) if above.size else float("inf")


def rule_metrics(labels: ArrayLike, proba: ArrayLike, low: float, high: float) -> dict[str, float]:
    """Precision, recall, false positive rate, review share and auto-decided accuracy of the
    band [low, high)."""
    y, p = _check(labels, proba)
    if not low <= high:
        raise ValueError(f"a review band needs low <= high, got [{low}, {high})")
    flagged = p >= high
    passed = p < low
    decided = flagged | passed
    unsafe = y == 1
    correct = (flagged & unsafe) | (passed & ~unsafe)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": float(np.sum(flagged & unsafe) / np.sum(flagged))
            if flagged.any()
            else float("nan"),
            "recall": float(np.sum(unsafe & ~passed) / np.sum(unsafe))
            if unsafe.any()
            else float("nan"),
            "fpr": float(np.sum(flagged & ~unsafe) / np.sum(~unsafe))
            if (~unsafe).any()
            else float("nan"),
            "review": float(np.mean(~decided)),
            "auto_accuracy": float(np.sum(correct) / np.sum(decided))
            if decided.any()
            else float("nan"),
        }


def risk_coverage(labels: ArrayLike, proba: ArrayLike) -> pd.DataFrame:
    """Accuracy of the auto-decided items (verdict p ≥ 0.5) against the share decided
    automatically, when the least confident items (confidence max(p, 1 − p)) go to review: one
    row per distinct confidence, from the most confident items alone to all items."""
    y, p = _check(labels, proba)
    confidence = np.maximum(p, 1.0 - p)
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    correct = ((p[order] >= 0.5) == (y[order] == 1)).astype(np.float64)
    ends = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])  # last item of each tie group
    decided = ends + 1
    return pd.DataFrame(
        {
            "confidence": conf[ends],
            "coverage": decided / y.shape[0],
            "accuracy": np.cumsum(correct)[ends] / decided,
        }
    )
