"""Each figure's numbers, prepared from a run's tables and predictions without a plotting library
(`guardcal.reporting.drawing` draws them). The reliability bins of every guard and method are
computed once, in `load_run`, and every figure that shows them reads them from there; the binned
ECE and MCE come from `metrics.csv`, so a figure shows the very numbers of the table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardcal.calibration.calibration_tests import consistency_bands
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.metrics import reliability_bins
from guardcal.calibration.reliability import wilson_interval
from guardcal.calibration.thresholds import risk_coverage as risk_coverage_curve
from guardcal.config import Config
from guardcal.policies import category_name, category_order
from guardcal.reporting.pipeline import read_predictions, read_table
from guardcal.reporting.tables import METRIC_LABELS, RELIABILITY_LABELS, liu_layout


@dataclass(frozen=True)
class Reliability:
    """One guard under one method on the test split, over the plot's equal-width bins: each bin's
    centre, share of the examples, mean p(unsafe) and unsafe fraction (NaN where empty)."""

    labels: np.ndarray
    proba: np.ndarray
    center: np.ndarray
    width: float
    count: np.ndarray
    confidence: np.ndarray
    positive_rate: np.ndarray

    @property
    def share(self) -> np.ndarray:
        """Each bin's share of the examples (the confidence histogram)."""
        return self.count / self.labels.shape[0]

    @property
    def filled(self) -> np.ndarray:
        """Which bins hold examples."""
        return self.count > 0


def binned(labels: np.ndarray, proba: np.ndarray, n_bins: int) -> Reliability:
    """The reliability bins of one guard and method."""
    bins = reliability_bins(labels, proba, n_bins=n_bins)
    return Reliability(
        labels=labels,
        proba=proba,
        center=((bins["lower"] + bins["upper"]) / 2).to_numpy(),
        width=1 / n_bins,
        count=bins["count"].to_numpy(),
        confidence=bins["confidence"].to_numpy(),
        positive_rate=bins["positive_rate"].to_numpy(),
    )


@dataclass(frozen=True)
class RunData:
    """What a run's figures are drawn from: its tables, and every guard and method's reliability
    bins on the test split (every method: the study's and the others)."""

    models: list[str]
    plot_bins: int
    ece_bins: int
    tables: dict[str, pd.DataFrame]
    bins: dict[tuple[str, str], Reliability]
    across: dict[str, pd.DataFrame]
    """A suite's uncalibrated guards × benchmarks per estimator (`across.heatmap_grids`); empty
    for a single dataset."""
    seed: int = 0  # of the consistency bands' label draws

    def errors(self, model: str, method: str) -> tuple[float, float]:
        """(ECE, MCE) of a study method on test, from `metrics.csv`."""
        metrics = self.tables["metrics"]
        row = metrics[(metrics["model"] == model) & (metrics["method"] == method)]
        return float(row["ece"].iloc[0]), float(row["mce"].iloc[0])


RUN_TABLES = (
    "dataset",
    "categories",
    "metrics",
    "tuning",
    "tuning_temperature",
    "tuning_gamma",
    "metrics_ci",
    "category_metrics",
    "operating_points",
    "risk_coverage",
)
"""The tables the figures read."""


HEATMAP_METRICS = ("ece_rms", "ece")
"""The heat map's panels: Liu et al.'s estimator, then the study's."""


def heatmap_grids(cfg: Config, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The heat map's numbers: per estimator, guards × benchmarks (and their average) of the
    uncalibrated guards, in percent."""
    labels = {**METRIC_LABELS, **RELIABILITY_LABELS}
    return {labels[m]: liu_layout(cfg, table, m, "uncalibrated") for m in HEATMAP_METRICS}


def load_run(cfg: Config) -> RunData:
    """Read a run's tables and predictions, and bin every guard and method once."""
    preds = pd.concat(
        [
            read_predictions(cfg),
            pd.read_parquet(cfg.layout.table("predictions_beyond", ".parquet")),
        ],
        ignore_index=True,
    )
    bins = {
        (model, method): binned(
            rows["label"].to_numpy(), rows["proba_unsafe"].to_numpy(), cfg.calibration.plot_bins
        )
        for (model, method), rows in preds.groupby(["model", "method"], sort=False)
    }
    return RunData(
        models=[m.name for m in cfg.models],
        plot_bins=cfg.calibration.plot_bins,
        ece_bins=cfg.calibration.ece_bins,
        tables={name: read_table(cfg, name) for name in RUN_TABLES},
        bins=bins,
        across=heatmap_grids(cfg, read_table(cfg, "benchmarks")) if cfg.benchmarks else {},
        seed=cfg.calibration.bootstrap_seed,
    )


@dataclass(frozen=True)
class Donut:
    """One ring: a value per key, a title and the unit counted."""

    title: str
    unit: str
    keys: list[str]
    values: list[int]


def label_donuts(run: RunData) -> list[Donut]:
    """Safe/unsafe counts of each evaluated split (a row of `dataset.csv` each)."""
    return [
        Donut(
            row.split.capitalize(),
            "pairs" if row.with_response else "prompts",
            ["safe", "unsafe"],
            [row.safe, row.unsafe],
        )
        for row in run.tables["dataset"].itertuples(index=False)
    ]


@dataclass(frozen=True)
class CategoryDonuts:
    """Harm-category flags per split, and the legend: every key in display order, named."""

    donuts: list[Donut]
    keys: list[str]
    names: list[str]


def category_donuts(run: RunData) -> CategoryDonuts:
    """Harm-category flags of each split (multi-label: a pair can count in several wedges)."""
    categories = run.tables["categories"]
    donuts = [
        Donut(
            split.capitalize(),
            "category flags",
            rows["category"].tolist(),
            rows["count"].tolist(),
        )
        for split, rows in categories.groupby("split", sort=False)
    ]
    keys = category_order(categories["category"])
    return CategoryDonuts(donuts, keys, [category_name(k) for k in keys])


@dataclass(frozen=True)
class Band:
    """Bröcker & Smith's consistency bars of one guard and method: per plot bin, its mean p and
    the 2.5 % and 97.5 % quantiles of the unsafe fraction of labels drawn from p (NaN where the
    bin is empty) — where a calibrated guard's bar would end."""

    confidence: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class ReliabilityColumn:
    """One column of a reliability figure: a title, the method (its colour), its bins, the
    table's ECE and MCE, and the consistency bands."""

    title: str
    method: str
    bins: Reliability
    ece: float
    mce: float
    band: Band


@dataclass(frozen=True)
class ReliabilityGrid:
    """Columns of confidence histogram over reliability diagram."""

    columns: list[ReliabilityColumn]
    ece_bins: int
    title: str | None = None


def _column(run: RunData, title: str, model: str, method: str) -> ReliabilityColumn:
    b = run.bins[model, method]
    band = Band(*consistency_bands(b.proba, run.plot_bins, seed=run.seed))
    return ReliabilityColumn(title, method, b, *run.errors(model, method), band)


def uncalibrated(run: RunData) -> ReliabilityGrid:
    """Each guard uncalibrated, side by side."""
    columns = [_column(run, model, model, "uncalibrated") for model in run.models]
    return ReliabilityGrid(columns, run.ece_bins)


def reliability_diagrams(run: RunData, model: str) -> ReliabilityGrid:
    """One guard under each of the study's methods."""
    study = method_names(study=True)
    columns = [_column(run, REGISTRY[m].label, model, m) for m in study]
    return ReliabilityGrid(columns, run.ece_bins, model)


@dataclass(frozen=True)
class Curve:
    """One method's line through its filled bins: mean p(unsafe) against unsafe fraction."""

    method: str
    confidence: np.ndarray
    positive_rate: np.ndarray
    ece: float


def calibration_curves(run: RunData) -> dict[str, list[Curve]]:
    """Per guard, each of the study's methods' reliability curve with the table's ECE."""
    curves = {}
    for model in run.models:
        curves[model] = []
        for method in method_names(study=True):
            b = run.bins[model, method]
            drawn = ~np.isnan(b.confidence)
            ece = run.errors(model, method)[0]
            curves[model].append(Curve(method, b.confidence[drawn], b.positive_rate[drawn], ece))
    return curves


@dataclass(frozen=True)
class TuningRow:
    """One guard's grid search: the grid, each metric along it, and the chosen value."""

    model: str
    best: float
    grid: np.ndarray
    metrics: dict[str, np.ndarray]


@dataclass(frozen=True)
class Tuning:
    """A tuning figure: the parameter's symbol and scale, the metric panels, a row per guard."""

    symbol: str
    log_x: bool
    panels: list[tuple[str, list[str]]]
    rows: list[TuningRow]


def _tuning(
    run: RunData,
    method: str,
    table: str,
    x: str,
    symbol: str,
    panels: list[tuple[str, list[str]]],
    log_x: bool = False,
) -> Tuning:
    history = run.tables[table]
    tuning = run.tables["tuning"]
    best = tuning[tuning["method"] == method].set_index("model")["value"]
    used = [m for _, metrics in panels for m in metrics]
    rows = []
    for model in dict.fromkeys(history["model"]):
        h = history[history["model"] == model]
        values = {m: h[m].to_numpy() for m in used}
        rows.append(TuningRow(model, float(best[model]), h[x].to_numpy(), values))
    return Tuning(symbol, log_x, panels, rows)


def temperature_tuning(run: RunData) -> Tuning:
    """Validation NLL and ECE/MCE against the temperature T per guard, best T marked."""
    panels = [("NLL", ["nll"]), ("ECE / MCE", ["ece", "mce"])]
    return _tuning(run, "ts", "tuning_temperature", "temperature", "T", panels, log_x=True)


def gamma_tuning(run: RunData) -> Tuning:
    """Validation NLL, ECE/MCE and Acc/F1/Precision/Recall against γ per guard, best γ marked."""
    panels = [
        ("NLL", ["nll"]),
        ("ECE / MCE", ["ece", "mce"]),
        ("Accuracy / F1 / Precision / Recall", ["accuracy", "f1", "precision", "recall"]),
    ]
    return _tuning(run, "bc", "tuning_gamma", "gamma", "γ", panels)


@dataclass(frozen=True)
class Forest:
    """One guard's value and interval of a metric per method, and its uncalibrated value."""

    model: str
    methods: list[str]
    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    reference: float


def ece_forest(run: RunData, metric: str = "ece") -> tuple[str, list[Forest]]:
    """(the metric, per guard every method's test value with its bootstrap 95 % interval)."""
    ci = run.tables["metrics_ci"]
    methods = list(dict.fromkeys(ci["method"]))
    forests = []
    for model in dict.fromkeys(ci["model"]):
        rows = ci[(ci["model"] == model) & (ci["metric"] == metric)].set_index("method")
        rows = rows.loc[methods]
        forests.append(
            Forest(
                model,
                methods,
                rows["value"].to_numpy(),
                rows["lo"].to_numpy(),
                rows["hi"].to_numpy(),
                float(rows.at["uncalibrated", "value"]),
            )
        )
    return metric, forests


SMOOTH_OPTIONS = {"plot_confidence_band": False, "report_CE_std": False}
"""relplot's diagram without its confidence band or the CE's standard deviation."""


@dataclass(frozen=True)
class WilsonPanel:
    """One method's filled bins: mean p(unsafe), unsafe fraction, the Wilson 95 % interval as
    distances below and above it, and a marker size growing with the bin's share."""

    method: str
    confidence: np.ndarray
    rate: np.ndarray
    below: np.ndarray
    above: np.ndarray
    size: np.ndarray


def wilson(run: RunData, model: str) -> tuple[str, list[WilsonPanel]]:
    """(the title, one guard's panel per method with each bin's Wilson 95 % interval)."""
    panels = []
    for (name, method), b in run.bins.items():
        if name != model:
            continue
        filled = b.filled
        count, rate = b.count[filled], b.positive_rate[filled]
        lo, hi = wilson_interval(np.round(rate * count), count)
        panels.append(
            WilsonPanel(
                method,
                b.confidence[filled],
                rate,
                np.clip(rate - lo, 0, None),
                np.clip(hi - rate, 0, None),
                20 + 400 * count / b.labels.shape[0],
            )
        )
    title = f"{model}: reliability with Wilson 95 % intervals ({run.plot_bins} bins)"
    return title, panels


def smooth(run: RunData, model: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """(the title, one guard's relplot smoothed reliability diagram per method: the kernel
    regression of the label on p(unsafe) at smooth ECE's bandwidth)."""
    import relplot  # imports matplotlib, so only the smooth diagrams' preparation loads it

    diagrams = [
        (method, relplot.prepare_rel_diagram(b.proba, b.labels, **SMOOTH_OPTIONS))
        for (name, method), b in run.bins.items()
        if name == model
    ]
    return f"{model}: smoothed reliability (relplot)", diagrams


@dataclass(frozen=True)
class Heatmap:
    """One guard's categories × the study's methods: a grid per panel, the row labels."""

    model: str
    labels: list[str]
    grids: list[tuple[str, pd.DataFrame, float]]


HEATMAP_UPPER = {"recall": 1.0, "mean_proba_unsafe": 1.0, "ece": None}
"""The heat map's panels by column, each with its colour scale's upper end (None: the data's)."""


def category_heatmap(run: RunData, model: str) -> Heatmap:
    """One guard's per-category recall, mean p(unsafe) and ECE (no grids without categories)."""
    table = run.tables["category_metrics"]
    rows = table[table["model"] == model]
    keys = list(dict.fromkeys(rows["category"]))
    if not keys:
        return Heatmap(model, [], [])
    counts = rows.drop_duplicates("category").set_index("category")["unsafe"]
    grids = []
    for column, upper in HEATMAP_UPPER.items():
        grid = rows.pivot(index="category", columns="method", values=column).loc[keys]
        grid = grid[list(method_names(study=True))]
        top = upper if upper is not None else max(float(np.nanmax(grid.to_numpy())), 1e-3)
        grids.append((column, grid, top))
    return Heatmap(model, [f"{category_name(k)} (n={counts[k]})" for k in keys], grids)


@dataclass(frozen=True)
class RiskCurve:
    """One method's accuracy of the auto-decided items against the share decided, and where
    its narrowest review band lands on test (None when it decides nothing)."""

    method: str
    coverage: np.ndarray
    accuracy: np.ndarray
    band: tuple[float, float] | None
    aurc: float


def risk_coverage(run: RunData) -> dict[str, list[RiskCurve]]:
    """Per guard, each of the study's methods' risk–coverage curve, review band and AURC."""
    points = run.tables["operating_points"]
    bands = points[points["point"] == "review_band"].set_index(["model", "method"])
    areas = run.tables["risk_coverage"].set_index(["model", "method"])["aurc"]
    out = {}
    for model in run.models:
        out[model] = []
        for method in method_names(study=True):
            b = run.bins[model, method]
            curve = risk_coverage_curve(b.labels, b.proba)
            band = bands.loc[(model, method)]
            point = (
                (1 - band["test_review"], band["test_auto_accuracy"])
                if np.isfinite(band["test_auto_accuracy"])
                else None
            )
            out[model].append(
                RiskCurve(
                    method,
                    curve["coverage"].to_numpy(),
                    curve["accuracy"].to_numpy(),
                    point,
                    float(areas[(model, method)]),
                )
            )
    return out


def benchmarks_heatmap(run: RunData) -> dict[str, pd.DataFrame]:
    """A suite's heat map: per estimator, the uncalibrated guards × benchmarks in percent."""
    return run.across
