"""The study's published numbers beside a run's: its test table and tuned parameters as data
(`guardcal/data/study/published.json`, with provenance), and the claims its slides make, each
checked on the study's numbers and on the run's guards that stand in the study's roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guardcal.config import STUDY_ROLES, Config

STUDY_FILE = Path(__file__).resolve().parents[1] / "data" / "study" / "published.json"
SIDE_BY_SIDE = ("ece", "nll", "precision", "recall", "f1", "auprc")
"""The metrics shown next to the study's, per role and method."""


@cache
def published() -> dict[str, Any]:
    """The study's data file: source, data, and per role its model, test metrics, tuned values."""
    return json.loads(STUDY_FILE.read_text(encoding="utf-8"))


def published_metrics() -> pd.DataFrame:
    """The study's test table in guardcal's units (every metric a fraction): one row per role
    and method, with the study's model id."""
    data = published()
    rows = [
        {"role": role, "model": guard["model"], "method": method}
        | {k: v / 100 if k in data["percent"] else v for k, v in values.items()}
        for role, guard in data["guards"].items()
        for method, values in guard["metrics"].items()
    ]
    return pd.DataFrame(rows)


def published_tuned() -> pd.DataFrame:
    """The study's tuned parameters (T for `ts`, γ for `bc`) per role."""
    return pd.DataFrame(
        [
            {"role": role, "method": method, "value": value}
            for role, guard in published()["guards"].items()
            for method, value in guard["tuned"].items()
        ]
    )


def role_models(cfg: Config) -> dict[str, str]:
    """The run's guard in each study role it fills (`models[].study_role`)."""
    return {m.study_role: m.name for m in cfg.models if m.study_role}


def run_numbers(cfg: Config, metrics: pd.DataFrame, tuning: pd.DataFrame) -> Numbers:
    """A run's test metrics and tuned parameters, indexed by study role instead of guard name."""
    roles = {name: role for role, name in role_models(cfg).items()}
    pick = metrics[metrics["model"].isin(roles)].assign(role=lambda d: d["model"].map(roles))
    tuned = tuning[tuning["model"].isin(roles) & tuning["method"].isin(["ts", "bc"])]
    return Numbers(pick, tuned.assign(role=tuned["model"].map(roles)))


@dataclass(frozen=True)
class Numbers:
    """Test metrics (columns role, method, metric keys) and tuned values (role, method, value)."""

    metrics: pd.DataFrame
    tuned: pd.DataFrame

    @classmethod
    def study(cls) -> Numbers:
        """The study's published numbers."""
        return cls(published_metrics(), published_tuned())

    def roles(self) -> set[str]:
        """The roles these numbers cover."""
        return set(self.metrics["role"])

    def m(self, role: str, method: str, metric: str) -> float:
        """One test metric of the guard in `role` under `method`."""
        t = self.metrics
        return float(t.loc[(t["role"] == role) & (t["method"] == method), metric].iloc[0])

    def t(self, role: str, method: str) -> float:
        """The tuned parameter of `method` (`ts`: T, `bc`: γ) for the guard in `role`."""
        t = self.tuned
        return float(t.loc[(t["role"] == role) & (t["method"] == method), "value"].iloc[0])


@dataclass(frozen=True)
class Claim:
    """One finding of the study, as a test on numbers: `check` returns (holds, the values)."""

    text: str
    roles: tuple[str, ...]
    check: Callable[[Numbers], tuple[bool, str]]


def _moves(
    role: str, method: str, metric: str = "ece", down: bool = True
) -> Callable[[Numbers], tuple[bool, str]]:
    """The claim that `method` lowers (or, `down=False`, raises) the `role` guard's test
    `metric` from its uncalibrated value."""

    def check(n: Numbers) -> tuple[bool, str]:
        before, after = n.m(role, "uncalibrated", metric), n.m(role, method, metric)
        return (after < before) if down else (after > before), f"{before:.3f} → {after:.3f}"

    return check


def _under_flags(n: Numbers) -> tuple[bool, str]:
    p, r = n.m("base", "uncalibrated", "precision"), n.m("base", "uncalibrated", "recall")
    return p > r, f"precision {p:.3f}, recall {r:.3f}"


def _overconfident(n: Numbers) -> tuple[bool, str]:
    t = n.t("base", "ts")
    return t > 1, f"T* = {t:.2f}"


def _compare(metric: str, better: str) -> Callable[[Numbers], tuple[bool, str]]:
    """The claim that the fine-tuned guard's uncalibrated `metric` beats the base guard's."""

    def check(n: Numbers) -> tuple[bool, str]:
        base, tuned = n.m("base", "uncalibrated", metric), n.m("fine-tuned", "uncalibrated", metric)
        holds = tuned < base if better == "lower" else tuned > base
        return holds, f"{tuned:.3f} vs {base:.3f}"

    return check


def _recall_repaired(n: Numbers) -> tuple[bool, str]:
    r = {m: n.m("base", m, "recall") for m in ("uncalibrated", "cc", "bc")}
    holds = r["cc"] > r["uncalibrated"] and r["bc"] > r["uncalibrated"]
    return holds, f"{r['uncalibrated']:.3f} → CC {r['cc']:.3f}, BC {r['bc']:.3f}"


def _little_to_gain(n: Numbers) -> tuple[bool, str]:
    before = n.m("fine-tuned", "uncalibrated", "ece")
    best = min(n.m("fine-tuned", m, "ece") for m in ("cc", "bc", "ts"))
    return before - best <= 0.01, f"{before:.3f}, best method {best:.3f}"


CLAIMS = (
    Claim("The base guard under-flags: precision above recall", ("base",), _under_flags),
    Claim("The base guard is overconfident: TS softens it (T* > 1)", ("base",), _overconfident),
    Claim("CC lowers the base guard's ECE", ("base",), _moves("base", "cc")),
    Claim("BC lowers the base guard's ECE", ("base",), _moves("base", "bc")),
    Claim("TS lowers the base guard's ECE", ("base",), _moves("base", "ts")),
    Claim("TS lowers the base guard's NLL", ("base",), _moves("base", "ts", "nll")),
    Claim("CC and BC raise the base guard's recall", ("base",), _recall_repaired),
    Claim(
        "The fine-tuned guard is better calibrated than the base: lower ECE (fine-tuned vs base)",
        STUDY_ROLES,
        _compare("ece", "lower"),
    ),
    Claim(
        "The fine-tuned guard ranks better than the base: higher AUPRC (fine-tuned vs base)",
        STUDY_ROLES,
        _compare("auprc", "higher"),
    ),
    Claim(
        "Calibration gains the fine-tuned guard at most 0.01 of ECE",
        ("fine-tuned",),
        _little_to_gain,
    ),
    Claim(
        "CC raises the fine-tuned guard's ECE",
        ("fine-tuned",),
        _moves("fine-tuned", "cc", down=False),
    ),
)
"""What the study's slides show (pages 7–13), each as a test that the run's numbers can fail."""


def claims_table(run: Numbers) -> pd.DataFrame:
    """Every claim on the study's numbers and on the run's: columns claim, study, run,
    study_holds, run_holds, agree (missing where the run has no guard in a needed role)."""
    study = Numbers.study()
    rows = []
    for claim in CLAIMS:
        s_holds, s_values = claim.check(study)
        row = {"claim": claim.text, "study": s_values, "study_holds": s_holds}
        if set(claim.roles) <= run.roles():
            r_holds, r_values = claim.check(run)
            row |= {"run": r_values, "run_holds": r_holds, "agree": r_holds == s_holds}
        else:
            row |= {"run": None, "run_holds": None, "agree": None}
        rows.append(row)
    return pd.DataFrame(rows)


def side_by_side(run: Numbers) -> pd.DataFrame:
    """The study's and the run's test metrics per role and method, interleaved by metric:
    index (role, method), columns (metric, `study` | `run`); NaN where the run has no guard."""
    study = Numbers.study().metrics.set_index(["role", "method"])[list(SIDE_BY_SIDE)]
    ours = run.metrics.set_index(["role", "method"])[list(SIDE_BY_SIDE)]
    ours = ours.reindex(study.index) if len(ours) else study * np.nan
    return pd.concat({"study": study, "run": ours}, axis=1).swaplevel(axis=1)[list(SIDE_BY_SIDE)]
