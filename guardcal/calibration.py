"""Post-hoc calibrators of (N, 2) label logits [safe, unsafe]: TS, CC and BC (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp
from sklearn.exceptions import NotFittedError

from guardcal.metrics import THRESHOLD, bin_edges, check_labels

TEMPERATURE_GRID = np.arange(1, 201) / 10
"""T ∈ {0.1, 0.2, …, 20.0}: the study's 200 grid values, each the double nearest k/10."""

GAMMA_GRID = np.arange(-100, 101) / 10
"""γ ∈ {−10.0, −9.9, …, 10.0}: 201 values, 0.0 included exactly."""


def grid_values(start: float, stop: float, step: float) -> np.ndarray:
    """[start, stop] by `step` (a config's grid); for step = 1/n each value is the double nearest
    k/n, so (0.1, 20, 0.1) gives TEMPERATURE_GRID and (−10, 10, 0.1) GAMMA_GRID exactly."""
    per_unit = round(1 / step)
    if per_unit > 0 and abs(per_unit * step - 1) < 1e-9:
        return np.arange(round(start * per_unit), round(stop * per_unit) + 1) / per_unit
    return np.arange(round(start / step), round(stop / step) + 1) * step


def _check_grid(grid: ArrayLike | None, default: np.ndarray, name: str) -> np.ndarray:
    """A 1-D, finite, increasing grid (the study's `default` when None)."""
    if grid is None:
        return default
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.shape[0] == 0 or not np.all(np.isfinite(g)) or np.any(np.diff(g) <= 0):
        raise ValueError(f"{name} must be a non-empty, finite, increasing 1-D grid, got {grid!r}")
    return g


_BLOCK_ELEMENTS = 1 << 17
"""Grid values × examples per block: (2, G, N) arrays of 4 MiB stay in cache (fastest measured)."""


def check_logits(logits: ArrayLike) -> np.ndarray:
    """Return logits as a finite float64 (N, 2) array [safe, unsafe], or raise ValueError."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] == 0:
        raise ValueError(f"logits must have shape (N, 2) with N ≥ 1 [safe, unsafe], got {z.shape}")
    bad = ~np.isfinite(z)
    if bad.any():
        row, col = (int(k) for k in np.argwhere(bad)[0])
        field = ("logit_safe", "logit_unsafe")[col]
        raise ValueError(f"logits must be finite: row {row}, {field} is {z[row, col].item()!r}")
    return z


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-softmax over axis 0, the class axis of guardcal's internal (2, ..., N) layout.

    Class-first makes the max/sum over the two classes elementwise on contiguous halves, ≈2x
    faster than reducing a trailing axis of length 2, with bit-identical results.
    exp underflowing to 0 is the exact answer for huge gaps, so it is not an error.
    """
    with np.errstate(under="ignore"):
        return log_softmax(z, axis=0)


def _exp(log_p: np.ndarray) -> np.ndarray:
    """Probabilities from log-probabilities (underflow to 0 is expected, not an error)."""
    with np.errstate(under="ignore"):
        return np.exp(log_p)


def _log_mean(log_p: np.ndarray) -> np.ndarray:
    """log of the mean over examples of exp(log_p) for (2, N) input, (2, 1): no epsilon."""
    with np.errstate(under="ignore"):
        return logsumexp(log_p, axis=1, keepdims=True) - np.log(log_p.shape[1])


def _class_first_log_proba(logits: np.ndarray) -> np.ndarray:
    """(2, N) log softmax of validated (N, 2) logits."""
    return _log_softmax(logits.T)


def label_log_proba(logits: ArrayLike) -> np.ndarray:
    """log softmax over the two label logits, (N, 2): stable for any finite logits."""
    return _class_first_log_proba(check_logits(logits)).T


def label_proba(logits: ArrayLike) -> np.ndarray:
    """softmax over the two label logits, (N, 2) [p_safe, p_unsafe], computed in log space."""
    return _exp(label_log_proba(logits))


def proba_unsafe(logits: ArrayLike) -> np.ndarray:
    """p_unsafe = softmax([logit_safe, logit_unsafe])[1], (N,)."""
    return label_proba(logits)[:, 1]


def _gap_nll(gap: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Mean NLL over the last axis from calibrated logit gaps u = z_unsafe − z_safe, where `sign`
    is −1 for unsafe and +1 for safe labels: −log σ(∓u) = softplus(±u) = max(±u, 0) + log1p(e^−|u|).
    """
    with np.errstate(under="ignore"):
        tail = np.log1p(np.exp(-np.abs(gap)))
    return np.mean(np.maximum(sign * gap, 0.0) + tail, axis=-1)


def _grid_scores(
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
    block = max(1, _BLOCK_ELEMENTS // n)
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


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den = 0 (sklearn's zero_division=0)."""
    return np.where(den > 0, num / np.maximum(den, 1), 0.0)


class TemperatureScaling:
    """p̂ = softmax(z / T), T by min validation NLL on `grid` (default [0.1, 20]), refined (Guo)."""

    def __init__(self, n_bins: int = 15, grid: ArrayLike | None = None) -> None:
        self.n_bins = n_bins
        self.grid = _check_grid(grid, TEMPERATURE_GRID, "temperature grid")
        if self.grid[0] <= 0:
            raise ValueError(f"temperatures must be positive, got a grid from {self.grid[0]}")

    @staticmethod
    def _log_proba(logits: np.ndarray, temperature: np.ndarray | float) -> np.ndarray:
        """(2, ..., N) log softmax(z / T) for a T or a grid; z is shifted to [0, z_unsafe − z_safe]
        first (softmax is shift-invariant), so rows with equal logit gaps stay exactly equal."""
        t = np.asarray(temperature, dtype=np.float64)
        scaled_gap = (logits[:, 1] - logits[:, 0]) / t[..., None]
        return _log_softmax(np.stack([np.zeros_like(scaled_gap), scaled_gap]))

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> TemperatureScaling:
        """Grid-search T by validation NLL (history_ kept for the tuning figure), then refine it."""
        z = check_logits(logits)
        y = check_labels(labels, n=z.shape[0])
        gap = z[:, 1] - z[:, 0]
        scores = _grid_scores(
            lambda t, d, out: np.divide(d, t[:, None], out=out), self.grid, gap, y, self.n_bins
        )
        self.history_ = pd.DataFrame({"temperature": self.grid}).join(scores[["nll", "ece", "mce"]])
        best = int(np.argmin(self.history_["nll"].to_numpy()))
        self.grid_temperature_ = float(self.grid[best])
        # NLL is convex in 1/T, so the continuous minimum lies between the grid best's neighbours.
        sign = np.where(y == 1, -1.0, 1.0)
        lo = float(self.grid[max(best - 1, 0)])
        hi = float(self.grid[min(best + 1, self.grid.shape[0] - 1)])
        refined = minimize_scalar(
            lambda t: float(_gap_nll(gap / t, sign)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-6},
        )
        grid_nll = float(self.history_["nll"].iloc[best])
        improved = refined.success and float(refined.fun) <= grid_nll
        self.temperature_ = float(refined.x) if improved else self.grid_temperature_
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities softmax(z / temperature_)."""
        if not hasattr(self, "temperature_"):
            raise NotFittedError("TemperatureScaling is not fitted: call fit(logits, labels) first")
        return _exp(self._log_proba(check_logits(logits), self.temperature_)).T


class ContextualCalibration:
    """p̂ ∝ diag(p_cf)⁻¹ p with p_cf the mean probabilities of content-free inputs (Zhao 2021).

    p_cf is computed at construction (`content_free_proba_`), so the object is usable at once;
    `fit` exists only so that pipelines can call it like the other calibrators.
    """

    def __init__(self, content_free_logits: ArrayLike) -> None:
        self.content_free_logits = content_free_logits
        log_prior = _log_mean(_class_first_log_proba(check_logits(content_free_logits)))
        self.content_free_log_proba_ = log_prior[:, 0]
        self.content_free_proba_ = _exp(self.content_free_log_proba_)

    def fit(
        self, logits: ArrayLike | None = None, labels: ArrayLike | None = None
    ) -> ContextualCalibration:
        """Nothing to fit: p_cf comes from the content-free inputs given at construction."""
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities: log p̂ = log_softmax(log p − log p_cf)."""
        log_p = _class_first_log_proba(check_logits(logits))
        return _exp(_log_softmax(log_p - self.content_free_log_proba_[:, None])).T


class BatchCalibration:
    """log p̂ = log p − γ log p(y|C), p(y|C) the batch's mean probability, renormalised (Zhou 2024).

    With `gamma=None`, `fit` picks γ on `grid` (default [−10, 10], step 0.1) by validation
    accuracy, ties to the lower NLL, then the smaller |γ|, then the smaller γ; a given `gamma` is
    used as is.
    """

    def __init__(
        self, gamma: float | None = None, n_bins: int = 15, grid: ArrayLike | None = None
    ) -> None:
        self.gamma = gamma
        self.n_bins = n_bins
        self.grid = _check_grid(grid, GAMMA_GRID, "gamma grid")
        if gamma is not None:
            if not np.isfinite(gamma):
                raise ValueError(f"gamma must be finite, got {gamma!r}")
            self.gamma_ = float(gamma)

    @staticmethod
    def batch_log_prior(logits: ArrayLike) -> np.ndarray:
        """log p(y|C) = log of the mean over the rows of softmax(z), (2,), with no epsilon."""
        return _log_mean(_class_first_log_proba(check_logits(logits)))[:, 0]

    @staticmethod
    def _log_proba(
        log_p: np.ndarray, log_prior: np.ndarray, gamma: np.ndarray | float
    ) -> np.ndarray:
        """(2, ..., N) log_softmax(log p − γ log p(y|C)) for a γ or a grid, from (2, N) log p."""
        g = np.asarray(gamma, dtype=np.float64)
        shift = g[..., None] * log_prior.reshape(2, *([1] * (g.ndim + 1)))
        return _log_softmax(log_p.reshape(2, *([1] * g.ndim), -1) - shift)

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> BatchCalibration:
        """Choose γ on the validation split (unless fixed); history_ holds every γ's metrics."""
        z = check_logits(logits)
        y = check_labels(labels, n=z.shape[0])
        log_p = _class_first_log_proba(z)
        log_prior = _log_mean(log_p)[:, 0]
        # two classes: log p̂_unsafe − log p̂_safe = (log p_unsafe − log p_safe) − γ·prior_gap
        prior_gap = log_prior[1] - log_prior[0]
        scores = _grid_scores(
            lambda g, d, out: np.subtract(d, g[:, None] * prior_gap, out=out),
            self.grid,
            log_p[1] - log_p[0],
            y,
            self.n_bins,
        )
        tp, fp, fn = (scores[k].to_numpy() for k in ("tp", "fp", "fn"))
        self.history_ = pd.DataFrame(
            {
                "gamma": self.grid,
                "nll": scores["nll"],
                "ece": scores["ece"],
                "mce": scores["mce"],
                "accuracy": scores["correct"] / y.shape[0],
                "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn),
            }
        )
        if self.gamma is None:
            best = select_gamma(scores["correct"].to_numpy(), scores["nll"].to_numpy(), self.grid)
            self.gamma_ = float(self.grid[best])
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities, p(y|C) estimated on these very rows (the batch)."""
        if not hasattr(self, "gamma_"):
            raise NotFittedError(
                "BatchCalibration has no gamma: call fit(logits, labels) or pass gamma"
            )
        log_p = _class_first_log_proba(check_logits(logits))
        return _exp(self._log_proba(log_p, _log_mean(log_p)[:, 0], self.gamma_)).T


def select_gamma(correct: ArrayLike, nll: ArrayLike, gammas: ArrayLike) -> int:
    """Index of the best γ: most correct, then lower NLL (exact), smaller |γ|, smaller γ."""
    correct, nll, gammas = (np.asarray(a) for a in (correct, nll, gammas))
    order = np.lexsort((gammas, np.abs(gammas), nll, -correct))
    return int(order[0])
