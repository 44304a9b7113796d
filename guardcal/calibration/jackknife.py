"""Leave-one-out (jackknife) values of the verdict and precision–recall metrics, all N at once:
what the BCa interval's acceleration needs (docs/design.md §4b).

Leaving example j out changes the counts of the verdict's confusion table by one, and the
precision–recall curve only at and below j's run of tied p (ascending order: the thresholds that
flag j). Prefix and suffix sums over the runs give every leave-one-out AUPRC and AP in O(N), with
sklearn's conventions as `guardcal.calibration.bootstrap` reads them: one point per run of tied p,
precision 1 above the top run, a run emptied by the removal repeating the point above it.

Batch calibration's prior is the batch's mean, so leaving j out moves every other example's p̂ by
the same logit shift: the ranking (AUPRC, AP) is unchanged and the verdict threshold moves. Rows
give that as a per-example threshold on their full-sample p (`ResampledProba.loo_thresholds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from guardcal.calibration.reliability import EXTENDED_KEYS

if TYPE_CHECKING:
    from guardcal.calibration.bootstrap import ResampledProba

JACKKNIFE_KEYS = ("precision", "recall", "f1", "auprc", "ap")
"""The metrics whose leave-one-out values are computed here."""


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (the bootstrap's convention for an empty verdict class)."""
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def verdict_jackknife(
    labels: np.ndarray, proba: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of ŷ = 1 iff p ≥ thresholds[j] on the data without example j."""
    y = labels.astype(np.float64)
    order = np.argsort(proba, kind="stable")
    p_sorted = proba[order]
    cum_y = np.concatenate([[0.0], np.cumsum(y[order])])
    n, positives = y.shape[0], cum_y[-1]
    k = np.searchsorted(p_sorted, thresholds, side="left")
    own = proba >= thresholds  # j itself would be flagged
    flagged = n - k - own
    tp = positives - cum_y[k] - own * y
    left_positives = positives - y
    precision = _share(tp, flagged)
    recall = _share(tp, left_positives)
    f1 = _share(2 * tp, flagged + left_positives)  # 2TP / (2TP + FP + FN)
    return {"precision": precision, "recall": recall, "f1": f1}


def curve_jackknife(labels: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """AUPRC (trapezoid) and AP of the precision–recall curve without example j, for every j.

    Runs r = 0..R−1 of tied p in ascending order, s_r positives of c_r examples; tps_r and pps_r
    count the positives and examples with p ≥ the run's p, prec_r = tps_r / pps_r, P = tps_0:
        AP = Σ_r s_r prec_r / P,   AUPRC = (AP + Σ_r s_r prec_{r+1} / P) / 2   (prec_R = 1).
    Without j (label v) of run r: s_r, tps_k and P lose v and pps_k loses 1 for k ≤ r."""
    y = labels.astype(np.float64)
    order = np.lexsort((y, proba))
    p_sorted = proba[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    run_of = np.empty(y.shape[0], dtype=np.int64)
    run_of[order] = np.cumsum(np.r_[True, p_sorted[1:] != p_sorted[:-1]]) - 1
    s = np.add.reduceat(y[order], starts)
    c = np.diff(np.r_[starts, y.shape[0]]).astype(np.float64)
    tps, pps = np.cumsum(s[::-1])[::-1], np.cumsum(c[::-1])[::-1]
    positives = tps[0]
    prec = tps / pps
    above = np.r_[prec[1:], 1.0]  # the point above each run (1 above the top run)

    def lowered(v: float, shift: int) -> np.ndarray:
        """prec_{k+shift} without one example of label v at or above its run (1 where no
        example is left), for k = 0..R−1 (k + shift past the top run reads 1)."""
        t = np.r_[tps, 0.0][shift : shift + s.shape[0]] - v
        q = np.r_[pps, 1.0][shift : shift + s.shape[0]] - 1
        return np.where(q > 0, t / np.where(q > 0, q, 1), 1.0)

    def before(values: np.ndarray) -> np.ndarray:
        """Σ_{k<r} values_k for every run r."""
        return np.r_[0.0, np.cumsum(values)[:-1]]

    after_ap = np.r_[np.cumsum((s * prec)[::-1])[::-1][1:], 0.0]  # Σ_{k>r} s_k prec_k
    after_tr = np.r_[np.cumsum((s * above)[::-1])[::-1][1:], 0.0]  # Σ_{k>r} s_k above_k
    out = {"ap": np.empty(y.shape[0]), "auprc": np.empty(y.shape[0])}
    for v in (0.0, 1.0):
        pick = y == v
        r = run_of[pick]
        own = lowered(v, 0)  # prec'_r of the run losing the example
        ap_sum = after_ap[r] + (s[r] - v) * own[r] + before(s * own)[r]
        # every run below r pairs with the lowered point above it (run r's own for run r − 1)
        tr_sum = after_tr[r] + (s[r] - v) * above[r] + before(s * lowered(v, 1))[r]
        left = positives - v
        with np.errstate(invalid="ignore", divide="ignore"):
            out["ap"][pick] = np.where(left > 0, ap_sum / left, np.nan)
            out["auprc"][pick] = np.where(left > 0, (ap_sum + tr_sum) / (2 * left), np.nan)
    return out


def jackknife_metrics(labels: np.ndarray, proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N, len(EXTENDED_KEYS)) leave-one-out values: JACKKNIFE_KEYS filled, the rest NaN."""
    values = {**verdict_jackknife(labels, proba, thresholds), **curve_jackknife(labels, proba)}
    out = np.full((labels.shape[0], len(EXTENDED_KEYS)), np.nan)
    for key, column in values.items():
        out[:, EXTENDED_KEYS.index(key)] = column
    return out


def row_jackknife(labels: np.ndarray, row: ResampledProba) -> np.ndarray:
    """`jackknife_metrics` of one bootstrap row: its full-sample p and leave-one-out thresholds."""
    p = row(np.ones((1, labels.shape[0])))[0]
    return jackknife_metrics(labels, p, row.loo_thresholds())
