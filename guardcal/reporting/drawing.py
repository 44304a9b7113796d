"""Drawing the figures from their prepared numbers (`guardcal.reporting.figure_data`): a function
per panel that draws on the `ax` it is given, and a function per figure that lays the panels out
and returns a matplotlib Figure. Nothing here computes a metric."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec

import matplotlib as mpl
import numpy as np
import relplot
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, LogFormatter, PercentFormatter

from guardcal.calibration.methods import REGISTRY
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.reporting.figure_data import (
    CategoryDonuts,
    Curve,
    Donut,
    Forest,
    Heatmap,
    Reliability,
    ReliabilityColumn,
    ReliabilityGrid,
    RiskCurve,
    Tuning,
    WilsonPanel,
)
from guardcal.reporting.tables import METRIC_LABELS

LABEL_COLORS = {"safe": "#56B4E9", "unsafe": "#D55E00"}
METRIC_COLORS = {
    "nll": "#000000",
    "ece": "#0072B2",
    "mce": "#D55E00",
    "accuracy": "#56B4E9",
    "f1": "#009E73",
    "precision": "#E69F00",
    "recall": "#CC79A7",
}
GAP_STYLE = {"facecolor": (0.84, 0.37, 0.0, 0.12), "edgecolor": "#D55E00", "hatch": "///", "lw": 1}
BEST_STYLE = {"ls": "--", "color": "#333333", "lw": 1.2}
DIAGONAL_STYLE = {"ls": "--", "color": "#333333", "lw": 1}
BEAVERTAILS_PALETTE = sns.color_palette("husl", len(BEAVERTAILS_CATEGORIES))
HEATMAP_STYLE = {
    "recall": ("Recall (p ≥ 0.5)", "rocket"),
    "mean_proba_unsafe": ("Mean p(unsafe)", "rocket"),
    "ece": ("ECE (safe + category)", "mako_r"),
}
"""The per-category heat map's panels by column: title and colour map."""
RISK_STYLES = {"ts": "--"}
"""TS keeps both the verdicts and the order of max(p, 1 − p), so its curve lies on the
uncalibrated one: dashed, to show both."""
CONSISTENCY_STYLE = {"fmt": "none", "ecolor": "#222222", "elinewidth": 1.4, "capsize": 3}
"""A reliability bin's consistency band: where 95 % of a calibrated guard's bars end."""
BAND_MARKER = {"marker": "D", "ms": 8, "mec": "black", "ls": "none"}
"""Where a method's narrowest review band lands on the risk–coverage curve."""
NOTE_BOX = {"boxstyle": "round", "facecolor": "white", "edgecolor": "#999999", "alpha": 0.9}
"""The box of the numbers written on a panel (ECE and MCE, AURC)."""
NO_CATEGORIES = "No harm-category flags in this data."
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.dpi": 100,
    "text.parse_math": False,
}
"""Drawing settings. Mathtext is off: names (a guard's, a category's) are user text, and a `$` in
one is a dollar sign, not the start of a formula matplotlib would parse (or fail on)."""

P = ParamSpec("P")


def styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw in the package's style (seaborn whitegrid, readable fonts), leaving global rc alone."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(STYLE), sns.axes_style("whitegrid"):
            return fn(*args, **kwargs)

    return wrapper


def subplots(*args: object, **kwargs: object) -> tuple[Figure, np.ndarray]:
    """A new Figure (not registered with pyplot's global state) and its axes as an array."""
    kwargs.setdefault("squeeze", False)
    fig = Figure(layout=None)
    axes = fig.subplots(*args, **{k: v for k, v in kwargs.items() if k != "figsize"})
    if "figsize" in kwargs:
        fig.set_size_inches(kwargs["figsize"])
    return fig, axes


def message(text: str) -> Figure:
    """A small figure saying why there is nothing to draw."""
    fig, axes = subplots(1, 1, figsize=(6, 1.5))
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, text, ha="center", va="center")
    return fig


def category_colors(keys: list[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed colour per harm category: BeaverTails' 14 keep theirs in every run and split."""
    colors = dict(zip(BEAVERTAILS_CATEGORIES, BEAVERTAILS_PALETTE, strict=True))
    extra = sorted(set(keys) - set(colors))
    colors.update(zip(extra, sns.color_palette("Set2", len(extra)), strict=True))
    return colors


def donut(ax: Axes, ring: Donut, colors: list, min_pct: float, text_color: str) -> None:
    """One ring with percentages on the wedges big enough to hold them and the total inside."""
    ax.pie(
        ring.values,
        colors=colors,
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.42, "edgecolor": "white", "linewidth": 1.5},
        autopct=lambda pct: f"{pct:.0f}%" if pct >= min_pct else "",
        pctdistance=0.79,
        textprops={"fontsize": 10, "color": text_color, "fontweight": "bold"},
    )
    total = f"{sum(ring.values):,}"
    ax.text(0, 0.08, total, ha="center", va="center", fontsize=16, fontweight="bold")
    ax.text(0, -0.16, ring.unit, ha="center", va="center", fontsize=10, color="#555555")
    ax.set_title(ring.title)
    ax.set_aspect("equal")


@styled
def label_donuts(rings: list[Donut]) -> Figure:
    """Safe/unsafe share of each evaluated split."""
    fig, axes = subplots(1, len(rings), figsize=(4.2 * len(rings), 4.4))
    for ax, ring in zip(axes.flat, rings, strict=True):
        donut(ax, ring, [LABEL_COLORS[k] for k in ring.keys], min_pct=3, text_color="white")
    handles = [Patch(color=c, label=k) for k, c in LABEL_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=11)
    fig.subplots_adjust(bottom=0.1)
    return fig


@styled
def category_donuts(data: CategoryDonuts) -> Figure:
    """Harm-category flags of each split, a colour per category and one legend."""
    if not data.donuts:
        return message(NO_CATEGORIES)
    palette = category_colors(data.keys)
    n = len(data.donuts)
    right = 4.2 * n / (4.2 * n + 4.6)
    fig, axes = subplots(1, n, figsize=(4.2 * n + 4.6, 4.6))
    fig.subplots_adjust(left=0.01, right=right, wspace=0.1)
    for ax, ring in zip(axes.flat, data.donuts, strict=True):
        colors = [palette[k] for k in ring.keys]
        donut(ax, ring, colors, min_pct=5, text_color="#222222")
    handles = [
        Patch(color=palette[k], label=name) for k, name in zip(data.keys, data.names, strict=True)
    ]
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(right + 0.01, 0.5), frameon=False
    )
    return fig


def reliability_column(
    ax_hist: Axes, ax_rel: Axes, column: ReliabilityColumn, ece_bins: int
) -> None:
    """Confidence histogram over a reliability diagram with gap bars and an ECE/MCE box."""
    b: Reliability = column.bins
    color = REGISTRY[column.method].color
    ax_hist.bar(b.center, b.share, width=b.width, color=color, edgecolor="white")
    ax_hist.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax_hist.set_xlim(0, 1)
    ax_hist.set_ylim(0, 1)
    ax_hist.tick_params(labelbottom=False)

    filled = b.filled
    ax_rel.bar(
        b.center[filled], b.positive_rate[filled], width=b.width, color=color, edgecolor="white"
    )
    ax_rel.bar(
        b.center[filled],
        b.confidence[filled] - b.positive_rate[filled],
        bottom=b.positive_rate[filled],
        width=b.width,
        **GAP_STYLE,
    )
    ax_rel.plot([0, 1], [0, 1], **DIAGONAL_STYLE)
    band = column.band
    drawn = ~np.isnan(band.confidence)
    ax_rel.errorbar(
        band.confidence[drawn],
        band.confidence[drawn],
        # The band's ends come from float32 draws: where one equals the bin's mean p it can sit a
        # rounding error past it, which errorbar refuses as a negative length.
        yerr=np.clip(
            [
                band.confidence[drawn] - band.lo[drawn],
                band.hi[drawn] - band.confidence[drawn],
            ],
            0,
            None,
        ),
        **CONSISTENCY_STYLE,
    )
    ax_rel.set_xlim(0, 1)
    ax_rel.set_ylim(0, 1)
    ax_rel.set_aspect("equal")
    ax_rel.set_xlabel("p(unsafe)")
    ax_rel.text(
        0.96,
        0.04,
        f"ECE = {column.ece:.3f}\nMCE = {column.mce:.3f}\n({ece_bins} bins)",
        transform=ax_rel.transAxes,
        ha="right",
        va="bottom",
        fontsize=10,
        bbox=NOTE_BOX,
    )


@styled
def reliability_grid(grid: ReliabilityGrid) -> Figure:
    """A column of confidence histogram (1/3 as tall) over reliability diagram per entry."""
    n_cols = len(grid.columns)
    fig, axes = subplots(
        2,
        n_cols,
        figsize=(3.7 * n_cols, 5.6),
        gridspec_kw={"height_ratios": [1, 3], "hspace": 0.08, "wspace": 0.25},
        sharex="col",
    )
    axes[0, 0].set_ylabel("% of samples")
    axes[1, 0].set_ylabel("Fraction unsafe")
    handles = [
        Patch(color="#999999", label="Fraction unsafe in bin (bar colour: method)"),
        Patch(**GAP_STYLE, label="Gap to the bin's mean p(unsafe)"),
        Line2D([], [], **DIAGONAL_STYLE, label="Perfect calibration"),
        Line2D(
            [],
            [],
            color=CONSISTENCY_STYLE["ecolor"],
            lw=CONSISTENCY_STYLE["elinewidth"],
            label="95 % of a calibrated guard's bars (consistency band)",
        ),
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.1)
    )
    for col, column in enumerate(grid.columns):
        reliability_column(axes[0, col], axes[1, col], column, grid.ece_bins)
        axes[0, col].set_title(column.title)
    if grid.title is not None:
        fig.suptitle(grid.title, fontsize=13, y=0.98)
    return fig


def calibration_curve(ax: Axes, model: str, curves: list[Curve]) -> None:
    """Every method's reliability curve of one guard over the diagonal of perfect calibration."""
    ax.plot([0, 1], [0, 1], **DIAGONAL_STYLE, label="Perfect calibration")
    for curve in curves:
        method = REGISTRY[curve.method]
        ax.plot(
            curve.confidence,
            curve.positive_rate,
            marker="o",
            ms=5,
            lw=1.8,
            color=method.color,
            label=f"{method.label} (ECE {curve.ece:.3f})",
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_title(model)
    ax.set_xlabel("Mean p(unsafe) in bin")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


@styled
def calibration_curves(curves: dict[str, list[Curve]]) -> Figure:
    """Per guard, every method's reliability curve."""
    fig, axes = subplots(1, len(curves), figsize=(4.6 * len(curves), 4.8))
    for ax, (model, model_curves) in zip(axes.flat, curves.items(), strict=True):
        calibration_curve(ax, model, model_curves)
    axes.flat[0].set_ylabel("Fraction unsafe in bin")
    return fig


@styled
def tuning(data: Tuning) -> Figure:
    """A row per guard, a panel per metric group, curves against the grid, best value marked."""
    symbol = data.symbol
    fig = Figure(figsize=(4.4 * len(data.panels), 3.3 * len(data.rows)), layout="constrained")
    subfigures = np.atleast_1d(fig.subfigures(len(data.rows), 1))
    for sub, row in zip(subfigures, data.rows, strict=True):
        sub.suptitle(f"{row.model}: best {symbol} = {row.best:.3g}", fontsize=12, fontweight="bold")
        for ax, (title, metrics) in zip(
            sub.subplots(1, len(data.panels)), data.panels, strict=True
        ):
            for metric in metrics:
                ax.plot(row.grid, row.metrics[metric], color=METRIC_COLORS[metric], lw=1.8)
            ax.axvline(row.best, **BEST_STYLE)
            if data.log_x:
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
                ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # no mathtext
            ax.set_xlabel(symbol)
            ax.set_title(title, fontsize=11)
    used = [m for _, metrics in data.panels for m in metrics]
    handles = [Line2D([], [], color=METRIC_COLORS[m], lw=1.8, label=METRIC_LABELS[m]) for m in used]
    handles.append(Line2D([], [], **BEST_STYLE, label=f"best {symbol}"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return fig


def method_grid(n: int) -> tuple[Figure, np.ndarray]:
    """A grid of square panels in two rows, one per method of the extended table."""
    fig, axes = subplots(2, (n + 1) // 2, figsize=(3.3 * ((n + 1) // 2), 7.0))
    fig.subplots_adjust(hspace=0.35, wspace=0.3)
    return fig, axes


def forest(ax: Axes, panel: Forest, metric: str) -> None:
    """One guard's value and interval per method, drawn from the interval's ends (a percentile
    interval of a biased estimator such as ECE may lie wholly above or below the point), and a
    dotted line at the uncalibrated value."""
    for i, method in enumerate(panel.methods):
        color = REGISTRY[method].color
        ax.plot([panel.lo[i], panel.hi[i]], [i, i], color=color, lw=1.6, marker="|", ms=8)
        ax.plot(panel.value[i], i, "o", color=color, ms=6)
    ax.axvline(panel.reference, ls=":", color="#333333", lw=1)
    ax.set_yticks(range(len(panel.methods)), [REGISTRY[m].label for m in panel.methods])
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_title(panel.model)
    ax.set_xlabel(f"{METRIC_LABELS.get(metric, metric)} (test, 95 % bootstrap interval)")


@styled
def ece_forest(data: tuple[str, list[Forest]]) -> Figure:
    """Per guard, every method's test metric with its bootstrap 95 % interval."""
    metric, panels = data
    n_methods = len(panels[0].methods)
    fig, axes = subplots(1, len(panels), figsize=(4.6 * len(panels), 0.42 * n_methods + 1.4))
    fig.subplots_adjust(wspace=0.45)
    for ax, panel in zip(axes.flat, panels, strict=True):
        forest(ax, panel, metric)
    return fig


def wilson_panel(ax: Axes, panel: WilsonPanel) -> None:
    """Each filled bin's unsafe fraction at its mean p(unsafe) with its Wilson 95 % interval."""
    color = REGISTRY[panel.method].color
    ax.plot([0, 1], [0, 1], **DIAGONAL_STYLE)
    ax.errorbar(
        panel.confidence,
        panel.rate,
        yerr=[panel.below, panel.above],
        fmt="none",
        ecolor=color,
        lw=1.4,
        capsize=2.5,
    )
    ax.scatter(panel.confidence, panel.rate, s=panel.size, color=color, edgecolor="white", zorder=3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_title(REGISTRY[panel.method].label)
    ax.set_xlabel("Mean p(unsafe) in bin")


def smooth_panel(fig: Figure, ax: Axes, method: str, diagram: dict[str, Any]) -> None:
    """relplot's smoothed reliability diagram of one method (line width: the density of p)."""
    relplot.plot_rel_diagram(
        diagram,
        fig=fig,
        ax=ax,
        use_default_style=False,
        color=REGISTRY[method].color,
        plot_labels=False,
    )
    ax.set_title(REGISTRY[method].label)
    ax.set_xlabel("p(unsafe)")


def _method_panels(
    panels: list, draw: Callable[[Figure, Axes, Any], None], y_label: str, title: str
) -> Figure:
    """A panel per method in a two-row grid, the spare panels hidden."""
    fig, axes = method_grid(len(panels))
    for ax, panel in zip(axes.flat, panels, strict=False):
        draw(fig, ax, panel)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(y_label)
    fig.suptitle(title, y=0.97)
    return fig


@styled
def wilson_reliability(data: tuple[str, list[WilsonPanel]]) -> Figure:
    """One guard under every method: each bin with its Wilson interval, marker area its share."""
    title, panels = data
    return _method_panels(
        panels, lambda fig, ax, p: wilson_panel(ax, p), "Fraction unsafe in bin", title
    )


@styled
def smooth_reliability(data: tuple[str, list[tuple[str, dict[str, Any]]]]) -> Figure:
    """One guard under every method: relplot's smoothed reliability diagrams."""
    title, panels = data
    return _method_panels(
        panels, lambda fig, ax, p: smooth_panel(fig, ax, *p), "E[unsafe | p]", title
    )


HEATMAP_CELLS = {
    "annot": True,
    "vmin": 0.0,
    "cbar": False,
    "linewidths": 0.5,
    "linecolor": "white",
    "annot_kws": {"fontsize": 9},
}
"""How every heat map's cells look: annotated, from 0, white grid lines, no colour bar."""


def heatmap_panel(ax: Axes, column: str, grid: Any, top: float, labels: list[str] | None) -> None:
    """One metric over categories × methods, annotated; row labels only on the first panel."""
    title, cmap = HEATMAP_STYLE[column]
    sns.heatmap(
        grid.rename(columns=lambda m: REGISTRY[m].label),
        ax=ax,
        fmt=".2f",
        cmap=cmap,
        vmax=top,
        **HEATMAP_CELLS,
    )
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_yticklabels(labels or [], rotation=0)
    ax.tick_params(left=False, bottom=False)


@styled
def category_heatmap(data: Heatmap) -> Figure:
    """One guard's per-category recall, mean p(unsafe) and ECE: categories × methods."""
    if not data.grids:
        return message(NO_CATEGORIES)
    height = 1.2 + 0.42 * len(data.labels)
    n = len(data.grids)
    fig, axes = subplots(1, n, figsize=(4.8 + 2.7 * n, height))
    for i, (ax, (column, grid, top)) in enumerate(zip(axes.flat, data.grids, strict=True)):
        heatmap_panel(ax, column, grid, top, data.labels if i == 0 else None)
    fig.suptitle(f"{data.model}: unsafe test items by harm category", fontsize=13)
    fig.subplots_adjust(wspace=0.08, top=1 - 0.9 / height)
    return fig


@styled
def benchmark_heatmap(grids: dict[str, Any]) -> Figure:
    """Guards × benchmarks before calibration, one panel per estimator, each cell the
    calibration error in percent; the last column, set apart, is the average."""
    first = next(iter(grids.values()))
    rows, cols = first.shape
    fig, axes = subplots(
        len(grids), 1, figsize=(2.2 + 1.25 * cols, 1.0 + len(grids) * (0.6 + 0.45 * rows))
    )
    top = max(max(float(np.nanmax(g.to_numpy())) for g in grids.values()), 1e-3)
    for i, (ax, (title, grid)) in enumerate(zip(axes.flat, grids.items(), strict=True)):
        sns.heatmap(grid, ax=ax, fmt=".1f", cmap="rocket_r", vmax=top, **HEATMAP_CELLS)
        ax.axvline(cols - 1, color="white", lw=3)
        ax.set_title(f"{title} (%), uncalibrated")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(left=False, bottom=False)
        if i < len(grids) - 1:  # the benchmarks are named under the last panel
            ax.set_xticklabels([])
        else:
            ax.set_xticklabels(ax.get_xticklabels(), rotation=20, ha="right")
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig


def risk_coverage_panel(ax: Axes, model: str, curves: list[RiskCurve]) -> None:
    """One guard's risk–coverage curve per method, its narrowest review band marked."""
    for curve in curves:
        method = REGISTRY[curve.method]
        ax.step(
            curve.coverage,
            curve.accuracy,
            where="post",
            color=method.color,
            lw=1.8,
            ls=RISK_STYLES.get(curve.method, "-"),
            label=method.label,
        )
        if curve.band is not None:
            ax.plot(*curve.band, color=method.color, **BAND_MARKER)
    areas = "\n".join(f"{REGISTRY[c.method].label} {c.aurc:.3f}" for c in curves)
    ax.text(
        0.04,
        0.04,
        f"AURC (lower is better)\n{areas}",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=9,
        bbox=NOTE_BOX,
    )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("Decided automatically (coverage)")
    ax.set_title(model)


@styled
def risk_coverage_curves(curves: dict[str, list[RiskCurve]]) -> Figure:
    """Per guard, each method's accuracy of the auto-decided items against the share decided
    automatically (least confident items to review)."""
    fig, axes = subplots(1, len(curves), figsize=(4.8 * len(curves), 4.8))
    for ax, (model, model_curves) in zip(axes.flat, curves.items(), strict=True):
        risk_coverage_panel(ax, model, model_curves)
    axes.flat[0].set_ylabel("Accuracy of the auto-decided items")
    methods = [c.method for c in next(iter(curves.values()))]
    handles = [
        Line2D(
            [],
            [],
            color=REGISTRY[m].color,
            lw=1.8,
            ls=RISK_STYLES.get(m, "-"),
            label=REGISTRY[m].label,
        )
        for m in methods
    ]
    handles.append(
        Line2D([], [], color="white", label="narrowest review band (test)", **BAND_MARKER)
    )
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, -0.06),
    )
    return fig
