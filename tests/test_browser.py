"""The session's demo report as a reader gets it, in headless Chromium: report.pdf's layout (every
table on its page, every column header in its text), the deck (every slide fits 1280×720, one
figure or table a slide), images, typeset formulas and a quiet console. Chromium is Debian's
`chromium` (`.ci/run` installs it); without it these tests skip, unless
GUARDCAL_REQUIRE_BROWSER=1 (CI) makes that a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from page_checks import run

from guardcal.reporting import browser, render

MAX_BULLETS = 3
"""Bullets a slide with a figure may show (the rest belongs in its speaker notes)."""


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (apt-get install chromium poppler-utils)"
        if os.environ.get("GUARDCAL_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def chrome(demo_report) -> Iterator[browser.Browser]:
    """One headless Chromium for the module."""
    _needs("chromium")
    with browser.launch() as chrome:
        yield chrome


@pytest.fixture(scope="module")
def report_page(demo_report, chrome):
    """report.html open as on screen: what the screen checks read, before the print layout."""
    page = render.open_report(chrome, demo_report.outputs["html"])
    screen = {
        check: run(page, check) for check in ("brokenImages", "rawTex", "typeset", "tableOverflows")
    }
    render.lay_out_for_print(page)
    return page, screen


@pytest.fixture(scope="module")
def slides_page(demo_report, chrome):
    page = render.open_slides(chrome, demo_report.outputs["slides"])
    return page, run(page, "slides")


def test_every_table_fits_the_printed_page(report_page) -> None:
    page, _ = report_page
    assert page.evaluate("document.querySelectorAll('table').length") >= 5
    overflowing = run(page, "tableOverflows")
    print(f"tables overflowing report.pdf's page: {len(overflowing)}")
    assert overflowing == []


def test_the_report_shows_its_images_and_formulas_and_logs_no_error(report_page) -> None:
    page, screen = report_page
    assert screen["brokenImages"] == []
    assert screen["rawTex"] == []
    assert screen["typeset"] > 10
    assert page.errors == []


def test_every_slide_fits_and_shows_one_idea(slides_page) -> None:
    page, slides = slides_page
    overflowing = [s for s in slides if s["overflow"] or s["cut"]]
    print(f"slides overflowing 1280x720: {len(overflowing)} of {len(slides)}")
    assert overflowing == []
    for s in slides:
        where = f"slide {s['at']} ({s['title']})"
        assert s["figures"] <= 1 and s["tables"] <= 1, where
        assert not (s["figures"] and s["tables"]), where
        if s["figures"]:
            assert len(s["bullets"]) <= MAX_BULLETS, where
    assert page.errors == []
    assert run(page, "brokenImages") == []
    assert run(page, "rawTex") == []


def test_the_deck_follows_the_study_and_keeps_its_narrative_as_notes(slides_page) -> None:
    _, slides = slides_page
    titles = [s["title"] for s in slides]
    firsts = [titles.index(t) for t in render.SECTIONS]
    assert firsts == sorted(firsts)
    assert sum(s["figures"] for s in slides) >= 10
    assert sum(s["notes"] for s in slides) >= len(render.SECTIONS) // 2


def pdf_text(pdf: Path, *args: str) -> str:
    _needs("pdftotext")
    done = subprocess.run(
        ["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def squeezed(text: str) -> str:
    """Text without whitespace or soft hyphens: a header wrapped over lines reads the same."""
    return re.sub(r"[\s\u00ad]+", "", text)


def test_report_pdf_holds_every_column_header_of_every_table(demo_report) -> None:
    _needs("chromium")
    html = BeautifulSoup(demo_report.outputs["html"].read_text(encoding="utf-8"), "html.parser")
    headers = {
        th.get_text(" ", strip=True)
        for table in html.find_all("table")
        for th in (table.thead.find_all("th") if table.thead else table.find_all("tr")[0](["th"]))
    } - {""}
    assert len(headers) >= 20
    text = squeezed(pdf_text(demo_report.outputs["pdf"], "-raw"))
    missing = sorted(h for h in headers if squeezed(h) not in text)
    assert missing == []


def test_report_pdf_has_contents_and_page_numbers(demo_report) -> None:
    _needs("chromium")
    pages = pdf_text(demo_report.outputs["pdf"]).split("\f")[:-1]
    assert "Contents" in pages[0]
    contents = squeezed(pages[0] + pages[1])
    assert all(squeezed(title) in contents for title in render.SECTIONS[1:])
    for number, page in enumerate(pages, 1):
        assert f"{number} / {len(pages)}" in page
    text = "".join(pages)
    assert re.search(r"Figure 1\.", text) and re.search(r"Table 1\.", text)
    for number, page in enumerate(pages, 1):  # no heading left alone at the foot of a page
        body = [line.strip() for line in page.splitlines() if line.strip()]
        body = [line for line in body if not re.fullmatch(r"\d+ / \d+", line)]
        assert body and body[-1] not in render.SECTIONS, f"page {number} ends with its heading"


def test_slides_pdf_has_one_page_per_slide(demo_report, slides_page) -> None:
    _, slides = slides_page
    pages = pdf_text(demo_report.outputs["slides_pdf"]).split("\f")[:-1]
    assert len(pages) == len(slides)
