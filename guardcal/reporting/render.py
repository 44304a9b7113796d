"""`guardcal report`: run the five notebooks (papermill); render report.html, slides.html and
report.pdf.

Both HTML files are self-contained and work offline: figures are embedded as base64, and MathJax
and reveal.js are inlined from local copies installed once from the npm registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jinja2 import DictLoader
from jupyter_client.manager import AsyncKernelManager
from nbconvert import HTMLExporter, SlidesExporter
from papermill.exceptions import PapermillExecutionError
from traitlets import CaselessStrEnum

from guardcal.atomic import atomic_write, write_text
from guardcal.config import PACKAGE_DIR, Config, check_run_folder, config_text, write_run_config
from guardcal.layout import NOTEBOOKS, cache_dir
from guardcal.locks import run_lock
from guardcal.reporting import browser, deck, provenance
from guardcal.reporting.browser import chromium
from guardcal.reporting.markup import MATH_IGNORE

NOTEBOOK_DIR = PACKAGE_DIR / "notebooks"
"""The notebooks ship inside the package, so an installed wheel runs the report too."""
NPM_PACKAGES = ("mathjax@3.2.2", "reveal.js@5.2.1")
ASSETS = {
    "mathjax": "mathjax/es5/tex-svg-full.js",
    "reveal_js": "reveal.js/dist/reveal.js",
    "reveal_css": "reveal.js/dist/reveal.css",
    "reveal_theme": "reveal.js/dist/theme/white.css",
}
SECTIONS = (
    "Calibration of LLM-based guardrail models",
    "The pipeline",
    "Calibration",
    "Calibration methods",
    "Experimental setup",
    "Uncalibrated models",
    "Temperature scaling: tuning",
    "Batch calibration: tuning",
    "Calibration curves",
    "Reliability diagrams",
    "Results",
    "Beyond the study",
    "Harm categories",
    "Operating points",
    "The calibrated guard",
    "References",
    "Provenance",
)
"""The report's section headings in order, as 05_report writes them: the study's twelve
(docs/design.md §1) with "Beyond the study" after its final table, then the decisions a guard's
user makes (§8), and where the numbers came from. A suite run adds SUITE_SECTION after "Beyond
the study"."""
SUITE_SECTION = "Across benchmarks"
SUITE_TAG = "suite"
"""05_report's cells of SUITE_SECTION carry this tag; a run without benchmarks renders without
them, so a single-dataset report is what it was."""

PDF_TIMEOUT = 120
"""Seconds headless Chromium may take to open and print each of report.pdf and slides.pdf."""
PAGE_MM = (210, 297)
"""report.pdf's pages: A4 portrait, in millimetres."""
MARGINS_MM = (15, 14, 17, 14)
"""Its margins (top, right, bottom, left); the bottom one holds the page number."""
SLIDE_SIZE = (1280, 720)
"""The deck's slides in CSS pixels: what every slide must fit (slides.js shrinks one that would
not) and the size of slides.pdf's pages."""
STATIC = Path(__file__).parent / "static"
"""The report's and the deck's own style sheets and scripts."""

MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
    },
    "svg": {"fontCache": "global"},
    "options": {"enableMenu": False, "ignoreHtmlClass": MATH_IGNORE.replace(" ", "|")},
}

_FIGURE_BLOCK = """{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
{%- set alt = output | get_metadata('alt', 'image/png') %}
<figure class="guardcal-figure">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- if alt %} alt="{{ alt | escape_html }}"{% endif %}>
{%- if alt %}<figcaption class="MATH_IGNORE">{{ alt | escape_html }}</figcaption>{% endif %}
</figure>
</div>
{%- endblock data_png %}
""".replace("MATH_IGNORE", MATH_IGNORE)
"""A figure: its image and, as alt text and numbered caption, the `alt` of its output metadata
(the figure catalogue's description, set by the notebooks; it names guards, so it is user text:
escaped, and left untypeset)."""

_TEMPLATES = {
    "guardcal_report.html.j2": """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {{ resources.guardcal.mathjax_config }};</script>
<script>{{ resources.guardcal.mathjax }}</script>
{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style>{{ resources.guardcal.css }}</style>{% endblock extra_css %}
{%- block body_footer -%}
<script>{{ resources.guardcal.js }}</script>
{{ super() }}
{%- endblock body_footer -%}
"""
    + _FIGURE_BLOCK,
    "guardcal_slides.html.j2": """{%- extends 'base.html.j2' -%}
{%- block header -%}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{{ resources.guardcal.title }}</title>
<style>{{ resources.guardcal.reveal_css }}</style>
{% for css in resources.inlining.css -%}<style>{{ css }}</style>{% endfor %}
{{ resources.include_css("static/index.css") }}
{{ resources.include_css("static/theme-light.css") }}
{{ resources.include_css("static/custom_reveal.css") }}
<style>{{ resources.guardcal.reveal_theme }}</style>
<style>{{ resources.guardcal.css }}</style>
<script>window.MathJax = {{ resources.guardcal.mathjax_config }};</script>
<script>{{ resources.guardcal.mathjax }}</script>
</head>
{%- endblock header -%}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<main>
<div class="reveal">
<div class="slides">
{%- endblock body_header -%}
{%- block body_footer -%}
</div>
</div>
</main>
<script>{{ resources.guardcal.reveal_js }}</script>
<script>window.guardcalSlideSize = {{ resources.guardcal.slide_size }};</script>
<script>{{ resources.guardcal.js }}</script>
</body>
{%- endblock body_footer -%}
{%- block footer -%}
</html>
{%- endblock footer -%}
"""
    + _FIGURE_BLOCK,
}


def npm_dir() -> Path:
    """Where MathJax and reveal.js are installed once from the npm registry: the user cache."""
    return cache_dir() / "npm"


def ensure_assets(folder: Path | None = None) -> Path:
    """The `node_modules` folder holding MathJax and reveal.js, installed from npm if missing."""
    folder = Path(folder) if folder else npm_dir()
    modules = folder / "node_modules"
    if all((modules / rel).is_file() for rel in ASSETS.values()):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm not found: the report inlines MathJax and reveal.js from the npm registry; "
            "install Node.js and npm (e.g. `apt-get install npm`) and run `make report` again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", *NPM_PACKAGES]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    missing = [rel for rel in ASSETS.values() if not (modules / rel).is_file()]
    if missing:
        raise RuntimeError(f"npm install in {folder} did not provide {missing}")
    return modules


def _inline_js(source: str) -> str:
    """JavaScript safe to place inside a <script> element."""
    return source.replace("</script", "<\\/script")


def _assets(modules: Path) -> dict[str, str]:
    """Asset texts keyed as in ASSETS: scripts escaped for inlining, CSS without @import."""
    texts = {key: (modules / rel).read_text(encoding="utf-8") for key, rel in ASSETS.items()}
    texts = {k: _inline_js(v) if k in ("mathjax", "reveal_js") else v for k, v in texts.items()}
    # The theme imports its web font from a file beside it; offline we keep the fallback fonts.
    texts["reveal_theme"] = re.sub(r"@import url\([^)]*\);", "", texts["reveal_theme"])
    return texts


def _static(name: str) -> str:
    """One of the report's own style sheets or scripts (scripts escaped for inlining)."""
    text = (STATIC / name).read_text(encoding="utf-8")
    return _inline_js(text) if name.endswith(".js") else text


def page_css() -> str:
    """report.pdf's page box (size and margins from PAGE_MM and MARGINS_MM) with its page
    number, as CSS."""
    top, right, bottom, left = MARGINS_MM
    return (
        f"@page {{ size: {PAGE_MM[0]}mm {PAGE_MM[1]}mm; "
        f"margin: {top}mm {right}mm {bottom}mm {left}mm;\n"
        '  @bottom-center { content: counter(page) " / " counter(pages); font-size: 9pt; '
        "font-family: sans-serif; color: #555; } }\n"
    )


def page_width_px() -> int:
    """The width, in CSS pixels, of what report.pdf's pages print: the layout width of
    print_pdf's check that every table fits."""
    return round((PAGE_MM[0] - MARGINS_MM[1] - MARGINS_MM[3]) / 25.4 * 96)


def _exporter(cls: type[HTMLExporter], template: str, template_file: str) -> HTMLExporter:
    """An nbconvert exporter with input hidden and our offline template. Figures arrive as
    base64 outputs, so Markdown needs no image embedding, which would re-parse each inline HTML
    tag alone: `<span class="mathjax_ignore">` closed before the user text it wraps, leaving that
    text to MathJax."""
    return cls(
        template_name=template,
        template_file=template_file,
        extra_loaders=[DictLoader(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=False,
    )


def render_html(
    notebook: Path, out: Path, modules: Path, drop: frozenset[str] = frozenset()
) -> Path:
    """report.html: the executed report notebook, code hidden, everything inlined, the cells
    tagged with any of `drop` left out; its script adds the table of contents and lays wide
    tables out for print."""
    resources = {
        "guardcal": {
            "mathjax": _assets(modules)["mathjax"],
            "mathjax_config": json.dumps(MATHJAX_CONFIG),
            "css": _static("report.css") + page_css(),
            "js": _static("report.js"),
        }
    }
    exporter = _exporter(HTMLExporter, "lab", "guardcal_report.html.j2")
    nb = deck.for_report(nbformat.read(notebook, as_version=4), drop)
    body, _ = exporter.from_notebook_node(nb, resources)
    return write_text(out, body)


def render_slides(
    notebook: Path, out: Path, modules: Path, drop: frozenset[str] = frozenset()
) -> Path:
    """slides.html: the same notebook as a reveal.js deck laid out by the deck's rules (one
    figure or table a slide, narrative as speaker notes), each slide fitted to SLIDE_SIZE, the
    cells tagged with any of `drop` left out."""
    resources = {
        "guardcal": {
            **_assets(modules),
            "mathjax_config": json.dumps(MATHJAX_CONFIG),
            "css": _static("slides.css"),
            "js": _static("slides.js"),
            "slide_size": json.dumps(SLIDE_SIZE),
            "title": SECTIONS[0],
        }
    }
    exporter = _exporter(SlidesExporter, "reveal", "guardcal_slides.html.j2")
    nb = deck.for_slides(nbformat.read(notebook, as_version=4), drop)
    body, _ = exporter.from_notebook_node(nb, resources)
    return write_text(out, body)


class RenderError(RuntimeError):
    """A report step failed; the one-line message names the step and what to do."""


class NotebookError(RenderError):
    """A report notebook failed; the message names it, the error, and the executed copy."""


REPORT_READY = "window.guardcalReady"
"""The promise report.js and slides.js resolve once MathJax has typeset and the page is laid
out: what printing, and the browser tests, wait for."""


def open_report(chrome: browser.Browser, html: Path) -> browser.Page:
    """report.html in a tab, typeset and its images decoded."""
    page = chrome.open(browser.as_url(html), width=SLIDE_SIZE[0], height=SLIDE_SIZE[1])
    page.evaluate(REPORT_READY)
    return page


def lay_out_for_print(page: browser.Page) -> None:
    """Lay the open report out as report.pdf prints it: print media at the width of the page's
    printed area, every table too wide for it split into column groups."""
    page.call("Emulation.setEmulatedMedia", media="print")
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=page_width_px(),
        height=SLIDE_SIZE[1],
        deviceScaleFactor=1,
        mobile=False,
    )
    page.evaluate("window.guardcalPrintLayout()")


def open_slides(chrome: browser.Browser, html: Path, *, print_view: bool = False) -> browser.Page:
    """slides.html in a tab of SLIDE_SIZE, fitted and started; with `print_view`, reveal.js's
    print view (one page a slide)."""
    url = browser.as_url(html) + ("?print-pdf" if print_view else "")
    page = chrome.open(url, *SLIDE_SIZE)
    page.evaluate(REPORT_READY)
    return page


def print_pdfs(
    html: Path, slides: Path, pdfs: tuple[Path, Path], binary: str, timeout: float = PDF_TIMEOUT
) -> tuple[Path, Path]:
    """report.pdf and slides.pdf, printed by one headless Chromium once MathJax has typeset and
    the pages are laid out, each within `timeout` seconds (else a RenderError, and no PDF)."""
    report_pdf, slides_pdf = pdfs
    try:
        with browser.launch(binary, timeout) as chrome:
            page = open_report(chrome, html)
            lay_out_for_print(page)
            document = page.print_pdf(generateDocumentOutline=True)
            atomic_write(report_pdf, lambda tmp: tmp.write_bytes(document))
            slides_document = open_slides(chrome, slides, print_view=True).print_pdf()
            atomic_write(slides_pdf, lambda tmp: tmp.write_bytes(slides_document))
    except browser.BrowserTimeout:
        raise RenderError(
            f"{report_pdf.parent}: {binary} did not print within {timeout:g} s; report.html and "
            "slides.html are written (--no-pdf skips the PDFs)"
        ) from None
    except browser.BrowserError as exc:
        raise RenderError(
            f"{report_pdf.parent}: printing the PDFs with {binary} failed: {exc}; report.html and "
            "slides.html are written (--no-pdf skips the PDFs)"
        ) from None
    return report_pdf, slides_pdf


class IPCKernelManager(AsyncKernelManager):
    """A notebook kernel reached over local IPC sockets instead of TCP ports: no port is open to
    other users of the machine, and ipykernel has no unencrypted-TCP warning to print."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)


def _literal_path(path: Path) -> str:
    """`path` as papermill takes it: papermill fills `{…}` in paths from the parameters, so a
    run named `{run_dir}` would write elsewhere, and one with `{2}` would fail; braces doubled
    come out as themselves."""
    return str(path).replace("{", "{{").replace("}", "}}")


def run_notebooks(
    cfg: Config,
    parameters: dict[str, object],
    notebooks: Sequence[str] = NOTEBOOKS,
    kernel: str = "python3",
    steps: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """Execute the notebooks in order with papermill into `reports/<run>/notebooks/`; each one's
    time joins `steps` and the run's provenance.json, which the report's last section reads."""
    cfg.layout.notebooks.mkdir(parents=True, exist_ok=True)
    steps = [] if steps is None else steps
    done = []
    for i, name in enumerate(notebooks, 1):
        out = cfg.layout.notebook(name)
        print(f"[{i}/{len(notebooks)}] {name} …", flush=True)
        try:
            with provenance.timed(steps, name):
                papermill.execute_notebook(
                    NOTEBOOK_DIR / f"{name}.ipynb",
                    _literal_path(out),
                    parameters=parameters,
                    kernel_name=kernel,
                    kernel_manager_class=IPCKernelManager,
                    cwd=str(Path.cwd()),
                    progress_bar=False,
                )
        except PapermillExecutionError as exc:
            raise NotebookError(f"{name}: {exc.ename}: {exc.evalue} (traceback in {out})") from None
        print(f"[{i}/{len(notebooks)}] {name}: {steps[-1]['seconds']:.1f} s", flush=True)
        provenance.record(cfg, steps)
        done.append(out)
    return done


def build_report(
    cfg: Config, *, pdf: bool = True, steps: Sequence[dict[str, Any]] = ()
) -> dict[str, Path]:
    """The whole report of a loaded, checked config (overrides applied): its settings written
    once into the run folder (`config.yaml`, which every notebook reads), the notebooks,
    report.html, slides.html, report.pdf and slides.pdf, and provenance.json with the time of
    each step (`steps`: those the caller ran first, e.g. scoring). One report per run folder at
    a time; if a step fails, the earlier report's HTML, slides and PDFs are removed and
    REPORT_FAILED.txt names the error and every file it did not rebuild."""
    modules = ensure_assets()
    parameters = {"run_dir": str(cfg.run_dir.absolute())}
    check_run_folder(cfg)
    with run_lock(cfg.layout.lock("report"), "a report"):
        layout = cfg.layout
        built = {
            "html": layout.report_html,
            "slides": layout.slides_html,
            "provenance": layout.provenance,
        }
        if pdf and chromium():
            built.update(pdf=layout.report_pdf, slides_pdf=layout.slides_pdf)
        if up_to_date(cfg, pdf) and all(p.is_file() for p in built.values()):
            print(
                "report is up to date: nothing it is built from or wrote changed "
                f"({layout.report_inputs} holds the digests; delete it to rebuild anyway)",
                flush=True,
            )
            return built
        layout.report_inputs.unlink(missing_ok=True)
        started = time.time()
        try:
            write_run_config(cfg)
            outputs = _build(cfg, parameters, modules, pdf, list(steps))
        except BaseException as exc:  # an interrupt (Ctrl-C) fails the report like any error
            _mark_stale(cfg, started, exc)
            raise
        layout.report_failed.unlink(missing_ok=True)
        write_text(layout.report_inputs, report_state(cfg, pdf))
    return outputs


def report_state(cfg: Config, pdf: bool) -> str:
    """What `.report-inputs` holds after a report: the digest of what it was built from, then the
    digest of every file it wrote."""
    return f"{inputs_digest(cfg, pdf)}\n{outputs_digest(cfg)}\n"


def up_to_date(cfg: Config, pdf: bool) -> bool:
    """Whether the last report stands: nothing it was built from changed, and every file it
    wrote is there, unchanged (a deleted table or calibrated guard means a rebuild)."""
    path = cfg.layout.report_inputs
    return path.is_file() and path.read_text(encoding="utf-8") == report_state(cfg, pdf)


def _outputs(cfg: Config) -> list[Path]:
    """The files a report writes into the run folder: all but the scores it reads, its own
    bookkeeping (digests, the failure note) and hidden files (locks, temporaries)."""
    layout = cfg.layout
    scores_dir = layout.root / "scores"
    own = {layout.report_inputs, layout.report_failed}
    return sorted(
        p
        for p in layout.root.rglob("*")
        if p.is_file()
        and p not in own
        and not p.name.startswith(".")
        and scores_dir not in p.parents
    )


def outputs_digest(cfg: Config) -> str:
    """SHA-256 over the name and bytes of every file a report wrote (tables, figures,
    calibrated guards, executed notebooks, pages, PDFs, provenance)."""
    digest = hashlib.sha256()
    for path in _outputs(cfg):
        digest.update(f"{path.relative_to(cfg.layout.root)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def inputs_digest(cfg: Config, pdf: bool) -> str:
    """SHA-256 over what a report is built from: the run's settings (the `config.yaml` text the
    notebooks read), whether a PDF is printed, every file under its `scores/` (logits, shards,
    examples) and every file of the guardcal package (code, notebooks, policies, demo data). Any
    change to one of them changes the digest."""
    digest = hashlib.sha256()
    digest.update(f"pdf={pdf}\0".encode())
    digest.update(config_text(cfg).encode())
    sources = [(PACKAGE_DIR, p) for p in PACKAGE_DIR.rglob("*") if "__pycache__" not in p.parts]
    scores_dir = cfg.layout.root / "scores"
    sources += [(scores_dir, p) for p in scores_dir.rglob("*")] if scores_dir.is_dir() else []
    for root, path in sorted(sources, key=lambda item: (str(item[0]), str(item[1]))):
        if path.is_file():
            digest.update(f"{root.name}/{path.relative_to(root)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _build(
    cfg: Config,
    parameters: dict[str, object],
    modules: Path,
    pdf: bool,
    steps: list[dict[str, Any]],
) -> dict[str, Path]:
    """Run the notebooks, render the HTML report and the slides, print both PDFs (with
    chromium), then write provenance.json with every step's time."""
    provenance.record(cfg, steps, pdf)
    notebooks = run_notebooks(cfg, parameters, steps=steps)
    drop = frozenset() if cfg.benchmarks else frozenset({SUITE_TAG})
    with provenance.timed(steps, "report.html and slides.html"):
        outputs = {
            "html": render_html(notebooks[-1], cfg.layout.report_html, modules, drop),
            "slides": render_slides(notebooks[-1], cfg.layout.slides_html, modules, drop),
        }
    binary = chromium()
    if pdf and binary:
        with provenance.timed(steps, "report.pdf and slides.pdf"):
            pdfs = (cfg.layout.report_pdf, cfg.layout.slides_pdf)
            outputs["pdf"], outputs["slides_pdf"] = print_pdfs(
                outputs["html"], outputs["slides"], pdfs, binary
            )
    else:
        for stale in (cfg.layout.report_pdf, cfg.layout.slides_pdf):
            stale.unlink(missing_ok=True)  # an earlier run's PDF would pass for this one's
        if pdf:
            print("report.pdf skipped: no chromium on PATH (e.g. `apt-get install chromium`)")
    outputs["provenance"] = provenance.record(cfg, steps, pdf)
    return outputs


def _mark_stale(cfg: Config, started: float, exc: BaseException) -> None:
    """After a failed report: drop the earlier run's rendered outputs (they would pass for this
    run's) and list in REPORT_FAILED.txt the files this attempt did not rewrite."""
    layout = cfg.layout
    rendered = (layout.report_html, layout.slides_html, layout.report_pdf, layout.slides_pdf)
    for path in rendered:
        if path.is_file() and path.stat().st_mtime < started:
            path.unlink()
    stale = [str(p.relative_to(layout.root)) for p in _outputs(cfg) if p.stat().st_mtime < started]
    said = str(exc) or "interrupted"
    lines = [
        f"The report of {cfg.source_file} failed: {type(exc).__name__}: {said}",
        "report.html, slides.html and the PDFs of any earlier report were removed; the scores "
        "under scores/ are this run's inputs and were kept.",
        f"These {len(stale)} outputs are an earlier report's, not rebuilt by this one:",
        *stale,
    ]
    write_text(layout.report_failed, "\n".join(lines) + "\n")
