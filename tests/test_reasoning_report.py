"""The report's section on guards that reason first, on a copy of the session's synthetic run
whose second guard is made the first one reasoning: trace lengths and cap hits, one trace
escaped, and TPR at low FPR beside calibration with think-off and think-on side by side."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
from synthetic import MODELS

from guardcal import scores
from guardcal.config import ReasoningConfig
from guardcal.reporting import reasoning
from guardcal.reporting.pipeline import read_predictions
from guardcal.traces import TRACES


def test_tpr_at_fpr_is_the_best_roc_point_within_the_rate():
    labels = np.array([0] * 100 + [1] * 10)
    p = np.concatenate([np.linspace(0, 0.5, 100), np.linspace(0.3, 1, 10)])
    # 1 % of 100 safe items: the threshold may pass the highest one; 5 %: the five highest
    assert reasoning.tpr_at_fpr(labels, p, 0.01) == pytest.approx(np.mean(p[100:] > p[99]))
    assert reasoning.tpr_at_fpr(labels, p, 0.05) == pytest.approx(np.mean(p[100:] >= p[95]))
    assert np.isnan(reasoning.tpr_at_fpr(np.ones(3), np.ones(3), 0.05))


@pytest.fixture
def thinking_run(synthetic_run, tmp_path):
    """The synthetic run copied, both guards one model, the second reasoning with traces."""
    cfg = synthetic_run.cfg
    shutil.copytree(cfg.run_dir, tmp_path / cfg.name)
    off, on = cfg.models
    on = dataclasses.replace(
        on, model=off.model, reasoning=ReasoningConfig("greedy"), max_reasoning_tokens=8
    )
    cfg = dataclasses.replace(cfg, models=(off, on), reports_dir=str(tmp_path))
    ids = scores.read_scores(cfg, on.name, "test")["id"].tolist()
    n = len(ids)
    traces = pd.DataFrame(
        {
            "id": ids,
            "sample": 0,
            "text": ["<b>think</b> & then </think>"] + ["x"] * (n - 1),
            "token_ids": [[1, 2, 3]] * n,
            "n_tokens": [3] + [8] * (n - 2) + [5],
            "stop": ["marker"] + ["cap"] * (n - 2) + ["eos"],
        }
    )
    scores.write_table(traces, cfg.layout.traces(on.name, "test"), {"synthetic": True}, TRACES)
    return cfg


def test_the_section_counts_cap_hits_shows_a_trace_escaped_and_sets_think_on_beside_off(
    thinking_run,
):
    cfg = thinking_run
    off, on = MODELS
    assert [m.name for m in reasoning.reasoning_models(cfg)] == [on]
    table = reasoning.trace_table(cfg)
    n = len(scores.read_scores(cfg, on, "test"))
    row = table.iloc[0]
    assert (row["guard"], row["reasoning"], row["traces"], row["longest"]) == (on, "greedy", n, 8)
    assert row["hit the cap"] == f"{n - 2} ({(n - 2) / n:.0%})" and row["ended at EOS"] == 1
    assert np.isnan(row["mean sd of p(unsafe) over samples"])  # one greedy trace
    html = reasoning.trace_html(cfg, cfg.models[1])
    assert "&lt;b&gt;think&lt;/b&gt; &amp; then &lt;/think&gt;" in html and "<b>think" not in html
    assert "wrote its end-of-reasoning marker" in html
    assert reasoning.partners(cfg) == {on: [off]}
    detection = reasoning.detection_table(cfg)
    assert detection["guard"].tolist() == [on, on, off, off]
    assert detection["reasoning"].tolist() == ["greedy", "greedy", "off", "off"]
    preds = read_predictions(cfg)
    p = preds[(preds["model"] == off) & (preds["method"] == "uncalibrated")]
    expected = reasoning.tpr_at_fpr(p["label"].to_numpy(), p["proba_unsafe"].to_numpy(), 0.05)
    assert detection.iloc[2]["TPR @ 5% FPR"] == expected
    # temperature scaling keeps the ranking, so the TPR at a fixed FPR with it
    assert detection.iloc[0]["TPR @ 1% FPR"] == detection.iloc[1]["TPR @ 1% FPR"]
    assert "side by side" in reasoning.section_note(cfg)
