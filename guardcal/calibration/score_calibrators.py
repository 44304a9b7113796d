"""Calibrators of one binary score (docs/design.md §4b): Platt scaling, isotonic regression and
histogram binning map the logit gap z_unsafe − z_safe, beta calibration maps p_unsafe. Each is a
scikit-learn estimator on (N, 2) label logits [safe, unsafe], fitted on validation. The report
shows them in their own section, never in the study's table."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from betacal import BetaCalibration as BetaCal
from numpy.typing import ArrayLike
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from guardcal.calibration.logits import check_logits, proba_unsafe
from guardcal.calibration.metrics import ECE_BINS, check_labels
from guardcal.calibration.protocol import FitInputs, ParamsError, bounded, floats, param, rising

BETA_EPS = np.finfo(np.float64).eps
"""betacal clips p to [ε, 1 − ε] before its logs."""


def logit_gap(logits: ArrayLike) -> np.ndarray:
    """z_unsafe − z_safe, (N,): the log-odds of p_unsafe, what a binary calibrator maps."""
    z = check_logits(logits)
    return z[:, 1] - z[:, 0]


def _two_columns(p_unsafe: np.ndarray) -> np.ndarray:
    """(N, 2) [p_safe, p_unsafe] from p_unsafe."""
    return np.stack([1.0 - p_unsafe, p_unsafe], axis=1)


def _fitted(estimator: BaseEstimator, attribute: str) -> None:
    """Raise NotFittedError naming the estimator when `attribute` is not set yet."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"{type(estimator).__name__} is not fitted: call fit first")


def platt_regression() -> LogisticRegression:
    """The unpenalised logistic regression that Platt scaling fits (tolerance near machine
    precision, so two fits of the same data agree to 1e-8)."""
    return LogisticRegression(C=np.inf, solver="lbfgs", tol=1e-12, max_iter=10_000)


class PlattScaling(BaseEstimator):
    """p̂ = σ(a·(z_unsafe − z_safe) + b): scikit-learn's unpenalised logistic regression on the
    logit gap (Platt 1999), i.e. temperature scaling (a = 1/T) plus a bias.

    For two classes vector scaling (softmax(w ⊙ z + c)) has one slope per logit, so it is the
    logistic regression on both logits; Platt ties the slopes (only the gap matters).

    Attributes:
        slope_: a.   intercept_: b.
    """

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> PlattScaling:
        """Fit a and b by maximum likelihood on the validation logit gaps."""
        gap = logit_gap(logits)
        y = check_labels(labels, n=gap.shape[0])
        regression = platt_regression().fit(gap[:, None], y)
        self.slope_ = float(regression.coef_[0, 0])
        self.intercept_ = float(regression.intercept_[0])
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities σ(a·gap + b), from the two fitted numbers alone."""
        _fitted(self, "intercept_")
        return _two_columns(expit(self.slope_ * logit_gap(logits) + self.intercept_))

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> PlattScaling:
        """a and b fitted on the validation split."""
        return cls().fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """a and b."""
        return {"slope": self.slope_, "intercept": self.intercept_}

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> PlattScaling:
        """Platt scaling with the written a and b."""
        platt = cls()
        platt.slope_, platt.intercept_ = (float(bounded(params, k)) for k in ("slope", "intercept"))
        return platt


class IsotonicCalibration(BaseEstimator):
    """p̂ = a non-decreasing step function of the logit gap: scikit-learn's IsotonicRegression
    (Zadrozny & Elkan 2002), clipped to [0, 1] and to the fitted range outside it.

    The gap, not p_unsafe, is the input: float64 p saturates at 0 and 1 for large gaps, which would
    tie examples the guard tells apart.

    Attributes:
        gap_thresholds_, proba_thresholds_: the fitted step function's knots (scikit-learn's
            X_thresholds_ and y_thresholds_); between knots it interpolates linearly, beyond
            them it holds the end values, as IsotonicRegression.predict does.
    """

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> IsotonicCalibration:
        """Pool adjacent violators over the validation examples sorted by gap."""
        gap = logit_gap(logits)
        y = check_labels(labels, n=gap.shape[0])
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        regression.fit(gap, y.astype(np.float64))
        self.gap_thresholds_ = regression.X_thresholds_
        self.proba_thresholds_ = regression.y_thresholds_
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities, from the knots alone."""
        _fitted(self, "proba_thresholds_")
        p = np.interp(logit_gap(logits), self.gap_thresholds_, self.proba_thresholds_)
        return _two_columns(np.clip(p, 0.0, 1.0))

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> IsotonicCalibration:
        """The step function fitted on the validation split."""
        return cls().fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """The knots."""
        return {
            "gap_thresholds": floats(self.gap_thresholds_),
            "proba_thresholds": floats(self.proba_thresholds_),
        }

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> IsotonicCalibration:
        """Isotonic calibration with the written knots: as many gaps as values, at least one, the
        gaps sorted and the probabilities non-decreasing in [0, 1]."""
        isotonic = cls()
        isotonic.gap_thresholds_ = rising(params, "gap_thresholds", strictly=False)
        isotonic.proba_thresholds_ = rising(params, "proba_thresholds", strictly=False)
        if not isotonic.proba_thresholds_.size or not (
            isotonic.proba_thresholds_[0] >= 0 and isotonic.proba_thresholds_[-1] <= 1
        ):
            raise ParamsError(
                f"key 'proba_thresholds' must hold probabilities in [0, 1], got "
                f"{params['proba_thresholds']!r}"
            )
        knots, values = isotonic.gap_thresholds_.size, isotonic.proba_thresholds_.size
        if knots == 0 or knots != values:
            raise ParamsError(
                "needs as many gap_thresholds as proba_thresholds (at least one), got "
                f"{knots} and {values}"
            )
        return isotonic


class HistogramBinning(BaseEstimator):
    """p̂ = the unsafe fraction of the validation examples in the same equal-mass bin of the logit
    gap (Zadrozny & Elkan 2001).

    Parameters:
        n_bins: number of bins; edges are the validation gaps' quantiles k/n_bins (inverted CDF,
            so each edge is a validation gap), ties merged, so every bin holds validation examples.

    Attributes:
        edges_: the inner bin edges (bin j holds gaps in (edges_[j−1], edges_[j]]).
        bin_proba_: the unsafe fraction per bin, len(edges_) + 1 values.
    """

    def __init__(self, n_bins: int = ECE_BINS) -> None:
        self.n_bins = n_bins

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> HistogramBinning:
        """Cut the validation gaps into equal-mass bins and record each bin's unsafe fraction."""
        if int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise ValueError(f"n_bins must be a positive integer, got {self.n_bins!r}")
        gap = logit_gap(logits)
        y = check_labels(labels, n=gap.shape[0])
        q = np.arange(1, int(self.n_bins)) / int(self.n_bins)
        edges = np.unique(np.quantile(gap, q, method="inverted_cdf"))
        self.edges_ = edges[edges < gap.max()]
        bins = np.searchsorted(self.edges_, gap, side="left")
        counts = np.bincount(bins, minlength=self.edges_.shape[0] + 1)
        self.bin_proba_ = np.bincount(bins, weights=y, minlength=counts.shape[0]) / counts
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities: each example gets its bin's unsafe fraction."""
        _fitted(self, "bin_proba_")
        bins = np.searchsorted(self.edges_, logit_gap(logits), side="left")
        return _two_columns(self.bin_proba_[bins])

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> HistogramBinning:
        """The run's number of bins, fitted on the validation split."""
        return cls(inputs.settings.histogram_bins).fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """The number of bins, the inner edges and each bin's unsafe fraction."""
        return {
            "n_bins": int(self.n_bins),
            "edges": floats(self.edges_),
            "bin_proba": floats(self.bin_proba_),
        }

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> HistogramBinning:
        """Histogram binning with the written bins: rising edges, one more bin_proba than edges
        (at most n_bins), each a probability."""
        histogram = cls(param(params, "n_bins", int))
        if histogram.n_bins < 1:
            raise ParamsError(f"key 'n_bins' must be a positive integer, got {histogram.n_bins!r}")
        histogram.edges_ = np.atleast_1d(rising(params, "edges", strictly=True))
        histogram.bin_proba_ = np.atleast_1d(bounded(params, "bin_proba", 0.0, 1.0))
        edges, bins = histogram.edges_.size, histogram.bin_proba_.size
        if bins != edges + 1 or bins > histogram.n_bins:
            raise ParamsError(
                f"needs one more bin_proba than edges and at most n_bins ({histogram.n_bins}) "
                f"bins, got {bins} and {edges}"
            )
        return histogram


class BetaCalibration(BaseEstimator):
    """p̂ = σ(a·ln p − b·ln(1 − p) + c) (a, b ≥ 0 in Kull et al. 2017, but see from_json), fitted
    by the `betacal` package's three-parameter model ("abm") on p_unsafe.

    betacal clips p to [ε, 1 − ε] (float64 ε) before its logs, so guards whose p saturates share the
    end values there. Its fit sets a global "ignore all warnings" filter; it runs inside
    `warnings.catch_warnings()` here so the caller's filters survive.

    Attributes:
        a_, b_, c_: the fitted parameters (c the logistic intercept); predictions need only these,
            with betacal's clipping.
    """

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> BetaCalibration:
        """Fit betacal's "abm" model on the validation p_unsafe."""
        p = proba_unsafe(logits)
        y = check_labels(labels, n=p.shape[0])
        with warnings.catch_warnings():
            inner = BetaCal(parameters="abm").fit(p, y).calibrator_
        self.a_, self.b_ = (float(v) for v in inner.map_[:2])
        self.c_ = float(inner.lr_.intercept_[0])
        return self

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities: betacal's predict, σ(a·ln p − b·ln(1 − p) + c) on p
        clipped to [ε, 1 − ε]."""
        _fitted(self, "c_")
        p = np.clip(proba_unsafe(logits), BETA_EPS, 1 - BETA_EPS)
        return _two_columns(expit(self.a_ * np.log(p) - self.b_ * np.log(1.0 - p) + self.c_))

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> BetaCalibration:
        """a, b and c fitted on the validation split."""
        return cls().fit(inputs.logits, inputs.labels)

    def to_json(self) -> dict[str, Any]:
        """a, b and c."""
        return {"a": self.a_, "b": self.b_, "c": self.c_}

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> BetaCalibration:
        """Beta calibration with the written a, b and c. Either of a and b may be negative:
        when one of betacal's first coefficients is, it refits on the other log alone, whose
        coefficient nothing keeps ≥ 0 (a guard whose p runs against its labels)."""
        beta = cls()
        beta.a_, beta.b_ = (float(bounded(params, k)) for k in ("a", "b"))
        beta.c_ = float(bounded(params, "c"))
        return beta
