"""Across benchmarks (a suite run): every guard on every benchmark, uncalibrated and after each
calibrator fitted on the declared source and applied everywhere (transfer) — and, with
`in_domain`, also fitted on a seeded share of each benchmark and measured with the transfer fit on
the rest (the transfer gap) — each number with a seeded bootstrap 95 % interval; the vanilla and
jailbreak slices where a benchmark marks them; the table in Liu et al.'s layout."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guardcal import scores
from guardcal.benchmarks import BENCHMARKS
from guardcal.benchmarks.suite import in_domain_split, load_split
from guardcal.calibration.bootstrap import (
    CONFIDENCE,
    FixedProba,
    percentile_interval,
    resample_indices,
    resampled_metrics,
)
from guardcal.calibration.fitted import FittedCalibrators
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.reliability import EXTENDED_KEYS, evaluate_extended
from guardcal.config import Config
from guardcal.reporting.intervals import method_probas
from guardcal.reporting.markup import MATH_IGNORE, Markdown, code, html_text, md
from guardcal.reporting.pipeline import fit_model, logits_of
from guardcal.reporting.tables import (
    DISPLAY_DIGITS,
    METRIC_LABELS,
    RELIABILITY_LABELS,
    UNDEFINED,
    benchmark_title,
    check_columns,
    liu_layout,
    write_csv,
    write_parquet,
    write_text,
)

ACROSS_METRICS = (
    "ece",
    "ece_rms",
    "f1",
    "auprc",
    "nll",
    "brier",
    "precision",
    "recall",
    "accuracy",
)
"""The metrics of `benchmarks.csv`: the study's ECE and Liu et al.'s RMS ECE first."""
BENCHMARK_COLUMNS = ("model", "benchmark", "method", "metric", "value", "lo", "hi")
SLICE_COLUMNS = ("model", "benchmark", "slice", "method", "metric", "value", "lo", "hi")
GAP_COLUMNS = ("model", "benchmark", "method", "metric", "transfer", "in_domain", "gap", "lo", "hi")
IN_DOMAIN = "_in_domain"
"""Suffix of a method fitted in domain (`ts_in_domain`) in `benchmarks.csv`."""
SLICES = {"vanilla": False, "jailbreak": True}
"""The `adversarial` flag's two slices."""
SUITE_PREDICTION_COLUMNS = ("model", "benchmark", "method", "id", "label", "proba_unsafe")


@dataclass(frozen=True)
class AcrossTables:
    """What the section shows: the main table, the slices, the transfer gap (empty without
    `in_domain`) and every example's p(unsafe) under the study's methods."""

    benchmarks: pd.DataFrame
    slices: pd.DataFrame
    gap: pd.DataFrame
    predictions: pd.DataFrame


def _interval_rows(
    keys: dict[str, str],
    values: dict[str, dict[str, float]],
    stats: dict[str, np.ndarray],
    methods: dict[str, str],
) -> list[dict]:
    """One row per (method, metric): its value and percentile interval; `methods` maps the row
    names in `values` and `stats` to the method column, `keys` adds the other columns."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined on every resample
        for name, method in methods.items():
            lo, hi = percentile_interval(stats[name], CONFIDENCE)
            for metric in ACROSS_METRICS:
                k = EXTENDED_KEYS.index(metric)
                value = values[name][metric]
                rows.append(
                    {
                        **keys,
                        "method": method,
                        "metric": metric,
                        "value": value,
                        "lo": lo[k],
                        "hi": hi[k],
                    }
                )
    return rows


def _measure(
    y: np.ndarray, rows: dict, cfg: Config, seed_key: str
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Every row's metrics (`evaluate_extended`) and their values on one seeded draw of
    resamples of these examples (seeded per benchmark, so guards and methods are paired)."""
    c = cfg.calibration
    values = {
        name: evaluate_extended(y, r(np.ones((1, y.shape[0])))[0], c.ece_bins)
        for name, r in rows.items()
    }
    seed = c.bootstrap_seed + sum(map(ord, seed_key))
    indices = resample_indices(y.shape[0], c.bootstrap_resamples, seed)
    stats = resampled_metrics(y, rows, indices, c.ece_bins, progress=False, smooth=False)
    return values, stats


def _fixed(probas: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, FixedProba]:
    """A part of the examples' p(unsafe), fixed (a slice keeps its batch's BC prior)."""
    return {m: FixedProba(p[mask]) for m, p in probas.items()}


def _benchmark(
    cfg: Config, fitted: FittedCalibrators, key: str, content_free: pd.DataFrame
) -> tuple[list[dict], list[dict], list[dict], pd.DataFrame]:
    """One guard on one benchmark: main-table rows, slice rows, gap rows and predictions."""
    split = cfg.benchmark_split(key)
    examples = load_split(cfg, split)
    s = scores.read_scores(cfg, fitted.model, split)
    if s["id"].astype(str).tolist() != examples["id"].astype(str).tolist():
        raise ValueError(f"{cfg.layout.scores(fitted.model, split)}: rows differ from {key}'s")
    z, y = logits_of(s), s["label"].to_numpy()
    methods = {m: m for m in fitted.methods}
    probas = fitted.proba_unsafe(z)
    values, stats = _measure(y, method_probas(fitted, z), cfg, key)
    ids = {"model": fitted.model, "benchmark": key}
    main = _interval_rows(ids, values, stats, methods)

    slices = []
    flags = examples["adversarial"]
    if flags.notna().all() and flags.nunique() == 2:
        for name, flag in SLICES.items():
            mask = (flags == flag).to_numpy()
            v, st = _measure(y[mask], _fixed(probas, mask), cfg, f"{key}:{name}")
            slices += _interval_rows({**ids, "slice": name}, v, st, methods)

    gap = []
    if cfg.in_domain is not None:
        fit = in_domain_split(examples, cfg.in_domain)[0]
        fit_rows = s["id"].astype(str).isin(fit["id"].astype(str)).to_numpy()
        if len(set(y[fit_rows])) == 2 and (~fit_rows).any():
            local = fit_model(fitted.model, s[fit_rows], content_free, cfg.calibration)
            zr, yr = z[~fit_rows], y[~fit_rows]
            both = {
                **method_probas(fitted, zr),
                **{m + IN_DOMAIN: r for m, r in method_probas(local, zr).items()},
            }
            v, st = _measure(yr, both, cfg, f"{key}:rest")
            main += _interval_rows(ids, v, st, {m + IN_DOMAIN: m + IN_DOMAIN for m in methods})
            same = {m: fitted[m].to_json() == local[m].to_json() for m in fitted.calibrators}
            gap += _gap_rows(ids, v, st, same)

    study = method_names(study=True)
    preds = pd.DataFrame(
        {
            "model": fitted.model,
            "benchmark": key,
            "method": np.repeat(study, len(y)),
            "id": np.tile(s["id"].astype(str).to_numpy(), len(study)),
            "label": np.tile(y.astype(np.int64), len(study)),
            "proba_unsafe": np.concatenate([probas[m] for m in study]),
        }
    )
    return main, slices, gap, preds


def _gap_rows(
    keys: dict[str, str], values: dict, stats: dict[str, np.ndarray], same: dict[str, bool]
) -> list[dict]:
    """Transfer minus in-domain on the same held-out rows, with the paired interval, per fitted
    method; `same` marks a method whose two fits came out equal (kept until `_learning`)."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for m, equal in same.items():
            lo, hi = percentile_interval(stats[m] - stats[m + IN_DOMAIN], CONFIDENCE)
            for metric in ACROSS_METRICS:
                k = EXTENDED_KEYS.index(metric)
                t, d = values[m][metric], values[m + IN_DOMAIN][metric]
                rows.append(
                    {
                        **keys,
                        "method": m,
                        "metric": metric,
                        "transfer": t,
                        "in_domain": d,
                        "gap": t - d,
                        "lo": lo[k],
                        "hi": hi[k],
                        "same": equal,
                    }
                )
    return rows


def _learning(gap: pd.DataFrame) -> pd.DataFrame:
    """The gap rows of the methods that learn from the labels they are fitted on: one whose two
    fits are equal for every guard and benchmark (contextual calibration, fitted on content-free
    inputs) has no transfer gap to show."""
    if gap.empty:
        return gap
    learns = ~gap.groupby("method")["same"].transform("all")
    return gap[learns].reset_index(drop=True)


def evaluate_across(cfg: Config) -> AcrossTables:
    """Every guard on every benchmark of a suite; writes `benchmarks.csv`,
    `benchmark_slices.csv`, `transfer_gap.csv` (with `in_domain`), `benchmarks.tex` and
    `predictions.parquet` (with a `benchmark` column: every benchmark's examples)."""
    main, slices, gap, preds = [], [], [], []
    for m in cfg.models:
        content_free = scores.read_scores(cfg, m.name, "content_free")
        validation = scores.read_scores(cfg, m.name, "validation")
        fitted = fit_model(m.name, validation, content_free, cfg.calibration)
        for entry in cfg.benchmarks:
            a, b, c, d = _benchmark(cfg, fitted, entry.key, content_free)
            main, slices, gap = main + a, slices + b, gap + c
            preds.append(d)
    tables = AcrossTables(
        check_columns(
            pd.DataFrame(main, columns=BENCHMARK_COLUMNS), BENCHMARK_COLUMNS, "benchmarks"
        ),
        check_columns(pd.DataFrame(slices, columns=SLICE_COLUMNS), SLICE_COLUMNS, "slices"),
        check_columns(
            _learning(pd.DataFrame(gap, columns=[*GAP_COLUMNS, "same"])), GAP_COLUMNS, "gap"
        ),
        check_columns(pd.concat(preds, ignore_index=True), SUITE_PREDICTION_COLUMNS, "predictions"),
    )
    layout = cfg.layout
    write_csv(tables.benchmarks, layout.table("benchmarks"))
    write_csv(tables.slices, layout.table("benchmark_slices"))
    if cfg.in_domain is not None:
        write_csv(tables.gap, layout.table("transfer_gap"))
    write_text(layout.table("benchmarks", ".tex"), benchmarks_latex(cfg, tables.benchmarks))
    write_parquet(tables.predictions, layout.table("predictions", ".parquet"))
    return tables


def benchmarks_latex(cfg: Config, table: pd.DataFrame) -> str:
    """`benchmarks.tex`: Liu et al.'s layout — per estimator (their RMS ECE, then the study's
    ECE), a booktabs tabular of guards × benchmarks and their average, in percent, one block of
    rows per method of the study's table."""
    labels = {**METRIC_LABELS, **RELIABILITY_LABELS}
    out = []
    for metric in ("ece_rms", "ece"):
        wide = pd.concat(
            {
                REGISTRY[m].label: liu_layout(cfg, table, metric, m)
                for m in method_names(study=True)
            },
            names=["Method", "Guard"],
        )
        styler = (
            wide.style.format(precision=1, escape="latex", na_rep="--")
            .format_index(escape="latex", axis=0)
            .format_index(escape="latex", axis=1)
        )
        body = styler.to_latex(hrules=True, multirow_align="t", clines="skip-last;data")
        out.append(f"% {labels[metric]} (%) per guard and benchmark\n{body}")
    return "\n".join(out)


SECTION_METRICS = ("ece", "ece_rms", "f1", "auprc")
"""What the report's section shows per guard and benchmark (the CSV holds every metric)."""


def _cell(value: float, lo: float, hi: float) -> str:
    """A number over its interval, or the undefined mark."""
    if np.isnan(value):
        return f"<td>{UNDEFINED}</td>"
    interval = "" if np.isnan(lo) else f"<br><small>[{lo:.3f}, {hi:.3f}]</small>"
    return f"<td>{value:.{DISPLAY_DIGITS}f}{interval}</td>"


def _grid_html(
    cfg: Config, rows: pd.DataFrame, value: str, uuid: str, with_guard: bool = False
) -> str:
    """Guards × methods (rows) by benchmarks (columns), each cell `value` over its interval;
    `with_guard` names the guard on every row (a table without uncalibrated rows)."""
    keys = [e.key for e in cfg.benchmarks if e.key in set(rows["benchmark"])]
    head = "".join(f"<th>{html_text(benchmark_title(cfg, k))}</th>" for k in keys)
    body = []
    for (model, method), block in rows.groupby(["model", "method"], sort=False):
        block = block.set_index("benchmark")
        name = model if method == "uncalibrated" else _method_label(method)
        name = f"{model} {name}" if with_guard else name
        cells = "".join(
            _cell(block.at[k, value], block.at[k, "lo"], block.at[k, "hi"])
            if k in block.index
            else "<td></td>"
            for k in keys
        )
        body.append(f'<tr><th style="text-align:left">{html_text(name)}</th>{cells}</tr>')
    return (
        f'<table id="T_{uuid}" class="{MATH_IGNORE}" style="font-size:11px"><thead><tr>'
        f"<th>Guard</th>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _method_label(method: str) -> str:
    """A method's row label; an in-domain fit is marked as such."""
    base = method.removesuffix(IN_DOMAIN)
    return REGISTRY[base].label + (" (in domain)" if base != method else "")


def metric_html(cfg: Config, table: pd.DataFrame, metric: str) -> str:
    """One metric of every guard and study method (transfer fits) on every benchmark, each with
    its bootstrap 95 % interval."""
    study = method_names(study=True)
    rows = table[(table["metric"] == metric) & table["method"].isin(study)]
    order = {m: i for i, m in enumerate(study)}
    rows = rows.assign(o=rows["method"].map(order)).sort_values(["model", "o"], kind="stable")
    rows = rows.set_index("model").loc[[m.name for m in cfg.models]].reset_index()
    return _grid_html(cfg, rows, "value", f"across_{metric}")


def gap_html(cfg: Config, gap: pd.DataFrame, metric: str) -> str:
    """Transfer minus in-domain `metric` per guard, study calibrator and benchmark, on the same
    held-out rows, with the paired 95 % interval."""
    rows = gap[(gap["metric"] == metric) & gap["method"].isin(method_names(study=True))]
    return _grid_html(cfg, rows, "gap", f"gap_{metric}", with_guard=True)


def slices_html(cfg: Config, slices: pd.DataFrame, metric: str) -> str:
    """`metric` on the vanilla and the jailbreak examples of each benchmark that marks them,
    per guard, uncalibrated and after each study calibrator (transfer fits)."""
    rows = slices[(slices["metric"] == metric) & slices["method"].isin(method_names(study=True))]
    rows = rows.assign(benchmark=rows["benchmark"] + "\x00" + rows["slice"])
    head, body = "", []
    columns = list(dict.fromkeys(rows["benchmark"]))
    for c in columns:
        key, part = c.split("\x00")
        flags = load_split(cfg, cfg.benchmark_split(key))["adversarial"]
        n = int((flags == SLICES[part]).sum())
        head += f"<th>{html_text(benchmark_title(cfg, key))}<br>{part} (n={n})</th>"
    for (model, method), block in rows.groupby(["model", "method"], sort=False):
        block = block.set_index("benchmark")
        name = model if method == "uncalibrated" else _method_label(method)
        cells = "".join(
            _cell(block.at[c, "value"], block.at[c, "lo"], block.at[c, "hi"]) for c in columns
        )
        body.append(f'<tr><th style="text-align:left">{html_text(name)}</th>{cells}</tr>')
    return (
        f'<table id="T_slices_{metric}" class="{MATH_IGNORE}" style="font-size:11px"><thead>'
        f"<tr><th>Guard</th>{head}"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def suite_intro(cfg: Config) -> Markdown:
    """The suite in words: where the calibrators are fitted, and each benchmark's mode,
    convention, evaluated rows and licence."""
    src = cfg.dataset.validation
    if src.benchmark is not None:
        fit = md(
            "a seeded {:.0%} share (seed {}) of {}, whose rest is its evaluated rows",
            src.fraction,
            src.seed,
            code(src.benchmark),
        )
    else:
        fit = md("the validation set {}", code(src.path or src.hf))
    rows = []
    for e in cfg.benchmarks:
        frame = load_split(cfg, cfg.benchmark_split(e.key))
        b = BENCHMARKS[e.name]
        rows.append(
            md(
                "| {} | {} | {} | {} | {:,} | {:,} | {} |",
                benchmark_title(cfg, e.key),
                code(e.key),
                e.mode or b.modes[0],
                e.convention or b.default_convention,
                len(frame),
                int(frame["label"].sum()),
                b.licence,
            )
        )
    in_domain = (
        md(
            " With `in_domain`, each benchmark's calibrators are also fitted on a seeded {:.0%} "
            "share of its own rows (seed {}), and both fits are measured on the rest: the "
            "difference is what calibration loses in transfer.",
            cfg.in_domain.fraction,
            cfg.in_domain.seed,
        )
        if cfg.in_domain
        else Markdown()
    )
    return md(
        "Every guard is scored on every benchmark in its mode. The calibrators are fitted on {} "
        "and applied unchanged to every benchmark — calibration transfer, the situation of a "
        "deployed guard; batch calibration's prior is each benchmark's own batch.{} Each number "
        "has a 95 % percentile bootstrap interval over the benchmark's examples ({:,} "
        "resamples). ECE is the study's (15 equal-width bins, ℓ1); RMS ECE is Liu et al.'s (15 "
        "equal-mass bins, ℓ2).\n\n"
        "| benchmark | key | mode | convention | evaluated rows | unsafe | licence |\n"
        "|---|---|---|---|---:|---:|---|\n{}",
        fit,
        in_domain,
        cfg.calibration.bootstrap_resamples,
        Markdown("\n").join(rows),
    )


def transfer_note(cfg: Config) -> Markdown:
    """What the transfer-gap tables show, or why there are none."""
    if cfg.in_domain is None:
        return md(
            "Without `in_domain` in the config there is no in-domain fit to compare with; add "
            "`in_domain: {{fraction: 0.5, seed: 0}}` to measure what calibration loses in "
            "transfer."
        )
    gap = pd.read_csv(cfg.layout.table("transfer_gap"))
    ece = gap[(gap["metric"] == "ece") & gap["method"].isin(method_names(study=True))]
    worse = int((ece["lo"] > 0).sum())
    return md(
        "**The transfer gap**: ECE (first table) and RMS ECE (second) of each study calibrator "
        "fitted on the source, minus the same calibrator fitted in domain, both on each "
        "benchmark's held-out rows, with the paired 95 % interval (above 0: transfer is worse; "
        "contextual calibration learns nothing from labels, so it has no gap). {} of {} guard × "
        "calibrator × benchmark ECE gaps exclude 0 from above.",
        worse,
        len(ece),
    )


def slices_note(cfg: Config, slices: pd.DataFrame) -> Markdown:
    """What the vanilla/jailbreak table shows, or that no benchmark marks jailbreaks."""
    if slices.empty:
        return md(
            "No benchmark of this suite marks which prompts are jailbreaks (WildGuardMix, "
            "ToxicChat, HarmBench's classifier set and JailbreakBench do)."
        )
    keys = Markdown(", ").join(benchmark_title(cfg, k) for k in dict.fromkeys(slices["benchmark"]))
    return md(
        "**Vanilla against jailbreak** prompts ({}): Liu et al.'s RMS ECE on each part, the "
        "calibrators and batch calibration's prior those of the whole benchmark.",
        keys,
    )


def latex_note(cfg: Config) -> Markdown:
    """Where the tables of this section are, in Liu et al.'s layout and in full."""
    return md(
        "Liu et al.'s layout (guards × benchmarks and their average, per method) is in {} for "
        "both estimators; every metric with its interval in `benchmarks.csv`, the slices in "
        "`benchmark_slices.csv`{}, and every example's p(unsafe) in `predictions.parquet` (its "
        "`benchmark` column).",
        code(cfg.layout.table("benchmarks", ".tex").name),
        md(", the transfer gap in `transfer_gap.csv`") if cfg.in_domain else Markdown(),
    )
