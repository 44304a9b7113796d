"""The calibrated guard as a file: `reports/<run>/calibrators/<model>.json`.

It holds every fitted parameter (each registered calibrator's `to_json`: T; γ with the validation
prior p(y|C) it was tuned with; the content-free probabilities; Platt's slope and intercept, the
isotonic knots, the histogram bins and beta calibration's a, b, c), what identifies the guard
(model, revision, format, taxonomy, template hash, verbalizer — the fingerprint of the scores it
was fitted on), how the guard was run (prompt, scoring and record-column settings) and a format
version. JSON only: reading it runs no code, and floats are written with Python's round-tripping
repr, so a loaded calibrator gives the very probabilities the run computed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guardcal.atomic import write_text
from guardcal.calibration.fitted import FittedCalibrators
from guardcal.calibration.methods import fitted_methods
from guardcal.calibration.protocol import ParamsError, param
from guardcal.config import (
    Columns,
    Config,
    DatasetConfig,
    InputError,
    LabelValues,
    ModelConfig,
    PromptConfig,
    ReasoningConfig,
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


def build_artifact(
    cfg: Config,
    fitted: FittedCalibrators,
    scores_meta: Mapping[str, Any] | None,
    fitted_on: Mapping[str, int],
) -> dict[str, Any]:
    """The JSON document of one calibrated guard, which must have every registered calibrator
    fitted. `scores_meta` is the validation scores file's fingerprint (None, or one without the
    guard's identity, for scores written by other means: then the guard cannot be re-identified
    and `predict` refuses it); `fitted_on` counts the examples of each split the fit read."""
    missing = [m.name for m in fitted_methods() if m.name not in fitted.calibrators]
    if missing:
        raise ValueError(f"{fitted.model}: a calibrated guard needs every method; {missing} unfit")
    model = fitted.model
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
        "calibrators": fitted.to_json(),
    }


def write_artifact(path: Path, artifact: Mapping[str, Any]) -> Path:
    """Write the document atomically, keys sorted, so the same fit gives the same bytes."""
    text = json.dumps(artifact, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return write_text(path, text + "\n")


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """`data[key]` when it has type `kind`, else an ArtifactError naming `where` and the key."""
    try:
        return param(data, key, kind)
    except ParamsError as exc:
        raise ArtifactError(f"{where}: {exc}") from None


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
    _need(data, "run", str, where)
    _need(data, "content_free", list, where)
    threshold = _need(data, "threshold", (int, float), where)
    if not (math.isfinite(threshold) and 0 < threshold < 1):
        raise ArtifactError(f"{where}: key 'threshold' must lie in (0, 1), got {threshold!r}")
    guard = _need(data, "guard", (dict, type(None)), where)
    for key in IDENTITY_KEYS if guard is not None else ():
        if key not in guard:
            raise ArtifactError(f"{where}: key 'guard.{key}' is missing")
    try:
        FittedCalibrators.from_json(data["model"]["name"], data["calibrators"])
    except ParamsError as exc:
        raise ArtifactError(f"{where}: {exc}") from None
    guard_config(data, path)  # the run's settings load, or the error names the file and key
    return data


def calibrators(artifact: Mapping[str, Any], prior: str = "batch") -> FittedCalibrators:
    """The fitted calibrators of a validated document; batch calibration removes the `prior`
    p(y|C): `batch` (the rows being calibrated, as BC defines it) or `validation` (the run's)."""
    return FittedCalibrators.from_json(artifact["model"]["name"], artifact["calibrators"], prior)


def model_entry(raw: Mapping[str, Any]) -> ModelConfig:
    """The model entry a calibrated guard keeps, with its reasoning setting as the config has it
    (older files have none: reasoning off)."""
    return ModelConfig(**{**raw, "reasoning": ReasoningConfig(**raw.get("reasoning", {}))})


def guard_config(artifact: Mapping[str, Any], path: Path) -> Config:
    """The config that scores records with the guard of the file at `path`
    (`<run>/calibrators/<model>.json`) exactly as the run did. Its dataset sources are empty: the
    records come from the caller, read with the run's column mapping."""
    run_dir = path.parent.parent
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
            models=(model_entry(artifact["model"]),),
            prompt=PromptConfig(**artifact["prompt"]),
            content_free=tuple(artifact["content_free"]),
            scoring=ScoringConfig(**artifact["scoring"]),
            reports_dir=str(run_dir.parent),
        )
    except KeyError as exc:
        raise ArtifactError(f"{path}: key {exc} is missing from the run's settings") from None
    except TypeError as exc:
        raise ArtifactError(f"{path}: the run's settings do not load: {exc}") from None


def run_guards(run_dir: str | Path) -> dict[str, Path]:
    """The calibrated guards of a run, model name → file; an ArtifactError when there are none."""
    folder = RunLayout(Path(run_dir)).calibrators
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise ArtifactError(
            f"{folder}: no calibrated guards in this run (run `guardcal report`, or the tuning "
            "notebook, to fit and write them)"
        )
    guards: dict[str, Path] = {}
    for path in files:
        name = read_artifact(path)["model"]["name"]
        if name in guards:
            raise ArtifactError(
                f"{path}: calibrates guard {name!r}, as {guards[name].name} does; a run has one "
                "calibrated guard per name (remove the copy)"
            )
        guards[name] = path
    return guards
