"""The report's narrative: the sentences and small tables chosen from a run's numbers.

Each function returns Markdown (or HTML) for one place in `05_report.ipynb`; the notebook only
displays them, so the wording logic is tested here on any run, synthetic ones included.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

import guardcal
from guardcal import artifact, scores
from guardcal.calibration.methods import REGISTRY, fitted_methods
from guardcal.config import Config
from guardcal.policies import category_name
from guardcal.records import LABELS, MIN_CLASS_ROWS
from guardcal.reporting import study
from guardcal.reporting.pipeline import read_table, scores_summary
from guardcal.reporting.tables import METRIC_LABELS, table_html

CLASSIFICATION_METRICS = ("f1", "precision", "recall", "accuracy")
"""The metrics of ŷ = 1 iff p ≥ 0.5: temperature scaling leaves all of them unchanged."""


def study_calibrators() -> list[str]:
    """The study's calibration methods (its four but `uncalibrated`), in table order."""
    return [m.name for m in fitted_methods() if m.study]


def text(value: object) -> str:
    """User-supplied text (a model or run name) as Markdown that shows it literally: HTML's
    `<>&` as entities, Markdown's inline punctuation backslash-escaped (no markup, no links)."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(str(value), quote=False))


def code(value: object) -> str:
    """User-supplied text as a Markdown code span (shown literally; a longer fence than any
    backtick run inside it, newlines and table pipes neutralised)."""
    raw = str(value).replace("\n", " ").replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", raw)), default=0) + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


@dataclass(frozen=True)
class RunFacts:
    """What the narrative reads of one finished run: its tables, score summary and examples."""

    cfg: Config
    metrics: pd.DataFrame
    tuning: pd.DataFrame
    sizes: pd.DataFrame
    summary: pd.DataFrame
    examples: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, cfg: Config) -> RunFacts:
        """Read a run's tables (written by notebooks 01–03) and each guard's example."""
        return cls(
            cfg=cfg,
            metrics=read_table(cfg, "metrics"),
            tuning=read_table(cfg, "tuning"),
            sizes=read_table(cfg, "dataset").set_index("split"),
            summary=scores_summary(cfg).set_index(["model", "split"]),
            examples={m.name: scores.read_example(cfg, m.name) for m in cfg.models},
        )

    @property
    def models(self) -> list[str]:
        """The guards' names, in config order."""
        return [m.name for m in self.cfg.models]

    def value(self, model: str, method: str, metric: str) -> float:
        """One number of the test-split metrics table."""
        row = self.metrics[(self.metrics["model"] == model) & (self.metrics["method"] == method)]
        return float(row[metric].iloc[0])


def run_intro(facts: RunFacts) -> str:
    """Which guardcal, config, guards and split sizes made this report."""
    sizes = facts.sizes
    unit = "pairs" if sizes["with_response"].any() else "prompts"
    return (
        f"This report was produced by guardcal {guardcal.__version__} from the config "
        f"{code(facts.cfg.name)}: {len(facts.models)} guard(s) "
        f"({', '.join(map(text, facts.models))}) scored on "
        f"{sizes.at['test', 'examples']:,} test {unit}, calibrated on "
        f"{sizes.at['validation', 'examples']:,} validation {unit}. "
        "Every number below comes from this run."
    ) + validation_warning(facts)


def validation_warning(facts: RunFacts) -> str:
    """A loud note when a class has fewer than MIN_CLASS_ROWS validation rows ('' otherwise)."""
    few = [
        f"{int(facts.sizes.at['validation', name])} {name}"
        for name in LABELS
        if facts.sizes.at["validation", name] < MIN_CLASS_ROWS
    ]
    if not few:
        return ""
    return (
        f"\n\n**Warning: the validation split has only {' and '.join(few)} rows.** T and γ are "
        "fitted on very few examples; their values and the validation metrics are unreliable."
    )


def example_intro(facts: RunFacts) -> str:
    """The sentence above the example guard input."""
    first = facts.models[0]
    return (
        f"One real guard input (test example {code(facts.examples[first]['id'])}), the exact "
        f"string {text(first)} reads, ending with the assistant prefix before the verdict:"
    )


def example_html(facts: RunFacts) -> str:
    """The first guard's example input as an escaped preformatted block."""
    text = facts.examples[facts.models[0]]["input"]
    return f'<pre class="guard-input">{html.escape(text)}</pre>'


def answers(facts: RunFacts) -> str:
    """Each guard's first output line on the example, and its mean label mass on test."""
    lines = []
    for name in facts.models:
        mass = facts.summary.at[(name, "test"), "mean_label_mass"]
        lines.append(
            f"- **{text(name)}** answers {code(facts.examples[name]['answer'])} (first output "
            "line, greedy); "
            "on the test split the two label tokens carry on average "
            f"{mass:.2g} of its next-token probability."
        )
    return "\n".join(lines)


def grids(facts: RunFacts) -> str:
    """The run's tuning grids and content-free inputs."""
    cfg = facts.cfg
    (t0, t1, dt), (g0, g1, dg) = cfg.calibration.temperature_grid, cfg.calibration.gamma_grid
    inputs = ", ".join(code(repr(s)) for s in cfg.content_free)
    return (
        f"In this run: $T \\in [{t0:g}, {t1:g}]$ in steps of {dt:g} (then refined continuously), "
        f"$\\gamma \\in [{g0:g}, {g1:g}]$ in steps of {dg:g}, and {len(cfg.content_free)} "
        f"content-free input(s) {inputs} used as both prompt and response."
    )


def source(cfg: Config, split: str) -> str:
    """Where a split's data comes from, in words."""
    src = getattr(cfg.dataset, split)
    if src.benchmark:
        where = f"benchmark {code(src.benchmark)}"
    else:
        where = f"{code(src.hf)} split {code(src.split)}" if src.hf else code(src.path)
    if src.fraction and src.complement:
        return f"{where}, the rest after a {src.fraction:.0%} sample (seed {src.seed})"
    part = f", a {src.fraction:.0%} sample (seed {src.seed})" if src.fraction else ""
    return where + part


def setup(facts: RunFacts) -> str:
    """The experimental setup: the data table and the guards table."""
    cfg = facts.cfg
    rows = "\n".join(
        f"| {split} | {source(cfg, split)} | {r.examples:,} | {r.safe:,} | {r.unsafe:,} "
        f"| {r.with_response:,} |"
        for split, r in facts.sizes.iterrows()
    )
    study_guards = study.published()["guards"]
    guards = "\n".join(
        f"| {text(m.name)} | {code(m.model)} | "
        + (f"{m.study_role}: {code(study_guards[m.study_role]['model'])}" if m.study_role else "—")
        + " |"
        for m in cfg.models
    )
    limit_note = f" (first {cfg.dataset.limit} rows of each split)" if cfg.dataset.limit else ""
    return (
        f"**Data**{limit_note}:\n\n| split | source | examples | safe | unsafe | with response |\n"
        f"|---|---|---:|---:|---:|---:|\n{rows}\n\n"
        f"**Guards** (prompt: Llama Guard 3 format, `{cfg.prompt.taxonomy}` taxonomy):\n\n"
        f"| guard | model | in the study's place of |\n|---|---|---|\n{guards}"
    )


def uncalibrated(facts: RunFacts) -> str:
    """Each guard's uncalibrated ECE/MCE and mean p(unsafe) against the true unsafe share."""
    cfg = facts.cfg
    lines = [
        f"- **{text(m)}**: ECE {facts.value(m, 'uncalibrated', 'ece'):.3f}, "
        f"MCE {facts.value(m, 'uncalibrated', 'mce'):.3f}; "
        f"mean p(unsafe) {facts.summary.at[(m, 'test'), 'mean_proba_unsafe']:.3f} "
        "against a true unsafe share "
        f"of {facts.summary.at[(m, 'test'), 'unsafe_share']:.3f}."
        for m in facts.models
    ]
    return (
        f"Test split, $M = {cfg.calibration.ece_bins}$ bins for the numbers "
        f"({cfg.calibration.plot_bins} in the plots):\n\n" + "\n".join(lines)
    )


def temperature_effect(temperature: float, low: float, high: float) -> str:
    """What a fitted temperature says about the guard, in words (`low`, `high`: the grid's ends)."""
    if temperature >= high:
        return (
            "flattens its scores as far as the grid allows: they carry little signal about the "
            "label, so the best calibrated score is close to the base rate."
        )
    if temperature <= low:
        return "sharpens its scores as far as the grid allows (the guard was very underconfident)."
    if temperature > 1:
        return "softens its scores (the guard was overconfident)."
    return "sharpens its scores (the guard was underconfident)."


def temperatures(facts: RunFacts) -> str:
    """Each guard's fitted T and what it means."""
    ts = facts.tuning[facts.tuning["method"] == "ts"].set_index("model")
    low, high = facts.cfg.calibration.temperature_grid[:2]
    return "\n".join(
        f"- **{text(m)}**: $T^\\ast = {ts.at[m, 'value']:.3f}$ "
        f"{temperature_effect(ts.at[m, 'value'], low, high)}"
        for m in facts.models
    )


def best_ece(facts: RunFacts) -> str:
    """Per guard, the method with the lowest test ECE against the uncalibrated one."""
    lines = []
    for m in facts.models:
        block = facts.metrics[facts.metrics["model"] == m].set_index("method")
        best = block["ece"].idxmin()
        lines.append(
            f"- **{text(m)}**: lowest test ECE with {REGISTRY[best].short} "
            f"({block.at[best, 'ece']:.3f}, "
            f"uncalibrated {block.at['uncalibrated', 'ece']:.3f})."
        )
    return "\n".join(lines)


def auprc_spread(metrics: pd.DataFrame) -> float:
    """The largest AUPRC difference between two methods of one guard (0: monotone calibrators)."""
    return float(metrics.groupby("model")["auprc"].agg(lambda s: s.max() - s.min()).max())


def temperature_keeps_predictions(facts: RunFacts) -> bool:
    """Whether TS left every guard's F1, precision, recall and accuracy exactly unchanged."""
    return all(
        facts.value(m, "ts", k) == facts.value(m, "uncalibrated", k)
        for m in facts.models
        for k in CLASSIFICATION_METRICS
    )


def results_note(facts: RunFacts) -> str:
    """The sentence under the final table: the invariances the study's table shows."""
    spread = auprc_spread(facts.metrics)
    same = "is identical" if spread == 0 else f"differs by at most {spread:.1e}"
    keeps = temperature_keeps_predictions(facts)
    return (
        f"Test split; bold: each guard's best value per column. AUPRC {same} within a guard "
        "(every calibrator is monotone in p(unsafe))"
        + ("; TS leaves F1, precision, recall and accuracy unchanged" if keeps else "")
        + ". The LaTeX version of this table is `tables/metrics.tex`."
    )


def beyond_intro(cfg: Config) -> str:
    """How every interval of "Beyond the study" was made."""
    c = cfg.calibration
    fitted = (
        "refitted on a bootstrap resample of the validation split for every test resample (so "
        "the intervals include the calibrators' own uncertainty)"
        if c.bootstrap_refit
        else "fitted once on the validation split; the intervals are over the test examples only"
    )
    return (
        "Every number below has a 95 % bootstrap interval from "
        f"{c.bootstrap_resamples:,} resamples of the test examples (seed {c.bootstrap_seed}), "
        "one draw shared by every guard "
        f"and method, so differences are paired. The calibrators are {fitted}. Each metric's "
        "interval is the one justified for it: percentile for the means (NLL, Brier, accuracy), "
        "BCa for precision, recall, F1 and the precision–recall areas, and for the calibration "
        "errors, which the resamples inflate again, the interval reflected about the estimate "
        "(re-centred on it for the debiased ECE), cut at 0 and always holding the estimate. Batch "
        "calibration's prior is the evaluated batch's mean, so each resample recomputes BC on "
        "itself; smooth ECE keeps relplot's bandwidth of the full test split on every resample. "
        "Platt scaling is logistic regression on the logit gap (temperature scaling plus a bias), "
        "isotonic regression is scikit-learn's on the gap, histogram binning uses "
        f"{c.histogram_bins} equal-mass bins, and beta calibration is the `betacal` package's "
        "three-parameter model. These methods appear only here, never in the study's table."
    )


def beyond_differences(diff: pd.DataFrame, models: list[str], metric: str = "ece") -> str:
    """Per guard, which methods change `metric` beyond noise: their paired 95 % interval of the
    difference to the uncalibrated row excludes 0."""
    lines = []
    for model in models:
        rows = diff[(diff["model"] == model) & (diff["metric"] == metric)]
        lower = [r for r in rows.itertuples() if r.hi < 0]
        higher = [r for r in rows.itertuples() if r.lo > 0]
        unclear = [r for r in rows.itertuples() if r.lo <= 0 <= r.hi]

        def named(group: list) -> str:
            return ", ".join(
                f"{REGISTRY[r.method].short} ({r.value:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}])"
                for r in group
            )

        parts = [f"lower with {named(lower)}" if lower else "no method lowers it beyond noise"]
        if higher:
            parts.append(f"higher with {named(higher)}")
        if unclear:
            parts.append(f"not distinguishable from uncalibrated with {named(unclear)}")
        lines.append(f"- **{text(model)}**, test {metric.upper()}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def _join(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def under_flagged(table: pd.DataFrame, model: str, overall: float, limit: int = 3) -> list[str]:
    """A guard's categories whose uncalibrated recall is below its recall on all unsafe items,
    lowest first (at most `limit`), each as `name (recall of n)`."""
    rows = table[(table["model"] == model) & (table["method"] == "uncalibrated")]
    low = rows[rows["recall"] < overall].sort_values(["recall", "unsafe"], ascending=[True, False])
    return [
        f"{category_name(r.category)} ({r.recall:.2f} of {r.unsafe})"
        for r in low.head(limit).itertuples()
    ]


def calibration_changes(table: pd.DataFrame, model: str, method: str) -> str:
    """How one calibrator changes a guard's per-category recall and ECE against uncalibrated."""
    rows = table[table["model"] == model]
    base = rows[rows["method"] == "uncalibrated"].set_index("category")
    new = rows[rows["method"] == method].set_index("category").loc[base.index]
    change = (new["recall"] - base["recall"]).dropna()
    n = len(base)
    better_ece = int((new["ece"] < base["ece"]).sum())
    ece = f"lowers the ECE in {better_ece} of {n}"
    if (change == 0).all():
        return f"{REGISTRY[method].short} changes no category's recall and {ece}"
    key = change.abs().idxmax()
    up, down = int((change > 0).sum()), int((change < 0).sum())
    return (
        f"{REGISTRY[method].short} raises the recall in {up} and lowers it in {down} of {n} "
        f"categories (most in {category_name(key)}: {base.at[key, 'recall']:.2f} → "
        f"{new.at[key, 'recall']:.2f}) and {ece}"
    )


def categories_note(facts: RunFacts, table: pd.DataFrame) -> str:
    """Per guard: the categories it under-flags uncalibrated, and what each calibrator changes."""
    if table.empty:
        return "This data carries no harm-category flags, so there is no per-category view."
    lines = []
    for m in facts.models:
        overall = facts.value(m, "uncalibrated", "recall")
        low = under_flagged(table, m, overall)
        if overall == 0:
            head = "flags none of the unsafe test items uncalibrated, in any category"
        elif low:
            head = f"under-flags {_join(low)} (recall against {overall:.2f} overall)"
        else:
            head = f"flags every category at least as well as overall (recall {overall:.2f})"
        changes = "; ".join(calibration_changes(table, m, k) for k in study_calibrators())
        lines.append(f"- **{m}** {head}. {changes}.")
    return (
        "Per harm category of the test split, for the unsafe items carrying the flag: recall "
        "(share flagged at p ≥ 0.5) and mean p(unsafe); the ECE is over the safe items together "
        "with the category's items. n is the category's number of unsafe items: small ones are "
        "noisy.\n\n" + "\n".join(lines)
    )


def _threshold(value: float) -> str:
    """A threshold in words: +inf flags nothing."""
    return (
        "flagging nothing (no threshold reaches it)"
        if value == float("inf")
        else f"p ≥ {value:.3f}"
    )


def _interval(row: pd.Series, column: str) -> str:
    """` (95 % interval lo–hi)` of a test metric when the table carries its bootstrap interval."""
    if f"{column}_lo" not in row or pd.isna(row[f"{column}_lo"]):
        return ""
    return f" (95 % interval {row[f'{column}_lo']:.0%}–{row[f'{column}_hi']:.0%})"


def _num(value: float, spec: str = ".2f") -> str:
    """A rate, or `n/a` where it is undefined (nothing flagged, nothing decided)."""
    return "n/a" if pd.isna(value) else format(value, spec)


def _guaranteed(rows: pd.DataFrame, d: Any) -> str:
    """The uncalibrated guard's Learn-then-Test thresholds in words, beside the point-estimate
    recall threshold they make more cautious."""
    parts = []
    for point, what, measured in (
        ("recall_guaranteed", f"recall ≥ {d.target_recall:.2f}", ("recall", "fpr")),
        ("fpr_guaranteed", f"a false positive rate ≤ {d.target_fpr:.2f}", ("fpr", "recall")),
    ):
        row = rows.loc[(point, "uncalibrated")]
        if pd.isna(row["low"]):
            parts.append(f"{what} cannot be certified on this validation split")
            continue
        on_test = ", ".join(
            f"{'FPR' if m == 'fpr' else m} {_num(row[f'test_{m}'])}{_interval(row, f'test_{m}')}"
            for m in measured
        )
        parts.append(f"{what} needs {_threshold(row['low'])} (test: {on_test})")
    return (
        f"Guaranteed with probability ≥ {(1 - d.delta) * 100:.0f} % over the validation draw "
        f"(Learn-then-Test): {'; '.join(parts)}."
    )


def operating_points_note(facts: RunFacts, points: pd.DataFrame) -> str:
    """Per guard: the thresholds for the targets, the narrowest review band, and whether the
    calibrators change which items they pick."""
    d = facts.cfg.decisions
    lines = []
    for m in facts.models:
        rows = points[points["model"] == m].set_index(["point", "method"])
        p, r = rows.loc[("precision", "uncalibrated")], rows.loc[("recall", "uncalibrated")]
        band = rows.loc[("review_band", "uncalibrated")]
        lines.append(
            f"- **{m}** (uncalibrated): precision {d.target_precision:.2f} on validation needs "
            f"{_threshold(p['low'])}, which on test gives precision {_num(p['test_precision'])} "
            f"at recall {_num(p['test_recall'])}; recall {d.target_recall:.2f} needs "
            f"{_threshold(r['low'])} (test: recall {_num(r['test_recall'])}, precision "
            f"{_num(r['test_precision'])}). Both at once: review [{band['low']:.3f}, "
            f"{band['high']:.3f}), {band['val_review']:.0%} of validation and "
            f"{band['test_review']:.0%} of test items{_interval(band, 'test_review')}; the "
            "auto-decided test items are "
            f"{_num(band['test_auto_accuracy'], '.0%')} correct."
        )
        lines.append(f"  {_guaranteed(rows, d)}")
        test_cols = [c for c in points.columns if c.startswith("test_")]
        same = [
            REGISTRY[k].short
            for k in study_calibrators()
            if rows.xs(k, level="method")[test_cols]
            .fillna(-1)
            .equals(rows.xs("uncalibrated", level="method")[test_cols].fillna(-1))
        ]
        differ = [REGISTRY[k].short for k in study_calibrators() if REGISTRY[k].short not in same]
        if same:
            lines.append(
                f"  {_join(same)} move{'s' if len(same) == 1 else ''} the thresholds but pick the "
                "same test items (a fixed monotone map of p(unsafe))"
                + (
                    f"; {_join(differ)} re-estimate{'s' if len(differ) == 1 else ''} its prior on "
                    "the test batch and picks other items."
                    if differ
                    else "."
                )
            )
    return (
        f"Targets (config `decisions`): precision {d.target_precision:.2f} and recall "
        f"{d.target_recall:.2f}, thresholds chosen on validation and measured on test; a point "
        "estimate reaches its target on validation and misses it on new data about half the "
        "time, so beside them stand thresholds whose recall (or false positive rate "
        f"≤ {d.target_fpr:.2f}) holds with probability ≥ {(1 - d.delta) * 100:.0f} % "
        "(Learn-then-Test, Hoeffding–Bentkus p-values, fixed-sequence testing; MAPIE). A review "
        "band [low, high) flags p ≥ high, passes p < low and sends the rest to a human; its "
        "recall counts reviewed unsafe items as caught.\n\n" + "\n".join(lines)
    )


def calibrated_guard_note(facts: RunFacts) -> str:
    """Where each guard's calibrated-guard file is, its fitted values, and how to apply it."""
    lines = []
    for m in facts.models:
        path = facts.cfg.layout.calibrator(m)
        cal = artifact.read_artifact(path)["calibrators"]
        cf = cal["cc"]["content_free_proba"][1]
        prior = cal["bc"]["prior_proba"][1]
        lines.append(
            f"- **{m}**: `{path.relative_to(facts.cfg.run_dir)}` — $T = "
            f"{cal['ts']['temperature']:.3f}$; $\\gamma = {cal['bc']['gamma']:.1f}$ tuned with the "
            f"validation prior p(unsafe | C) = {prior:.3g}; content-free p(unsafe) = {cf:.3g}."
        )
    first = facts.models[0]
    return (
        "Each guard's fitted calibrators are saved as JSON (never a pickle) with the guard's "
        "format, verbalizer and a format version; `guardcal.CalibratedGuard.from_run` loads "
        "one, and `guardcal predict` scores new records with it:\n\n"
        + "\n".join(lines)
        + "\n\n```\nguardcal predict --run "
        f'{facts.cfg.run_dir} --model "{first}" --method ts new.jsonl -o scored.jsonl\n```\n\n'
        "Batch calibration removes the prior of the batch it is given (`--prior batch`, as BC "
        "defines it: pass a whole batch at once) or the run's validation prior "
        "(`--prior validation`, for small or skewed batches)."
    )


def study_intro(facts: RunFacts) -> str:
    """Where the study's numbers come from, and which of the run's guards stand in for its two."""
    data = study.published()
    src, guards = data["source"], data["guards"]
    where = (
        f"its slides ({code(src['repository'])} at {src['commit'][:7]}, {code(src['file'])}, "
        f"page {src['metrics_page'].split(',')[0]}; test data: {data['data']['test']})"
    )
    roles = study.role_models(facts.cfg)
    if not roles:
        return (
            f"The study's published numbers are from {where}. No guard of this run has a "
            "`study_role`, so none is set beside them."
        )
    stand = _join(
        [
            f"**{text(name)}** stands in for its {role} guard {code(guards[role]['model'])} "
            f"({guards[role]['role']})"
            for role, name in roles.items()
        ]
    )
    return (
        f"The study's numbers are quoted from {where}; every other number is this run's. "
        f"{stand}. Different guards on different data need not give the same numbers: what can "
        "agree is the pattern, checked finding by finding below."
    )


def study_side_by_side_html(facts: RunFacts) -> str:
    """The study's and the run's test metrics per role and method, side by side, as HTML."""
    run = study.run_numbers(facts.cfg, facts.metrics, facts.tuning)
    table = study.side_by_side(run)
    shown = pd.DataFrame(
        {f"{METRIC_LABELS[m]} ({who})": table[(m, who)].to_numpy() for m, who in table.columns}
    )
    shown.insert(0, "guard", [f"{role} {REGISTRY[m].label}" for role, m in table.index])
    return table_html(
        shown, "study_side_by_side", "The study's published test table beside this run's guards"
    )


def study_claims(facts: RunFacts) -> tuple[str, str]:
    """(the findings table as HTML, the sentence summing it up): each finding of the study, its
    values in the study and in this run, and whether it holds here."""
    table = study.claims_table(study.run_numbers(facts.cfg, facts.metrics, facts.tuning))
    checked = table.dropna(subset=["agree"])
    shown = pd.DataFrame(
        {
            "the study finds": table["claim"],
            "study": table["study"],
            "this run": table["run"].fillna("—"),
            "holds here": [
                "—" if h is None or pd.isna(h) else ("yes" if h else "no")
                for h in table["run_holds"]
            ],
        }
    )
    html_table = table_html(shown, "study_claims", "The study's findings, checked on this run")
    if checked.empty:
        return html_table, "No finding of the study can be checked on this run."
    differ = checked[~checked["agree"].astype(bool)]
    summary = f"This run agrees with the study on {int(checked['agree'].sum())} of {len(checked)}"
    summary += " findings" + (
        "."
        if differ.empty
        else ". It differs on: "
        + "; ".join(f"{c} ({v})" for c, v in zip(differ["claim"], differ["run"], strict=True))
        + "."
    )
    return html_table, summary
