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
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
import papermill
from jinja2 import DictLoader
from jupyter_client.manager import AsyncKernelManager
from nbconvert import HTMLExporter, SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from papermill.exceptions import PapermillExecutionError
from traitlets import CaselessStrEnum

from guardcal.atomic import atomic_write, write_text
from guardcal.config import PACKAGE_DIR, Config, config_text, write_run_config
from guardcal.layout import NOTEBOOKS, cache_dir
from guardcal.locks import run_lock

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
)
"""The report's section headings in order, as 05_report writes them: the study's twelve
(docs/design.md §1) with "Beyond the study" after its final table, then the decisions a guard's
user makes (§8). A suite run adds SUITE_SECTION after "Beyond the study"."""
SUITE_SECTION = "Across benchmarks"
SUITE_TAG = "suite"
"""05_report's cells of SUITE_SECTION carry this tag; a run without benchmarks renders without
them, so a single-dataset report is what it was."""

PDF_TIMEOUT = 120
"""Seconds headless Chromium may take to print report.pdf (the demo's takes a few)."""
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=30000",
)

MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
    },
    "svg": {"fontCache": "global"},
    "options": {"enableMenu": False},
}

REPORT_CSS = """
main { max-width: 1080px; margin: 0 auto; padding: 1.5em 2em 4em; }
.jp-RenderedImage img { max-width: 100%; height: auto; }
.jp-OutputArea-output table { margin: 0.6em 0 1.2em; }
.jp-RenderedHTMLCommon pre.guard-input { font-family: var(--jp-code-font-family); font-size: 12px;
  line-height: 1.35; white-space: pre-wrap; background: #f6f6f6; border: 1px solid #ddd;
  border-radius: 4px; padding: 0.8em 1em; }
@media print {
  main { max-width: none; padding: 0; }
  h1, h2 { break-after: avoid-page; }
  .jp-OutputArea-output { break-inside: avoid; }
}
"""

SLIDES_CSS = """
:root { --jp-content-font-size1: 18px; --jp-ui-font-size1: 18px; --jp-code-font-size: 15px; }
a.anchor-link { display: none; }
.reveal h1, .reveal h2 { text-transform: none; }
.reveal h1 { font-size: 1.6em; }
.reveal h2 { font-size: 1.2em; }
.reveal .slides section { text-align: left; }
.reveal img { max-height: 640px; max-width: 100%; }
.reveal .jp-RenderedHTMLCommon pre.guard-input { font-size: 12px; line-height: 1.3;
  max-height: 470px; overflow-y: auto; white-space: pre-wrap; box-shadow: none;
  background: #f6f6f6; padding: 0.6em 0.8em; }
.reveal table { font-size: 15px; }
"""

_IMAGE_BLOCK = """{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
{%- set alt = output | get_metadata('alt', 'image/png') %}
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- if alt %} alt="{{ alt | escape_html }}"{% endif %}>
</div>
{%- endblock data_png %}
"""
"""A figure's image with its alt text (the `alt` of its output metadata, set by the notebooks)."""

_TEMPLATES = {
    "guardcal_report.html.j2": """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {{ resources.guardcal.mathjax_config }};</script>
<script>{{ resources.guardcal.mathjax }}</script>
{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style>{{ resources.guardcal.css }}</style>{% endblock extra_css %}
"""
    + _IMAGE_BLOCK,
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
<script>
Reveal.initialize({controls: true, progress: true, hash: true, slideNumber: "c/t",
                   transition: "none", width: 1280, height: 800, margin: 0.04});
Reveal.on("slidechanged", () => { if (window.MathJax && MathJax.typesetPromise) {
  MathJax.typesetPromise([Reveal.getCurrentSlide()]); } });
</script>
</body>
{%- endblock body_footer -%}
{%- block footer -%}
</html>
{%- endblock footer -%}
"""
    + _IMAGE_BLOCK,
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


def _exporter(cls: type[HTMLExporter], template: str, template_file: str) -> HTMLExporter:
    """An nbconvert exporter with input hidden and our offline template."""
    return cls(
        template_name=template,
        template_file=template_file,
        extra_loaders=[DictLoader(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )


def _without(exporter: HTMLExporter, drop: frozenset[str]) -> HTMLExporter:
    """The exporter leaving out the cells tagged with any of `drop` (nbconvert's own
    TagRemovePreprocessor)."""
    if drop:
        exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=set(drop)), True)
    return exporter


def render_html(
    notebook: Path, out: Path, modules: Path, drop: frozenset[str] = frozenset()
) -> Path:
    """report.html: the executed report notebook, code hidden, everything inlined, the cells
    tagged with any of `drop` left out."""
    assets = _assets(modules)
    resources = {
        "guardcal": {
            "mathjax": assets["mathjax"],
            "mathjax_config": json.dumps(MATHJAX_CONFIG),
            "css": REPORT_CSS,
        }
    }
    exporter = _without(_exporter(HTMLExporter, "lab", "guardcal_report.html.j2"), drop)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4), resources)
    return write_text(out, body)


def render_slides(
    notebook: Path, out: Path, modules: Path, drop: frozenset[str] = frozenset()
) -> Path:
    """slides.html: the same notebook as a reveal.js deck, one slide per section, the cells
    tagged with any of `drop` left out."""
    assets = _assets(modules)
    resources = {
        "guardcal": {
            **assets,
            "mathjax_config": json.dumps(MATHJAX_CONFIG),
            "css": SLIDES_CSS,
            "title": SECTIONS[0],
        }
    }
    exporter = _without(_exporter(SlidesExporter, "reveal", "guardcal_slides.html.j2"), drop)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4), resources)
    return write_text(out, body)


def chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH, if any."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class RenderError(RuntimeError):
    """A report step failed; the one-line message names the step and what to do."""


class NotebookError(RenderError):
    """A report notebook failed; the message names it, the error, and the executed copy."""


def print_pdf(html: Path, pdf: Path, browser: str, timeout: float = PDF_TIMEOUT) -> Path:
    """report.pdf: report.html printed by headless Chromium once MathJax has typeset, within
    `timeout` seconds (else a RenderError, and no PDF)."""
    html = Path(html).resolve()

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as profile:
            try:
                subprocess.run(
                    [
                        browser,
                        *CHROMIUM_FLAGS,
                        f"--user-data-dir={profile}",
                        f"--print-to-pdf={tmp.resolve()}",
                        html.as_uri(),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise RenderError(
                    f"{pdf}: {browser} did not print within {timeout:g} s; report.html and "
                    "slides.html are written (--no-pdf skips the PDF)"
                ) from None
            except subprocess.CalledProcessError as exc:
                last = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
                said = f": {last[0]}" if last else ""
                raise RenderError(
                    f"{pdf}: {browser} failed (exit {exc.returncode}){said}"
                ) from None
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise RenderError(f"{pdf}: {browser} printed no PDF for {html}")

    return atomic_write(pdf, write)


class IPCKernelManager(AsyncKernelManager):
    """A notebook kernel reached over local IPC sockets instead of TCP ports: no port is open to
    other users of the machine, and ipykernel has no unencrypted-TCP warning to print."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)


def run_notebooks(
    cfg: Config,
    parameters: dict[str, object],
    notebooks: Sequence[str] = NOTEBOOKS,
    kernel: str = "python3",
) -> list[Path]:
    """Execute the notebooks in order with papermill into `reports/<run>/notebooks/`."""
    cfg.layout.notebooks.mkdir(parents=True, exist_ok=True)
    done = []
    for i, name in enumerate(notebooks, 1):
        start = time.perf_counter()
        out = cfg.layout.notebook(name)
        print(f"[{i}/{len(notebooks)}] {name} …", flush=True)
        try:
            papermill.execute_notebook(
                NOTEBOOK_DIR / f"{name}.ipynb",
                out,
                parameters=parameters,
                kernel_name=kernel,
                kernel_manager_class=IPCKernelManager,
                cwd=str(Path.cwd()),
                progress_bar=False,
            )
        except PapermillExecutionError as exc:
            raise NotebookError(f"{name}: {exc.ename}: {exc.evalue} (traceback in {out})") from None
        print(f"[{i}/{len(notebooks)}] {name}: {time.perf_counter() - start:.1f} s", flush=True)
        done.append(out)
    return done


def build_report(cfg: Config, *, pdf: bool = True) -> dict[str, Path]:
    """The whole report of a loaded, checked config (overrides applied): its settings written
    once into the run folder (`config.yaml`, which every notebook reads), the notebooks,
    report.html, slides.html and report.pdf. One report per run folder at a time; if a step
    fails, the earlier report's HTML, slides and PDF are removed and REPORT_FAILED.txt names the
    error and every file it did not rebuild."""
    modules = ensure_assets()
    parameters = {"run_dir": str(cfg.run_dir.absolute())}
    with run_lock(cfg.layout.lock("report"), "a report"):
        layout = cfg.layout
        digest = inputs_digest(cfg, pdf)
        built = {"html": layout.report_html, "slides": layout.slides_html}
        if pdf and chromium():
            built["pdf"] = layout.report_pdf
        if _read(layout.report_inputs) == digest and all(p.is_file() for p in built.values()):
            print(
                f"report is up to date: nothing it is built from changed ({layout.report_inputs} "
                "holds the digest; delete it to rebuild anyway)",
                flush=True,
            )
            return built
        layout.report_inputs.unlink(missing_ok=True)
        started = time.time()
        try:
            write_run_config(cfg)
            outputs = _build(cfg, parameters, modules, pdf)
        except Exception as exc:
            _mark_stale(cfg, started, exc)
            raise
        layout.report_failed.unlink(missing_ok=True)
        write_text(layout.report_inputs, inputs_digest(cfg, pdf) + "\n")
    return outputs


def _read(path: Path) -> str | None:
    """A small text file's stripped content, None when it does not exist."""
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


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


def _build(cfg: Config, parameters: dict[str, object], modules: Path, pdf: bool) -> dict[str, Path]:
    """Run the notebooks, then render the HTML report, the slides and (with chromium) the PDF."""
    notebooks = run_notebooks(cfg, parameters)
    drop = frozenset() if cfg.benchmarks else frozenset({SUITE_TAG})
    outputs = {
        "html": render_html(notebooks[-1], cfg.layout.report_html, modules, drop),
        "slides": render_slides(notebooks[-1], cfg.layout.slides_html, modules, drop),
    }
    browser = chromium()
    if pdf and browser:
        outputs["pdf"] = print_pdf(outputs["html"], cfg.layout.report_pdf, browser)
        return outputs
    cfg.layout.report_pdf.unlink(missing_ok=True)  # an earlier run's PDF would be stale
    if pdf:
        print("report.pdf skipped: no chromium on PATH (e.g. `apt-get install chromium`)")
    return outputs


def _mark_stale(cfg: Config, started: float, exc: BaseException) -> None:
    """After a failed report: drop the earlier run's rendered outputs (they would pass for this
    run's) and list in REPORT_FAILED.txt the files this attempt did not rewrite."""
    layout = cfg.layout
    rendered = (layout.report_html, layout.slides_html, layout.report_pdf)
    for path in rendered:
        if path.is_file() and path.stat().st_mtime < started:
            path.unlink()
    stale = sorted(
        str(p.relative_to(layout.root))
        for p in layout.root.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p != layout.report_failed
        and p.stat().st_mtime < started
    )
    lines = [
        f"The report of {cfg.source_file} failed: {type(exc).__name__}: {exc}",
        "report.html, slides.html and report.pdf of any earlier run were removed.",
        f"These {len(stale)} files are left from an earlier run and were not rebuilt:",
        *stale,
    ]
    write_text(layout.report_failed, "\n".join(lines) + "\n")
