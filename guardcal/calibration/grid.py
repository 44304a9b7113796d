"""The grid search behind temperature scaling and batch calibration, evaluated in one sweep.

What it computes, for every grid value v (a temperature T or a strength γ), is exactly the slow
formula one would write per value:

    u_i(v)  = calibrated logit gap z_unsafe − z_safe of example i   (gap / T, or gap − γ·prior_gap)
    p_i(v)  = σ(u_i(v))                                              calibrated p(unsafe)
    NLL(v)  = (1/N) Σ_i −log p̂(y_i) = (1/N) Σ_i softplus(∓u_i(v))    (− for unsafe, + for safe)
    bin m   = {i : p_i(v) ∈ (m/M, (m+1)/M]}, bin 0 also holding p = 0
    ECE(v)  = Σ_m |B_m|/N · |ȳ(B_m) − p̄(B_m)|,   MCE(v) = max_{m: |B_m|>0} |ȳ(B_m) − p̄(B_m)|
    ŷ_i(v)  = 1 iff p_i(v) ≥ 0.5;  correct, TP, FP, FN counted from ŷ against y

i.e. for v in grid: p = sigmoid(u(v)); nll = log_loss(y, p); ece, mce = binned(y, p); cm = … —
G full passes over N examples. Instead, p_i(v) rises with the uncalibrated gap for every v, so
after ONE sort of the examples by gap each bin and the verdict ŷ = 1 are contiguous runs: per grid
value a searchsorted finds their ends, the positives come from one cumulative count of the labels,
Σp per bin from one reduceat, and NLL is softplus of the signed gap. All float64; the benchmark
`benchmarks/bench_tuning.py` checks the result against the slow loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from guardcal.calibration.defaults import GAMMA_RANGE, TEMPERATURE_RANGE
from guardcal.calibration.metrics import THRESHOLD, bin_edges


def grid_values(start: float, stop: float, step: float) -> np.ndarray:
    """[start, stop] by `step` (a config's grid); for step = 1/n each value is the double nearest
    k/n, so (0.1, 20, 0.1) gives TEMPERATURE_GRID and (−10, 10, 0.1) GAMMA_GRID exactly."""
    per_unit = round(1 / step)
    if per_unit > 0 and abs(per_unit * step - 1) < 1e-9:
        return np.arange(round(start * per_unit), round(stop * per_unit) + 1) / per_unit
    return np.arange(round(start / step), round(stop / step) + 1) * step


TEMPERATURE_GRID = grid_values(*TEMPERATURE_RANGE)
"""T ∈ {0.1, 0.2, …, 20.0}: the study's 200 grid values, each the double nearest k/10."""

GAMMA_GRID = grid_values(*GAMMA_RANGE)
"""γ ∈ {−10.0, −9.9, …, 10.0}: 201 values, 0.0 included exactly."""


def check_grid(grid: ArrayLike | None, default: np.ndarray, name: str) -> np.ndarray:
    """A 1-D, finite, increasing grid (the study's `default` when None)."""
    if grid is None:
        return default
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.shape[0] == 0 or not np.all(np.isfinite(g)) or np.any(np.diff(g) <= 0):
        raise ValueError(f"{name} must be a non-empty, finite, increasing 1-D grid, got {grid!r}")
    return g


BLOCK_ELEMENTS = 1 << 17
"""Grid values × examples per block: (2, G, N) arrays of 4 MiB stay in cache (fastest measured)."""


def gap_nll(gap: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Mean NLL over the last axis from calibrated logit gaps u = z_unsafe − z_safe, where `sign`
    is −1 for unsafe and +1 for safe labels: −log σ(∓u) = softplus(±u) = max(±u, 0) + log1p(e^−|u|).
    """
    with np.errstate(under="ignore"):
        tail = np.log1p(np.exp(-np.abs(gap)))
    return np.mean(np.maximum(sign * gap, 0.0) + tail, axis=-1)


def grid_scores(
    gaps_at: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    grid: np.ndarray,
    gap: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
) -> pd.DataFrame:
    """Validation metrics for every grid value, from the calibrated logit gaps `gaps_at(values,
    sorted_gap, out)` written into `out` (a (B, N) block, each row non-decreasing along the gaps).

    p̂_unsafe = σ(u) rises with the gap for every grid value, so after ONE sort of the examples by
    gap each probability bin and the verdict ŷ = 1 are contiguous runs: per grid value, a
    searchsorted finds their ends, positives come from one cumulative count of the labels, Σp̂ per
    bin from one reduceat; NLL is softplus of the signed gap. All float64.
    """
    order = np.argsort(gap, kind="stable")
    d, y = gap[order], labels[order]
    n = y.shape[0]
    positives = np.concatenate([[0], np.cumsum(y)])  # positives[k]: unsafe among the first k
    unsafe = (y == 1).astype(np.float64)
    safe = 1.0 - unsafe
    inner = bin_edges(n_bins)[1:-1]  # bin m holds (m/M, (m+1)/M]; bin 0 also p = 0
    block = max(1, BLOCK_ELEMENTS // n)
    columns: dict[str, list[np.ndarray]] = {}
    # one set of buffers for every block: fresh arrays of this size cost page faults each time
    gaps, e, high = (np.empty((block, n)) for _ in range(3))
    p = np.zeros((block, n + 1))  # a trailing 0 per row lets reduceat take empty bins
    for start in range(0, grid.shape[0], block):
        rows = min(block, grid.shape[0] - start)
        u, e, high, p = gaps[:rows], e[:rows], high[:rows], p[:rows]
        gaps_at(grid[start : start + rows], d, u)
        with np.errstate(under="ignore"):
            np.exp(np.negative(np.abs(u, out=e), out=e), out=e)  # e^−|u| ∈ (0, 1]
            np.divide(1.0, np.add(e, 1.0, out=high), out=high)  # σ(|u|): p̂ where u ≥ 0
            np.multiply(e, high, out=p[:, :n])  # σ(−|u|): p̂ where u < 0
            tail = np.log1p(e, out=e).sum(axis=1)
        bounds = np.empty((rows, n_bins + 1), dtype=np.int64)
        bounds[:, 0], bounds[:, -1] = 0, n
        below = np.empty(rows, dtype=np.int64)  # examples with p̂ < 1/2 (predicted safe)
        hinge = np.empty(rows)
        for j in range(rows):
            k = int(np.searchsorted(u[j], 0.0))  # u < 0 before k, u ≥ 0 from k
            # −log p̂(label) = softplus(±u) = max(±u, 0) + log1p(e^−|u|): the max is u for the
            # safe examples from k on and −u for the unsafe ones before k
            hinge[j] = np.dot(u[j, k:], safe[k:]) - np.dot(u[j, :k], unsafe[:k])
            p[j, k:n] = high[j, k:]
            bounds[j, 1:-1] = np.searchsorted(p[j, :n], inner, side="right")
            below[j] = np.searchsorted(p[j, :n], THRESHOLD, side="left")
        nll = (hinge + tail) / n
        counts = np.diff(bounds, axis=1)
        flat = (bounds[:, :-1] + (n + 1) * np.arange(rows)[:, None]).ravel()
        sum_p = np.where(counts > 0, np.add.reduceat(p.ravel(), flat).reshape(rows, n_bins), 0.0)
        sum_y = np.diff(positives[bounds], axis=1)
        errors = np.abs(sum_y - sum_p)
        tp = positives[n] - positives[below]
        fp = (n - below) - tp
        fn = positives[below]
        parts = {
            "nll": nll,
            "ece": errors.sum(axis=1) / n,
            "mce": np.max(errors / np.maximum(counts, 1), axis=1),
            "correct": n - fp - fn,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
        for key, value in parts.items():
            columns.setdefault(key, []).append(value)
    return pd.DataFrame({key: np.concatenate(parts) for key, parts in columns.items()})


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den = 0 (sklearn's zero_division=0)."""
    return np.where(den > 0, num / np.maximum(den, 1), 0.0)
