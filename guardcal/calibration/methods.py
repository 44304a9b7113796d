"""Every calibration method, once: its name, how tables, figures and sentences show it, its
calibrator, and whether it is one of the study's four. Tables, figures, the intervals, the
calibrated-guard file and `guardcal predict` all read this registry, so a new method is one
`register` call naming a class that keeps `guardcal.calibration.protocol.Calibrator`.

This module imports nothing heavy: the command line lists the methods without scikit-learn.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardcal.calibration.protocol import Calibrator


@dataclass(frozen=True)
class Method:
    """One calibration method.

    Attributes:
        name: its key in every table, the calibrated-guard file and `--method`.
        label: its row label in tables and its title in figures (`+TS`).
        short: its name in running text (`TS`).
        color: its colour in every figure (Okabe–Ito, distinguishable with colour-blindness).
        study: one of the study's four (its table, figures and decisions); the others appear in
            their own report section only.
        calibrator: `module:Class` of its calibrator, a `protocol.Calibrator`; None for the
            guard's own p(unsafe). Named rather than imported, so that listing the methods
            loads no scikit-learn.
        batch_prior: its p̂ removes the prior p(y|C) of the batch being calibrated, so it moves
            with every bootstrap resample, and a loaded one can remove the validation prior
            instead; its calibrator has `gamma_` and a `prior` parameter.
    """

    name: str
    label: str
    short: str
    color: str
    study: bool
    calibrator: str | None = None
    batch_prior: bool = False

    def calibrator_class(self) -> type[Calibrator]:
        """The calibrator's class, imported on first use."""
        if self.calibrator is None:
            raise ValueError(f"method {self.name!r} has no calibrator")
        return pkgutil.resolve_name(self.calibrator)


REGISTRY: dict[str, Method] = {}
"""Every method by name, in the order of every table: the study's four, then the others."""


def register(method: Method) -> Method:
    """Add a method to the registry, after those already there; a name is registered once."""
    if method.name in REGISTRY:
        raise ValueError(f"calibration method {method.name!r} is already registered")
    REGISTRY[method.name] = method
    return method


STUDY = "guardcal.calibration.calibrators"
SCORE = "guardcal.calibration.score_calibrators"
for _method in (
    Method("uncalibrated", "Uncalibrated", "uncalibrated", "#6E6E6E", study=True),
    Method("cc", "+CC", "CC", "#E69F00", study=True, calibrator=f"{STUDY}:ContextualCalibration"),
    Method(
        "bc",
        "+BC",
        "BC",
        "#009E73",
        study=True,
        calibrator=f"{STUDY}:BatchCalibration",
        batch_prior=True,
    ),
    Method("ts", "+TS", "TS", "#0072B2", study=True, calibrator=f"{STUDY}:TemperatureScaling"),
    Method("platt", "+Platt", "Platt", "#56B4E9", study=False, calibrator=f"{SCORE}:PlattScaling"),
    Method(
        "isotonic",
        "+Isotonic",
        "Isotonic",
        "#CC79A7",
        study=False,
        calibrator=f"{SCORE}:IsotonicCalibration",
    ),
    Method(
        "histogram",
        "+Hist. binning",
        "Hist. binning",
        "#D55E00",
        study=False,
        calibrator=f"{SCORE}:HistogramBinning",
    ),
    Method("beta", "+Beta", "Beta", "#000000", study=False, calibrator=f"{SCORE}:BetaCalibration"),
):
    register(_method)


def method_names(study: bool | None = None) -> tuple[str, ...]:
    """The registered methods' names in table order: all, or only those (not) of the study."""
    return tuple(m.name for m in REGISTRY.values() if study is None or m.study == study)


def fitted_methods() -> tuple[Method, ...]:
    """The methods that have a calibrator to fit (all but `uncalibrated`), in table order."""
    return tuple(m for m in REGISTRY.values() if m.calibrator is not None)
