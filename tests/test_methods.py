"""The method registry: a method registered once flows through fitting, calibration, the
calibrated-guard file and the command line; listing the methods loads no scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from guardcal import artifact
from guardcal.__main__ import main
from guardcal.calibration.fitted import FittedCalibrators, fit_calibrators
from guardcal.calibration.methods import REGISTRY, Method, method_names, register
from guardcal.calibration.protocol import FitInputs, finite
from guardcal.config import load_config
from guardcal.guard import CalibratedGuard


class BaseRate:
    """A toy calibrator: every example gets the validation split's unsafe share."""

    @classmethod
    def fitted_on(cls, inputs: FitInputs) -> BaseRate:
        toy = cls()
        toy.rate_ = float(np.mean(inputs.labels))
        return toy

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        p = np.full(len(logits), self.rate_)
        return np.stack([1 - p, p], axis=1)

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate_}

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> BaseRate:
        toy = cls()
        toy.rate_ = float(finite(params, "rate"))
        return toy


@pytest.fixture
def shift() -> Iterator[Method]:
    """The toy method, registered for one test only."""
    method = register(
        Method(
            "shift",
            "+Shift",
            "Shift",
            "#999999",
            study=False,
            calibrator=f"{__name__}:BaseRate",
        )
    )
    yield method
    del REGISTRY[method.name]


def inputs() -> FitInputs:
    """A miscalibrated guard's validation logits and labels, and one content-free input."""
    rng = np.random.default_rng(3)
    z = np.column_stack([rng.normal(0, 1, 400), rng.normal(1, 2, 400)])
    y = (rng.random(400) < expit(0.5 * (z[:, 1] - z[:, 0]) - 1)).astype(int)
    return FitInputs(z, y, np.zeros((1, 2)), load_config(None).calibration)


def test_a_registered_method_flows_from_the_fit_to_the_file_and_back(
    shift: Method, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert method_names()[-1] == "shift" and "shift" in method_names(study=False)
    data = inputs()
    fitted = fit_calibrators("toy guard", data)
    assert fitted.methods == method_names()
    p = fitted.proba_unsafe(data.logits)["shift"]
    assert np.array_equal(p, np.full(400, np.mean(data.labels)))  # what the toy fits
    cfg = load_config(None)
    fitted = FittedCalibrators(cfg.models[0].name, fitted.calibrators)
    path = artifact.write_artifact(
        tmp_path / "guard.json", artifact.build_artifact(cfg, fitted, None, {"validation": 400})
    )
    guard = CalibratedGuard(path, artifact.read_artifact(path))
    assert guard.methods == method_names()
    assert np.array_equal(guard.calibrate(data.logits, "shift"), p)
    for name in method_names():
        want = fitted.proba_unsafe(data.logits, [name])[name]
        assert np.array_equal(guard.calibrate(data.logits, name), want), name
    # the command line offers it
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "histogram, beta or shift" in " ".join(capsys.readouterr().out.split())


def test_a_file_without_a_registered_method_is_refused(shift: Method, tmp_path: Path) -> None:
    cfg = load_config(None)
    data = inputs()
    fitted = fit_calibrators(cfg.models[0].name, data, [m for m in method_names() if m != "shift"])
    with pytest.raises(ValueError, match=r"needs every method; \['shift'\]"):
        artifact.build_artifact(cfg, fitted, None, {})
    document = artifact.build_artifact(cfg, fit_calibrators(cfg.models[0].name, data), None, {})
    document["calibrators"]["shift"]["rate"] = "big"
    path = artifact.write_artifact(tmp_path / "bad.json", document)
    with pytest.raises(artifact.ArtifactError, match=r"calibrators\.shift: key 'rate' has"):
        artifact.read_artifact(path)


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="'ts' is already registered"):
        register(REGISTRY["ts"])
    assert method_names(study=True) == ("uncalibrated", "cc", "bc", "ts")
    assert [m.name for m in REGISTRY.values() if m.batch_prior] == ["bc"]


def test_listing_the_methods_loads_no_scikit_learn() -> None:
    """The command line names the methods in its help without the calibrators' libraries."""
    code = "import sys, guardcal.__main__; print(sorted({'sklearn', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
