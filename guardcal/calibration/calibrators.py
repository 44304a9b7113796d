"""Post-hoc calibrators of (N, 2) label logits [safe, unsafe]: TS, CC and BC (docs/design.md §3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from guardcal.calibration.defaults import PRIORS
from guardcal.calibration.grid import (
    GAMMA_GRID,
    TEMPERATURE_GRID,
    check_grid,
    gap_nll,
    grid_scores,
    grid_values,
    safe_ratio,
)
from guardcal.calibration.logits import (
    check_logits,
    class_first_log_proba,
    class_log_softmax,
    log_mean_proba,
    quiet_exp,
)
from guardcal.calibration.metrics import ECE_BINS, check_labels
from guardcal.calibration.protocol import PARAMETER_LIMIT, FitInputs, agree, bounded, floats


def _check_fitted(estimator: BaseEstimator, attribute: str, how: str) -> None:
    """Raise NotFittedError naming the estimator when `attribute` is not set yet."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"{type(estimator).__name__} is not fitted: call {how} first")


class TemperatureScaling(BaseEstimator):
    """p̂ = softmax(z / T), T by minimum validation NLL on a grid, then refined (Guo et al. 2017).

    Parameters:
        n_bins: equal-width bins of the ECE/MCE recorded in `history_`.
        grid: the temperatures searched, positive and increasing (default the study's 0.1…20).

    Attributes:
        temperature_: the fitted T: the grid's best, refined continuously between its neighbours
            (kept only when its NLL is no higher).
        grid_temperature_: the grid's best T before refinement.
        history_: one row per grid temperature, columns `temperature` (T), `nll` (validation
            mean negative log-likelihood of softmax(z / T)), `ece` and `mce` (binned calibration
            errors of p(unsafe) with `n_bins` bins).
    """

    def __init__(self, n_bins: int = ECE_BINS, grid: ArrayLike | None = None) -> None:
        self.n_bins = n_bins
        self.grid = grid

    @staticmethod
    def _log_proba(logits: np.ndarray, temperature: np.ndarray | float) -> np.ndarray:
        """(2, ..., N) log softmax(z / T) for a T or a grid; z is shifted to [0, z_unsafe − z_safe]
        first (softmax is shift-invariant), so rows with equal logit gaps stay exactly equal."""
        t = np.asarray(temperature, dtype=np.float64)
        scaled_gap = (logits[:, 1] - logits[:, 0]) / t[..., None]
        return class_log_softmax(np.stack([np.zeros_like(scaled_gap), scaled_gap]))

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> TemperatureScaling:
        """Grid-search T by validation NLL (history_ kept for the tuning figure), then refine it."""
        grid = check_grid(self.grid, TEMPERATURE_GRID, "temperature grid")
        if grid[0] <= 0:
            raise ValueError(f"temperatures must be positive, got a grid from {grid[0]}")
        z = check_logits(logits)
        y = check_labels(labels, n=z.shape[0])
        gap = z[:, 1] - z[:, 0]
        scores = grid_scores(
            lambda t, d, out: np.divide(d, t[:, None], out=out), grid, gap, y, self.n_bins
        )
        self.history_ = pd.DataFrame({"temperature": grid}).join(scores[["nll", "ece", "mce"]])
        best = int(np.argmin(self.history_["nll"].to_numpy()))
        self.grid_temperature_ = float(grid[best])
        # NLL is convex in 1/T, so the continuous minimum lies between the grid best's neighbours.
        sign = np.where(y == 1, -1.0, 1.0)
        lo = float(grid[max(best - 1, 0)])
        hi = float(grid[min(best + 1, grid.shape[0] - 1)])
        refined = minimize_scalar(
            lambda t: float(gap_nll(gap / t, sign)),
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
        _check_fitted(self, "temperature_", "fit(logits, labels)")
        return quiet_exp(self._log_proba(check_logits(logits), self.temperature_)).T

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> TemperatureScaling:
        """T fitted on the validation split over the run's temperature grid."""
        settings = inputs.settings
        grid = grid_values(*settings.temperature_grid)
        return cls(settings.ece_bins, grid).fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """T, and the grid's best T before refinement."""
        return {
            "temperature": float(self.temperature_),
            "grid_temperature": float(self.grid_temperature_),
        }

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> TemperatureScaling:
        """TS with the written T, which must be positive (and no further from 1 than a fit goes)."""
        t = float(bounded(params, "temperature", 1 / PARAMETER_LIMIT, PARAMETER_LIMIT))
        ts = cls()
        ts.temperature_ = t
        return ts


class ContextualCalibration(BaseEstimator):
    """p̂ ∝ diag(p_cf)⁻¹ p, p_cf the mean probabilities of content-free inputs (Zhao et al. 2021).

    Nothing is tuned: `fit` takes the content-free inputs' (K, 2) logits (labels are ignored;
    content-free inputs have none).

    Attributes:
        content_free_log_proba_: log p_cf, (2,) [safe, unsafe]: the log of the mean softmax of
            the content-free logits (no epsilon).
        content_free_proba_: p_cf itself, (2,).
    """

    def fit(
        self, content_free_logits: ArrayLike, labels: ArrayLike | None = None
    ) -> ContextualCalibration:
        """Measure the guard's bias p_cf on the content-free inputs' logits."""
        log_prior = log_mean_proba(class_first_log_proba(check_logits(content_free_logits)))
        self.content_free_log_proba_ = log_prior[:, 0]
        self.content_free_proba_ = quiet_exp(self.content_free_log_proba_)
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities: log p̂ = log_softmax(log p − log p_cf)."""
        _check_fitted(self, "content_free_log_proba_", "fit(content_free_logits)")
        log_p = class_first_log_proba(check_logits(logits))
        return quiet_exp(class_log_softmax(log_p - self.content_free_log_proba_[:, None])).T

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> ContextualCalibration:
        """p_cf measured on the guard's content-free inputs."""
        return cls().fit(inputs.content_free)

    def to_json(self) -> dict[str, Any]:
        """p_cf and its log."""
        return {
            "content_free_proba": floats(self.content_free_proba_),
            "content_free_log_proba": floats(self.content_free_log_proba_),
        }

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> ContextualCalibration:
        """CC with the written log p_cf: a distribution, agreeing with the written p_cf."""
        cc = cls()
        cc.content_free_log_proba_ = agree(params, "content_free_proba", "content_free_log_proba")
        cc.content_free_proba_ = np.exp(cc.content_free_log_proba_)
        return cc


class BatchCalibration(BaseEstimator):
    """log p̂ = log p − γ log p(y|C), p(y|C) the batch's mean probability, renormalised (Zhou 2024).

    Parameters:
        gamma: a fixed γ, or None to choose it in `fit` on `grid` by validation accuracy, ties to
            the lower NLL, then the smaller |γ|, then the smaller γ.
        n_bins: equal-width bins of the ECE/MCE recorded in `history_`.
        grid: the γ values searched, increasing (default the study's −10…10 by 0.1).
        prior: which p(y|C) `predict_proba` removes: `batch` (the study's: estimated on the rows
            being calibrated) or `validation` (the validation split's, `prior_log_proba_`: for
            batches too small or too skewed to estimate their own).

    Attributes:
        gamma_: the γ used by `predict_proba` (the chosen one, or `gamma` when given).
        prior_log_proba_: log p(y|C) of the validation split γ was tuned with, (2,).
        history_: one row per grid γ on the validation split, columns `gamma`, `nll` (mean
            negative log-likelihood), `ece`, `mce` (binned, `n_bins` bins), `accuracy`, `f1`,
            `precision`, `recall` (of ŷ = 1 iff p̂_unsafe ≥ 0.5; 0 where undefined), each with the
            validation split's own prior p(y|C).
    """

    def __init__(
        self,
        gamma: float | None = None,
        n_bins: int = ECE_BINS,
        grid: ArrayLike | None = None,
        prior: str = "batch",
    ) -> None:
        self.gamma = gamma
        self.n_bins = n_bins
        self.grid = grid
        self.prior = prior

    @staticmethod
    def batch_log_prior(logits: ArrayLike) -> np.ndarray:
        """log p(y|C) = log of the mean over the rows of softmax(z), (2,), with no epsilon."""
        return log_mean_proba(class_first_log_proba(check_logits(logits)))[:, 0]

    @staticmethod
    def _log_proba(
        log_p: np.ndarray, log_prior: np.ndarray, gamma: np.ndarray | float
    ) -> np.ndarray:
        """(2, ..., N) log_softmax(log p − γ log p(y|C)) for a γ or a grid, from (2, N) log p."""
        g = np.asarray(gamma, dtype=np.float64)
        shift = g[..., None] * log_prior.reshape(2, *([1] * (g.ndim + 1)))
        return class_log_softmax(log_p.reshape(2, *([1] * g.ndim), -1) - shift)

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> BatchCalibration:
        """Choose γ on the validation split (unless fixed); history_ holds every γ's metrics."""
        if self.gamma is not None and not np.isfinite(self.gamma):
            raise ValueError(f"gamma must be finite, got {self.gamma!r}")
        grid = check_grid(self.grid, GAMMA_GRID, "gamma grid")
        z = check_logits(logits)
        y = check_labels(labels, n=z.shape[0])
        log_p = class_first_log_proba(z)
        log_prior = log_mean_proba(log_p)[:, 0]
        self.prior_log_proba_ = log_prior
        # two classes: log p̂_unsafe − log p̂_safe = (log p_unsafe − log p_safe) − γ·prior_gap
        prior_gap = log_prior[1] - log_prior[0]
        scores = grid_scores(
            lambda g, d, out: np.subtract(d, g[:, None] * prior_gap, out=out),
            grid,
            log_p[1] - log_p[0],
            y,
            self.n_bins,
        )
        tp, fp, fn = (scores[k].to_numpy() for k in ("tp", "fp", "fn"))
        self.history_ = pd.DataFrame(
            {
                "gamma": grid,
                "nll": scores["nll"],
                "ece": scores["ece"],
                "mce": scores["mce"],
                "accuracy": scores["correct"] / y.shape[0],
                "f1": safe_ratio(2 * tp, 2 * tp + fp + fn),
                "precision": safe_ratio(tp, tp + fp),
                "recall": safe_ratio(tp, tp + fn),
            }
        )
        if self.gamma is None:
            best = select_gamma(scores["correct"].to_numpy(), scores["nll"].to_numpy(), grid)
            self.gamma_ = float(grid[best])
        else:
            self.gamma_ = float(self.gamma)
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities, p(y|C) estimated on these very rows (the batch), or
        the validation split's with `prior="validation"`.

        With a fixed `gamma` the batch prior needs no fit: nothing else is learnt from validation.
        """
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        gamma = getattr(self, "gamma_", self.gamma)
        if gamma is None:
            _check_fitted(self, "gamma_", "fit(logits, labels) or pass gamma")
        if not np.isfinite(gamma):
            raise ValueError(f"gamma must be finite, got {gamma!r}")
        log_p = class_first_log_proba(check_logits(logits))
        if self.prior == "validation":
            _check_fitted(self, "prior_log_proba_", "fit(logits, labels)")
            log_prior = np.asarray(self.prior_log_proba_, dtype=np.float64)
        else:
            log_prior = log_mean_proba(log_p)[:, 0]
        return quiet_exp(self._log_proba(log_p, log_prior, gamma)).T

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> BatchCalibration:
        """γ chosen on the validation split over the run's γ grid."""
        settings = inputs.settings
        grid = grid_values(*settings.gamma_grid)
        return cls(None, settings.ece_bins, grid).fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """γ and the validation prior p(y|C) it was tuned with (and its log)."""
        return {
            "gamma": float(self.gamma_),
            "prior_proba": floats(np.exp(self.prior_log_proba_)),
            "prior_log_proba": floats(self.prior_log_proba_),
        }

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> BatchCalibration:
        """BC with the written γ (finite, bounded) and validation prior (a distribution, its
        probabilities and logs agreeing)."""
        gamma = float(bounded(params, "gamma"))
        bc = cls(gamma=gamma)
        bc.gamma_ = gamma
        bc.prior_log_proba_ = agree(params, "prior_proba", "prior_log_proba")
        return bc


def select_gamma(correct: ArrayLike, nll: ArrayLike, gammas: ArrayLike) -> int:
    """Index of the best γ: most correct, then lower NLL (exact), smaller |γ|, smaller γ."""
    correct, nll, gammas = (np.asarray(a) for a in (correct, nll, gammas))
    order = np.lexsort((gammas, np.abs(gammas), nll, -correct))
    return int(order[0])
