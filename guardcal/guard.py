"""The calibrated guard of a finished run, applied to new records: `guardcal predict`.

`CalibratedGuard.from_run(run_dir, model)` reads `calibrators/<model>.json` (no model is loaded);
`predict` scores records with the guard through guardcal.extraction, exactly as the run scored its
splits (same prompt, verbalizer, shard size and batch size, so the same rows give the same logits
bit for bit), and applies one calibrator. Torch loads only when records are scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from guardcal.artifact import (
    IDENTITY_KEYS,
    ArtifactError,
    calibrators,
    guard_config,
    read_artifact,
    run_guards,
)
from guardcal.calibration import PRIORS
from guardcal.config import Config
from guardcal.records import load_records

if TYPE_CHECKING:
    from guardcal.extraction.guards import GuardSpec

PREDICTION_COLUMNS = ("id", "logit_safe", "logit_unsafe", "p_unsafe", "verdict")
"""One output row per input record."""


@dataclass(frozen=True)
class CalibratedGuard:
    """A guard and its fitted calibrators, as one run left them in `calibrators/<model>.json`."""

    path: Path
    artifact: dict[str, Any]

    @classmethod
    def from_run(cls, run_dir: str | Path, model: str) -> CalibratedGuard:
        """Load guard `model` of the run folder `run_dir` (`reports/<run>/`)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ArtifactError(f"{run_dir}: no such run folder")
        guards = run_guards(run_dir)
        if model not in guards:
            raise ArtifactError(
                f"{run_dir}: no calibrated guard named {model!r}; this run has {sorted(guards)}"
            )
        return cls(guards[model], read_artifact(guards[model]))

    @property
    def fitted_in(self) -> str | None:
        """The run this guard was fitted in when that is not the run folder it was read from
        (a calibrated-guard file copied in from another run), else None."""
        run = self.artifact["run"]
        return None if run == self.path.parent.parent.name else run

    @property
    def name(self) -> str:
        """The guard's display name in its run."""
        return self.artifact["model"]["name"]

    @property
    def methods(self) -> tuple[str, ...]:
        """What `calibrate` accepts: `uncalibrated` and every fitted calibrator."""
        return calibrators(self.artifact).methods

    @cached_property
    def config(self) -> Config:
        """The settings the run scored this guard with (its records come from the caller)."""
        return guard_config(self.artifact, self.path)

    @cached_property
    def spec(self) -> GuardSpec:
        """The guard resolved once from the run's settings: its tokenizer, prompt, verbalizer and
        revision (torch and transformers load here, on first use)."""
        from guardcal.extraction.guards import guard_spec

        return guard_spec(self.config, self.name)

    def check_method(self, method: str, prior: str = "batch") -> None:
        """An ArtifactError unless `method` and `prior` are ones this guard can apply."""
        if method not in self.methods:
            raise ArtifactError(
                f"{self.path}: no calibrator {method!r}; this guard has {list(self.methods)}"
            )
        if prior not in PRIORS:
            raise ArtifactError(f"prior must be one of {PRIORS}, got {prior!r}")

    def calibrate(self, logits: np.ndarray, method: str, prior: str = "batch") -> np.ndarray:
        """Calibrated p(unsafe) of (N, 2) [safe, unsafe] logits. BC removes the `prior` p(y|C):
        `batch` estimates it on these very rows (as BC defines it: pass the whole batch at once),
        `validation` uses the one γ was tuned with (for a small or skewed batch)."""
        self.check_method(method, prior)
        return calibrators(self.artifact, prior).proba_unsafe(logits, [method])[method]

    def read_records(self, path: str | Path) -> pd.DataFrame:
        """New records in the run's schema (its column mapping); the label column is optional."""
        cfg = self.config
        return load_records(
            path, cfg.dataset.columns, cfg.dataset.label_values, require_label=False
        )

    def check_identity(self) -> None:
        """Refuse to score when this machine's guard is not the one the run calibrated: the
        prompt template, verbalizer, weights revision or scoring rule differ. Needs the tokenizer
        only, so it answers before any weights load."""
        if self.artifact.get("guard") is None:
            raise ArtifactError(
                f"{self.path}: key 'guard' is empty: the run's scores carry no fingerprint, so "
                "the guard cannot be re-identified to score new records"
            )
        here = self.spec.identity
        for key in IDENTITY_KEYS:
            if here.get(key) != self.artifact["guard"].get(key):
                raise ArtifactError(
                    f"{self.path}: key 'guard.{key}' is {self.artifact['guard'].get(key)!r} but "
                    f"this machine's guard gives {here.get(key)!r}: its calibrators do not apply"
                )

    def score(
        self, frame: pd.DataFrame, batch_size: int | None = None, where: str = "records"
    ) -> np.ndarray:
        """(N, 2) [safe, unsafe] label logits of normalised records, shard by shard as the run
        scored (same shard and batch sizes, so the same rows give the same logits). Inputs too
        long for the guard are refused (naming `where` and the row) before its weights load."""
        self.check_identity()
        from tqdm.auto import tqdm

        from guardcal.extraction.forward import LastHidden, default_batch_size
        from guardcal.extraction.guards import load_guard
        from guardcal.extraction.scoring import check_rows, guard_inputs, score_frame

        check_rows(self.spec.prompt, frame, where)  # turns the format cannot render: named
        guard_inputs(self.spec, frame, where)  # too long: refused before the weights load
        guard = load_guard(self.spec)
        scoring = self.config.scoring
        size = batch_size or scoring.batch_size or default_batch_size(guard.model)
        encoder = LastHidden(guard.model, size)
        parts = []
        with tqdm(total=len(frame), desc=f"scoring ({self.name})", unit="ex") as bar:
            for start in range(0, len(frame), scoring.shard_size):
                part = frame.iloc[start : start + scoring.shard_size]
                parts.append(score_frame([guard], part, encoder, bar)[self.name])
        scores = pd.concat(parts, ignore_index=True)
        return scores[["logit_safe", "logit_unsafe"]].to_numpy(dtype=np.float64)

    def predict(
        self,
        frame: pd.DataFrame,
        method: str,
        prior: str = "batch",
        batch_size: int | None = None,
        where: str = "records",
    ) -> pd.DataFrame:
        """Per record: id, logits, calibrated p(unsafe) and the verdict (`unsafe` iff p ≥ the
        run's threshold, 0.5)."""
        self.check_method(method, prior)
        logits = self.score(frame, batch_size, where)
        p = self.calibrate(logits, method, prior)
        threshold = float(self.artifact["threshold"])
        return pd.DataFrame(
            {
                "id": frame["id"].astype(str).to_numpy(),
                "logit_safe": logits[:, 0],
                "logit_unsafe": logits[:, 1],
                "p_unsafe": p,
                "verdict": np.where(p >= threshold, "unsafe", "safe"),
            },
            columns=list(PREDICTION_COLUMNS),
        )


def predictions_jsonl(predictions: pd.DataFrame) -> str:
    """One JSON object per row; floats in repr form, so they read back exactly."""
    rows = predictions.to_dict(orient="records")
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
