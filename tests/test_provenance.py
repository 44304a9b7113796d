"""Where the demo report's numbers came from (its provenance.json and last section), and the
bundle a grader gets."""

from __future__ import annotations

import json
import zipfile
from importlib import metadata

import pytest
from synthetic import write_config

from guardcal import scores
from guardcal.__main__ import main
from guardcal.config import load_config
from guardcal.layout import NOTEBOOKS
from guardcal.reporting import bundle, provenance


@pytest.fixture(scope="module")
def origin(demo_report):
    return json.loads(demo_report.cfg.layout.provenance.read_text(encoding="utf-8"))


def test_provenance_records_code_packages_weights_data_and_steps(demo_report, origin) -> None:
    cfg = demo_report.cfg
    assert origin["guardcal"]["version"] == metadata.version("guardcal")
    assert set(origin["packages"]) == {"python", *provenance.PACKAGES}
    assert origin["packages"]["numpy"] == metadata.version("numpy")
    for guard, m in zip(origin["guards"], cfg.models, strict=True):
        meta = scores.read_meta(cfg.layout.scores(m.name, "test"))
        assert (guard["name"], guard["weights"]) == (m.name, meta["revision"])
    for row in origin["data"]:
        meta = scores.read_meta(cfg.layout.scores(cfg.models[0].name, row["split"]))
        assert row["fingerprint"] == meta["dataset_fingerprint"]
        assert row["rows"] == len(scores.read_scores(cfg, cfg.models[0].name, row["split"]))
    steps = [s["step"] for s in origin["steps"]]
    assert steps[:5] == list(NOTEBOOKS)
    assert steps[-1] == "report.pdf and slides.pdf" or "pdf" not in demo_report.outputs
    assert origin["config"]["dataset"]["limit"] == cfg.dataset.limit


def test_the_recorded_command_reproduces_the_run_folder(demo_report, origin) -> None:
    args = origin["command"].split()
    assert args[:3] == ["guardcal", "report", "--config"]
    assert load_config(args[3]).run_dir.absolute() == demo_report.cfg.run_dir.absolute()


def test_the_report_ends_with_the_provenance_section(demo_report, origin) -> None:
    soup = demo_report.soup
    last = [h.get_text().rstrip("¶").strip() for h in soup.find_all("h2")][-1]
    assert last == "Provenance"
    text = soup.get_text()
    assert origin["command"] in text and origin["guards"][0]["weights"] in text


def test_the_bundle_holds_what_a_grader_reads(demo_report, tmp_path) -> None:
    cfg = demo_report.cfg
    if "pdf" not in demo_report.outputs:
        pytest.skip("no chromium: the report has no PDFs to bundle")
    path = bundle.bundle(cfg, tmp_path / "run.zip")
    names = zipfile.ZipFile(path).namelist()
    run = cfg.layout.root.name
    for member in (
        "report.pdf",
        "report.html",
        "slides.html",
        "slides.pdf",
        "config.yaml",
        "provenance.json",
        "notebooks/05_report.ipynb",
        "tables/metrics.csv",
    ):
        assert f"{run}/{member}" in names
    # fixed timestamps and modes: the same run folder always gives the same bytes
    infos = zipfile.ZipFile(path).infolist()
    assert {(i.date_time, i.external_attr) for i in infos} == {(bundle.ZIP_TIME, 0o644 << 16)}


def test_bundling_an_unfinished_run_names_what_is_missing(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    assert main(["bundle", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "missing report.pdf, report.html" in error and "guardcal report" in error
    assert not load_config(config).layout.bundle.exists()
