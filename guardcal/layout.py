"""Where guardcal's files go: every path of a run folder `reports/<run>/`, and the user cache.

This module is the only place those paths are spelled; everything else asks a `RunLayout`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "GUARDCAL_CACHE"
NOTEBOOKS = ("01_extraction", "02_tuning", "03_evaluation", "04_figures", "05_report")
"""The report's notebooks, in the order they run."""


def model_slug(name: str) -> str:
    """A model's folder name: its display name lower-cased, runs of other characters → `-`."""
    slug = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.")
    if not slug:
        raise ValueError(f"model name {name!r} gives an empty folder name")
    return slug


def cache_dir() -> Path:
    """guardcal's per-user cache: `$GUARDCAL_CACHE`, else `$XDG_CACHE_HOME/guardcal` (~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "guardcal"


@dataclass(frozen=True)
class RunLayout:
    """The folders and files of one run, rooted at `reports/<run>/`."""

    root: Path

    def model_scores(self, model: str) -> Path:
        """`scores/<model>/`: a guard's scores files and its report example."""
        return self.root / "scores" / model_slug(model)

    def scores(self, model: str, split: str) -> Path:
        """`scores/<model>/<split>.parquet`: what calibration and the report read."""
        return self.model_scores(model) / f"{split}.parquet"

    def shards(self, model: str, split: str) -> Path:
        """`scores/<model>/shards/<split>/`: a split's finished shards until it is assembled."""
        return self.model_scores(model) / "shards" / split

    def shard(self, model: str, split: str, index: int, count: int) -> Path:
        """Shard `index` (0-based) of `count`."""
        return self.shards(model, split) / f"{index:05d}-of-{count:05d}.parquet"

    def traces(self, model: str, split: str) -> Path:
        """`traces/<model>/<split>.parquet`: a reasoning guard's traces (text, token ids, why each
        stopped), one row per example and sample, fingerprinted like its scores."""
        return self.root / "traces" / model_slug(model) / f"{split}.parquet"

    def trace_shards(self, model: str, split: str) -> Path:
        """`traces/<model>/shards/<split>/`: a split's finished trace shards until assembled."""
        return self.traces(model, split).parent / "shards" / split

    def trace_shard(self, model: str, split: str, index: int, count: int) -> Path:
        """Trace shard `index` (0-based) of `count`."""
        return self.trace_shards(model, split) / f"{index:05d}-of-{count:05d}.parquet"

    def example(self, model: str) -> Path:
        """`scores/<model>/example.json`: one rendered guard input and the model's answer."""
        return self.model_scores(model) / "example.json"

    def label_rows(self, model: str) -> Path:
        """`models/<model>/label_rows.npz`: a fitted embedded guard's output rows (a copy)."""
        return self.root / "models" / model_slug(model) / "label_rows.npz"

    @property
    def calibrators(self) -> Path:
        """`calibrators/`: each guard's calibrated-guard file."""
        return self.root / "calibrators"

    def calibrator(self, model: str) -> Path:
        """`calibrators/<model>.json`: the calibrated guard (every fitted parameter, JSON only)."""
        return self.calibrators / f"{model_slug(model)}.json"

    @property
    def tables(self) -> Path:
        """`tables/`: every CSV, parquet and LaTeX table of the run."""
        return self.root / "tables"

    def table(self, name: str, suffix: str = ".csv") -> Path:
        """`tables/<name><suffix>` (`metrics`, `tuning`, `predictions` with `.parquet`, …)."""
        return self.tables / f"{name}{suffix}"

    @property
    def figures(self) -> Path:
        """`figures/`: every figure of the run, PNG and PDF."""
        return self.root / "figures"

    def figure(self, name: str, suffix: str = ".png") -> Path:
        """`figures/<name><suffix>`."""
        return self.figures / f"{name}{suffix}"

    @property
    def config(self) -> Path:
        """`config.yaml`: the run's settings as `guardcal report` resolved them (command-line
        overrides applied), written once; the report's notebooks read this file."""
        return self.root / "config.yaml"

    @property
    def notebooks(self) -> Path:
        """`notebooks/`: the executed notebooks, outputs included."""
        return self.root / "notebooks"

    def notebook(self, name: str) -> Path:
        """`notebooks/<name>.ipynb`, one of NOTEBOOKS as executed for this run."""
        return self.notebooks / f"{name}.ipynb"

    @property
    def report_html(self) -> Path:
        """`report.html`: the self-contained report."""
        return self.root / "report.html"

    @property
    def slides_html(self) -> Path:
        """`slides.html`: the reveal.js deck."""
        return self.root / "slides.html"

    @property
    def report_pdf(self) -> Path:
        """`report.pdf`: report.html printed by headless Chromium."""
        return self.root / "report.pdf"

    @property
    def slides_pdf(self) -> Path:
        """`slides.pdf`: the deck printed by headless Chromium, one page a slide."""
        return self.root / "slides.pdf"

    @property
    def provenance(self) -> Path:
        """`provenance.json`: where the run's numbers came from (code, packages, weights, data,
        machine, the time of each step, the command that reproduces it)."""
        return self.root / "provenance.json"

    @property
    def bundle(self) -> Path:
        """`reports/<run>.zip`, beside the run folder: what `guardcal bundle` hands in."""
        return self.root.parent / f"{self.root.name}.zip"

    @property
    def report_inputs(self) -> Path:
        """`.report-inputs`: the digest of everything the last successful report was built from
        (settings, scores files, guardcal's own files); equal digests mean nothing to redo."""
        return self.root / ".report-inputs"

    @property
    def report_failed(self) -> Path:
        """`REPORT_FAILED.txt`: written when a report fails, naming the error and the outputs
        left from an earlier run (removed by the next successful report)."""
        return self.root / "REPORT_FAILED.txt"

    def lock(self, what: str) -> Path:
        """`.<what>.lock`: the lock a scoring (`score`, `score-0-of-4`) or report run holds."""
        return self.root / f".{what}.lock"
