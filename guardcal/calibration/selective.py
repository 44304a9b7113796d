"""The area under the risk–coverage curve (AURC, Geifman et al. 2019) of the guard's verdict when
the least confident items go to review (docs/design.md §8).

Sort the items by confidence max(p, 1 − p), most confident first; the selective risk at coverage
k/N is the error rate of the verdict (ŷ = 1 iff p ≥ 0.5) on the k most confident items, and
AURC = (1/N) Σ_{k=1..N} risk(k/N). Items of equal confidence have no order, so within a run of
ties the risk is its expectation over their random order: the k-th item of a run of r with e errors
adds e/r expected errors. Lower is better; a guard that ranks every error last reaches
AURC* = (1/N) Σ_k max(0, k − (N − E))/k with E its errors.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from guardcal.calibration.metrics import THRESHOLD, _check


def _mean_risk(errors_sorted: np.ndarray, runs: np.ndarray) -> float:
    """(1/N) Σ_k E[errors among the first k] / k, expectation over the order within each run."""
    n = errors_sorted.shape[0]
    starts = np.flatnonzero(runs)
    size = np.diff(np.r_[starts, n])
    run_errors = np.add.reduceat(errors_sorted, starts)
    before = np.r_[0.0, np.cumsum(run_errors)[:-1]]
    run_of = np.cumsum(runs) - 1
    k = np.arange(1, n + 1)
    within = k - starts[run_of]
    expected = before[run_of] + within * run_errors[run_of] / size[run_of]
    return float(np.mean(expected / k))


def aurc(labels: ArrayLike, proba_unsafe: ArrayLike) -> float:
    """Area under the risk–coverage curve of the verdict, ranked by confidence max(p, 1 − p)."""
    y, p = _check(labels, proba_unsafe)
    confidence = np.maximum(p, 1 - p)
    order = np.argsort(-confidence, kind="stable")
    wrong = ((p[order] >= THRESHOLD) != (y[order] == 1)).astype(np.float64)
    conf = confidence[order]
    return _mean_risk(wrong, np.r_[True, conf[1:] != conf[:-1]])


def optimal_aurc(labels: ArrayLike, proba_unsafe: ArrayLike) -> float:
    """AURC* of a ranking that puts every error of the verdict last (the floor of AURC)."""
    y, p = _check(labels, proba_unsafe)
    n = y.shape[0]
    errors = int(np.sum((p >= THRESHOLD) != (y == 1)))
    k = np.arange(1, n + 1)
    return float(np.mean(np.maximum(0, k - (n - errors)) / k))
