"""Guaranteed operating points (docs/design.md §8): thresholds whose false positive rate is at most
α, or whose recall is at least β, with probability at least 1 − δ over the validation draw.

Learn-then-Test (Angelopoulos et al. 2022) as MAPIE's `BinaryClassificationController` implements
it: each candidate threshold t is a null hypothesis "the risk at t exceeds the target", tested with
the Hoeffding–Bentkus p-value of its validation risk (binomial, over the safe items for the FPR and
the unsafe items for the recall). Both risks are monotone in t, so fixed-sequence testing from the
safe end keeps the family-wise error at δ without a Bonferroni penalty for the number of
candidates; the chosen threshold is the certified one with the most recall (FPR target) or the most
precision (recall target). Candidates are the validation scores themselves (at most
`MAX_CANDIDATES`, evenly spaced in rank), and +inf (flag nothing) for the FPR.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from mapie.risk_control import BinaryClassificationController
from numpy.typing import ArrayLike

from guardcal.calibration.metrics import _check

GuaranteedRisk = Literal["fpr", "recall"]
MAX_CANDIDATES = 1000
"""Candidate thresholds tested (MAPIE holds a candidates × examples verdict matrix)."""


def candidate_thresholds(proba: np.ndarray, limit: int = MAX_CANDIDATES) -> np.ndarray:
    """The distinct scores, thinned to `limit` evenly spaced in rank when there are more."""
    scores = np.unique(proba)
    if scores.shape[0] > limit:
        scores = scores[np.unique(np.linspace(0, scores.shape[0] - 1, limit).round().astype(int))]
    return scores


def _two_columns(proba: np.ndarray) -> np.ndarray:
    """(N, 2) [p_safe, p_unsafe]: what MAPIE's controller reads as predict_proba."""
    p = np.asarray(proba, dtype=np.float64).reshape(-1)
    return np.column_stack([1 - p, p])


def guaranteed_threshold(
    labels: ArrayLike,
    proba_unsafe: ArrayLike,
    risk: GuaranteedRisk,
    target: float,
    delta: float,
) -> float:
    """The threshold t (flag p ≥ t) chosen on these validation items whose FPR ≤ `target` (risk
    "fpr") or recall ≥ `target` (risk "recall") holds with probability ≥ 1 − `delta`; NaN when
    no candidate can be certified (too few items of the class the risk counts)."""
    y, p = _check(labels, proba_unsafe)
    if risk not in ("fpr", "recall"):
        raise ValueError(f"risk must be 'fpr' or 'recall', got {risk!r}")
    if not (0 < target < 1 and 0 < delta < 1):
        raise ValueError(f"need 0 < target < 1 and 0 < delta < 1, got {target}, {delta}")
    candidates = candidate_thresholds(p)
    if risk == "fpr":
        candidates = np.r_[candidates, np.inf]
    controller = BinaryClassificationController(
        predict_function=_two_columns,
        risk=risk,
        target_level=float(target),
        confidence_level=1 - delta,
        list_predict_params=candidates,
        fwer_method="fixed_sequence",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no valid threshold": reported as NaN
        controller.calibrate(p, y)
    best = controller.best_predict_param
    return float("nan") if best is None else float(best)
