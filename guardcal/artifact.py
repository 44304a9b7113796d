"""The calibrated guard as a file: `reports/<run>/calibrators/<model>.json`.

It holds every fitted parameter (T; γ with the validation prior p(y|C) it was tuned with; the
content-free probabilities; Platt's slope and intercept, the isotonic knots, the histogram bins and
beta calibration's a, b, c), what identifies the guard (model, revision, format, taxonomy,
template hash, verbalizer — the fingerprint of the scores it was fitted on), how the guard was
run (prompt, scoring and record-column settings) and a format version. JSON only: reading it runs
no code, and floats are written with Python's round-tripping repr, so a loaded calibrator gives
the very probabilities the run computed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from guardcal.atomic import write_text
from guardcal.calibration import BatchCalibration, ContextualCalibration, TemperatureScaling
from guardcal.calibration.more_calibrators import (
    BetaCalibration,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
)
from guardcal.config import (
    Columns,
    Config,
    DatasetConfig,
    InputError,
    LabelValues,
    ModelConfig,
    PromptConfig,
    ScoringConfig,
    Source,
)
from guardcal.layout import RunLayout

KIND = "guardcal.calibrated_guard"
FORMAT_VERSION = 1
"""Bumped whenever a key changes meaning; a reader refuses other versions rather than guess."""
IDENTITY_KEYS = (
    "model",
    "revision",
    "format",
    "taxonomy",
    "template_hash",
    "max_response_words",
    "verbalizer",
    "label_score",
)
"""The scores fingerprint's keys that identify the guard itself (not the data it read)."""


class ArtifactError(InputError):
    """A calibrated-guard file that is missing or does not validate; names the file and key."""


def _floats(values: np.ndarray) -> list[float]:
    """A float64 array as a JSON list (repr round-trips every double exactly)."""
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def calibrator_params(
    temperature: TemperatureScaling,
    contextual: ContextualCalibration,
    batch: BatchCalibration,
    extra: Mapping[str, BaseEstimator],
) -> dict[str, dict[str, Any]]:
    """Every fitted value of a guard's calibrators, keyed by method: the study's (`ts`, `cc`,
    `bc`) and those beyond it (`extra`, from `fit_more_calibrators`)."""
    platt, isotonic = extra["platt"], extra["isotonic"]
    histogram, beta = extra["histogram"], extra["beta"]
    return {
        "platt": {"slope": platt.slope_, "intercept": platt.intercept_},
        "isotonic": {
            "gap_thresholds": _floats(isotonic.gap_thresholds_),
            "proba_thresholds": _floats(isotonic.proba_thresholds_),
        },
        "histogram": {
            "n_bins": int(histogram.n_bins),
            "edges": _floats(histogram.edges_),
            "bin_proba": _floats(histogram.bin_proba_),
        },
        "beta": {"a": beta.a_, "b": beta.b_, "c": beta.c_},
        "ts": {
            "temperature": float(temperature.temperature_),
            "grid_temperature": float(temperature.grid_temperature_),
        },
        "cc": {
            "content_free_proba": _floats(contextual.content_free_proba_),
            "content_free_log_proba": _floats(contextual.content_free_log_proba_),
        },
        "bc": {
            "gamma": float(batch.gamma_),
            "prior_proba": _floats(np.exp(batch.prior_log_proba_)),
            "prior_log_proba": _floats(batch.prior_log_proba_),
        },
    }


def build_artifact(
    cfg: Config,
    model: str,
    params: Mapping[str, Mapping[str, Any]],
    scores_meta: Mapping[str, Any] | None,
    fitted_on: Mapping[str, int],
) -> dict[str, Any]:
    """The JSON document of one calibrated guard. `scores_meta` is the validation scores file's
    fingerprint (None, or one without the guard's identity, for scores written by other means:
    then the guard cannot be re-identified and `predict` refuses it); `fitted_on` counts the
    examples of each split the fit read."""
    known = scores_meta is not None and all(k in scores_meta for k in IDENTITY_KEYS)
    guard = {k: scores_meta[k] for k in IDENTITY_KEYS} if known else None
    return {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "guardcal_version": None if scores_meta is None else scores_meta.get("guardcal_version"),
        "run": cfg.name,
        "model": dataclasses.asdict(cfg.model(model)),
        "guard": guard,
        "prompt": dataclasses.asdict(cfg.prompt),
        "scoring": dataclasses.asdict(cfg.scoring),
        "records": {
            "columns": dataclasses.asdict(cfg.dataset.columns),
            "label_values": {
                "safe": list(cfg.dataset.label_values.safe),
                "unsafe": list(cfg.dataset.label_values.unsafe),
            },
        },
        "content_free": list(cfg.content_free),
        "fitted_on": dict(fitted_on),
        "threshold": 0.5,
        "calibrators": {k: dict(v) for k, v in params.items()},
    }


def write_artifact(path: Path, artifact: Mapping[str, Any]) -> Path:
    """Write the document atomically, keys sorted, so the same fit gives the same bytes."""
    text = json.dumps(artifact, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return write_text(path, text + "\n")


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """`data[key]` when it has type `kind`, else an ArtifactError naming `where.key`."""
    if key not in data:
        raise ArtifactError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ArtifactError(f"{where}: key {key!r} has the wrong type ({value!r})")
    return value


def _probabilities(values: Any, where: str) -> np.ndarray:
    """A finite [safe, unsafe] pair, as float64."""
    if (
        not isinstance(values, list)
        or len(values) != 2
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in values)
    ):
        raise ArtifactError(f"{where}: must be a list of two finite numbers, got {values!r}")
    return np.asarray(values, dtype=np.float64)


def read_artifact(path: str | Path) -> dict[str, Any]:
    """The validated document at `path`; any problem is an ArtifactError naming file and key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such calibrated-guard file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not a JSON document: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ArtifactError(f"{path}: not a guardcal calibrated guard (key 'kind' is not {KIND!r})")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: key 'format_version' is {version!r}; this guardcal reads version "
            f"{FORMAT_VERSION} (refit the run with this guardcal)"
        )
    where = str(path)
    for key in ("model", "prompt", "scoring", "records", "calibrators"):
        _need(data, key, dict, where)
    _need(data["model"], "name", str, f"{where}: model")
    cal = data["calibrators"]
    for method in ("ts", "cc", "bc"):
        _need(cal, method, dict, f"{where}: calibrators")
    t = _need(cal["ts"], "temperature", (int, float), f"{where}: calibrators.ts")
    if not (math.isfinite(t) and t > 0):
        raise ArtifactError(f"{where}: calibrators.ts.temperature must be positive, got {t!r}")
    g = _need(cal["bc"], "gamma", (int, float), f"{where}: calibrators.bc")
    if not math.isfinite(g):
        raise ArtifactError(f"{where}: calibrators.bc.gamma must be finite, got {g!r}")
    for method, key in (("cc", "content_free_log_proba"), ("bc", "prior_log_proba")):
        _need(cal[method], key, list, f"{where}: calibrators.{method}")
        _probabilities(cal[method][key], f"{where}: calibrators.{method}.{key}")
    for method, keys in EXTRA_KEYS.items():
        _need(cal, method, dict, f"{where}: calibrators")
        for key in keys:
            _numbers(cal[method], key, f"{where}: calibrators.{method}")
    _check_steps(cal, where)
    return data


EXTRA_KEYS = {
    "platt": ("slope", "intercept"),
    "isotonic": ("gap_thresholds", "proba_thresholds"),
    "histogram": ("n_bins", "edges", "bin_proba"),
    "beta": ("a", "b", "c"),
}
"""The fitted values of each calibrator beyond the study, as `calibrator_params` writes them."""


def _numbers(data: Mapping[str, Any], key: str, where: str) -> np.ndarray:
    """`data[key]`: a finite number or list of finite numbers, as float64."""
    value = _need(data, key, (int, float, list), where)
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items) or not all(
        math.isfinite(v) for v in items
    ):
        raise ArtifactError(f"{where}: key {key!r} must hold finite numbers, got {value!r}")
    return np.asarray(value, dtype=np.float64)


def _check_steps(cal: Mapping[str, Any], where: str) -> None:
    """The step calibrators' arrays agree: as many knots as values, one more bin than edges."""
    knots, values = (len(cal["isotonic"][k]) for k in ("gap_thresholds", "proba_thresholds"))
    if knots == 0 or knots != values:
        raise ArtifactError(
            f"{where}: calibrators.isotonic needs as many gap_thresholds as proba_thresholds "
            f"(at least one), got {knots} and {values}"
        )
    edges, bins = len(cal["histogram"]["edges"]), len(cal["histogram"]["bin_proba"])
    if bins != edges + 1:
        raise ArtifactError(
            f"{where}: calibrators.histogram needs one more bin_proba than edges, got "
            f"{bins} and {edges}"
        )


def calibrators(artifact: Mapping[str, Any], prior: str = "batch") -> dict[str, Any]:
    """The fitted estimators of a validated document, keyed by method; BC removes the `prior`
    p(y|C): `batch` (the rows being calibrated, as BC defines it) or `validation` (the run's)."""
    cal = artifact["calibrators"]
    ts = TemperatureScaling()
    ts.temperature_ = float(cal["ts"]["temperature"])
    cc = ContextualCalibration()
    cc.content_free_log_proba_ = _probabilities(cal["cc"]["content_free_log_proba"], "cc")
    cc.content_free_proba_ = np.exp(cc.content_free_log_proba_)
    bc = BatchCalibration(gamma=float(cal["bc"]["gamma"]), prior=prior)
    bc.gamma_ = float(cal["bc"]["gamma"])
    bc.prior_log_proba_ = _probabilities(cal["bc"]["prior_log_proba"], "bc")
    platt = PlattScaling()
    platt.slope_, platt.intercept_ = (float(cal["platt"][k]) for k in EXTRA_KEYS["platt"])
    isotonic = IsotonicCalibration()
    isotonic.gap_thresholds_, isotonic.proba_thresholds_ = (
        _numbers(cal["isotonic"], k, "isotonic") for k in EXTRA_KEYS["isotonic"]
    )
    histogram = HistogramBinning(int(cal["histogram"]["n_bins"]))
    histogram.edges_, histogram.bin_proba_ = (
        _numbers(cal["histogram"], k, "histogram") for k in ("edges", "bin_proba")
    )
    beta = BetaCalibration()
    beta.a_, beta.b_, beta.c_ = (float(cal["beta"][k]) for k in EXTRA_KEYS["beta"])
    return {
        "cc": cc,
        "bc": bc,
        "ts": ts,
        "platt": platt,
        "isotonic": isotonic,
        "histogram": histogram,
        "beta": beta,
    }


def guard_config(artifact: Mapping[str, Any], run_dir: Path) -> Config:
    """The config that scores records with this guard exactly as the run did. Its dataset sources
    are empty: the records come from the caller, read with the run's column mapping."""
    try:
        records = artifact["records"]
        dataset = DatasetConfig(
            validation=Source(),
            test=Source(),
            columns=Columns(**records["columns"]),
            label_values=LabelValues(
                safe=tuple(records["label_values"]["safe"]),
                unsafe=tuple(records["label_values"]["unsafe"]),
            ),
        )
        return Config(
            name=run_dir.name,
            dataset=dataset,
            models=(ModelConfig(**artifact["model"]),),
            prompt=PromptConfig(**artifact["prompt"]),
            content_free=tuple(artifact["content_free"]),
            scoring=ScoringConfig(**artifact["scoring"]),
            reports_dir=str(run_dir.parent),
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{run_dir}: calibrated guard's settings do not load: {exc}") from None


def run_guards(run_dir: str | Path) -> dict[str, Path]:
    """The calibrated guards of a run, model name → file; an ArtifactError when there are none."""
    folder = RunLayout(Path(run_dir)).calibrators
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise ArtifactError(
            f"{folder}: no calibrated guards in this run (run `guardcal report`, or the tuning "
            "notebook, to fit and write them)"
        )
    return {read_artifact(f)["model"]["name"]: f for f in files}
