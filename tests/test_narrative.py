"""The report's narrative on a synthetic run: every sentence is chosen from the run's numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from shown import shown
from synthetic import MODELS

from guardcal.reporting import narrative


def test_intro_names_the_run_and_its_sizes(run_facts) -> None:
    text = shown(narrative.run_intro(run_facts))
    assert "config unit:" in text and "160 test pairs" in text and "120 validation pairs" in text
    assert all(m in text for m in MODELS)


def test_the_example_input_is_escaped_and_answers_are_per_guard(run_facts) -> None:
    assert narrative.example_html(run_facts) == (
        '<pre class="guard-input"><span class="tex2jax_ignore mathjax_ignore">'
        "&lt;b&gt;guard input&lt;/b&gt; &amp; more</span></pre>"
    )
    assert "test example <code>r2&#45;0</code>" in narrative.example_intro(run_facts)
    lines = narrative.answers(run_facts).splitlines()
    assert [line.split("<code>")[1].split("</code>")[0] for line in lines] == [
        "answer 0",
        "answer 1",
    ]


def test_uncalibrated_lines_quote_the_metrics_table(run_facts) -> None:
    for model, line in zip(MODELS, narrative.uncalibrated(run_facts).splitlines()[2:], strict=True):
        assert f"ECE {run_facts.value(model, 'uncalibrated', 'ece'):.3f}" in line


@pytest.mark.parametrize(
    ("temperature", "words"),
    [
        (20.0, "as far as the grid allows: they carry little"),
        (0.1, "very underconfident"),
        (2.5, "overconfident"),
        (0.7, "(the guard was underconfident)"),
    ],
)
def test_temperature_effect_reads_the_fitted_value(temperature, words) -> None:
    assert words in narrative.temperature_effect(temperature, 0.1, 20.0)


def test_best_ece_picks_each_guards_lowest_row(run_facts) -> None:
    for model, line in zip(MODELS, narrative.best_ece(run_facts).splitlines(), strict=True):
        block = run_facts.metrics[run_facts.metrics["model"] == model].set_index("method")
        best = block["ece"].idxmin()
        assert f"({block.at[best, 'ece']:.3f}," in line


def test_results_note_states_the_invariances_only_when_they_hold(run_facts) -> None:
    note = shown(narrative.results_note(run_facts))
    assert "AUPRC is identical" in note and "TS leaves F1" in note
    broken = run_facts.metrics.copy()
    broken.loc[broken["method"] == "ts", "f1"] += 0.01
    broken.loc[broken["method"] == "bc", "auprc"] += 0.002
    note = shown(narrative.results_note(dataclasses.replace(run_facts, metrics=broken)))
    assert "differs by at most 2.0e-03" in note and "TS leaves" not in note


def test_setup_lists_every_split_and_guard(run_facts) -> None:
    text = shown(narrative.setup(run_facts))
    assert "| validation | validation.jsonl | 120 |" in text
    assert all(f"| {m} |" in text for m in MODELS)
    assert isinstance(run_facts.summary, pd.DataFrame) and Path(run_facts.cfg.run_dir).is_dir()


def test_a_three_level_guard_that_flags_nothing_is_said_so():
    from guardcal.reporting.decisions import REVIEW_COLUMNS
    from guardcal.reporting.narrative import controversial_review_note

    row = {c: 0.0 for c in REVIEW_COLUMNS} | {"model": "g", "views": "g strict, g loose"}
    nothing = pd.DataFrame([row | {"test_precision": float("nan"), "test_auto_accuracy": 0.6}])
    assert "it flags no test item as Unsafe" in str(controversial_review_note(nothing))
    some = pd.DataFrame([row | {"test_precision": 0.5}])
    assert "flags as Unsafe are 50% unsafe" in str(controversial_review_note(some))
