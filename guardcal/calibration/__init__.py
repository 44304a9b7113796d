"""Calibration on (N, 2) label logits [safe, unsafe]: the calibrators and the metrics.

Pure numpy/scipy/scikit-learn: nothing here needs a model, so the whole half of guardcal after the
scores files runs anywhere.
"""

import importlib
from typing import Any

_HOMES = {
    "PRIORS": "defaults",
    "BatchCalibration": "calibrators",
    "ContextualCalibration": "calibrators",
    "TemperatureScaling": "calibrators",
    "select_gamma": "calibrators",
    "GAMMA_GRID": "grid",
    "TEMPERATURE_GRID": "grid",
    "grid_values": "grid",
    "check_logits": "logits",
    "label_log_proba": "logits",
    "label_proba": "logits",
    "proba_unsafe": "logits",
}
"""Where each public name lives; it is imported on first use, so `guardcal.calibration.defaults`
(what a config needs) loads without scipy and scikit-learn."""

__all__ = [
    "GAMMA_GRID",
    "PRIORS",
    "TEMPERATURE_GRID",
    "BatchCalibration",
    "ContextualCalibration",
    "TemperatureScaling",
    "check_logits",
    "grid_values",
    "label_log_proba",
    "label_proba",
    "proba_unsafe",
    "select_gamma",
]


def __getattr__(name: str) -> Any:
    """A public name of the package, imported from its module on first access."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"guardcal.calibration.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
