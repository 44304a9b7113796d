"""Seeded bootstrap intervals on every metric, vectorised over the resamples (docs/design.md §4).

A resample of the N test examples is a vector of counts w (how often each example was drawn). One
draw of B × N resample indices per split is shared by every model and method, so differences
between methods are paired. No metric loops over resamples: the examples are sorted once by p
(ties by label), and every metric of every resample in a block is read off cumulative sums of
w, w·y and w·p along that order:

- each equal-width bin of p, the verdict ŷ = 1 (p ≥ 0.5), each bin of the top-label confidence and
  each distinct threshold of the precision–recall curve is a contiguous run of that order, found
  by a binary search on the sorted p; its count, Σy and Σp are differences of the cumulative sums;
- an equal-mass bin ends at a cumulative count q: the example whose copies straddle q adds its
  value times the copies below q (exactly how np.array_split cuts the resample);
- NLL and Brier are weighted sums; smooth ECE rounds p onto relplot's grid (contiguous runs again)
  and convolves all resamples' grids with relplot's reflected Gaussian kernel at once.

Each resample's metrics equal the library metrics of the resampled data (tests/test_bootstrap.py).
`percentile_interval` reads the quantiles of the B statistics (scipy.stats.bootstrap's
method="percentile"); `guardcal.calibration.intervals` gives each metric the interval justified
for it from the same statistics, with BCa's leave-one-out values from
`guardcal.calibration.jackknife` (each row says how its verdict threshold moves without one
example: `ResampledProba.loo_thresholds`).

Batch calibration's prior is the evaluated batch's mean, so on a resample it is that resample's
weighted mean: `BatchResampled` recomputes p̂ per resample, exactly as BC applied to the resampled
batch. Smooth ECE keeps relplot's bandwidth σ* of the full sample on every resample (relplot picks
σ by a per-sample search); its interval is that of smECE at σ*.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike
from relplot.kernels import ReflectedGaussianKernel
from scipy.signal import fftconvolve
from scipy.sparse import csr_matrix
from scipy.special import expit
from tqdm.auto import tqdm

from guardcal.calibration.debiased import debiased_ece_of_bins
from guardcal.calibration.logits import check_logits, class_first_log_proba
from guardcal.calibration.metrics import (
    ECE_BINS,
    THRESHOLD,
    bin_edges,
    check_labels,
    check_proba,
)
from guardcal.calibration.reliability import EXTENDED_KEYS, equal_mass_sizes, smooth_ece

CONFIDENCE = 0.95
"""Coverage of every interval."""
BLOCK_ELEMENTS = 1 << 22
"""Resamples × examples per block: bounds memory (≈ 32 MiB per float64 array) at any N."""
SMOOTH_EPS = 1e-4
"""relplot's density floor in `BaseKernelMixin.smooth`."""


def resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """One seeded draw of (resamples, n) indices into a split of n examples."""
    if n < 1 or resamples < 1:
        raise ValueError(f"need n ≥ 1 and resamples ≥ 1, got n={n}, resamples={resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n), dtype=np.int32)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """(b, n) float64 counts: how often each example occurs in each resample (one bincount)."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def blocks(resamples: int, n: int) -> Iterator[slice]:
    """Slices of the resamples, each ≈ BLOCK_ELEMENTS counts."""
    size = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, resamples, size):
        yield slice(start, min(start + size, resamples))


class ResampledProba(Protocol):
    """p_unsafe of one model/method on every resample of a block."""

    def order(self, labels: np.ndarray) -> np.ndarray:
        """An order of the examples along which every resample's p is non-decreasing."""

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """(1, N) probabilities shared by every resample, or (b, N), one row per resample."""

    def loo_thresholds(self) -> np.ndarray:
        """(N,) for each left-out example j, the threshold on the full sample's p at which the
        other examples' verdicts flip (0.5 unless p depends on the batch)."""


def gap_order(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The examples by logit gap, ties by label: every monotone calibrator's p rises along it."""
    z = check_logits(logits)
    return np.lexsort((labels, z[:, 1] - z[:, 0]))


@dataclass(frozen=True)
class FixedProba:
    """Probabilities that do not depend on the resample (every calibrator fitted on validation).

    `key` (the logit gap) gives rows of one model one shared order when p rises along it, so the
    cumulative sums of the counts are computed once per model."""

    proba: np.ndarray
    key: np.ndarray | None = None

    def order(self, labels: np.ndarray) -> np.ndarray:
        """By `key` when p is non-decreasing along it, else by p; ties by label."""
        if self.key is not None:
            order = np.lexsort((labels, self.key))
            if np.all(np.diff(self.proba[order]) >= 0):
                return order
        return np.lexsort((labels, self.proba))

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """The same (1, N) row for every resample."""
        return self.proba[None, :]

    def loo_thresholds(self) -> np.ndarray:
        """0.5 for every left-out example: the other examples' p does not move."""
        return np.full(self.proba.shape[0], THRESHOLD)


@dataclass(frozen=True)
class BatchResampled:
    """Batch calibration on each resample: log p̂ = log p − γ log p(y|C), with p(y|C) the
    resample's own mean probability Σ w_i p_i / N (what BC does to the resampled batch)."""

    logits: np.ndarray
    gamma: float

    def order(self, labels: np.ndarray) -> np.ndarray:
        """By logit gap (p̂ rises with it for every prior), ties by label."""
        return gap_order(self.logits, labels)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """(b, N) p̂_unsafe = σ(gap − γ·(log p̄_unsafe − log p̄_safe)), one row per resample;
        each log mean is shifted by its largest term first (no underflow, no epsilon)."""
        z = check_logits(self.logits)
        log_p = class_first_log_proba(z)  # (2, N)
        top = log_p.max(axis=1, keepdims=True)
        with np.errstate(under="ignore", divide="ignore"):
            log_mean = np.log(counts @ np.exp(log_p - top).T).T + top  # (2, b), N cancels
        shift = self.gamma * (log_mean[1] - log_mean[0])
        return expit((z[:, 1] - z[:, 0])[None, :] - shift[:, None])

    def loo_thresholds(self) -> np.ndarray:
        """expit(s_−j − s): without example j the prior's logit shift is s_−j instead of s, so
        σ(gap − s_−j) ≥ 0.5 iff the full-sample p̂ = σ(gap − s) ≥ σ(s_−j − s)."""
        z = check_logits(self.logits)
        log_p = class_first_log_proba(z)  # (2, N)
        top = log_p.max(axis=1, keepdims=True)
        terms = np.exp(log_p - top)
        with np.errstate(under="ignore", divide="ignore"):
            full = np.log(terms.sum(axis=1))
            left = np.log(np.clip(terms.sum(axis=1, keepdims=True) - terms, 0.0, None))
        shift = self.gamma * (full[1] - full[0])
        return expit(self.gamma * (left[1] - left[0]) - shift)


def _cum0(values: np.ndarray) -> np.ndarray:
    """Cumulative sums along the examples with a leading 0: c[:, k] = Σ_{i<k} values[:, i]."""
    out = np.zeros((values.shape[0], values.shape[1] + 1), dtype=values.dtype)
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out


def _at(cum: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """cum[b, pos[b, k]] for every resample b (pos broadcast over the resamples)."""
    return np.take_along_axis(cum, np.broadcast_to(pos, (cum.shape[0], pos.shape[1])), axis=1)


def row_searchsorted(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """np.searchsorted of each row of `v` in the same row of `a` (rows non-decreasing); either may
    have one row, broadcast over the other's. A vectorised binary search for many rows."""
    if a.shape[0] == 1 and v.shape[0] == 1:
        return np.searchsorted(a[0], v[0], side=side)[None, :]
    rows, n = max(a.shape[0], v.shape[0]), a.shape[1]
    lo = np.zeros((rows, v.shape[1]), dtype=np.int64)
    hi = np.full_like(lo, n)
    r = np.arange(rows)[:, None] if a.shape[0] > 1 else np.zeros((1, 1), dtype=np.int64)
    v = np.broadcast_to(v, lo.shape)
    for _ in range(int(np.ceil(np.log2(n + 1))) + 1):
        mid = (lo + hi) // 2
        value = a[r, np.minimum(mid, n - 1)]
        right = (value < v) if side == "left" else (value <= v)
        active = lo < hi
        lo = np.where(active & right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
    return lo


def _wsum(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ_i w[b, i] values[., i] per resample (values (1, N) or (b, N))."""
    if values.shape[0] == 1:
        return w @ values[0]
    return np.einsum("ij,ij->i", w, values)


def log_loss_terms(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-example −log p̂(label), p clipped to [ε, 1 − ε] as sklearn's log_loss does."""
    eps = np.finfo(np.float64).eps
    return -np.log(np.where(labels == 1, np.clip(proba, eps, 1 - eps), np.clip(1 - proba, eps, 1)))


@dataclass
class Shared:
    """What every row sorted in one order shares within a block: counts and their sums."""

    y: np.ndarray  # (N,) labels in the order, float64
    w: np.ndarray  # (b, N) counts in the order
    cw: np.ndarray  # (b, N + 1) cumulative counts (int32)
    cy: np.ndarray  # (b, N + 1) cumulative Σ w·y (int32)
    curves: dict[bytes, tuple[np.ndarray, np.ndarray]]  # PR-curve results by tie structure

    @cached_property
    def w_columns(self) -> np.ndarray:
        """(N, b) C-ordered counts, one column per resample: what a sparse (K, N) matrix
        multiplies without a copy, made once for every row of this order."""
        return np.ascontiguousarray(self.w.T)

    @classmethod
    def of(cls, labels: np.ndarray, counts: np.ndarray, order: np.ndarray) -> Shared:
        """Sort one block's counts and labels by `order` and sum them up."""
        y, w = labels[order].astype(np.float64), np.take(counts, order, axis=1)
        copies = w.astype(np.int32)  # counts are whole: their sums are exact, and 4x faster
        return cls(y, w, _cum0(copies), _cum0(copies * labels[order].astype(np.int32)), {})


def _rounded_grids(p: np.ndarray, sh: Shared, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """relplot's smooth_round_to_grid of the weights w and of w·(p − y), every resample at once:
    example i adds v·(1 − frac) to its cell and v·frac to the next. Fixed p (one row) is one
    sparse product of a (2·grid, N) rounding matrix with the counts; per-resample p one
    weighted bincount over (resample, cell)."""
    frac = p * (grid - 1)
    cell = np.minimum(frac.astype(np.int64), grid - 2)  # p ≥ 0, so the lower clip is a no-op
    frac -= cell
    residual = p - sh.y
    if p.shape[0] == 1:
        n = p.shape[1]
        cols = np.stack([cell[0], cell[0] + 1, grid + cell[0], grid + cell[0] + 1], axis=1)
        vals = np.stack(
            [1 - frac[0], frac[0], residual[0] * (1 - frac[0]), residual[0] * frac[0]], axis=1
        )
        rounding = csr_matrix(
            (vals.ravel(), (cols.ravel(), np.repeat(np.arange(n), 4))), shape=(2 * grid, n)
        )
        both = np.asarray(rounding @ sh.w_columns).T
        return both[:, :grid], both[:, grid:]
    b = p.shape[0]
    np.add(cell, (np.arange(b) * grid)[:, None], out=cell)
    at, wf, wr = cell.ravel(), sh.w * frac, sh.w * residual

    def rounded(whole: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Σ (whole − high) into each cell and Σ high into the next, per resample."""
        sums = [np.bincount(at, weights=v.ravel(), minlength=b * grid) for v in (whole, high)]
        total = sums[0] - sums[1]
        total[1:] += sums[1][:-1]
        return total.reshape(b, grid)

    grid_w = rounded(sh.w, wf)
    return grid_w, rounded(wr, np.multiply(wf, residual, out=wf))


def _smooth_ece(p: np.ndarray, sh: Shared, sigma: float) -> np.ndarray:
    """relplot's smECE_sigma(p, y, σ) for every resample: relplot's grid rounding, its reflected
    Gaussian kernel and mesh, all resamples at once."""
    grid = (max(2000, round(20 / sigma)) // 2) + 1
    grids = _rounded_grids(p, sh, grid)
    kernel = ReflectedGaussianKernel(sigma).kernel_ev(grid)[None, :]
    mesh = np.linspace(0, 1, max(round(10 / sigma), 200))
    inds = (mesh * (grid - 1)).astype(int).clip(0, grid - 2)
    residual = (mesh - inds * (1 / (grid - 1))) / (1 / (grid - 1))

    def smoothed(values: np.ndarray) -> np.ndarray:
        """ReflectedGaussianKernel.convolve, then relplot's linear interpolation onto the mesh."""
        flipped = values[:, ::-1]
        ext = np.concatenate([flipped[:, :-1], values, flipped[:, 1:]], axis=1)
        conv = fftconvolve(ext, kernel, mode="valid", axes=1)[:, grid // 2 : grid // 2 + grid]
        return conv[:, inds] * (1 - residual) + conv[:, inds + 1] * residual

    density = smoothed(grids[0]) + SMOOTH_EPS
    residuals = smoothed(grids[1]) / density
    return np.sum(np.abs(residuals) * density, axis=1) / np.sum(density, axis=1)


def _tie_runs(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of sorted p: whether each position starts a run of equal p, and each position's
    run start and run end (exclusive). Rows with one tie structure (a monotone map of one order,
    as BC's p on every resample) collapse to one row, which the resamples share."""
    n = p.shape[1]
    starts = np.concatenate([np.ones((p.shape[0], 1), bool), p[:, 1:] != p[:, :-1]], axis=1)
    if starts.shape[0] > 1 and np.array_equal(starts, np.broadcast_to(starts[:1], starts.shape)):
        starts = starts[:1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0), axis=1)
    ends = np.concatenate([starts[:, 1:], np.ones((starts.shape[0], 1), bool)], axis=1)
    last = np.minimum.accumulate(np.where(ends, np.arange(n), n)[:, ::-1], axis=1)[:, ::-1] + 1
    return starts, first, last


def _pr_curve(starts: np.ndarray, sh: Shared) -> tuple[np.ndarray, np.ndarray]:
    """AUPRC (trapezoid, sklearn's precision_recall_curve) and average precision per resample.

    One point per run of tied p (its threshold): recall rises by the run's Σ w·y / Σ y, from
    sklearn's (recall 0, precision 1) at the top run down; the trapezoid pairs each point with the
    one above it. A run no copy of which is in the resample repeats the point above, which adds
    nothing, so one tie structure needs only its runs' starts; one per resample uses every
    position mapped to its run's start."""
    if starts.shape[0] == 1:
        pos = np.flatnonzero(starts[0])
        cy, cw = np.take(sh.cy, pos, axis=1), np.take(sh.cw, pos, axis=1)
    else:
        pos = np.maximum.accumulate(np.where(starts, np.arange(starts.shape[1]), 0), axis=1)
        cy, cw = _at(sh.cy, pos), _at(sh.cw, pos)
    ytot, n = sh.cy[:, -1:], sh.cw[:, -1:]
    tps, pps = ytot - cy, n - cw
    precision = np.where(pps > 0, tps / np.maximum(pps, 1), 1.0)
    step = np.diff(cy, axis=1, append=ytot)  # Σ w·y of each run
    above = np.concatenate([precision[:, 1:], np.ones((tps.shape[0], 1))], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.einsum("ij,ij->i", step, precision) / ytot[:, 0]
        return (ap + np.einsum("ij,ij->i", step, above) / ytot[:, 0]) / 2, ap


def _rms_ece(
    p: np.ndarray,
    sh: Shared,
    cp: np.ndarray,
    n_bins: int,
    runs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Liu et al.'s RMS calibration error (`reliability.rms_calibration_error`) per resample:
    each equal-mass edge is the midpoint of the copies either side of a cut (found in the
    cumulative counts), each bin a contiguous run of the order; a resample with fewer distinct p
    than N/4 bins each run of tied p on its own."""
    w, cw, cy = sh.w, sh.cw, sh.cy
    n, rows = w.shape[1], w.shape[0]
    pw = np.broadcast_to(p, w.shape)
    cuts = equal_mass_sizes(n, min(n_bins, n))[None, 1:-1]
    below, above = (row_searchsorted(cw[:, 1:], c, side="right") for c in (cuts - 1, cuts))
    edges = (np.take_along_axis(pw, below, 1) + np.take_along_axis(pw, above, 1)) / 2.0
    bounds = np.concatenate(
        [
            np.zeros((rows, 1), np.int64),
            row_searchsorted(p, edges, side="right"),
            np.full((rows, 1), n),
        ],
        axis=1,
    )
    count, gap = (
        np.diff(_at(cw, bounds), axis=1),
        np.diff(_at(cp, bounds) - _at(cy, bounds), axis=1),
    )
    binned = np.where(count > 0, gap**2 / np.maximum(count, 1), 0.0).sum(axis=1)
    starts, _, last = runs
    at = np.flatnonzero(starts[0])[None, :] if starts.shape[0] == 1 else np.arange(n)[None, :]
    ends = np.take_along_axis(
        np.broadcast_to(last, (rows, n)), np.broadcast_to(at, (rows, at.shape[1])), 1
    )
    run_w = _at(cw, ends) - _at(cw, at)
    run_gap = (_at(cp, ends) - _at(cp, at)) - (_at(cy, ends) - _at(cy, at))
    present = (run_w > 0) & (starts[0][at[0]] if starts.shape[0] == 1 else starts)
    discrete = np.where(present, run_gap**2 / np.maximum(run_w, 1), 0.0).sum(axis=1)
    return np.sqrt(np.where(present.sum(axis=1) < n / 4, discrete, binned) / n)


def block_metrics(p: np.ndarray, sh: Shared, n_bins: int, sigma: float | None) -> np.ndarray:
    """(b, len(EXTENDED_KEYS)) metrics of b resamples from data sorted so that p is
    non-decreasing: p (1, N) or (b, N), and the block's shared sorted counts and sums; smooth
    ECE at bandwidth `sigma` (NaN when None)."""
    y, w, cw, cy = sh.y, sh.w, sh.cw, sh.cy
    n = float(y.shape[0])
    cp = _cum0(w * p)
    ytot = cy[:, -1]
    out: dict[str, np.ndarray] = {}

    # equal-width bins of p: ECE, MCE and the Brier decomposition
    edges = bin_edges(n_bins)
    ends = np.full((p.shape[0], 1), y.shape[0])
    bounds = np.concatenate(
        [np.zeros_like(ends), row_searchsorted(p, edges[None, 1:-1], side="right"), ends], axis=1
    )
    count, sum_y, sum_p = (np.diff(_at(c, bounds), axis=1) for c in (cw, cy, cp))
    filled = count > 0
    safe_count = np.where(filled, count, 1.0)
    gap = np.abs(sum_y - sum_p)
    base = ytot / n
    out["ece"] = gap.sum(axis=1) / n
    out["mce"] = np.max(np.where(filled, gap / safe_count, 0.0), axis=1)
    out["ece_debiased"] = debiased_ece_of_bins(count, sum_y, sum_p)
    out["brier_reliability"] = np.sum(np.where(filled, gap**2 / safe_count, 0.0), axis=1) / n
    resolution = np.where(filled, count * (sum_y / safe_count - base[:, None]) ** 2, 0.0)
    out["brier_resolution"] = resolution.sum(axis=1) / n
    out["brier_uncertainty"] = base * (1 - base)

    # the verdict ŷ = 1 iff p ≥ 0.5: positions from k on
    k = row_searchsorted(p, np.array([[THRESHOLD]]), side="left")
    below_w, below_y = _at(cw, k)[:, 0], _at(cy, k)[:, 0]
    tp, predicted = ytot - below_y, n - below_w
    fp, fn = predicted - tp, below_y
    out["accuracy"] = (tp + below_w - below_y) / n
    out["precision"] = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
    out["recall"] = np.where(ytot > 0, tp / np.maximum(ytot, 1), 0.0)
    f1_den = 2 * tp + fp + fn
    out["f1"] = np.where(f1_den > 0, 2 * tp / np.maximum(f1_den, 1), 0.0)
    out["nll"] = _wsum(w, log_loss_terms(y, p)) / n
    out["brier"] = _wsum(w, (p - y) ** 2) / n

    # top-label confidence c = max(p, 1 − p): bin m is p ∈ (e_m, e_m+1] from k on, and
    # 1 − p ∈ (e_m, e_m+1] before k (1 − p falls along the order, so {1 − p > e} is a prefix);
    # Σ (correct − confidence) over a run is Σ(y − p) above k and −Σ(y − p) below
    upper = np.maximum(row_searchsorted(p, edges[None, :], side="right"), k)
    lower = np.minimum(row_searchsorted(-(1.0 - p), -edges[None, :], side="left"), k)
    per_bin = sum(np.diff(_at(cy, pos) - _at(cp, pos), axis=1) for pos in (upper, lower))
    out["ece_top_label"] = np.abs(per_bin).sum(axis=1) / n

    # equal-mass bins: cut the resample (copies in order) at counts q_0..q_M; a run of tied p
    # that a cut falls in is shared in proportion (its mean label per copy)
    starts, first, last = _tie_runs(p)
    q = equal_mass_sizes(y.shape[0], n_bins)[None, :].astype(np.float64)
    item = np.minimum(row_searchsorted(cw[:, 1:], q, side="right"), y.shape[0] - 1)
    lo = np.take_along_axis(np.broadcast_to(first, w.shape), item, axis=1)
    hi = np.take_along_axis(np.broadcast_to(last, w.shape), item, axis=1)
    run_w = _at(cw, hi) - _at(cw, lo)
    inside = q - _at(cw, lo)
    share = np.where(run_w > 0, inside / np.where(run_w > 0, run_w, 1.0), 0.0)
    p_run = np.take_along_axis(np.broadcast_to(p, w.shape), lo, axis=1)
    mass_y = _at(cy, lo) + share * (_at(cy, hi) - _at(cy, lo))
    mass_p = _at(cp, lo) + inside * p_run
    out["ece_equal_mass"] = np.abs(np.diff(mass_y, axis=1) - np.diff(mass_p, axis=1)).sum(1) / n
    out["ece_rms"] = _rms_ece(p, sh, cp, n_bins, (starts, first, last))

    if starts.shape[0] == 1:
        key = starts.tobytes()
        if key not in sh.curves:
            sh.curves[key] = _pr_curve(starts, sh)
        out["auprc"], out["ap"] = sh.curves[key]
    else:
        out["auprc"], out["ap"] = _pr_curve(starts, sh)

    no_smooth = np.full(w.shape[0], np.nan)
    out["smooth_ece"] = no_smooth if sigma is None else _smooth_ece(p, sh, sigma)
    return np.stack([out[key] for key in EXTENDED_KEYS], axis=1)


def resampled_metrics(
    labels: ArrayLike,
    rows: Mapping[str, ResampledProba | np.ndarray],
    indices: np.ndarray,
    n_bins: int = ECE_BINS,
    progress: bool = True,
    smooth: bool = True,
) -> dict[str, np.ndarray]:
    """Every metric (EXTENDED_KEYS, in order) of every row on every resample: (B, K) per row.

    `rows` maps a name to p_unsafe (N,) fitted once (or a FixedProba with its logit gap as key),
    or to a ResampledProba such as BC. Rows sorted in the same order share the counts' sums.
    Smooth ECE (NaN unless `smooth`) uses the bandwidth relplot picks on the full sample.
    Blocks of resamples bound the memory.
    """
    y = check_labels(labels)
    n = y.shape[0]
    if indices.ndim != 2 or indices.shape[1] != n:
        raise ValueError(f"indices must have shape (B, {n}), got {indices.shape}")
    probas = {
        name: FixedProba(check_proba(r)) if isinstance(r, np.ndarray) else r
        for name, r in rows.items()
    }
    by_order: dict[bytes, tuple[np.ndarray, list[str]]] = {}
    for name, row in probas.items():
        order = row.order(y)
        by_order.setdefault(order.tobytes(), (order, []))[1].append(name)
    sigmas = {
        name: smooth_ece(y, r(np.ones((1, n)))[0])[1] if smooth else None
        for name, r in probas.items()
    }
    out = {name: np.empty((indices.shape[0], len(EXTENDED_KEYS))) for name in probas}
    todo = list(blocks(indices.shape[0], n))
    bar = tqdm(total=len(todo) * len(probas), desc="bootstrap", disable=not progress, leave=False)

    def run_block(part: slice) -> None:
        """Every row's metrics on one block of resamples (numpy releases the GIL inside)."""
        counts = resample_counts(indices[part], n)
        for order, names in by_order.values():
            shared = Shared.of(y, counts, order)
            for name in names:
                p = np.take(probas[name](counts), order, axis=1)
                out[name][part] = block_metrics(p, shared, n_bins, sigmas[name])
                bar.update()

    with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
        list(pool.map(run_block, todo))
    bar.close()
    return out


def percentile_interval(
    stats: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """The (lo, hi) percentile interval over axis 0, resamples with an undefined value skipped."""
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(stats, [alpha, 1 - alpha], axis=0)
    return lo, hi
