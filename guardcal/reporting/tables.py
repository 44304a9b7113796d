"""The run's tables: their columns, byte-stable atomic CSV/LaTeX writing, and display versions."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from guardcal.atomic import atomic_write, write_text
from guardcal.benchmarks import BENCHMARKS
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.metrics import METRIC_KEYS
from guardcal.config import Config
from guardcal.reporting.markup import MATH_IGNORE, html_text

RELIABILITY_LABELS = {
    "ece_debiased": "ECE (debiased)",
    "smooth_ece": "smECE",
    "ece_equal_mass": "ECE (equal mass)",
    "ece_top_label": "ECE (top label)",
    "ece_rms": "RMS ECE (Liu)",
    "brier_reliability": "Brier REL",
    "brier_resolution": "Brier RES",
    "brier_uncertainty": "Brier UNC",
}
"""Column labels of the measures of `calibration.reliability`."""
METRICS_COLUMNS = ("model", "method", *METRIC_KEYS)
TUNING_METRICS = ("nll", "ece", "mce", "accuracy", "precision", "recall", "f1", "auprc")
TUNING_COLUMNS = ("model", "method", "parameter", "value", *TUNING_METRICS)
METRIC_LABELS = {
    "ece": "ECE",
    "mce": "MCE",
    "nll": "NLL",
    "brier": "Brier",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
    "auprc": "AUPRC",
    "ap": "AP",
}
FINAL_METRICS = ("ece", "mce", "nll", "f1", "precision", "recall", "accuracy", "auprc")
LOWER_IS_BETTER = frozenset({"ece", "mce", "nll", "brier"})
FLOAT_FORMAT = "%.6f"
DISPLAY_DIGITS = 4
UNDEFINED = "undefined"
"""How a metric that has no value (AUPRC without an unsafe example) is displayed."""


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Atomic CSV with fixed float formatting: the same frame always gives the same bytes."""
    return write_text(path, df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Atomic parquet (full float precision) for frames that are read back, not looked at."""
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> pd.DataFrame:
    """`df` with exactly `columns` in that order; raise naming `what` when one is missing."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing} (have {list(df.columns)})")
    return df.loc[:, list(columns)]


def final_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The study's final table: one block per model, its row then +CC, +BC, +TS."""
    metrics = check_columns(metrics, METRICS_COLUMNS, "metrics table")
    rows = []
    for model, block in metrics.groupby("model", sort=False):
        block = block.set_index("method")
        for method in method_names(study=True):
            label = model if method == "uncalibrated" else REGISTRY[method].label
            rows.append(
                {"Model": label, **{METRIC_LABELS[m]: block.at[method, m] for m in FINAL_METRICS}}
            )
    return pd.DataFrame(rows)


def best_temperature_table(tuning: pd.DataFrame) -> pd.DataFrame:
    """Best temperature per model with its validation NLL, ECE and MCE (the TS tuning table)."""
    ts = tuning[tuning["method"] == "ts"]
    return pd.DataFrame(
        {
            "Model": ts["model"],
            "Best T": ts["value"],
            "NLL": ts["nll"],
            "ECE": ts["ece"],
            "MCE": ts["mce"],
        }
    ).reset_index(drop=True)


def best_gamma_table(tuning: pd.DataFrame) -> pd.DataFrame:
    """Best γ per model with its validation metrics (the BC tuning table)."""
    bc = tuning[tuning["method"] == "bc"]
    cols = ("nll", "ece", "mce", "accuracy", "precision", "recall", "f1", "auprc")
    out = pd.DataFrame({"Model": bc["model"], "Best γ": bc["value"]})
    for c in cols:
        out[METRIC_LABELS[c]] = bc[c]
    return out.reset_index(drop=True)


def _final_styler(metrics: pd.DataFrame, escape: str = "html") -> Styler:
    """The final table styled: fixed precision, each model's best value per column in bold,
    model names escaped for the output format, undefined values spelled out."""
    table = final_table(metrics)
    blocks = np.arange(len(table)) // len(method_names(study=True))
    styler = (
        table.style.hide(axis="index")
        .format(precision=DISPLAY_DIGITS, escape=escape, na_rep=UNDEFINED)
        .format_index(escape=escape, axis=1)
    )
    for col in table.columns[1:]:
        values = table[col].astype(float).round(DISPLAY_DIGITS)
        lower = col.lower() in LOWER_IS_BETTER
        best = values.groupby(blocks).transform("min" if lower else "max")
        bold = np.where(values == best, "font-weight: bold", "")
        styler = styler.apply(lambda _, b=bold: b, subset=[col])
    return styler


def _html(styler: Styler, uuid: str, caption: str | None = None) -> str:
    """A styled table as HTML, the model column left-aligned, with its caption (the report
    numbers captioned tables), in an element MathJax leaves alone (its cells are user text,
    escaped by the styler)."""
    left = [{"selector": "th.col_heading.col0, td.col0", "props": "text-align: left;"}]
    if caption:
        styler = styler.set_caption(html.escape(caption))  # Styler writes a caption as given
    return (
        styler.set_table_styles(left, overwrite=False)
        .set_table_attributes(f'class="{MATH_IGNORE}"')
        .set_uuid(uuid)
        .to_html()
    )


def final_table_html(metrics: pd.DataFrame) -> str:
    """The final table as HTML for the report."""
    caption = "Test metrics of every guard under every method (each guard's best in bold)"
    return _html(_final_styler(metrics), "final", caption)


def final_table_latex(metrics: pd.DataFrame) -> str:
    """The final table as a booktabs LaTeX tabular (best values in bold)."""
    return _final_styler(metrics, escape="latex").to_latex(
        hrules=True, convert_css=True, column_format="l" + "r" * len(FINAL_METRICS)
    )


def table_html(table: pd.DataFrame, name: str, caption: str | None = None) -> str:
    """A small results table as HTML (element id `T_<name>`), numbers at the display precision,
    under `caption`. Every cell and column label is shown as text: the report's one way to show
    a table."""
    styler = (
        table.style.hide(axis="index")
        .format(precision=DISPLAY_DIGITS, escape="html", na_rep=UNDEFINED)
        .format_index(escape="html", axis=1)
    )
    return _html(styler, name, caption)


def extended_table_html(ci: pd.DataFrame) -> str:
    """The extended table (every calibrator × every estimator) as HTML: each cell the test value
    over its bootstrap 95 % interval."""
    labels = {**METRIC_LABELS, **RELIABILITY_LABELS}
    metrics = list(dict.fromkeys(ci["metric"]))
    head = "".join(f"<th>{labels.get(m, m)}</th>" for m in metrics)
    body = []
    for (model, method), rows in ci.groupby(["model", "method"], sort=False):
        rows = rows.set_index("metric")
        name = html_text(model if method == "uncalibrated" else REGISTRY[method].label)
        cells = "".join(
            f"<td>{UNDEFINED}</td>"
            if np.isnan(rows.at[m, "value"])
            else f"<td>{rows.at[m, 'value']:.{DISPLAY_DIGITS}f}<br><small>[{rows.at[m, 'lo']:.3f}, "
            f"{rows.at[m, 'hi']:.3f}]</small></td>"
            for m in metrics
        )
        body.append(f'<tr><th style="text-align:left">{name}</th>{cells}</tr>')
    return (
        f'<table id="T_extended" class="{MATH_IGNORE}"><caption>Every calibrator under every '
        "estimator on test: the value and its bootstrap 95 % interval</caption><thead><tr>"
        "<th>Model</th>"
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def benchmark_title(cfg: Config, key: str) -> str:
    """A benchmark's display name: its title, with the mode and convention its entry sets."""
    entry = next(e for e in cfg.benchmarks if e.key == key)
    title = BENCHMARKS[entry.name].title
    extra = ", ".join(x for x in (entry.mode, entry.convention) if x)
    return f"{title} ({extra})" if extra else title


def liu_layout(cfg: Config, table: pd.DataFrame, metric: str, method: str) -> pd.DataFrame:
    """One block of Liu et al.'s Table 1: guards as rows, benchmarks as columns and their
    average, the metric in percent."""
    rows = table[(table["metric"] == metric) & (table["method"] == method)]
    wide = rows.pivot(index="model", columns="benchmark", values="value")
    wide = wide.loc[[m.name for m in cfg.models], [e.key for e in cfg.benchmarks]] * 100
    wide.columns = [benchmark_title(cfg, k) for k in wide.columns]
    wide["Avg."] = wide.mean(axis=1)
    return wide
