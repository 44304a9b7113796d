"""The slide deck and the report from one executed notebook: which cells each shows, and the
deck's layout rules, applied to every section (those added later too).

A slide shows one idea: at most one figure or table, its heading and a few short bullets. So in
the deck
- each figure (a PNG output) and each table (an HTML output holding a `<table>`) after the first
  of a slide starts a new vertical slide under its section's heading;
- narrative (Markdown and other text outputs, and the prose paragraphs of Markdown cells) becomes
  the slide's speaker notes (reveal.js notes), while headings, display formulas, lists and HTML
  blocks of Markdown cells stay on the slide;
- a cell tagged `report-only` is left out of the deck, `slide-only` out of the report (short
  bullets written for a slide), and `slide-text` keeps a cell's text on its slide.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable

import nbformat
from nbformat import NotebookNode

REPORT_ONLY = "report-only"
SLIDE_ONLY = "slide-only"
SLIDE_TEXT = "slide-text"
NEW_SLIDE = ("slide", "subslide")

_KEPT_BLOCK = re.compile(r"^\s*(#|\$\$|\\\[|<|[-*+] |\d+\. |\|)")
"""Markdown blocks that stay on a slide: headings, display math, HTML, lists and tables."""
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", flags=re.DOTALL)


def tags(cell: NotebookNode) -> set[str]:
    """A cell's tags."""
    return set(cell.get("metadata", {}).get("tags", []))


def slide_type(cell: NotebookNode) -> str:
    """A cell's reveal.js slide type (`-`: it continues the current slide)."""
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def _with_slide_type(cell: NotebookNode, kind: str) -> NotebookNode:
    cell = copy.deepcopy(cell)
    cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = kind
    return cell


def without_tagged(nb: NotebookNode, *drop: str) -> NotebookNode:
    """The notebook without its cells tagged with any of `drop`."""
    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if not tags(cell) & set(drop)]
    return nb


def for_report(nb: NotebookNode, drop: Iterable[str] = ()) -> NotebookNode:
    """What report.html shows: every cell but the slides' own bullets and those tagged with any
    of `drop`."""
    return without_tagged(nb, SLIDE_ONLY, *drop)


def is_visual(output: NotebookNode) -> bool:
    """A figure or a table: what a slide shows one of."""
    data = output.get("data", {})
    return "image/png" in data or "<table" in str(data.get("text/html", ""))


def _heading(source: str) -> str | None:
    """The text of a Markdown cell's first `##` heading."""
    match = re.search(r"^##\s+(.+?)\s*$", source, flags=re.MULTILINE)
    return match.group(1) if match else None


def _starts_with_heading(cell: NotebookNode) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("#")


def _split_markdown(source: str) -> tuple[str, str]:
    """A Markdown cell's source as (what stays on the slide, prose for the notes); a display
    formula written inside a paragraph stays on the slide too."""
    kept, prose = [], []
    for block in re.split(r"\n\s*\n", source.strip()):
        if _KEPT_BLOCK.match(block):
            kept.append(block)
            continue
        formulas = _DISPLAY_MATH.findall(block)
        kept += formulas
        text = _DISPLAY_MATH.sub("", block).strip()
        prose += [text] if text else []
    return "\n\n".join(kept), "\n\n".join(prose)


class _Deck:
    """The deck's cells being laid out: the slide type the next shown cell opens with, and the
    notes of the slide being built."""

    def __init__(self) -> None:
        self.cells: list[NotebookNode] = []
        self.notes: list[NotebookNode] = []
        self.opens: str | None = None
        self.heading: str | None = None
        self.section: str | None = None
        self.visuals = 0

    def start(self, kind: str, heading: str | None = None) -> None:
        """A slide or vertical slide begins with the next shown cell (after `heading`, when
        given); the last one's notes close the last one."""
        self.flush()
        self.opens, self.heading, self.visuals = kind, heading, 0

    def show(self, cell: NotebookNode) -> None:
        """A cell on the slide being built (the first of a new slide opens it, under its
        section's heading when it continues one)."""
        if self.heading is not None:
            heading, self.heading = self.heading, None
            self.show(nbformat.v4.new_markdown_cell(f"### {heading}" if heading else ""))
        self.cells.append(_with_slide_type(cell, self.opens or "-"))
        self.opens = None

    def flush(self) -> None:
        """The notes gathered for the slide being built, as one reveal.js notes element (a
        slide that would show nothing is not opened: its notes join the slide before)."""
        self.opens = self.heading = None
        if not self.notes:
            return
        notes = nbformat.v4.new_code_cell(source="", outputs=self.notes)
        self.cells.append(_with_slide_type(notes, "notes"))
        self.notes = []

    def add(self, cell: NotebookNode) -> None:
        kind = slide_type(cell)
        if kind in ("skip", "notes"):
            self.cells.append(cell)
            return
        if kind == "subslide" and not _starts_with_heading(cell):
            self.continuation()
        elif kind in NEW_SLIDE:
            self.start(kind)
        if cell.cell_type == "markdown":
            self.markdown(cell)
        elif cell.cell_type == "code":
            self.code(cell)
        else:
            self.show(cell)

    def markdown(self, cell: NotebookNode) -> None:
        self.section = _heading(cell.source) or self.section
        if tags(cell) & {SLIDE_TEXT, SLIDE_ONLY}:
            self.show(cell)
            return
        kept, prose = _split_markdown(cell.source)
        if kept:
            shown = copy.deepcopy(cell)
            shown.source = kept
            self.show(shown)
        if prose:
            self.notes.append(nbformat.v4.new_output("display_data", data={"text/markdown": prose}))

    def code(self, cell: NotebookNode) -> None:
        keep_text = SLIDE_TEXT in tags(cell)
        for output in cell.get("outputs", []):
            if is_visual(output):
                if self.visuals:
                    self.continuation()
                self.visuals += 1
            elif not keep_text:
                self.notes.append(output)
                continue
            piece = copy.deepcopy(cell)
            piece.outputs = [output]
            self.show(piece)

    def continuation(self) -> None:
        """A vertical slide under the section's heading (a second figure or table)."""
        self.start("subslide", self.section or "")


def for_slides(nb: NotebookNode, drop: Iterable[str] = ()) -> NotebookNode:
    """What slides.html shows: the report's cells laid out by the deck's rules, those tagged with
    any of `drop` left out."""
    nb = without_tagged(nb, REPORT_ONLY, *drop)
    deck = _Deck()
    for cell in nb.cells:
        deck.add(cell)
    deck.flush()
    for number, cell in enumerate(deck.cells):  # a cell split in pieces: ids stay unique
        cell["id"] = f"slide-cell-{number}"
    nb.cells = deck.cells
    return nb
