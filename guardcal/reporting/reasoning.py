"""The report's section on guards that reason before their verdict: how long their traces are and
how often the cap cut one, one trace as the guard wrote it, and each reasoning guard's detection
at low false-positive rates beside its calibration — next to the same model with reasoning off
when the run configures it both ways (thinking can help accuracy yet hurt there)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from guardcal import scores
from guardcal.calibration.methods import REGISTRY
from guardcal.config import Config, ModelConfig
from guardcal.reporting.markup import Markdown, html_text, md
from guardcal.reporting.pipeline import read_predictions, read_table
from guardcal.traces import read_traces

FPR_TARGETS = (0.01, 0.05)
"""The false-positive rates at which a guard's true-positive rate is read."""
SPLIT = "test"
"""The split whose traces the section describes (the one the metrics are on)."""
TRACE_STYLE = (
    "white-space: pre-wrap; max-height: 24em; overflow: auto; background: #f6f6f6; "
    "border-left: 3px solid #999; padding: 0.5em 0.8em"
)
"""A trace wraps its long lines and scrolls when long."""
METHODS = ("uncalibrated", "ts")
"""The calibrations shown beside detection: the guard as it is, and temperature scaling (which
changes no ranking, so its TPR at a fixed FPR equals the uncalibrated one)."""


def reasoning_models(cfg: Config) -> list[ModelConfig]:
    """The run's guards that write a trace before their verdict."""
    return [m for m in cfg.models if m.reasoning.on]


def setting(entry: ModelConfig) -> str:
    """A guard's reasoning setting in words."""
    r = entry.reasoning
    if r.mode == "sample":
        return f"{r.samples} samples, τ = {r.temperature:g}, seed {r.seed}"
    return r.mode


def tpr_at_fpr(labels: np.ndarray, p: np.ndarray, fpr: float) -> float:
    """The true-positive rate at the strictest threshold whose false-positive rate is at most
    `fpr` (the best point of scikit-learn's ROC curve there); NaN without both classes."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    fprs, tprs, _ = roc_curve(labels, p)
    return float(tprs[fprs <= fpr].max())


def trace_table(cfg: Config) -> pd.DataFrame:
    """Per reasoning guard, its test traces: how many, their length in tokens (median, 90th
    percentile, longest), the cap, how many the cap cut or ended at EOS before the marker (both
    had the marker forced), and the spread of its verdicts over sampled traces."""
    rows = []
    for entry in reasoning_models(cfg):
        traces = read_traces(cfg, entry.name, SPLIT)
        n = traces["n_tokens"]
        cut = int((traces["stop"] == "cap").sum())
        rows.append(
            {
                "guard": entry.name,
                "reasoning": setting(entry),
                "traces": len(traces),
                "median tokens": f"{n.median():g}",
                "90th percentile": f"{n.quantile(0.9):g}",
                "longest": int(n.max()),
                "cap": entry.max_reasoning_tokens,
                "hit the cap": f"{cut} ({cut / len(traces):.0%})",
                "ended at EOS": int((traces["stop"] == "eos").sum()),
                "mean sd of p(unsafe) over samples": sample_spread(cfg, entry),
            }
        )
    return pd.DataFrame(rows)


def sample_spread(cfg: Config, entry: ModelConfig) -> float:
    """The mean over test examples of p(unsafe)'s standard deviation across a guard's sampled
    traces (NaN for one greedy trace)."""
    frame = scores.read_checked(cfg.layout.scores(entry.name, SPLIT))
    return float(frame["sample_sd"].mean()) if "sample_sd" in frame else float("nan")


def example_trace(cfg: Config, entry: ModelConfig) -> pd.Series:
    """The trace the report shows for a guard: its first test example's first sample."""
    return read_traces(cfg, entry.name, SPLIT).iloc[0]


def trace_html(cfg: Config, entry: ModelConfig) -> str:
    """One trace as the guard wrote it (escaped, special tokens as text), with its example id,
    its length and why it ended."""
    row = example_trace(cfg, entry)
    ended = {
        "marker": "it wrote its end-of-reasoning marker",
        "cap": "it reached the cap; the marker was forced",
        "eos": "it wrote its end-of-sequence token; the marker was forced",
    }[row["stop"]]
    return (
        f"<p>Guard <b>{html_text(entry.name)}</b>, test example "
        f"<code>{html_text(row['id'])}</code>: {int(row['n_tokens'])} tokens; "
        f'{ended}.</p>\n<pre class="trace" style="{TRACE_STYLE}">'
        f"{html_text(row['text'])}</pre>"
    )


def partners(cfg: Config) -> dict[str, list[str]]:
    """Each reasoning guard with the run's other entries of the same model (and revision and
    format): the same guard with reasoning off, or drawn another way."""
    out = {}
    for entry in reasoning_models(cfg):
        same = (entry.model, entry.revision, entry.format)
        out[entry.name] = [
            m.name
            for m in cfg.models
            if m.name != entry.name and (m.model, m.revision, m.format) == same
        ]
    return out


def detection_table(cfg: Config) -> pd.DataFrame:
    """Per reasoning guard and its partners (`partners`), uncalibrated and temperature-scaled:
    ECE, NLL and AUPRC from the run's metrics, with the TPR at each of `FPR_TARGETS`."""
    preds = read_predictions(cfg)
    metrics = read_table(cfg, "metrics").set_index(["model", "method"])
    entries = {m.name: m for m in cfg.models}
    names = list(dict.fromkeys(n for g, ps in partners(cfg).items() for n in (g, *ps)))
    rows = []
    for name in names:
        for method in METHODS:
            p = preds[(preds["model"] == name) & (preds["method"] == method)]
            row = {
                "guard": name,
                "reasoning": setting(entries[name]),
                "method": REGISTRY[method].label,
                **{k: metrics.at[(name, method), k] for k in ("ece", "nll", "auprc")},
            }
            for fpr in FPR_TARGETS:
                row[f"TPR @ {fpr:.0%} FPR"] = tpr_at_fpr(
                    p["label"].to_numpy(), p["proba_unsafe"].to_numpy(), fpr
                )
            rows.append(row)
    return pd.DataFrame(rows).rename(columns={"ece": "ECE", "nll": "NLL", "auprc": "AUPRC"})


def section_note(cfg: Config) -> Markdown:
    """The section's heading and opening: which guards reason, how their verdict is read, and
    what the tables show."""
    models = reasoning_models(cfg)
    names = Markdown(", ").join(md("**{}**", m.name) for m in models)
    verb = "writes" if len(models) == 1 else "write"
    pairs = (
        " The same model is also configured without reasoning, so the detection table sets "
        "them side by side."
        if any(partners(cfg).values())
        else ""
    )
    return md(
        "## Guards that reason first\n\n{} {} a reasoning trace before the verdict. guardcal "
        "generated each trace (batched, on the key/value cache) until the guard's "
        "end-of-reasoning marker or the cap, forced the marker where the guard did not write it, "
        "then the fixed text before the verdict, and read the verdict's probability there — the "
        "same logits `generate()` gives at that step. With several sampled traces the "
        "probability is the mean of their verdict distributions. Traces are kept in "
        "`traces/<guard>/<split>.parquet`.{}",
        names,
        Markdown(verb),
        Markdown(pairs),
    )
