"""What every calibrator of the method registry (`guardcal.calibration.methods`) implements: fit
itself on one guard's data with the run's settings, and write its fitted values to JSON and read
them back, checked, for the calibrated-guard file."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
from numpy.typing import ArrayLike


class CalibrationSettings(Protocol):
    """The run's calibration settings a calibrator may read (the config's `calibration` block)."""

    @property
    def ece_bins(self) -> int: ...
    @property
    def temperature_grid(self) -> tuple[float, float, float]: ...
    @property
    def gamma_grid(self) -> tuple[float, float, float]: ...
    @property
    def histogram_bins(self) -> int: ...


@dataclass(frozen=True)
class FitInputs:
    """What one guard's calibrators are fitted on: its validation logits (N, 2) [safe, unsafe]
    and labels, its content-free inputs' logits (K, 2), and the run's settings."""

    logits: np.ndarray
    labels: np.ndarray
    content_free: np.ndarray
    settings: CalibrationSettings


class Calibrator(Protocol):
    """A fitted calibrator: (N, 2) label logits → (N, 2) calibrated probabilities."""

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> Self:
        """A new calibrator with the run's settings, fitted on what it learns from."""
        ...

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Calibrated (N, 2) probabilities [safe, unsafe]."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The fitted values as JSON numbers and lists, enough to rebuild the calibrator."""
        ...

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> Self:
        """The calibrator rebuilt from `to_json`'s output; a ParamsError names a bad key."""
        ...


class ParamsError(ValueError):
    """A calibrator's JSON parameters that do not validate; the message names the key."""


def floats(values: ArrayLike) -> list[float]:
    """A float64 array as a JSON list (repr round-trips every double exactly)."""
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def param(params: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """`params[key]` when it has type `kind` (a bool is no number), else a ParamsError."""
    if key not in params:
        raise ParamsError(f"missing key {key!r}")
    value = params[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ParamsError(f"key {key!r} has the wrong type ({value!r})")
    return value


def finite(params: Mapping[str, Any], key: str) -> np.ndarray:
    """`params[key]`: a finite number or a list of finite numbers, as float64."""
    value = param(params, key, (int, float, list))
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items) or not all(
        math.isfinite(v) for v in items
    ):
        raise ParamsError(f"key {key!r} must hold finite numbers, got {value!r}")
    return np.asarray(value, dtype=np.float64)


def pair(params: Mapping[str, Any], key: str) -> np.ndarray:
    """`params[key]`: a list of two finite numbers [safe, unsafe], as float64."""
    values = param(params, key, list)
    if len(values) != 2 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ParamsError(f"key {key!r} must be a list of two finite numbers, got {values!r}")
    return np.asarray(values, dtype=np.float64)


PARAMETER_LIMIT = 1e4
"""The largest magnitude a fitted parameter may have. Fits never come near it (T and γ are grid
values, the study's grids end at 20 and ±10; slopes and knots scale logits of a few hundred at
most), while a value beyond it saturates every probability at 0 or 1 — a file that says so was
not written by a fit."""
DISTRIBUTION_TOLERANCE = 1e-9
"""How far a written distribution's sum (or its logs' log-sum-exp) may stray from 1 (from 0):
float64 rounding of a real fit stays orders of magnitude inside it."""


def bounded(
    params: Mapping[str, Any],
    key: str,
    low: float = -PARAMETER_LIMIT,
    high: float = PARAMETER_LIMIT,
) -> np.ndarray:
    """`params[key]` (a number or a list of them): finite and within [low, high], as float64."""
    values = finite(params, key)
    if values.size and not (values.min() >= low and values.max() <= high):
        raise ParamsError(f"key {key!r} must lie in [{low:g}, {high:g}], got {params[key]!r}")
    return values


def rising(params: Mapping[str, Any], key: str, strictly: bool) -> np.ndarray:
    """`params[key]`: a list of finite numbers in (strictly) increasing order, as float64."""
    values = np.atleast_1d(bounded(params, key))
    steps = np.diff(values)
    if (steps <= 0).any() if strictly else (steps < 0).any():
        order = "strictly increasing" if strictly else "sorted (non-decreasing)"
        raise ParamsError(f"key {key!r} must be {order}, got {params[key]!r}")
    return values


def distribution(params: Mapping[str, Any], key: str, log: bool = False) -> np.ndarray:
    """`params[key]`: [p(safe), p(unsafe)], probabilities summing to 1 (or their logs, each
    ≤ 0 with log-sum-exp 0, when `log`), as float64."""
    values = pair(params, key)
    proba = np.exp(values) if log else values
    if (log and (values > 0).any()) or not (proba.min() >= 0 and proba.max() <= 1):
        what = "log-probabilities (each ≤ 0)" if log else "probabilities in [0, 1]"
        raise ParamsError(f"key {key!r} must hold {what}, got {params[key]!r}")
    if abs(proba.sum() - 1) > DISTRIBUTION_TOLERANCE:
        raise ParamsError(
            f"key {key!r} must be a distribution over [safe, unsafe] (summing to 1"
            f"{' after exp' if log else ''}), got {params[key]!r}"
        )
    return values


def agree(params: Mapping[str, Any], proba_key: str, log_key: str) -> np.ndarray:
    """The log distribution at `log_key`, checked against its probabilities at `proba_key`."""
    log_proba = distribution(params, log_key, log=True)
    proba = distribution(params, proba_key)
    if not np.allclose(np.exp(log_proba), proba, rtol=1e-9, atol=DISTRIBUTION_TOLERANCE):
        raise ParamsError(
            f"keys {proba_key!r} and {log_key!r} disagree: {proba.tolist()} against exp "
            f"{np.exp(log_proba).tolist()}"
        )
    return log_proba
