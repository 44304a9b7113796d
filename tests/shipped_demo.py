"""The shipped demo as the tests use it: its files, its three embedded guards, the sections of
small run configs over them, and one real report of it (built once per session by
tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from guardcal.config import DEMO_CONFIG, Config, load_config

DEMO_DIR = Path(__file__).resolve().parents[1] / "guardcal" / "data" / "demo"
POLICIES_DIR = DEMO_DIR.parent / "policies"
ZERO_SHOT = "SmolLM2-135M zero-shot"
BASE = "SmolLM2-135M base (MLCommons rows)"
FINE_TUNED = "SmolLM2-135M fine-tuned"
EMBEDDED_MODELS = {
    ZERO_SHOT: "embedded:smollm2-135m",
    BASE: "embedded:smollm2-135m-mlcommons",
    FINE_TUNED: "embedded:smollm2-135m-finetuned",
}

TEST_DEVICE = os.environ.get("GUARDCAL_TEST_DEVICE")
"""A device to pin the tests' runs to (`make gpu-check` sets `cuda`); unset, runs keep the
config's `auto` (float32 on a CPU)."""
CHECKPOINT_DEVICE = TEST_DEVICE or "cpu"
"""Where tests that build their own model compute their references."""

REPORT_LIMIT = 6
"""Rows per split of the session's demo report: both labels occur in the first six rows of each
demo split, and every row more is scored by three guards and again by each `predict` test."""


def demo_dataset(limit: int | None) -> dict[str, Any]:
    """The `dataset` section of a run over the demo files (absolute paths), `limit` rows a split."""
    return {
        "validation": {"path": str(DEMO_DIR / "train.jsonl"), "fraction": 0.3, "seed": 42},
        "test": str(DEMO_DIR / "test.jsonl"),
        "limit": limit,
    }


def scoring(**settings: Any) -> dict[str, Any]:
    """The `scoring` section of a test run. With GUARDCAL_TEST_DEVICE set it is pinned to that
    device in float32 (never bf16 on a GPU), so scores stay comparable with a float32
    `generate()` reference within 1e-4; unset, the device and dtype stay `auto`, the settings
    under which the `guards` fixture loaded the one backbone every run here shares."""
    pinned = {"device": TEST_DEVICE, "dtype": "float32"} if TEST_DEVICE else {}
    return {**pinned, **settings}


def write_limited_demo_config(folder: Path, name: str, limit: int) -> Path:
    """The shipped demo config itself, its first `limit` rows a split, reports under `folder`."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw.update(name=name, reports_dir=str(folder / "reports"))
    raw["dataset"]["limit"] = limit
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@dataclasses.dataclass(frozen=True)
class DemoReport:
    """A finished `make report` of the limited demo config: its run, what `build_report`
    returned, and the test split's rows as a records file of their own (for `predict`).
    Shared by every test of the session: read it, never write into its run folder."""

    cfg: Config
    outputs: dict[str, Path]
    test_records: Path

    @functools.cached_property
    def soup(self):
        """report.html parsed once (it inlines MathJax: megabytes)."""
        from bs4 import BeautifulSoup

        return BeautifulSoup(self.outputs["html"].read_text(encoding="utf-8"), "html.parser")


def build_demo_report(folder: Path) -> DemoReport:
    """The real `build_report` on the demo config limited to REPORT_LIMIT rows a split."""
    from guardcal import records
    from guardcal.reporting import render

    cfg = load_config(write_limited_demo_config(folder, "demo-report", REPORT_LIMIT))
    outputs = render.build_report(cfg)
    test_file = records.resolve_path(cfg.dataset.test.path, None)
    lines = test_file.read_text(encoding="utf-8").splitlines()[:REPORT_LIMIT]
    new = folder / "test-records.jsonl"
    new.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return DemoReport(cfg, outputs, new)
