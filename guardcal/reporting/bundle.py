"""`guardcal bundle`: one zip of what a grader reads, `reports/<run>.zip`: report.pdf, report.html,
slides.html, slides.pdf, the executed notebooks, the tables, the run's config and its provenance.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from guardcal.atomic import atomic_write
from guardcal.config import Config

ZIP_TIME = (2000, 1, 1, 0, 0, 0)
"""Every member's timestamp: the same run folder always gives the same bytes."""


class BundleError(RuntimeError):
    """The run folder lacks something the bundle holds; the message names it."""


def members(cfg: Config) -> list[Path]:
    """The files the bundle holds, in the order it lists them; a BundleError naming every
    missing one (and what makes it) when the report is incomplete or failed."""
    layout = cfg.layout
    if layout.report_failed.is_file():
        raise BundleError(
            f"{layout.report_failed}: the last report of this run failed; fix it and run "
            "`guardcal report` again before bundling"
        )
    single = [
        layout.report_pdf,
        layout.report_html,
        layout.slides_html,
        layout.slides_pdf,
        layout.config,
        layout.provenance,
    ]
    missing = [p.name for p in single if not p.is_file()]
    notebooks = sorted(layout.notebooks.glob("*.ipynb")) if layout.notebooks.is_dir() else []
    tables = sorted(p for p in layout.tables.rglob("*") if p.is_file())
    missing += [] if notebooks else ["notebooks/"]
    missing += [] if tables else ["tables/"]
    if missing:
        pdfs = any(name.endswith(".pdf") for name in missing)
        raise BundleError(
            f"{layout.root}: missing {', '.join(missing)}; run `guardcal report` for this config"
            + (" with chromium installed (it prints the PDFs)" if pdfs else "")
        )
    return [*single, *notebooks, *tables]


def bundle(cfg: Config, out: Path | None = None) -> Path:
    """Write `reports/<run>.zip` (or `out`), atomically, each file under `<run>/` as in the run
    folder."""
    root = cfg.layout.root
    files = members(cfg)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                info = zipfile.ZipInfo(f"{root.name}/{path.relative_to(root).as_posix()}", ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())

    return atomic_write(out or cfg.layout.bundle, write)
