"""The figures: what each one draws, on a run built from synthetic scores files."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.image as mimage
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle, Wedge
from test_pipeline import MODELS, write_config, write_scores

from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.layout import RunLayout
from guardcal.reporting import decisions, figures, intervals, pipeline


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """A run with its tables written (dataset, tuning, metrics, predictions)."""
    cfg = pipeline.run_config(write_config(tmp_path_factory.mktemp("plots")))
    write_scores(cfg)
    pipeline.summarise_data(cfg)
    pipeline.tune(cfg)
    pipeline.evaluate_run(cfg)
    intervals.write_interval_tables(cfg)
    decisions.write_decision_tables(cfg)
    return cfg


def texts(fig) -> list[str]:
    """Every text drawn anywhere in a figure (titles, labels, legends, annotations)."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_render_figures_writes_every_figure_as_png_and_pdf(run) -> None:
    pngs = figures.render_figures(run)
    expected = {
        "label_donuts",
        "category_donuts",
        "uncalibrated",
        "tuning_temperature",
        "tuning_gamma",
        "calibration_curves",
        *(RunLayout(Path()).reliability_figure(m) for m in MODELS),
        *(RunLayout(Path()).category_figure(m) for m in MODELS),
        "risk_coverage",
        "ece_forest",
        *(RunLayout(Path()).wilson_figure(m) for m in MODELS),
        *(RunLayout(Path()).smooth_figure(m) for m in MODELS),
    }
    assert set(pngs) == expected
    for name, png in pngs.items():
        height, width = mimage.imread(png).shape[:2]
        assert width > 400 and height > 150, name
        pdf = png.with_suffix(".pdf")
        assert pdf.read_bytes().startswith(b"%PDF"), name


def test_reliability_diagrams_one_column_per_method_in_its_colour(run) -> None:
    preds = pipeline.read_predictions(run)
    metrics = pipeline.read_table(run, "metrics").set_index(["model", "method"])
    fig = figures.reliability_diagrams(preds, MODELS[1], n_bins=10, ece_bins=15)
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
    for method in method_names(study=True):
        assert f"ECE = {metrics.at[(MODELS[1], method), 'ece']:.3f}" in drawn
        assert f"MCE = {metrics.at[(MODELS[1], method), 'mce']:.3f}" in drawn
    assert MODELS[1] in drawn


def test_uncalibrated_comparison_has_a_column_per_model(run) -> None:
    fig = figures.uncalibrated_comparison(pipeline.read_predictions(run), n_bins=10, ece_bins=15)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == list(MODELS)
    assert len(fig.axes) == 2 * len(MODELS)


def test_tuning_figures_mark_the_fitted_values(run) -> None:
    tuning = pipeline.read_table(run, "tuning").set_index(["model", "method"])
    cases = [
        (figures.temperature_tuning, "tuning_temperature", "ts", 2),
        (figures.gamma_tuning, "tuning_gamma", "bc", 3),
    ]
    for draw, history, method, panels in cases:
        fig = draw(pipeline.read_table(run, history), pipeline.read_table(run, "tuning"))
        assert len(fig.axes) == panels * len(MODELS)
        for k, model in enumerate(MODELS):
            best = tuning.at[(model, method), "value"]
            for ax in fig.axes[k * panels : (k + 1) * panels]:
                verticals = [ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1]
                assert verticals == [pytest.approx(best)]
        assert any("best" in t and MODELS[0] in t for t in texts(fig))


def test_calibration_curves_overlay_all_methods_with_their_ece(run) -> None:
    metrics = pipeline.read_table(run, "metrics").set_index(["model", "method"])
    fig = figures.calibration_curves(pipeline.read_predictions(run), n_bins=10, ece_bins=15)
    for ax, model in zip(fig.axes, MODELS, strict=True):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for method in method_names(study=True):
            ece = metrics.at[(model, method), "ece"]
            assert f"{REGISTRY[method].label} (ECE {ece:.3f})" in labels
        colours = {ln.get_label().split(" (")[0]: ln.get_color() for ln in ax.lines}
        assert colours[REGISTRY["bc"].label] == REGISTRY["bc"].color


def test_label_donuts_show_each_splits_share(run) -> None:
    sizes = pipeline.read_table(run, "dataset")
    fig = figures.label_donuts(sizes)
    for ax, row in zip(fig.axes, sizes.itertuples(), strict=True):
        wedges = [p for p in ax.patches if isinstance(p, Wedge)]
        angles = [w.theta2 - w.theta1 for w in wedges]
        assert angles[1] / 360 == pytest.approx(row.unsafe / row.examples, abs=1e-6)
        assert f"{row.examples:,}" in [t.get_text() for t in ax.texts]


def test_category_donuts_name_the_categories(run) -> None:
    categories = pipeline.read_table(run, "categories")
    drawn = texts(figures.category_donuts(categories))
    # the study's S-codes: S1 Violence …, S7 Privacy Violation
    assert "S7 Privacy Violation" in drawn
    assert "S1 Violence, Aiding and Abetting, Incitement" in drawn
    empty = figures.category_donuts(categories.iloc[0:0])
    assert "No harm-category flags in this data." in texts(empty)


def test_category_colours_are_stable_across_splits_and_runs() -> None:
    a = figures.category_colors(["self_harm"])
    b = figures.category_colors(["self_harm", "animal_abuse", "custom_flag"])
    assert a["self_harm"] == b["self_harm"]
    assert "custom_flag" in b and figures.category_name("custom_flag") == "custom flag"


def test_save_figure_does_not_leak_into_pyplot(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = figures.label_donuts(
        pd.DataFrame(
            {"split": ["test"], "examples": [4], "safe": [3], "unsafe": [1], "with_response": [4]}
        )
    )
    paths = figures.save_figure(fig, tmp_path / "f", "donut")
    assert [p.name for p in paths] == ["donut.png", "donut.pdf"] and all(
        p.stat().st_size for p in paths
    )
    assert plt.get_fignums() == before
    assert np.asarray(mimage.imread(paths[0])).ndim == 3
