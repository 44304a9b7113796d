"""End to end: the real notebooks through papermill on a few demo rows (the session's demo
report), then what a reader gets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from shipped_demo import REPORT_LIMIT
from synthetic import MODELS, scored_run, write_config

from guardcal import scores
from guardcal.__main__ import main
from guardcal.calibration.methods import method_names
from guardcal.config import load_config, with_overrides
from guardcal.reporting import figures, pipeline, render, tables


@pytest.fixture(scope="module")
def built(demo_report):
    """The session's demo report: its run, what `build_report` returned, report.html parsed."""
    return demo_report.cfg, demo_report.outputs, demo_report.soup


@pytest.mark.model
def test_the_notebooks_read_the_config_written_once_into_the_run(built) -> None:
    cfg, _, _ = built
    assert load_config(cfg.layout.config).dataset.limit == REPORT_LIMIT
    for name in render.NOTEBOOKS:
        nb = json.loads(cfg.layout.notebook(name).read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        assert f'run_dir = "{cfg.run_dir.absolute()}"' in "".join(cells[0]["source"])


def headings(soup: BeautifulSoup) -> list[str]:
    """The text of every h1/h2, without nbconvert's anchor pilcrow."""
    return [h.get_text().strip().rstrip("¶").strip() for h in soup.find_all(["h1", "h2"])]


def remote_sources(soup: BeautifulSoup) -> list[str]:
    """Every src/href of a script, link, img or iframe that a browser would fetch from the web."""
    found = []
    for tag in soup.find_all(["script", "link", "img", "iframe"]):
        for attr in ("src", "href"):
            value = tag.get(attr) or ""
            if value.startswith("data:"):
                continue
            if value.startswith(("http:", "https:", "//")) or "cdn" in value:
                found.append(f"<{tag.name} {attr}={value}>")
    return found


def test_every_section_is_in_the_report_in_order(built) -> None:
    _, _, soup = built
    found = [h for h in headings(soup) if h in render.SECTIONS]
    assert found == list(render.SECTIONS)


def test_every_figure_is_embedded(built) -> None:
    cfg, _, soup = built
    names = ["label_donuts", "category_donuts", "uncalibrated", "tuning_temperature"]
    names += ["tuning_gamma", "calibration_curves"]
    names += [figures.figure_name("reliability", m.name) for m in cfg.models]
    names += ["ece_forest"]
    names += [figures.figure_name(k, m.name) for m in cfg.models for k in ("wilson", "smooth")]
    names += [figures.figure_name("categories", m.name) for m in cfg.models] + ["risk_coverage"]
    alts = figures.figure_descriptions(cfg)
    assert sorted(img.get("alt") for img in soup.find_all("img")) == sorted(alts[n] for n in names)
    embedded = [
        img["src"].removeprefix("data:image/png;base64,")
        for img in soup.find_all("img")
        if img["src"].startswith("data:image/png;base64,")
    ]
    on_disk = [base64.b64encode((cfg.layout.figure(n)).read_bytes()).decode() for n in names]
    assert len(embedded) == len(names) == 8 + 4 * len(cfg.models)
    assert sorted(embedded) == sorted(on_disk)


def test_both_html_files_work_offline(built) -> None:
    _, outputs, soup = built
    slides = BeautifulSoup(outputs["slides"].read_text(encoding="utf-8"), "html.parser")
    for page in (soup, slides):
        assert remote_sources(page) == []
        scripts = [s.get_text() for s in page.find_all("script")]
        assert any(s.startswith("window.MathJax = {") for s in scripts)
        assert any("MathJax" in s and len(s) > 1_000_000 for s in scripts)  # the library, inlined
    assert "Reveal.initialize" in " ".join(s.get_text() for s in slides.find_all("script"))
    assert "$$" in soup.get_text()  # formulas are left for MathJax to typeset


def test_every_section_opens_a_slide_of_the_deck_in_order(built) -> None:
    _, outputs, _ = built
    slides = BeautifulSoup(outputs["slides"].read_text(encoding="utf-8"), "html.parser")
    opening = [headings(section)[:1] for section in slides.select("div.slides > section")]
    found = [h[0] for h in opening if h and h[0] in render.SECTIONS]
    assert found == list(render.SECTIONS)


def test_report_tables_show_every_method_of_every_model(built) -> None:
    cfg, _, soup = built
    metrics = pd.read_csv(cfg.layout.table("metrics"))
    table = soup.find("table", id="T_final")
    rows = [
        [td.get_text(strip=True) for td in tr.find_all(["td", "th"])]
        for tr in table.tbody.find_all("tr")
    ]
    expected = [name for m in cfg.models for name in (m.name, "+CC", "+BC", "+TS")]
    assert [r[0] for r in rows] == expected
    for row, (_, want) in zip(rows, metrics.iterrows(), strict=True):
        shown = [
            tables.UNDEFINED if pd.isna(want[k]) else f"{want[k]:.4f}" for k in tables.FINAL_METRICS
        ]
        assert row[1:] == shown
    for t in (soup.find("table", id="T_best_t"), soup.find("table", id="T_best_gamma")):
        assert [tr.td.get_text(strip=True) for tr in t.tbody.find_all("tr")] == [
            m.name for m in cfg.models
        ]


def test_tables_equal_what_the_library_computes_from_the_scores(built) -> None:
    cfg, _, _ = built
    fitted = {
        m.name: pipeline.fit_model(
            m.name,
            scores.read_scores(cfg, m.name, "validation"),
            scores.read_scores(cfg, m.name, "content_free"),
            cfg.calibration,
        )
        for m in cfg.models
    }
    preds = pd.concat(
        [pipeline.predictions(f, scores.read_scores(cfg, n, "test")) for n, f in fitted.items()]
    )
    want = pipeline.metrics_table(preds, cfg.calibration.ece_bins)
    got = pd.read_csv(cfg.layout.table("metrics"))
    assert list(got.columns) == list(tables.METRICS_COLUMNS)
    assert set(got["method"]) == set(method_names(study=True))
    pd.testing.assert_frame_equal(got, want, atol=1e-6, check_dtype=False)
    want_tuning = pd.concat(
        [
            pipeline.tuning_rows(
                f, scores.read_scores(cfg, n, "validation"), cfg.calibration.ece_bins
            )
            for n, f in fitted.items()
        ],
        ignore_index=True,
    )
    got_tuning = pd.read_csv(cfg.layout.table("tuning"))
    pd.testing.assert_frame_equal(got_tuning, want_tuning, atol=1e-6, check_dtype=False)
    assert len(scores.read_scores(cfg, cfg.models[0].name, "test")) == REPORT_LIMIT


def test_the_example_shown_is_the_scorers(built) -> None:
    cfg, _, soup = built
    example = scores.read_example(cfg, cfg.models[0].name)
    shown = soup.find("pre", class_="guard-input").get_text()
    assert shown == example["input"]
    for m in cfg.models:
        assert scores.read_example(cfg, m.name)["answer"] in soup.get_text()


def test_executed_notebooks_and_pdfs(built) -> None:
    cfg, outputs, _ = built
    for name in render.NOTEBOOKS:
        nb = nbformat.read(cfg.run_dir / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), name
    if render.chromium() is None:
        assert "pdf" not in outputs and "slides_pdf" not in outputs
        pytest.skip("no chromium on PATH: the PDFs are skipped by design")
    assert outputs["pdf"].read_bytes().startswith(b"%PDF")
    assert outputs["slides_pdf"].read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("name", render.NOTEBOOKS)
def test_committed_notebooks_are_clean_and_parameterised(name: str) -> None:
    path = Path(render.NOTEBOOK_DIR) / f"{name}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert "run_dir = None" in "".join(tagged[0]["source"])
    if name == "05_report":
        opening = [
            "".join(c["source"]).split("\n", 1)[0].lstrip("# ")
            for c in nb["cells"]
            if c["metadata"].get("slideshow", {}).get("slide_type") == "slide"
        ]
        assert [t for t in opening if t in render.SECTIONS] == list(render.SECTIONS)
        assert render.SUITE_SECTION in opening  # a suite run adds its own section


def test_missing_npm_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no npm on it
    with pytest.raises(RuntimeError, match="npm not found"):
        render.ensure_assets(tmp_path / "npm")
    assert not (tmp_path / "npm").exists()


def test_installed_assets_are_reused_without_npm(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = render.ensure_assets()  # installs once, from the npm registry
    monkeypatch.setenv("PATH", "")
    assert render.ensure_assets() == modules
    assert all((modules / rel).is_file() for rel in render.ASSETS.values())


def test_bad_data_stops_the_report_with_one_line_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"prompt": "hi", "response": "ok", "is_safe": True}]
    rows.append({"prompt": "x", "response": "y", "is_safe": "maybe"})
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "bad",
        "dataset": {"validation": "data.jsonl", "test": "data.jsonl"},
        "models": [{"name": "guard", "model": "embedded:smollm2-135m"}],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    argv = ["report", "--config", str(tmp_path / "config.yaml"), "--reports-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1  # before any notebook runs
    assert "data.jsonl: line 2, field 'is_safe'" in err
    assert not (tmp_path / "bad" / "scores").exists()  # failed before any model was loaded


def test_inputs_digest_follows_settings_and_scores(tmp_path: Path) -> None:
    """The up-to-date check: same inputs, same digest; a changed scores file, parameter or
    setting changes it."""
    cfg = scored_run(tmp_path)
    first = render.inputs_digest(cfg, pdf=True)
    assert render.inputs_digest(cfg, pdf=True) == first
    assert render.inputs_digest(cfg, pdf=False) != first
    assert render.inputs_digest(with_overrides(cfg, limit=5), pdf=True) != first
    other = load_config(write_config(tmp_path, ece_bins=10))  # same run folder
    assert render.inputs_digest(other, pdf=True) != first
    path = other.layout.scores(MODELS[0], "test")
    frame = scores.read_scores(other, MODELS[0], "test")
    before = render.inputs_digest(other, pdf=True)
    frame.loc[0, "logit_unsafe"] += 1.0
    scores.write_table(frame, path, scores.read_meta(path))
    assert render.inputs_digest(other, pdf=True) != before
