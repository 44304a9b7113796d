"""A run without a model: two guards over two small BeaverTails-schema files, their scores files
written in the contract format from synthetic logits. `finished_run` carries it through every
step the notebooks take (tests/conftest.py builds one per session)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from guardcal import records, scores
from guardcal.config import Config, load_config
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.reporting import calibration_tests, decisions, intervals, pipeline

MODELS = ("Guard A", "Guard B (fine-tuned)")
RESAMPLES = 100
"""Bootstrap resamples of the session's synthetic run: enough for an interval, quick to draw."""


def write_jsonl(path: Path, n: int, seed: int) -> None:
    """A tiny BeaverTails-schema file: alternating labels, a category flag on unsafe rows."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            unsafe = bool(rng.random() < 0.45)
            flags = {c: False for c in BEAVERTAILS_CATEGORIES}
            if unsafe:
                flags[BEAVERTAILS_CATEGORIES[i % 3]] = True
                flags["privacy_violation"] = i % 2 == 0
            row = {"id": f"r{seed}-{i}", "prompt": f"question {i}", "response": f"answer {i}"}
            f.write(json.dumps({**row, "is_safe": not unsafe, "category": flags}) + "\n")


SPLIT_FILES = ("validation.jsonl", "test.jsonl")


def write_config(
    tmp_path: Path,
    name: str = "unit",
    models: tuple[str, ...] = MODELS,
    files: tuple[str, str] = SPLIT_FILES,
    **calibration: object,
) -> Path:
    """A config over two local files (`files`: validation, test), guards `models`, reports
    under tmp_path."""
    write_jsonl(tmp_path / files[0], 120, seed=1)
    write_jsonl(tmp_path / files[1], 160, seed=2)
    raw = {
        "name": name,
        "dataset": {"validation": files[0], "test": files[1]},
        "models": [{"name": m, "model": f"local/{i}"} for i, m in enumerate(models)],
        "reports_dir": str(tmp_path / "reports"),
    }
    if calibration:
        raw["calibration"] = calibration
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_scores(cfg: Config) -> None:
    """Synthetic logits for every model and split, written where the scorer writes them."""
    rng = np.random.default_rng(0)
    for k, model in enumerate(m.name for m in cfg.models):
        for split in ("validation", "test", "content_free"):
            frame = records.load_split(cfg, split)
            y = frame["label"].to_numpy()
            sign = np.where(y == 1, 1.0, np.where(y == 0, -1.0, 0.0))
            # Guard A: biased to safe and weak; guard B: sharp and overconfident.
            gap = (-2.5 + 1.0 * sign if k == 0 else 5.0 * sign) + rng.normal(0, 2.0, len(y))
            safe = rng.normal(10, 1, len(y))
            frame = pd.DataFrame(
                {
                    "id": frame["id"],
                    "label": y,
                    "logit_safe": safe,
                    "logit_unsafe": safe + gap,
                    "label_mass": rng.uniform(0.5, 1.0, len(y)),
                }
            )
            scores.write_table(frame, cfg.layout.scores(model, split), {"synthetic": True})


def scored_run(tmp_path: Path, **settings: object) -> Config:
    """A run whose scores files exist and nothing else (`settings`: write_config's)."""
    cfg = load_config(write_config(tmp_path, **settings))
    write_scores(cfg)
    return cfg


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    """A synthetic run after every step of the notebooks, and what the table steps returned.
    Shared by the session: read it, never write into its run folder."""

    cfg: Config
    categories: pd.DataFrame  # per-category metrics
    points: pd.DataFrame  # operating points
    ci: pd.DataFrame  # metric intervals
    diff: pd.DataFrame  # paired differences against the uncalibrated row
    tests: pd.DataFrame  # calibration tests per guard and method


def finished_run(tmp_path: Path, **settings: object) -> FinishedRun:
    """Scores, data summary, tuning (and the calibrated guards), evaluation, intervals with
    RESAMPLES resamples, calibration tests, decision tables and one report example per guard
    (`settings`: write_config's)."""
    cfg = scored_run(tmp_path, bootstrap_resamples=RESAMPLES, **settings)
    pipeline.summarise_data(cfg)
    pipeline.tune(cfg)
    pipeline.evaluate_run(cfg)
    ci, diff = intervals.write_interval_tables(cfg)
    tests = calibration_tests.write_calibration_tests(cfg)
    categories, points = decisions.write_decision_tables(cfg)
    for i, model in enumerate(m.name for m in cfg.models):
        example = {"id": "r2-0", "input": "<b>guard input</b> & more", "answer": f"answer {i}"}
        scores.write_example(cfg, model, example)
    return FinishedRun(cfg, categories, points, ci, diff, tests)
