"""One guard's fitted calibrators, as they travel from the fit to the tables, the intervals, the
calibrated-guard file and back out of it into `guardcal predict`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from guardcal.calibration.logits import check_logits, proba_unsafe
from guardcal.calibration.methods import REGISTRY, fitted_methods, method_names
from guardcal.calibration.protocol import Calibrator, FitInputs, ParamsError


@dataclass(frozen=True)
class FittedCalibrators:
    """One guard's fitted calibrators, by method name in the registry's order."""

    model: str
    calibrators: Mapping[str, Calibrator]

    def __getitem__(self, method: str) -> Calibrator:
        """The fitted calibrator of `method`."""
        if method not in self.calibrators:
            raise KeyError(f"{self.model}: no fitted calibrator {method!r}; have {self.methods}")
        return self.calibrators[method]

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method these calibrators apply: `uncalibrated` and each one fitted."""
        return tuple(
            name for name, m in REGISTRY.items() if m.calibrator is None or name in self.calibrators
        )

    def proba_unsafe(
        self, logits: ArrayLike, methods: Iterable[str] | None = None
    ) -> dict[str, np.ndarray]:
        """p(unsafe) of (N, 2) logits under each of `methods` (default every one this guard
        has). A batch-prior method estimates the prior on these very logits, unless it was loaded
        with the validation prior."""
        z = check_logits(logits)
        return {
            name: proba_unsafe(z)
            if REGISTRY[name].calibrator is None
            else self[name].predict_proba(z)[:, 1]
            for name in (self.methods if methods is None else methods)
        }

    def to_json(self) -> dict[str, dict[str, Any]]:
        """Every calibrator's fitted values by method (the calibrated-guard file's
        `calibrators`)."""
        return {name: calibrator.to_json() for name, calibrator in self.calibrators.items()}

    @classmethod
    def from_json(
        cls, model: str, params: Mapping[str, Any], prior: str = "batch"
    ) -> FittedCalibrators:
        """Every registered calibrator rebuilt from `to_json`'s output; batch-prior methods
        remove `prior` (`batch` or `validation`). A ParamsError names the method and the key."""
        calibrators: dict[str, Calibrator] = {}
        for m in fitted_methods():
            if m.name not in params:
                raise ParamsError(f"calibrators: missing key {m.name!r}")
            if not isinstance(params[m.name], Mapping):
                raise ParamsError(f"calibrators: key {m.name!r} has the wrong type")
            try:
                calibrator = m.calibrator_class().from_json(params[m.name])
            except ParamsError as exc:
                raise ParamsError(f"calibrators.{m.name}: {exc}") from None
            if m.batch_prior:
                calibrator.set_params(prior=prior)
            calibrators[m.name] = calibrator
        return cls(model, calibrators)


def fit_calibrators(
    model: str, inputs: FitInputs, methods: Iterable[str] | None = None
) -> FittedCalibrators:
    """Fit one guard's calibrators of `methods` (default every registered one) on `inputs`."""
    wanted = set(method_names() if methods is None else methods)
    return FittedCalibrators(
        model,
        {
            m.name: m.calibrator_class().fitted_on(inputs)
            for m in fitted_methods()
            if m.name in wanted
        },
    )
