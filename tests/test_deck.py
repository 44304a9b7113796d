"""The deck's layout rules on small hand-made notebooks: one figure or table a slide, narrative
into speaker notes, the report's and the slides' own cells."""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode

from guardcal.reporting import deck

PNG = {"image/png": "iVBORw0KGgo="}
TABLE = {"text/html": "<table><thead><tr><th>a</th></tr></thead></table>"}
TEXT = {"text/markdown": "A long paragraph of narrative with the run's numbers."}


def out(data: dict[str, str]) -> NotebookNode:
    return nbformat.v4.new_output("display_data", data=data)


def cell(source: str = "", outputs=(), slide: str | None = None, tags=()) -> NotebookNode:
    if outputs:
        c = nbformat.v4.new_code_cell(source, outputs=[out(o) for o in outputs])
    else:
        c = nbformat.v4.new_markdown_cell(source)
    if slide:
        c.metadata["slideshow"] = {"slide_type": slide}
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def slides(*cells: NotebookNode) -> list[list[NotebookNode]]:
    """The deck's slides (each a list of cells) and, per slide, its notes cells."""
    laid = deck.for_slides(nbformat.v4.new_notebook(cells=list(cells))).cells
    found: list[list[NotebookNode]] = []
    for c in laid:
        if deck.slide_type(c) in ("slide", "subslide") or not found:
            found.append([])
        found[-1].append(c)
    return found


def visuals(slide: list[NotebookNode]) -> int:
    return sum(
        deck.is_visual(o)
        for c in slide
        if deck.slide_type(c) != "notes"
        for o in c.get("outputs", [])
    )


def notes(slide: list[NotebookNode]) -> list[NotebookNode]:
    return [o for c in slide if deck.slide_type(c) == "notes" for o in c.outputs]


def test_each_figure_or_table_after_the_first_gets_its_own_slide_under_the_heading() -> None:
    found = slides(
        cell("## Section\n\nProse that belongs to the notes.", slide="slide"),
        cell(outputs=[TEXT, PNG, PNG, TABLE]),
    )
    assert [visuals(s) for s in found] == [1, 1, 1]
    assert [c.source for c in found[1] if c.cell_type == "markdown"] == ["### Section"]
    assert deck.slide_type(found[1][0]) == "subslide"
    first_notes = notes(found[0])
    assert [o.data.get("text/markdown") for o in first_notes] == [
        "Prose that belongs to the notes.",
        TEXT["text/markdown"],
    ]


def test_headings_formulas_lists_and_html_stay_on_the_slide() -> None:
    source = "## S\n\nProse.\n\n$$x = 1$$\n\n- one\n- two\n\n<div>diagram</div>"
    found = slides(cell(source, slide="slide"))
    shown = found[0][0].source
    assert shown == "## S\n\n$$x = 1$$\n\n- one\n- two\n\n<div>diagram</div>"
    assert [o.data["text/markdown"] for o in notes(found[0])] == ["Prose."]


def test_a_formula_inside_a_paragraph_stays_and_its_prose_goes_to_the_notes() -> None:
    found = slides(cell("**Method** (Author, 2017): one scalar.\n$$p = f(z)$$", slide="slide"))
    assert found[0][0].source == "$$p = f(z)$$"
    assert [o.data["text/markdown"] for o in notes(found[0])] == [
        "**Method** (Author, 2017): one scalar."
    ]


def test_report_only_and_slide_only_cells() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            cell("# T", slide="slide"),
            cell("- bullet", tags=["slide-only"]),
            cell(outputs=[TABLE], tags=["report-only"]),
        ]
    )
    assert [c.source for c in deck.for_report(nb).cells] == ["# T", ""]
    laid = deck.for_slides(nb).cells
    assert [c.source for c in laid] == ["# T", "- bullet"]
    assert not any(c.get("outputs") for c in laid)


def test_a_slide_that_would_show_nothing_gives_its_notes_to_the_slide_before() -> None:
    found = slides(
        cell("## S", slide="slide"),
        cell(outputs=[TEXT], slide="subslide"),
    )
    assert len(found) == 1
    assert len(notes(found[0])) == 1


def test_slide_text_keeps_a_cells_text_on_the_slide() -> None:
    found = slides(cell("## S", slide="slide"), cell(outputs=[TEXT], tags=["slide-text"]))
    assert notes(found[0]) == []
    assert found[0][1].outputs[0].data == TEXT


def test_cell_ids_stay_unique() -> None:
    laid = deck.for_slides(
        nbformat.v4.new_notebook(cells=[cell("## S", slide="slide"), cell(outputs=[PNG, PNG])])
    ).cells
    ids = [c.id for c in laid]
    assert len(ids) == len(set(ids))
