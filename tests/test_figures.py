"""The figures, on the session's synthetic run: the numbers each one is prepared from (without
matplotlib), and what each one draws; and which files the report's figures step writes, on the
session's demo report."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.image as mimage
import numpy as np
import pytest
from matplotlib.patches import Rectangle, Wedge
from synthetic import MODELS

from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.metrics import reliability_bins
from guardcal.layout import model_slug
from guardcal.policies import category_name
from guardcal.reporting import drawing, figure_data, figures, pipeline


@pytest.fixture(scope="module")
def run(synthetic_run):
    """The session's finished synthetic run (dataset, tuning, metrics, predictions tables)."""
    return synthetic_run.cfg


@pytest.fixture(scope="module")
def data(run) -> figure_data.RunData:
    """The run's figure data: its tables, every guard and method binned once."""
    return figure_data.load_run(run)


def texts(fig) -> list[str]:
    """Every text drawn anywhere in a figure (titles, labels, legends, annotations)."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_render_figures_writes_every_figure_as_png_and_pdf(demo_report) -> None:
    """The report's figures step (`render_figures` in 04_figures) wrote exactly these files."""
    cfg = demo_report.cfg
    models = [m.name for m in cfg.models]
    expected = {
        "label_donuts",
        "category_donuts",
        "uncalibrated",
        "tuning_temperature",
        "tuning_gamma",
        "calibration_curves",
        "risk_coverage",
        "ece_forest",
        *(f"{kind}_{model_slug(m)}" for kind in ("reliability", "categories") for m in models),
        *(f"{kind}_{model_slug(m)}" for kind in ("wilson", "smooth") for m in models),
    }
    assert expected == set(figures.figure_descriptions(cfg))
    files = sorted(p.name for p in cfg.layout.figures.iterdir())
    assert files == sorted(f"{name}{suffix}" for name in expected for suffix in (".png", ".pdf"))
    for name in expected:
        height, width = mimage.imread(cfg.layout.figure(name)).shape[:2]
        assert width > 400 and height > 150, name
        assert cfg.layout.figure(name, ".pdf").read_bytes().startswith(b"%PDF"), name


def test_figure_names_and_descriptions_come_from_one_catalogue(run) -> None:
    assert figures.figure_name("reliability", "Guard A") == "reliability_guard-a"
    alts = figures.figure_descriptions(run)
    assert alts[figures.figure_name("wilson", MODELS[1])] == (
        f"Reliability diagrams of {MODELS[1]} with a 95 % Wilson interval per bin"
    )
    assert len(set(alts.values())) == len(alts)  # no two figures described alike


def test_preparing_every_figure_bins_each_guard_and_method_once(run, monkeypatch) -> None:
    calls = []

    def counted(labels, proba, n_bins):
        calls.append(n_bins)
        return reliability_bins(labels, proba, n_bins)

    monkeypatch.setattr(figure_data, "reliability_bins", counted)
    data = figure_data.load_run(run)
    for kind in figures.CATALOGUE:
        for model in MODELS if kind.per_model else [None]:
            kind.prepare(data) if model is None else kind.prepare(data, model)
    methods = method_names()
    assert calls == [run.calibration.plot_bins] * len(MODELS) * len(methods)
    assert set(data.bins) == {(m, k) for m in MODELS for k in methods}


def test_figure_numbers_are_the_tables_numbers(run, data) -> None:
    metrics = pipeline.read_table(run, "metrics").set_index(["model", "method"])
    grid = figure_data.reliability_diagrams(data, MODELS[1])
    assert [c.method for c in grid.columns] == list(method_names(study=True))
    for column in grid.columns:
        assert (column.ece, column.mce) == tuple(
            metrics.loc[(MODELS[1], column.method), ["ece", "mce"]]
        )
        assert column.bins.share.sum() == pytest.approx(1.0)
    ci = pipeline.read_table(run, "metrics_ci")
    metric, forests = figure_data.ece_forest(data)
    rows = ci[(ci["model"] == MODELS[0]) & (ci["metric"] == metric)]
    assert forests[0].methods == list(method_names())
    np.testing.assert_array_equal(forests[0].lo, rows["lo"].to_numpy())
    title, panels = figure_data.wilson(data, MODELS[0])
    assert [p.method for p in panels] == list(method_names()) and "Wilson" in title
    for p in panels:  # the interval holds the bin's unsafe fraction
        assert (p.below >= 0).all() and (p.above >= 0).all() and (p.size > 20).all()
    curves = figure_data.risk_coverage(data)
    assert list(curves) == list(MODELS)
    assert all(np.all(np.diff(c.coverage) >= 0) for c in curves[MODELS[0]])
    areas = pipeline.read_table(run, "risk_coverage").set_index(["model", "method"])["aurc"]
    assert [c.aurc for c in curves[MODELS[0]]] == [
        areas[(MODELS[0], c.method)] for c in curves[MODELS[0]]
    ]
    for column in grid.columns:  # a calibrated guard's bars end around the bin's mean p
        band, b = column.band, column.bins
        np.testing.assert_allclose(band.confidence[b.filled], b.confidence[b.filled])
        assert np.isnan(band.lo[~b.filled]).all()
        inside = (band.lo <= band.confidence) & (band.confidence <= band.hi)
        assert inside[b.filled].all()


def test_preparing_the_figures_needs_no_plotting_library(run) -> None:
    """Every figure's numbers but relplot's smoothed diagrams (relplot imports matplotlib) are
    prepared in a process that never loads matplotlib."""
    code = (
        "import sys\n"
        "from guardcal.config import load_config\n"
        "from guardcal.reporting import figure_data as f\n"
        f"run = f.load_run(load_config({str(run.source_file)!r}))\n"
        "for prepare in (f.label_donuts, f.category_donuts, f.uncalibrated, f.temperature_tuning,"
        " f.gamma_tuning, f.calibration_curves, f.risk_coverage, f.ece_forest):\n"
        "    prepare(run)\n"
        "for prepare in (f.reliability_diagrams, f.category_heatmap, f.wilson):\n"
        "    for model in run.models:\n"
        "        prepare(run, model)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'seaborn')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reliability_diagrams_one_column_per_method_in_its_colour(run, data) -> None:
    metrics = pipeline.read_table(run, "metrics").set_index(["model", "method"])
    fig = drawing.reliability_grid(figure_data.reliability_diagrams(data, MODELS[1]))
    hist_axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in hist_axes] == [
        REGISTRY[m].label for m in method_names(study=True)
    ]
    for ax, method in zip(hist_axes, method_names(study=True), strict=True):
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
        assert bars and all(
            mcolors.same_color(b.get_facecolor(), REGISTRY[method].color) for b in bars
        )
        # Histogram bars are shares of the test split: they sum to one.
        assert sum(b.get_height() for b in ax.patches) == pytest.approx(1.0)
    drawn = "\n".join(texts(fig))
    assert "consistency band" in drawn  # the legend names the calibrated guard's bars
    for method in method_names(study=True):
        assert f"ECE = {metrics.at[(MODELS[1], method), 'ece']:.3f}" in drawn
        assert f"MCE = {metrics.at[(MODELS[1], method), 'mce']:.3f}" in drawn
    assert MODELS[1] in drawn


def test_uncalibrated_comparison_has_a_column_per_model(data) -> None:
    fig = drawing.reliability_grid(figure_data.uncalibrated(data))
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == list(MODELS)
    assert len(fig.axes) == 2 * len(MODELS)


def test_tuning_figures_mark_the_fitted_values(run, data) -> None:
    tuning = pipeline.read_table(run, "tuning").set_index(["model", "method"])
    cases = [(figure_data.temperature_tuning, "ts", 2), (figure_data.gamma_tuning, "bc", 3)]
    for prepare, method, panels in cases:
        fig = drawing.tuning(prepare(data))
        assert len(fig.axes) == panels * len(MODELS)
        for k, model in enumerate(MODELS):
            best = tuning.at[(model, method), "value"]
            for ax in fig.axes[k * panels : (k + 1) * panels]:
                verticals = [ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1]
                assert verticals == [pytest.approx(best)]
        assert any("best" in t and MODELS[0] in t for t in texts(fig))


def test_calibration_curves_overlay_all_methods_with_their_ece(run, data) -> None:
    metrics = pipeline.read_table(run, "metrics").set_index(["model", "method"])
    fig = drawing.calibration_curves(figure_data.calibration_curves(data))
    for ax, model in zip(fig.axes, MODELS, strict=True):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for method in method_names(study=True):
            ece = metrics.at[(model, method), "ece"]
            assert f"{REGISTRY[method].label} (ECE {ece:.3f})" in labels
        colours = {ln.get_label().split(" (")[0]: ln.get_color() for ln in ax.lines}
        assert colours[REGISTRY["bc"].label] == REGISTRY["bc"].color


def test_label_donuts_show_each_splits_share(run, data) -> None:
    sizes = pipeline.read_table(run, "dataset")
    fig = drawing.label_donuts(figure_data.label_donuts(data))
    for ax, row in zip(fig.axes, sizes.itertuples(), strict=True):
        wedges = [p for p in ax.patches if isinstance(p, Wedge)]
        angles = [w.theta2 - w.theta1 for w in wedges]
        assert angles[1] / 360 == pytest.approx(row.unsafe / row.examples, abs=1e-6)
        assert f"{row.examples:,}" in [t.get_text() for t in ax.texts]


def test_category_donuts_name_the_categories(data) -> None:
    drawn = texts(drawing.category_donuts(figure_data.category_donuts(data)))
    # the study's S-codes: S1 Violence …, S7 Privacy Violation
    assert "S7 Privacy Violation" in drawn
    assert "S1 Violence, Aiding and Abetting, Incitement" in drawn
    no_flags = dataclasses.replace(
        data, tables={**data.tables, "categories": data.tables["categories"].iloc[0:0]}
    )
    empty = drawing.category_donuts(figure_data.category_donuts(no_flags))
    assert "No harm-category flags in this data." in texts(empty)


def test_category_colours_are_stable_across_splits_and_runs() -> None:
    a = drawing.category_colors(["self_harm"])
    b = drawing.category_colors(["self_harm", "animal_abuse", "custom_flag"])
    assert a["self_harm"] == b["self_harm"]
    assert "custom_flag" in b and category_name("custom_flag") == "custom flag"


def test_interval_figures_show_every_method(data) -> None:
    fig = drawing.ece_forest(figure_data.ece_forest(data))
    assert len(fig.axes) == len(MODELS)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "+Beta"
    fig = drawing.wilson_reliability(figure_data.wilson(data, MODELS[0]))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Uncalibrated", "+CC"]


def test_save_figure_does_not_leak_into_pyplot(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = drawing.label_donuts([figure_data.Donut("Test", "pairs", ["safe", "unsafe"], [3, 1])])
    paths = figures.save_figure(fig, tmp_path / "f", "donut")
    assert [p.name for p in paths] == ["donut.png", "donut.pdf"] and all(
        p.stat().st_size for p in paths
    )
    assert plt.get_fignums() == before
    assert np.asarray(mimage.imread(paths[0])).ndim == 3


def test_risk_coverage_panels_give_each_methods_aurc(data) -> None:
    curves = figure_data.risk_coverage(data)
    drawn = "\n".join(texts(drawing.risk_coverage_curves(curves)))
    for model, model_curves in curves.items():
        for c in model_curves:
            assert f"{REGISTRY[c.method].label} {c.aurc:.3f}" in drawn, (model, c.method)
