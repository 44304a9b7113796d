"""Calibration on (N, 2) label logits [safe, unsafe]: the calibrators and the metrics.

Pure numpy/scipy/scikit-learn: nothing here needs a model, so the whole half of guardcal after the
scores files runs anywhere.
"""

from guardcal.calibration.calibrators import (
    BatchCalibration,
    ContextualCalibration,
    TemperatureScaling,
    select_gamma,
)
from guardcal.calibration.grid import GAMMA_GRID, TEMPERATURE_GRID, grid_values
from guardcal.calibration.logits import check_logits, label_log_proba, label_proba, proba_unsafe

__all__ = [
    "GAMMA_GRID",
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
