"""The run's figures: one catalogue of them (name, how its numbers are prepared, how it is drawn,
its alt text), drawn several at once and saved as PNG (for the report) and PDF (for papers)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from guardcal.atomic import atomic_write
from guardcal.config import Config
from guardcal.layout import model_slug
from guardcal.reporting import drawing, figure_data
from guardcal.reporting.figure_data import RunData


@dataclass(frozen=True)
class FigureKind:
    """One figure of the report, or one per guard when `per_model`: its file is `name` (or
    `name_<model slug>`), its numbers `prepare(run[, model])`, its image `draw(numbers)`, and `alt`
    describes it (`{model}`: the guard's name)."""

    name: str
    prepare: Callable[..., Any]
    draw: Callable[[Any], Figure]
    alt: str
    per_model: bool = False
    suite: bool = False
    """Drawn only for a suite run (`benchmarks:`)."""


CATALOGUE = (
    FigureKind(
        "label_donuts",
        figure_data.label_donuts,
        drawing.label_donuts,
        "Donut charts of the safe and unsafe shares of each split",
    ),
    FigureKind(
        "category_donuts",
        figure_data.category_donuts,
        drawing.category_donuts,
        "Donut charts of the harm categories flagged in each split",
    ),
    FigureKind(
        "uncalibrated",
        figure_data.uncalibrated,
        drawing.reliability_grid,
        "Reliability diagrams of every guard before calibration, with its ECE",
    ),
    FigureKind(
        "tuning_temperature",
        figure_data.temperature_tuning,
        drawing.tuning,
        "Validation metrics against the temperature T, the chosen T marked",
    ),
    FigureKind(
        "tuning_gamma",
        figure_data.gamma_tuning,
        drawing.tuning,
        "Validation metrics against batch calibration's γ, the chosen γ marked",
    ),
    FigureKind(
        "calibration_curves",
        figure_data.calibration_curves,
        drawing.calibration_curves,
        "Calibration curves of every guard under every method",
    ),
    FigureKind(
        "reliability",
        figure_data.reliability_diagrams,
        drawing.reliability_grid,
        "Reliability diagrams of {model}, per method",
        per_model=True,
    ),
    FigureKind(
        "categories",
        figure_data.category_heatmap,
        drawing.category_heatmap,
        "Heat map of {model}'s recall per harm category and method",
        per_model=True,
    ),
    FigureKind(
        "risk_coverage",
        figure_data.risk_coverage,
        drawing.risk_coverage_curves,
        "Risk–coverage curves: accuracy of the auto-decided items against the share decided "
        "automatically, per guard and method",
    ),
    FigureKind(
        "ece_forest",
        figure_data.ece_forest,
        drawing.ece_forest,
        "Forest plot of the ECE and its 95 % interval per guard and method",
    ),
    FigureKind(
        "wilson",
        figure_data.wilson,
        drawing.wilson_reliability,
        "Reliability diagrams of {model} with a 95 % Wilson interval per bin",
        per_model=True,
    ),
    FigureKind(
        "smooth",
        figure_data.smooth,
        drawing.smooth_reliability,
        "Smooth reliability diagrams (relplot) of {model}",
        per_model=True,
    ),
    FigureKind(
        "benchmarks_heatmap",
        figure_data.benchmarks_heatmap,
        drawing.benchmark_heatmap,
        "Heat map of every guard's calibration error on every benchmark before calibration: "
        "Liu et al.'s RMS ECE and the study's ECE, in percent",
        suite=True,
    ),
)
"""Every figure of a run, in the order they are drawn."""


def figure_name(kind: str, model: str | None = None) -> str:
    """The file name (without suffix) of a figure: `kind`, or `kind_<model slug>` for a guard's."""
    return kind if model is None else f"{kind}_{model_slug(model)}"


def _figures(cfg: Config) -> list[tuple[FigureKind, str | None]]:
    """Every figure of the run: its kind, and its guard for one drawn per guard."""
    models = [m.name for m in cfg.models]
    kinds = [k for k in CATALOGUE if bool(cfg.benchmarks) or not k.suite]
    return [(k, m) for k in kinds for m in (models if k.per_model else [None])]


def figure_descriptions(cfg: Config) -> dict[str, str]:
    """A one-line description of every figure of a run, by name: the alt text of its image."""
    return {
        figure_name(kind.name, model): kind.alt.format(model=model) for kind, model in _figures(cfg)
    }


def render_figures(cfg: Config) -> dict[str, Path]:
    """Prepare every figure's numbers from the run's tables, draw and save each as PNG + PDF;
    the PNG paths by name, in the catalogue's order."""
    run = figure_data.load_run(cfg)
    jobs = {
        figure_name(kind.name, model): (kind.draw, _prepare(kind, run, model))
        for kind, model in _figures(cfg)
    }
    return save_figures(jobs, cfg.layout.figures)


def _prepare(kind: FigureKind, run: RunData, model: str | None) -> Any:
    """A figure's numbers: of the run, or of one guard of it."""
    return kind.prepare(run) if model is None else kind.prepare(run, model)


def save_figure(fig: Figure, directory: Path, name: str) -> list[Path]:
    """Write `name.png` (for the report) and `name.pdf` (for papers) under `directory`."""
    directory = Path(directory)
    png = atomic_write(
        directory / f"{name}.png",
        lambda tmp: fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight"),
    )
    pdf = atomic_write(
        directory / f"{name}.pdf",
        lambda tmp: fig.savefig(
            tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None}
        ),
    )
    return [png, pdf]


def _draw_and_save(draw: Callable[[Any], Figure], data: Any, directory: Path, name: str) -> Path:
    """Draw one figure from its numbers and save it (a worker's task); its PNG path."""
    return save_figure(draw(data), directory, name)[0]


def save_figures(
    jobs: dict[str, tuple[Callable[[Any], Figure], Any]], directory: Path
) -> dict[str, Path]:
    """Draw and save every figure from its prepared numbers, several at once on the machine's
    cores (each is independent, and drawing holds the GIL): the PNG paths by name, in `jobs`'
    order. Workers are forked, so a caller's script needs no `__main__` guard; without fork, one
    at a time."""
    workers = min(len(jobs), os.cpu_count() or 1)
    names = list(jobs)
    draws, data = zip(*jobs.values(), strict=True) if jobs else ((), ())
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        paths = map(_draw_and_save, draws, data, [directory] * len(names), names)
        return dict(zip(names, paths, strict=True))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        paths = pool.map(_draw_and_save, draws, data, [directory] * len(names), names)
        return dict(zip(names, paths, strict=True))
