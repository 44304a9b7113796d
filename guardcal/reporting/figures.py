"""The study's figures, each a function returning a matplotlib Figure (saved as PNG and PDF)."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import ParamSpec

import matplotlib as mpl
import numpy as np
import pandas as pd
import relplot
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, PercentFormatter

from guardcal.atomic import atomic_write
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.metrics import evaluate, reliability_bins
from guardcal.calibration.reliability import wilson_interval
from guardcal.calibration.thresholds import risk_coverage
from guardcal.config import Config
from guardcal.policies import BEAVERTAILS_CATEGORIES, BEAVERTAILS_NAMES
from guardcal.reporting.pipeline import read_predictions, read_table
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
CATEGORY_NAMES = dict(zip(BEAVERTAILS_CATEGORIES, BEAVERTAILS_NAMES, strict=True))
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.dpi": 100,
}

P = ParamSpec("P")


def _styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw in the package's style (seaborn whitegrid, readable fonts), leaving global rc alone."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(STYLE), sns.axes_style("whitegrid"):
            return fn(*args, **kwargs)

    return wrapper


def _subplots(*args: object, **kwargs: object) -> tuple[Figure, np.ndarray]:
    """A new Figure (not registered with pyplot's global state) and its axes as an array."""
    kwargs.setdefault("squeeze", False)
    fig = Figure(layout=None)
    axes = fig.subplots(*args, **{k: v for k, v in kwargs.items() if k != "figsize"})
    if "figsize" in kwargs:
        fig.set_size_inches(kwargs["figsize"])
    return fig, axes


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


def category_name(key: str) -> str:
    """A harm category's display name (BeaverTails' short name where it is one of the 14)."""
    if key in CATEGORY_NAMES:
        return f"S{BEAVERTAILS_CATEGORIES.index(key) + 1} {CATEGORY_NAMES[key]}"
    return key.replace("_", " ")


def _donut(
    ax: Axes,
    values: list[int],
    colors: list,
    title: str,
    unit: str,
    min_pct: float,
    text_color: str,
) -> None:
    """One ring with percentages on the wedges big enough to hold them and the total inside."""
    ax.pie(
        values,
        colors=colors,
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.42, "edgecolor": "white", "linewidth": 1.5},
        autopct=lambda pct: f"{pct:.0f}%" if pct >= min_pct else "",
        pctdistance=0.79,
        textprops={"fontsize": 10, "color": text_color, "fontweight": "bold"},
    )
    ax.text(0, 0.08, f"{sum(values):,}", ha="center", va="center", fontsize=16, fontweight="bold")
    ax.text(0, -0.16, unit, ha="center", va="center", fontsize=10, color="#555555")
    ax.set_title(title)
    ax.set_aspect("equal")


@_styled
def label_donuts(sizes: pd.DataFrame) -> Figure:
    """Safe/unsafe share of each evaluated split (one donut per row of `dataset.csv`)."""
    fig, axes = _subplots(1, len(sizes), figsize=(4.2 * len(sizes), 4.4))
    for ax, row in zip(axes.flat, sizes.itertuples(index=False), strict=True):
        _donut(
            ax,
            [row.safe, row.unsafe],
            [LABEL_COLORS["safe"], LABEL_COLORS["unsafe"]],
            row.split.capitalize(),
            "pairs" if row.with_response else "prompts",
            min_pct=3,
            text_color="white",
        )
    handles = [Patch(color=c, label=k) for k, c in LABEL_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=11)
    fig.subplots_adjust(bottom=0.1)
    return fig


def category_colors(keys: list[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed colour per harm category: BeaverTails' 14 keep theirs in every run and split."""
    colors = dict(zip(BEAVERTAILS_CATEGORIES, BEAVERTAILS_PALETTE, strict=True))
    extra = sorted(set(keys) - set(colors))
    colors.update(zip(extra, sns.color_palette("Set2", len(extra)), strict=True))
    return colors


@_styled
def category_donuts(categories: pd.DataFrame) -> Figure:
    """Harm-category flags of each split (multi-label: a pair can count in several wedges)."""
    splits = list(dict.fromkeys(categories["split"]))
    if not splits:
        fig, axes = _subplots(1, 1, figsize=(6, 1.5))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "No harm-category flags in this data.", ha="center", va="center")
        return fig
    keys = list(dict.fromkeys(categories["category"]))
    palette = category_colors(keys)
    n = len(splits)
    fig, axes = _subplots(1, n, figsize=(4.2 * n + 4.6, 4.6))
    fig.subplots_adjust(left=0.01, right=4.2 * n / (4.2 * n + 4.6), wspace=0.1)
    for ax, split in zip(axes.flat, splits, strict=True):
        rows = categories[categories["split"] == split]
        _donut(
            ax,
            rows["count"].tolist(),
            [palette[k] for k in rows["category"]],
            split.capitalize(),
            "category flags",
            min_pct=5,
            text_color="#222222",
        )
    handles = [
        Patch(color=palette[k], label=category_name(k))
        for k in sorted(keys, key=list(palette).index)
    ]
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(4.2 * n / (4.2 * n + 4.6) + 0.01, 0.5),
        frameon=False,
    )
    return fig


def _reliability(
    ax_hist: Axes,
    ax_rel: Axes,
    labels: np.ndarray,
    proba: np.ndarray,
    n_bins: int,
    ece_bins: int,
    color: str,
) -> None:
    """Confidence histogram over a reliability diagram with gap bars and an ECE/MCE box."""
    bins = reliability_bins(labels, proba, n_bins=n_bins)
    centers = (bins["lower"] + bins["upper"]) / 2
    width = 1 / n_bins
    ax_hist.bar(centers, bins["count"] / len(proba), width=width, color=color, edgecolor="white")
    ax_hist.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax_hist.set_xlim(0, 1)
    ax_hist.set_ylim(0, 1)
    ax_hist.tick_params(labelbottom=False)

    filled = bins["count"] > 0
    ax_rel.bar(
        centers[filled],
        bins["positive_rate"][filled],
        width=width,
        color=color,
        edgecolor="white",
    )
    ax_rel.bar(
        centers[filled],
        bins["confidence"][filled] - bins["positive_rate"][filled],
        bottom=bins["positive_rate"][filled],
        width=width,
        **GAP_STYLE,
    )
    ax_rel.plot([0, 1], [0, 1], **DIAGONAL_STYLE)
    ax_rel.set_xlim(0, 1)
    ax_rel.set_ylim(0, 1)
    ax_rel.set_aspect("equal")
    ax_rel.set_xlabel("p(unsafe)")
    scores = evaluate(labels, proba, n_bins=ece_bins)
    ax_rel.text(
        0.96,
        0.04,
        f"ECE = {scores['ece']:.3f}\nMCE = {scores['mce']:.3f}\n({ece_bins} bins)",
        transform=ax_rel.transAxes,
        ha="right",
        va="bottom",
        fontsize=10,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#999999", "alpha": 0.9},
    )


def _model_method(preds: pd.DataFrame, model: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and p_unsafe of one (model, method) from the long predictions frame."""
    rows = preds[(preds["model"] == model) & (preds["method"] == method)]
    return rows["label"].to_numpy(), rows["proba_unsafe"].to_numpy()


def _reliability_grid(n_cols: int) -> tuple[Figure, np.ndarray]:
    """A figure of `n_cols` histogram-over-reliability columns (histogram row 1/3 as tall)."""
    fig, axes = _subplots(
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
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.04)
    )
    return fig, axes


@_styled
def uncalibrated_comparison(preds: pd.DataFrame, n_bins: int, ece_bins: int) -> Figure:
    """Each guard uncalibrated, side by side: confidence histogram over reliability diagram."""
    models = list(dict.fromkeys(preds["model"]))
    fig, axes = _reliability_grid(len(models))
    for col, model in enumerate(models):
        y, p = _model_method(preds, model, "uncalibrated")
        _reliability(
            axes[0, col], axes[1, col], y, p, n_bins, ece_bins, REGISTRY["uncalibrated"].color
        )
        axes[0, col].set_title(model)
    return fig


@_styled
def reliability_diagrams(preds: pd.DataFrame, model: str, n_bins: int, ece_bins: int) -> Figure:
    """One guard under every method: a histogram-over-reliability column per method."""
    fig, axes = _reliability_grid(len(method_names(study=True)))
    for col, method in enumerate(method_names(study=True)):
        y, p = _model_method(preds, model, method)
        _reliability(axes[0, col], axes[1, col], y, p, n_bins, ece_bins, REGISTRY[method].color)
        axes[0, col].set_title(REGISTRY[method].label)
    fig.suptitle(model, fontsize=13, y=0.98)
    return fig


@_styled
def calibration_curves(preds: pd.DataFrame, n_bins: int, ece_bins: int) -> Figure:
    """Per guard, every method's reliability curve over the diagonal of perfect calibration."""
    models = list(dict.fromkeys(preds["model"]))
    fig, axes = _subplots(1, len(models), figsize=(4.6 * len(models), 4.8))
    for ax, model in zip(axes.flat, models, strict=True):
        ax.plot([0, 1], [0, 1], **DIAGONAL_STYLE, label="Perfect calibration")
        for method in method_names(study=True):
            y, p = _model_method(preds, model, method)
            bins = reliability_bins(y, p, n_bins=n_bins).dropna(subset=["confidence"])
            ece = evaluate(y, p, n_bins=ece_bins)["ece"]
            ax.plot(
                bins["confidence"],
                bins["positive_rate"],
                marker="o",
                ms=5,
                lw=1.8,
                color=REGISTRY[method].color,
                label=f"{REGISTRY[method].label} (ECE {ece:.3f})",
            )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(model)
        ax.set_xlabel("Mean p(unsafe) in bin")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    axes.flat[0].set_ylabel("Fraction unsafe in bin")
    return fig


def _tuning_figure(
    history: pd.DataFrame,
    tuning: pd.DataFrame,
    method: str,
    x: str,
    symbol: str,
    panels: list[tuple[str, list[str]]],
    log_x: bool = False,
) -> Figure:
    """A row per guard, a panel per metric group, curves against the grid, best value marked."""
    models = list(dict.fromkeys(history["model"]))
    best = tuning[tuning["method"] == method].set_index("model")["value"]
    fig = Figure(figsize=(4.4 * len(panels), 3.3 * len(models)), layout="constrained")
    rows = np.atleast_1d(fig.subfigures(len(models), 1))
    for sub, model in zip(rows, models, strict=True):
        value = float(best[model])
        sub.suptitle(f"{model}: best {symbol} = {value:.3g}", fontsize=12, fontweight="bold")
        h = history[history["model"] == model]
        for ax, (title, metrics) in zip(sub.subplots(1, len(panels)), panels, strict=True):
            for metric in metrics:
                ax.plot(h[x], h[metric], color=METRIC_COLORS[metric], lw=1.8)
            ax.axvline(value, **BEST_STYLE)
            if log_x:
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.set_xlabel(symbol)
            ax.set_title(title, fontsize=11)
    used = [m for _, metrics in panels for m in metrics]
    handles = [Line2D([], [], color=METRIC_COLORS[m], lw=1.8, label=METRIC_LABELS[m]) for m in used]
    handles.append(Line2D([], [], **BEST_STYLE, label=f"best {symbol}"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return fig


@_styled
def temperature_tuning(history: pd.DataFrame, tuning: pd.DataFrame) -> Figure:
    """Validation NLL and ECE/MCE against the temperature T per guard, best T marked."""
    panels = [("NLL", ["nll"]), ("ECE / MCE", ["ece", "mce"])]
    return _tuning_figure(history, tuning, "ts", "temperature", "T", panels, log_x=True)


@_styled
def gamma_tuning(history: pd.DataFrame, tuning: pd.DataFrame) -> Figure:
    """Validation NLL, ECE/MCE and Acc/F1/Precision/Recall against γ per guard, best γ marked."""
    return _tuning_figure(
        history,
        tuning,
        "bc",
        "gamma",
        "γ",
        [
            ("NLL", ["nll"]),
            ("ECE / MCE", ["ece", "mce"]),
            ("Accuracy / F1 / Precision / Recall", ["accuracy", "f1", "precision", "recall"]),
        ],
    )


def _method_grid(n: int) -> tuple[Figure, np.ndarray]:
    """A 2 × 4 grid of square panels, one per method of the extended table."""
    fig, axes = _subplots(2, (n + 1) // 2, figsize=(3.3 * ((n + 1) // 2), 7.0))
    fig.subplots_adjust(hspace=0.35, wspace=0.3)
    return fig, axes


@_styled
def ece_forest(ci: pd.DataFrame, metric: str = "ece") -> Figure:
    """Per guard, every method's test `metric` with its bootstrap 95 % interval; the dotted line
    is the uncalibrated value. A percentile interval of a biased estimator such as ECE may lie
    wholly above or below the point, so the interval is drawn from its ends, not as ± errors."""
    models = list(dict.fromkeys(ci["model"]))
    methods = list(dict.fromkeys(ci["method"]))
    fig, axes = _subplots(1, len(models), figsize=(4.6 * len(models), 0.42 * len(methods) + 1.4))
    fig.subplots_adjust(wspace=0.45)
    for ax, model in zip(axes.flat, models, strict=True):
        rows = ci[(ci["model"] == model) & (ci["metric"] == metric)].set_index("method")
        for i, method in enumerate(methods):
            r = rows.loc[method]
            ax.plot(
                [r["lo"], r["hi"]], [i, i], color=REGISTRY[method].color, lw=1.6, marker="|", ms=8
            )
            ax.plot(r["value"], i, "o", color=REGISTRY[method].color, ms=6)
        ax.axvline(rows.at["uncalibrated", "value"], ls=":", color="#333333", lw=1)
        ax.set_yticks(range(len(methods)), [REGISTRY[m].label for m in methods])
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_title(model)
        ax.set_xlabel(f"{METRIC_LABELS.get(metric, metric)} (test, 95 % bootstrap interval)")
    return fig


@_styled
def wilson_reliability(preds: pd.DataFrame, model: str, n_bins: int) -> Figure:
    """One guard under every method: each bin's unsafe fraction at its mean p(unsafe), with the
    bin's Wilson 95 % interval; the marker area grows with the bin's share of examples."""
    methods = list(dict.fromkeys(preds["method"]))
    fig, axes = _method_grid(len(methods))
    for ax, method in zip(axes.flat, methods, strict=False):
        y, p = _model_method(preds, model, method)
        bins = reliability_bins(y, p, n_bins=n_bins)
        bins = bins[bins["count"] > 0]
        lo, hi = wilson_interval(np.round(bins["positive_rate"] * bins["count"]), bins["count"])
        rate = bins["positive_rate"].to_numpy()
        ax.plot([0, 1], [0, 1], **DIAGONAL_STYLE)
        ax.errorbar(
            bins["confidence"],
            rate,
            yerr=[np.clip(rate - lo, 0, None), np.clip(hi - rate, 0, None)],
            fmt="none",
            ecolor=REGISTRY[method].color,
            lw=1.4,
            capsize=2.5,
        )
        ax.scatter(
            bins["confidence"],
            rate,
            s=20 + 400 * bins["count"] / len(p),
            color=REGISTRY[method].color,
            edgecolor="white",
            zorder=3,
        )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(REGISTRY[method].label)
        ax.set_xlabel("Mean p(unsafe) in bin")
    for ax in axes.flat[len(methods) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("Fraction unsafe in bin")
    fig.suptitle(f"{model}: reliability with Wilson 95 % intervals ({n_bins} bins)", y=0.97)
    return fig


@_styled
def smooth_reliability(preds: pd.DataFrame, model: str) -> Figure:
    """One guard under every method: relplot's smoothed reliability diagram (kernel regression of
    the label on p(unsafe) at smooth ECE's bandwidth, line width the density of p)."""
    methods = list(dict.fromkeys(preds["method"]))
    fig, axes = _method_grid(len(methods))
    for ax, method in zip(axes.flat, methods, strict=False):
        y, p = _model_method(preds, model, method)
        diagram = relplot.prepare_rel_diagram(p, y, plot_confidence_band=False, report_CE_std=False)
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
    for ax in axes.flat[len(methods) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("E[unsafe | p]")
    fig.suptitle(f"{model}: smoothed reliability (relplot)", y=0.97)
    return fig


def beyond_figures(cfg: Config) -> dict[str, Callable[[], Figure]]:
    """How to draw each figure of "Beyond the study", from `metrics_ci.csv` and every method's
    predictions."""
    ci = read_table(cfg, "metrics_ci")
    preds = pd.concat(
        [
            read_predictions(cfg),
            pd.read_parquet(cfg.layout.table("predictions_beyond", ".parquet")),
        ],
        ignore_index=True,
    )
    draw: dict[str, Callable[[], Figure]] = {"ece_forest": functools.partial(ece_forest, ci)}
    for m in cfg.models:
        draw[cfg.layout.wilson_figure(m.name)] = functools.partial(
            wilson_reliability, preds, m.name, cfg.calibration.plot_bins
        )
        draw[cfg.layout.smooth_figure(m.name)] = functools.partial(
            smooth_reliability, preds, m.name
        )
    return draw


CATEGORY_PANELS = (
    ("recall", "Recall (p ≥ 0.5)", "rocket", 1.0),
    ("mean_proba_unsafe", "Mean p(unsafe)", "rocket", 1.0),
    ("ece", "ECE (safe + category)", "mako_r", None),
)
"""The per-category heat map's panels: column, title, colour map, upper end (None: the data's)."""


@_styled
def category_heatmap(table: pd.DataFrame, model: str) -> Figure:
    """One guard's per-category recall, mean p(unsafe) and ECE: categories × methods."""
    rows = table[table["model"] == model]
    keys = list(dict.fromkeys(rows["category"]))
    if not keys:
        fig, axes = _subplots(1, 1, figsize=(6, 1.5))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "No harm-category flags in this data.", ha="center", va="center")
        return fig
    counts = rows.drop_duplicates("category").set_index("category")["unsafe"]
    labels = [f"{category_name(k)} (n={counts[k]})" for k in keys]
    fig, axes = _subplots(
        1, len(CATEGORY_PANELS), figsize=(4.8 + 2.7 * len(CATEGORY_PANELS), 1.2 + 0.42 * len(keys))
    )
    for i, (ax, (column, title, cmap, vmax)) in enumerate(
        zip(axes.flat, CATEGORY_PANELS, strict=True)
    ):
        grid = rows.pivot(index="category", columns="method", values=column).loc[keys]
        grid = grid[list(method_names(study=True))].rename(columns=lambda m: REGISTRY[m].label)
        sns.heatmap(
            grid,
            ax=ax,
            annot=True,
            fmt=".2f",
            cmap=cmap,
            vmin=0.0,
            vmax=vmax if vmax is not None else max(float(np.nanmax(grid.to_numpy())), 1e-3),
            cbar=False,
            linewidths=0.5,
            linecolor="white",
            annot_kws={"fontsize": 9},
        )
        ax.set_title(title)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_yticklabels(labels if i == 0 else [], rotation=0)
        ax.tick_params(left=False, bottom=False)
    fig.suptitle(f"{model}: unsafe test items by harm category", fontsize=13)
    fig.subplots_adjust(wspace=0.08, top=1 - 0.9 / (1.2 + 0.42 * len(keys)))
    return fig


RISK_STYLES = {"ts": "--"}
"""TS keeps both the verdicts and the order of max(p, 1 − p), so its curve lies on the
uncalibrated one: dashed, to show both."""


@_styled
def risk_coverage_curves(preds: pd.DataFrame, points: pd.DataFrame) -> Figure:
    """Per guard, each method's accuracy of the auto-decided items against the share decided
    automatically (least confident items to review), with the narrowest review band marked."""
    models = list(dict.fromkeys(preds["model"]))
    fig, axes = _subplots(1, len(models), figsize=(4.8 * len(models), 4.8))
    bands = points[points["point"] == "review_band"].set_index(["model", "method"])
    for ax, model in zip(axes.flat, models, strict=True):
        for method in method_names(study=True):
            y, p = _model_method(preds, model, method)
            curve = risk_coverage(y, p)
            ax.step(
                curve["coverage"],
                curve["accuracy"],
                where="post",
                color=REGISTRY[method].color,
                lw=1.8,
                ls=RISK_STYLES.get(method, "-"),
                label=REGISTRY[method].label,
            )
            band = bands.loc[(model, method)]
            if np.isfinite(band["test_auto_accuracy"]):
                ax.plot(
                    1 - band["test_review"],
                    band["test_auto_accuracy"],
                    marker="D",
                    ms=8,
                    mec="black",
                    color=REGISTRY[method].color,
                    ls="none",
                )
        ax.set_xlim(0, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("Decided automatically (coverage)")
        ax.set_title(model)
    axes.flat[0].set_ylabel("Accuracy of the auto-decided items")
    handles = [
        Line2D(
            [],
            [],
            color=REGISTRY[m].color,
            lw=1.8,
            ls=RISK_STYLES.get(m, "-"),
            label=REGISTRY[m].label,
        )
        for m in method_names(study=True)
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="D",
            ms=8,
            mec="black",
            color="white",
            ls="none",
            label="narrowest review band (test)",
        )
    )
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, -0.06),
    )
    return fig


def render_figures(cfg: Config) -> dict[str, Path]:
    """Draw every figure of a run from its tables; save PNG + PDF; return the PNG paths by name."""
    sizes, categories = read_table(cfg, "dataset"), read_table(cfg, "categories")
    tuning = read_table(cfg, "tuning")
    preds = read_predictions(cfg)
    bins, ece_bins = cfg.calibration.plot_bins, cfg.calibration.ece_bins
    partial = functools.partial
    draw: dict[str, Callable[[], Figure]] = {
        "label_donuts": partial(label_donuts, sizes),
        "category_donuts": partial(category_donuts, categories),
        "uncalibrated": partial(uncalibrated_comparison, preds, bins, ece_bins),
        "tuning_temperature": partial(
            temperature_tuning, read_table(cfg, "tuning_temperature"), tuning
        ),
        "tuning_gamma": partial(gamma_tuning, read_table(cfg, "tuning_gamma"), tuning),
        "calibration_curves": partial(calibration_curves, preds, bins, ece_bins),
    }
    for m in cfg.models:
        draw[cfg.layout.reliability_figure(m.name)] = functools.partial(
            reliability_diagrams, preds, m.name, bins, ece_bins
        )
    categories_table = read_table(cfg, "category_metrics")
    for m in cfg.models:
        draw[cfg.layout.category_figure(m.name)] = functools.partial(
            category_heatmap, categories_table, m.name
        )
    draw["risk_coverage"] = partial(
        risk_coverage_curves, preds, read_table(cfg, "operating_points")
    )
    return save_figures({**draw, **beyond_figures(cfg)}, cfg.layout.figures)


def _draw_and_save(draw: Callable[[], Figure], directory: Path, name: str) -> Path:
    """Draw one figure and save it (a worker's task); its PNG path."""
    return save_figure(draw(), directory, name)[0]


def save_figures(draw: dict[str, Callable[[], Figure]], directory: Path) -> dict[str, Path]:
    """Draw and save every figure, several at once on the machine's cores (each is
    independent, and drawing holds the GIL): the PNG paths by name, in `draw`'s order. Workers
    are forked, so a caller's script needs no `__main__` guard; without fork, one at a time."""
    workers = min(len(draw), os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return {name: _draw_and_save(fn, directory, name) for name, fn in draw.items()}
    names = list(draw)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        paths = pool.map(_draw_and_save, draw.values(), [directory] * len(names), names)
        return dict(zip(names, paths, strict=True))


def figure_descriptions(cfg: Config) -> dict[str, str]:
    """A one-line description of every figure of a run, by name: the alt text of its image."""
    texts = {
        "label_donuts": "Donut charts of the safe and unsafe shares of each split",
        "category_donuts": "Donut charts of the harm categories flagged in each split",
        "uncalibrated": "Reliability diagrams of every guard before calibration, with its ECE",
        "tuning_temperature": "Validation metrics against the temperature T, the chosen T marked",
        "tuning_gamma": "Validation metrics against batch calibration's γ, the chosen γ marked",
        "calibration_curves": "Calibration curves of every guard under every method",
        "ece_forest": "Forest plot of the ECE and its 95 % interval per guard and method",
        "risk_coverage": "Risk–coverage curves: accuracy of the auto-decided items against the "
        "share decided automatically, per guard and method",
    }
    layout = cfg.layout
    for m in cfg.models:
        texts[layout.reliability_figure(m.name)] = f"Reliability diagrams of {m.name}, per method"
        texts[layout.wilson_figure(m.name)] = (
            f"Reliability diagrams of {m.name} with a 95 % Wilson interval per bin"
        )
        texts[layout.smooth_figure(m.name)] = f"Smooth reliability diagrams (relplot) of {m.name}"
        texts[layout.category_figure(m.name)] = (
            f"Heat map of {m.name}'s recall per harm category and method"
        )
    return texts
