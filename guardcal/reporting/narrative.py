"""The report's narrative: the sentences and small tables chosen from a run's numbers.

Each function returns Markdown (or HTML) for one place in `05_report.ipynb`; the notebook only
displays them, so the wording logic is tested here on any run, synthetic ones included. The
Markdown is built with `markup.md`, so every user string (a guard's or run's name, a category, an
id, a file name, a guard's answer) reaches the report as text.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import guardcal
from guardcal import artifact, scores
from guardcal.calibration.methods import REGISTRY, fitted_methods
from guardcal.config import Config
from guardcal.policies import category_name
from guardcal.records import LABELS, MIN_CLASS_ROWS
from guardcal.reporting import study
from guardcal.reporting.markup import Markdown, code, code_block, html_text, md
from guardcal.reporting.pipeline import read_table, scores_summary
from guardcal.reporting.tables import METRIC_LABELS, table_html

CLASSIFICATION_METRICS = ("f1", "precision", "recall", "accuracy")
"""The metrics of ŷ = 1 iff p ≥ 0.5: temperature scaling leaves all of them unchanged."""


def study_calibrators() -> list[str]:
    """The study's calibration methods (its four but `uncalibrated`), in table order."""
    return [m.name for m in fitted_methods() if m.study]


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


def run_intro(facts: RunFacts) -> Markdown:
    """Which guardcal, config, guards and split sizes made this report."""
    sizes = facts.sizes
    unit = "pairs" if sizes["with_response"].any() else "prompts"
    return md(
        "This report was produced by guardcal {} from the config {}: {} guard(s) ({}) scored on "
        "{:,} test {unit}, calibrated on {:,} validation {unit}. Every number below comes from "
        "this run.",
        guardcal.__version__,
        code(facts.cfg.name),
        len(facts.models),
        Markdown(", ").join(facts.models),
        sizes.at["test", "examples"],
        sizes.at["validation", "examples"],
        unit=Markdown(unit),
    ) + validation_warning(facts)


def validation_warning(facts: RunFacts) -> Markdown:
    """A loud note when a class has fewer than MIN_CLASS_ROWS validation rows ('' otherwise)."""
    few = [
        md("{} {}", int(facts.sizes.at["validation", name]), Markdown(name))
        for name in LABELS
        if facts.sizes.at["validation", name] < MIN_CLASS_ROWS
    ]
    if not few:
        return Markdown()
    return md(
        "\n\n**Warning: the validation split has only {} rows.** T and γ are fitted on very few "
        "examples; their values and the validation metrics are unreliable.",
        Markdown(" and ").join(few),
    )


def example_intro(facts: RunFacts) -> Markdown:
    """The sentence above the example guard input."""
    first = facts.models[0]
    return md(
        "One real guard input (test example {}), the exact string {} reads, ending with the "
        "assistant prefix before the verdict:",
        code(facts.examples[first]["id"]),
        first,
    )


def example_html(facts: RunFacts) -> str:
    """The first guard's example input as an escaped preformatted block."""
    text = facts.examples[facts.models[0]]["input"]
    return f'<pre class="guard-input">{html_text(text)}</pre>'


def answers(facts: RunFacts) -> Markdown:
    """Each guard's first output line on the example, and its mean label mass on test."""
    return Markdown("\n").join(
        md(
            "- **{}** answers {} (first output line, greedy); on the test split the two label "
            "tokens carry on average {:.2g} of its next-token probability.",
            name,
            code(facts.examples[name]["answer"]),
            facts.summary.at[(name, "test"), "mean_label_mass"],
        )
        for name in facts.models
    )


def grids(facts: RunFacts) -> Markdown:
    """The run's tuning grids and content-free inputs."""
    cfg = facts.cfg
    return md(
        "In this run: $T \\in [{:g}, {:g}]$ in steps of {:g} (then refined continuously), "
        "$\\gamma \\in [{:g}, {:g}]$ in steps of {:g}, and {} content-free input(s) {} used as "
        "both prompt and response.",
        *cfg.calibration.temperature_grid,
        *cfg.calibration.gamma_grid,
        len(cfg.content_free),
        Markdown(", ").join(code(repr(s)) for s in cfg.content_free),
    )


def source(cfg: Config, split: str) -> Markdown:
    """Where a split's data comes from, in words."""
    src = getattr(cfg.dataset, split)
    if src.benchmark:
        where = md("benchmark {}", code(src.benchmark))
    elif src.hf:
        where = md("{} split {}", code(src.hf), code(src.split))
    else:
        where = code(src.path)
    if src.fraction and src.complement:
        return where + md(", the rest after a {:.0%} sample (seed {})", src.fraction, src.seed)
    if src.fraction:
        return where + md(", a {:.0%} sample (seed {})", src.fraction, src.seed)
    return where


def setup(facts: RunFacts) -> Markdown:
    """The experimental setup: the data table and the guards table."""
    cfg = facts.cfg
    rows = Markdown("\n").join(
        md(
            "| {} | {} | {:,} | {:,} | {:,} | {:,} |",
            split,
            source(cfg, split),
            r.examples,
            r.safe,
            r.unsafe,
            r.with_response,
        )
        for split, r in facts.sizes.iterrows()
    )
    study_guards = study.published()["guards"]
    guards = Markdown("\n").join(
        md(
            "| {} | {} | {} |",
            m.name,
            code(m.model),
            md("{}: {}", m.study_role, code(study_guards[m.study_role]["model"]))
            if m.study_role
            else Markdown("—"),
        )
        for m in cfg.models
    )
    limit = md(" (first {} rows of each split)", cfg.dataset.limit) if cfg.dataset.limit else None
    return md(
        "**Data**{}:\n\n| split | source | examples | safe | unsafe | with response |\n"
        "|---|---|---:|---:|---:|---:|\n{}\n\n"
        "**Guards** (prompt: each guard's own format; {} taxonomy where the format takes one):\n\n"
        "| guard | model | in the study's place of |\n|---|---|---|\n{}{}",
        limit or Markdown(),
        rows,
        code(cfg.prompt.taxonomy),
        guards,
        policy_note(cfg),
    )


def policy_note(cfg: Config) -> Markdown:
    """Where the run gives its guards a policy of its choosing, which calibrators need labels."""
    p = cfg.prompt
    if p.policy_file is None and p.policy is None:
        return Markdown()
    which = (
        md("the policy written in {}", code(p.policy_file))
        if p.policy_file is not None
        else md("their built-in policy {}", code(p.policy))
    )
    return md(
        "\n\nThe guards whose format takes a policy read {}. Labelled data for a new policy"
        " is scarce: CC needs no labels (content-free inputs only), nor does BC's batch prior (its"
        " γ is tuned on the labelled validation split, as the study did; γ = 1 needs none); TS,"
        " Platt, isotonic, histogram binning and beta calibration are fitted on the labelled"
        " validation split.",
        which,
    )


def uncalibrated(facts: RunFacts) -> Markdown:
    """Each guard's uncalibrated ECE/MCE and mean p(unsafe) against the true unsafe share."""
    cfg = facts.cfg
    lines = Markdown("\n").join(
        md(
            "- **{}**: ECE {:.3f}, MCE {:.3f}; mean p(unsafe) {:.3f} against a true unsafe share "
            "of {:.3f}.",
            m,
            facts.value(m, "uncalibrated", "ece"),
            facts.value(m, "uncalibrated", "mce"),
            facts.summary.at[(m, "test"), "mean_proba_unsafe"],
            facts.summary.at[(m, "test"), "unsafe_share"],
        )
        for m in facts.models
    )
    return md(
        "Test split, $M = {}$ bins for the numbers ({} in the plots):\n\n{}",
        cfg.calibration.ece_bins,
        cfg.calibration.plot_bins,
        lines,
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


def temperatures(facts: RunFacts) -> Markdown:
    """Each guard's fitted T and what it means."""
    ts = facts.tuning[facts.tuning["method"] == "ts"].set_index("model")
    low, high = facts.cfg.calibration.temperature_grid[:2]
    return Markdown("\n").join(
        md(
            "- **{}**: $T^\\ast = {:.3f}$ {}",
            m,
            ts.at[m, "value"],
            temperature_effect(ts.at[m, "value"], low, high),
        )
        for m in facts.models
    )


def best_ece(facts: RunFacts) -> Markdown:
    """Per guard, the method with the lowest test ECE against the uncalibrated one."""
    lines = []
    for m in facts.models:
        block = facts.metrics[facts.metrics["model"] == m].set_index("method")
        best = block["ece"].idxmin()
        lines.append(
            md(
                "- **{}**: lowest test ECE with {} ({:.3f}, uncalibrated {:.3f}).",
                m,
                REGISTRY[best].short,
                block.at[best, "ece"],
                block.at["uncalibrated", "ece"],
            )
        )
    return Markdown("\n").join(lines)


def auprc_spread(metrics: pd.DataFrame) -> float:
    """The largest AUPRC difference between two methods of one guard (0: monotone calibrators)."""
    return float(metrics.groupby("model")["auprc"].agg(lambda s: s.max() - s.min()).max())


def temperature_keeps_predictions(facts: RunFacts) -> bool:
    """Whether TS left every guard's F1, precision, recall and accuracy exactly unchanged."""
    return all(
        np.array_equal(
            facts.value(m, "ts", k), facts.value(m, "uncalibrated", k), equal_nan=True
        )  # undefined (nothing flagged) under both is unchanged too
        for m in facts.models
        for k in CLASSIFICATION_METRICS
    )


def results_note(facts: RunFacts) -> Markdown:
    """The sentence under the final table: the invariances the study's table shows."""
    spread = auprc_spread(facts.metrics)
    same = "is identical" if spread == 0 else f"differs by at most {spread:.1e}"
    keeps = temperature_keeps_predictions(facts)
    return md(
        "Test split; bold: each guard's best value per column. AUPRC {} within a guard (every "
        "calibrator is monotone in p(unsafe)){}. The LaTeX version of this table is "
        "`tables/metrics.tex`.",
        same,
        "; TS leaves F1, precision, recall and accuracy unchanged" if keeps else "",
    )


def beyond_intro(cfg: Config) -> Markdown:
    """How every interval of "Beyond the study" was made."""
    c = cfg.calibration
    fitted = (
        "refitted on a bootstrap resample of the validation split for every test resample (so "
        "the intervals include the calibrators' own uncertainty)"
        if c.bootstrap_refit
        else "fitted once on the validation split; the intervals are over the test examples only"
    )
    return md(
        "Every number below has a 95 % bootstrap interval from {:,} resamples of the test "
        "examples (seed {}), one draw shared by every guard and method, so differences are "
        "paired. The calibrators are {}. Each metric's interval is the one justified for it: "
        "percentile for the means (NLL, Brier, accuracy), BCa for precision, recall, F1 and the "
        "precision–recall areas, and for the calibration errors, which the resamples inflate "
        "again, the interval reflected about the estimate (re-centred on it for the debiased "
        "ECE), cut at 0 and always holding the estimate. Batch calibration's prior is the "
        "evaluated batch's mean, so each resample recomputes BC on itself; smooth ECE keeps "
        "relplot's bandwidth of the full test split on every resample. Platt scaling is logistic "
        "regression on the logit gap (temperature scaling plus a bias), isotonic regression is "
        "scikit-learn's on the gap, histogram binning uses {} equal-mass bins, and beta "
        "calibration is the `betacal` package's three-parameter model. These methods appear only "
        "here, never in the study's table.",
        c.bootstrap_resamples,
        c.bootstrap_seed,
        fitted,
        c.histogram_bins,
    )


def beyond_differences(diff: pd.DataFrame, models: list[str], metric: str = "ece") -> Markdown:
    """Per guard, which methods change `metric` beyond noise: their paired 95 % interval of the
    difference to the uncalibrated row excludes 0."""
    lines = []
    for model in models:
        rows = diff[(diff["model"] == model) & (diff["metric"] == metric)]
        lower = [r for r in rows.itertuples() if r.hi < 0]
        higher = [r for r in rows.itertuples() if r.lo > 0]
        unclear = [r for r in rows.itertuples() if r.lo <= 0 <= r.hi]

        def named(group: list) -> Markdown:
            return Markdown(", ").join(
                md("{} ({:+.3f} [{:+.3f}, {:+.3f}])", REGISTRY[r.method].short, r.value, r.lo, r.hi)
                for r in group
            )

        parts = [
            md("lower with {}", named(lower)) if lower else md("no method lowers it beyond noise")
        ]
        if higher:
            parts.append(md("higher with {}", named(higher)))
        if unclear:
            parts.append(md("not distinguishable from uncalibrated with {}", named(unclear)))
        lines.append(
            md("- **{}**, test {}: {}.", model, metric.upper(), Markdown("; ").join(parts))
        )
    return Markdown("\n").join(lines)


def _join(items: list[Markdown]) -> Markdown:
    """`a`, `a and b`, `a, b and c`."""
    if len(items) == 1:
        return items[0]
    return md("{} and {}", Markdown(", ").join(items[:-1]), items[-1])


def under_flagged(
    table: pd.DataFrame, model: str, overall: float, limit: int = 3
) -> list[Markdown]:
    """A guard's categories whose uncalibrated recall is below its recall on all unsafe items,
    lowest first (at most `limit`), each as `name (recall of n)`."""
    rows = table[(table["model"] == model) & (table["method"] == "uncalibrated")]
    low = rows[rows["recall"] < overall].sort_values(["recall", "unsafe"], ascending=[True, False])
    return [
        md("{} ({:.2f} of {})", category_name(r.category), r.recall, r.unsafe)
        for r in low.head(limit).itertuples()
    ]


def calibration_changes(table: pd.DataFrame, model: str, method: str) -> Markdown:
    """How one calibrator changes a guard's per-category recall and ECE against uncalibrated."""
    rows = table[table["model"] == model]
    base = rows[rows["method"] == "uncalibrated"].set_index("category")
    new = rows[rows["method"] == method].set_index("category").loc[base.index]
    change = (new["recall"] - base["recall"]).dropna()
    n = len(base)
    better_ece = int((new["ece"] < base["ece"]).sum())
    ece = md("lowers the ECE in {} of {}", better_ece, n)
    if (change == 0).all():
        return md("{} changes no category's recall and {}", REGISTRY[method].short, ece)
    key = change.abs().idxmax()
    return md(
        "{} raises the recall in {} and lowers it in {} of {} categories (most in {}: {:.2f} → "
        "{:.2f}) and {}",
        REGISTRY[method].short,
        int((change > 0).sum()),
        int((change < 0).sum()),
        n,
        category_name(key),
        base.at[key, "recall"],
        new.at[key, "recall"],
        ece,
    )


def categories_note(facts: RunFacts, table: pd.DataFrame) -> Markdown:
    """Per guard: the categories it under-flags uncalibrated, and what each calibrator changes."""
    if table.empty:
        return md("This data carries no harm-category flags, so there is no per-category view.")
    lines = []
    for m in facts.models:
        overall = facts.value(m, "uncalibrated", "recall")
        low = under_flagged(table, m, overall)
        if overall == 0:
            head = md("flags none of the unsafe test items uncalibrated, in any category")
        elif low:
            head = md("under-flags {} (recall against {:.2f} overall)", _join(low), overall)
        else:
            head = md("flags every category at least as well as overall (recall {:.2f})", overall)
        changes = Markdown("; ").join(calibration_changes(table, m, k) for k in study_calibrators())
        lines.append(md("- **{}** {}. {}.", m, head, changes))
    return md(
        "Per harm category of the test split, for the unsafe items carrying the flag: recall "
        "(share flagged at p ≥ 0.5) and mean p(unsafe); the ECE is over the safe items together "
        "with the category's items. n is the category's number of unsafe items: small ones are "
        "noisy.\n\n{}",
        Markdown("\n").join(lines),
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


def _guaranteed(rows: pd.DataFrame, d: Any) -> Markdown:
    """The uncalibrated guard's Learn-then-Test thresholds in words, beside the point-estimate
    recall threshold they make more cautious."""
    parts = []
    for point, what, measured in (
        ("recall_guaranteed", md("recall ≥ {:.2f}", d.target_recall), ("recall", "fpr")),
        ("fpr_guaranteed", md("a false positive rate ≤ {:.2f}", d.target_fpr), ("fpr", "recall")),
    ):
        row = rows.loc[(point, "uncalibrated")]
        if pd.isna(row["low"]):
            parts.append(md("{} cannot be certified on this validation split", what))
            continue
        on_test = Markdown(", ").join(
            md(
                "{} {}{}",
                "FPR" if m == "fpr" else m,
                _num(row[f"test_{m}"]),
                _interval(row, f"test_{m}"),
            )
            for m in measured
        )
        parts.append(md("{} needs {} (test: {})", what, _threshold(row["low"]), on_test))
    return md(
        "Guaranteed with probability ≥ {:.0f} % over the validation draw (Learn-then-Test): {}.",
        (1 - d.delta) * 100,
        Markdown("; ").join(parts),
    )


def controversial_review_note(review: pd.DataFrame) -> Markdown:
    """Per three-level guard: its views, and what sending its Controversial items to a human
    costs in review and gives in precision and recall of the decided items."""
    return Markdown("\n").join(
        md(
            "- **{}** answers Safe, Controversial or Unsafe; its strict and loose views ({}) are"
            " calibrated and evaluated above as guards of their own. Its own rule with"
            " Controversial sent to a human reviews {:.0%} of test items{} ({:.0%} of validation);"
            " {}, it lets {} of the unsafe items pass as Safe, and its decided items are {}"
            " correct.",
            row["model"],
            row["views"],
            row["test_review"],
            _interval(row, "test_review"),
            row["val_review"],
            md("it flags no test item as Unsafe")
            if pd.isna(row["test_precision"])
            else md("the items it flags as Unsafe are {:.0%} unsafe", row["test_precision"]),
            _num(1 - row["test_recall"], ".0%"),
            _num(row["test_auto_accuracy"], ".0%"),
        )
        for _, row in review.iterrows()
    )


def operating_points_note(facts: RunFacts, points: pd.DataFrame) -> Markdown:
    """Per guard: the thresholds for the targets, the narrowest review band, and whether the
    calibrators change which items they pick."""
    d = facts.cfg.decisions
    lines = []
    for m in facts.models:
        rows = points[points["model"] == m].set_index(["point", "method"])
        p, r = rows.loc[("precision", "uncalibrated")], rows.loc[("recall", "uncalibrated")]
        band = rows.loc[("review_band", "uncalibrated")]
        lines.append(
            md(
                "- **{}** (uncalibrated): precision {:.2f} on validation needs {}, which on test "
                "gives precision {} at recall {}; recall {:.2f} needs {} (test: recall {}, "
                "precision {}). Both at once: review [{:.3f}, {:.3f}), {:.0%} of validation and "
                "{:.0%} of test items{}; the auto-decided test items are {} correct.",
                m,
                d.target_precision,
                _threshold(p["low"]),
                _num(p["test_precision"]),
                _num(p["test_recall"]),
                d.target_recall,
                _threshold(r["low"]),
                _num(r["test_recall"]),
                _num(r["test_precision"]),
                band["low"],
                band["high"],
                band["val_review"],
                band["test_review"],
                _interval(band, "test_review"),
                _num(band["test_auto_accuracy"], ".0%"),
            )
        )
        lines.append(md("  {}", _guaranteed(rows, d)))
        test_cols = [c for c in points.columns if c.startswith("test_")]
        same = [
            k
            for k in study_calibrators()
            if rows.xs(k, level="method")[test_cols]
            .fillna(-1)
            .equals(rows.xs("uncalibrated", level="method")[test_cols].fillna(-1))
        ]
        differ = [k for k in study_calibrators() if k not in same]
        if same:
            lines.append(
                md(
                    "  {} move{} the thresholds but pick the same test items (a fixed monotone "
                    "map of p(unsafe)){}",
                    _join([md("{}", REGISTRY[k].short) for k in same]),
                    Markdown("s" if len(same) == 1 else ""),
                    md(
                        "; {} re-estimate{} its prior on the test batch and picks other items.",
                        _join([md("{}", REGISTRY[k].short) for k in differ]),
                        Markdown("s" if len(differ) == 1 else ""),
                    )
                    if differ
                    else md("."),
                )
            )
    return md(
        "Targets (config `decisions`): precision {:.2f} and recall {:.2f}, thresholds chosen on "
        "validation and measured on test; a point estimate reaches its target on validation and "
        "misses it on new data about half the time, so beside them stand thresholds whose "
        "recall (or false positive rate ≤ {:.2f}) holds with probability ≥ {:.0f} % "
        "(Learn-then-Test, Hoeffding–Bentkus p-values, fixed-sequence testing; MAPIE). A review "
        "band [low, high) flags p ≥ high, passes p < low and sends the rest to a human; its "
        "recall counts reviewed unsafe items as caught.\n\n{}",
        d.target_precision,
        d.target_recall,
        d.target_fpr,
        (1 - d.delta) * 100,
        Markdown("\n").join(lines),
    )


def calibrated_guard_note(facts: RunFacts) -> Markdown:
    """Where each guard's calibrated-guard file is, its fitted values, and how to apply it."""
    lines = []
    for m in facts.models:
        path = facts.cfg.layout.calibrator(m)
        cal = artifact.read_artifact(path)["calibrators"]
        lines.append(
            md(
                "- **{}**: {} — $T = {:.3f}$; $\\gamma = {:.1f}$ tuned with the validation prior "
                "p(unsafe | C) = {:.3g}; content-free p(unsafe) = {:.3g}.",
                m,
                code(path.relative_to(facts.cfg.run_dir)),
                cal["ts"]["temperature"],
                cal["bc"]["gamma"],
                cal["bc"]["prior_proba"][1],
                cal["cc"]["content_free_proba"][1],
            )
        )
    run, first = str(facts.cfg.run_dir), facts.models[0]
    rest = ("--method", "ts", "new.jsonl", "-o", "scored.jsonl")
    command = shlex.join(["guardcal", "predict", "--run", run, "--model", first, *rest])
    return md(
        "Each guard's fitted calibrators are saved as JSON (never a pickle) with the guard's "
        "format, verbalizer and a format version; `guardcal.CalibratedGuard.from_run` loads "
        "one, and `guardcal predict` scores new records with it:\n\n{}\n\n{}\n\n"
        "Batch calibration removes the prior of the batch it is given (`--prior batch`, as BC "
        "defines it: pass a whole batch at once) or the run's validation prior "
        "(`--prior validation`, for small or skewed batches).",
        Markdown("\n").join(lines),
        code_block(command),
    )


def study_intro(facts: RunFacts) -> Markdown:
    """Where the study's numbers come from, and which of the run's guards stand in for its two."""
    data = study.published()
    src, guards = data["source"], data["guards"]
    where = md(
        "its slides ({} at {}, {}, page {}; test data: {})",
        code(src["repository"]),
        src["commit"][:7],
        code(src["file"]),
        src["metrics_page"].split(",")[0],
        data["data"]["test"],
    )
    roles = study.role_models(facts.cfg)
    if not roles:
        return md(
            "The study's published numbers are from {}. No guard of this run has a "
            "`study_role`, so none is set beside them.",
            where,
        )
    stand = _join(
        [
            md(
                "**{}** stands in for its {} guard {} ({})",
                name,
                role,
                code(guards[role]["model"]),
                guards[role]["role"],
            )
            for role, name in roles.items()
        ]
    )
    return md(
        "The study's numbers are quoted from {}; every other number is this run's. {}. Different "
        "guards on different data need not give the same numbers: what can agree is the pattern, "
        "checked finding by finding below.",
        where,
        stand,
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


def study_claims(facts: RunFacts) -> tuple[str, Markdown]:
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
        return html_table, md("No finding of the study can be checked on this run.")
    differ = checked[~checked["agree"].astype(bool)]
    summary = md(
        "This run agrees with the study on {} of {} findings",
        int(checked["agree"].sum()),
        len(checked),
    )
    if differ.empty:
        return html_table, summary + md(".")
    differs = Markdown("; ").join(
        md("{} ({})", c, v) for c, v in zip(differ["claim"], differ["run"], strict=True)
    )
    return html_table, summary + md(". It differs on: {}.", differs)
