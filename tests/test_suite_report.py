"""End to end: a suite of three fixture benchmarks scored by the embedded guards and reported by
the real `guardcal report` (papermill, nbconvert); its "Across benchmarks" section, its tables,
Liu et al.'s RMS ECE against their own library on the scores files, and a rerun that scores
nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import calibration as kumar  # uncertainty-calibration: Liu et al.'s estimator, independently
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from scipy.special import expit

from guardcal import scores
from guardcal.__main__ import main
from guardcal.config import load_config
from guardcal.reporting import across, render

DATA = Path(__file__).parent / "data" / "benchmarks"
ROWS = 4
"""Rows per benchmark: enough for both labels, and quick (one forward pass for three guards)."""


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory):
    """One `guardcal report` of a suite: OpenAI Moderation (prompts), XSTest (prompts; the
    calibration source, half of it held out) and WildGuardMix (responses, jailbreak flags)."""
    root = tmp_path_factory.mktemp("suite-report")
    demo = yaml.safe_load((Path(render.__file__).parents[1] / "configs" / "demo.yaml").read_text())
    raw = {
        "name": "suite",
        "reports_dir": str(root / "reports"),
        "benchmarks": [
            {
                "name": "openai_moderation",
                "path": str(DATA / "openai_moderation_samples.jsonl.gz"),
                "limit": ROWS,
            },
            {"name": "xstest", "path": str(DATA / "xstest_prompts.csv")},
            {
                "name": "wildguardmix",
                "mode": "response",
                "path": str(DATA / "wildguardtest.parquet"),
                "limit": ROWS,
            },
        ],
        "calibrate_on": {"benchmark": "xstest", "fraction": 0.5, "seed": 0},
        "in_domain": {"fraction": 0.5, "seed": 0},
        "models": demo["models"],
        "prompt": demo["prompt"],
        "calibration": {"bootstrap_resamples": 50},
        "scoring": {"shard_size": 4, "batch_size": 4},
    }
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["report", "--config", str(path), "--no-pdf"]) == 0
    cfg = load_config(path)
    html = cfg.layout.report_html.read_text(encoding="utf-8")
    return path, cfg, BeautifulSoup(html, "html.parser")


@pytest.mark.model
def test_the_report_has_the_across_section_after_beyond_the_study(suite):
    _, _, soup = suite
    found = [h.get_text().strip().rstrip("¶").strip() for h in soup.find_all(["h1", "h2"])]
    sections = list(render.SECTIONS)
    sections.insert(sections.index("Beyond the study") + 1, render.SUITE_SECTION)
    assert [h for h in found if h in sections] == sections
    section = soup.find(id="Across-benchmarks").find_parent(class_="jp-Cell")
    following = section.find_all_next(class_="jp-Cell", limit=4)
    text = " ".join(c.get_text(" ") for c in following)
    assert "OpenAI Moderation" in text and "WildGuardMix Test (response)" in text
    assert soup.find(id="T_across_ece_rms") is not None and soup.find(id="T_gap_ece") is not None
    assert soup.find(id="T_slices_ece_rms") is not None
    alts = [img.get("alt", "") for img in soup.find_all("img")]
    assert any(a.startswith("Heat map of every guard's calibration error") for a in alts)


@pytest.mark.model
def test_tables_and_predictions(suite):
    _, cfg, _ = suite
    table = pd.read_csv(cfg.layout.table("benchmarks"))
    assert list(table.columns) == list(across.BENCHMARK_COLUMNS)
    assert set(table["benchmark"]) == {"openai_moderation", "xstest", "wildguardmix-response"}
    assert {"ece", "ece_rms", "f1", "auprc"} <= set(table["metric"])
    preds = pd.read_parquet(cfg.layout.table("predictions", ".parquet"))
    assert list(preds.columns) == ["model", "benchmark", "method", "id", "label", "proba_unsafe"]
    assert preds.groupby("benchmark")["id"].nunique().to_dict() == {
        "openai_moderation": ROWS,
        "wildguardmix-response": ROWS,
        "xstest": 4,  # the half of XSTest's 8 rows that calibration did not see
    }
    assert "Avg." in cfg.layout.table("benchmarks", ".tex").read_text()


@pytest.mark.model
def test_rms_ece_equals_liu_et_als_library_on_the_scores_files(suite):
    _, cfg, _ = suite
    table = pd.read_csv(cfg.layout.table("benchmarks"))
    for m in cfg.models:
        for entry in cfg.benchmarks:
            s = scores.read_scores(cfg, m.name, cfg.benchmark_split(entry.key))
            p = expit(s["logit_unsafe"] - s["logit_safe"]).to_numpy()
            want = kumar.get_calibration_error(p, s["label"].to_numpy(), debias=False)
            got = table.query(
                "model == @m.name and benchmark == @entry.key and method == 'uncalibrated' "
                "and metric == 'ece_rms'"
            )["value"]
            assert got.item() == pytest.approx(want, abs=1e-6)  # the CSV keeps six decimals


@pytest.mark.model
def test_a_rerun_scores_nothing(suite, caplog):
    path, cfg, _ = suite
    files = sorted((cfg.run_dir / "scores").rglob("*.parquet"))
    before = {f: f.stat().st_mtime_ns for f in files}
    assert len([f for f in files if "shards" not in f.parts]) == len(cfg.models) * len(cfg.splits)
    with caplog.at_level(logging.INFO, logger="guardcal"):
        assert main(["score", "--config", str(path)]) == 0
    assert {f: f.stat().st_mtime_ns for f in files} == before
    assert any("up to date" in r.getMessage() for r in caplog.records)
