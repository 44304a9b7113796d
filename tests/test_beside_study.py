"""The study's published numbers beside a run's: the data file, the findings as tests that a
run's numbers can fail, and the report's sentences about them (on a synthetic run)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from shown import shown
from synthetic import MODELS

from guardcal.config import STUDY_ROLES
from guardcal.reporting import narrative, study


def test_published_metrics_are_the_files_numbers_as_fractions() -> None:
    raw = json.loads(study.STUDY_FILE.read_text(encoding="utf-8"))
    table = study.published_metrics()
    assert sorted(set(table["role"])) == sorted(STUDY_ROLES) and len(table) == 8
    row = table[(table["role"] == "base") & (table["method"] == "uncalibrated")].iloc[0]
    printed = raw["guards"]["base"]["metrics"]["uncalibrated"]
    assert row["precision"] == printed["precision"] / 100 and row["ece"] == printed["ece"]
    assert raw["source"]["commit"] and raw["source"]["repository"]


def test_every_finding_holds_on_the_studys_own_numbers() -> None:
    table = study.claims_table(study.Numbers.study())
    assert table["study_holds"].all(), table[~table["study_holds"]]
    assert table["agree"].all()  # the study beside itself


def numbers(**changes: float) -> study.Numbers:
    """The study's numbers with some base-guard values changed: `metric__method=value`."""
    metrics = study.published_metrics()
    for key, value in changes.items():
        metric, method = key.split("__")
        metrics.loc[(metrics["role"] == "base") & (metrics["method"] == method), metric] = value
    return study.Numbers(metrics, study.published_tuned())


def test_a_run_that_does_not_under_flag_disagrees_on_that_finding_only() -> None:
    table = study.claims_table(numbers(recall__uncalibrated=0.99))
    differ = table[~table["agree"].astype(bool)]
    assert differ["claim"].str.contains("under-flags").any()
    assert "recall 0.990" in differ["run"].iloc[0]
    # CC and BC no longer raise the recall either: the one change moves exactly two findings
    assert len(differ) == 2


def test_a_run_without_a_fine_tuned_guard_leaves_those_findings_unchecked() -> None:
    run = study.Numbers.study()
    base_only = study.Numbers(run.metrics[run.metrics["role"] == "base"], run.tuned)
    table = study.claims_table(base_only)
    needs_both = table["claim"].str.contains("fine-tuned")
    assert table.loc[needs_both, "agree"].isna().all()
    assert table.loc[~needs_both, "agree"].all()
    side = study.side_by_side(base_only)
    assert side.loc["fine-tuned"].xs("run", axis=1, level=1).isna().all().all()
    assert side.loc[("base", "cc"), ("ece", "run")] == side.loc[("base", "cc"), ("ece", "study")]


def with_roles(facts: narrative.RunFacts) -> narrative.RunFacts:
    """The synthetic run with its two guards in the study's two roles."""
    models = [
        dataclasses.replace(m, study_role=role)
        for m, role in zip(facts.cfg.models, STUDY_ROLES, strict=True)
    ]
    return dataclasses.replace(facts, cfg=dataclasses.replace(facts.cfg, models=models))


def test_the_report_sets_the_run_beside_the_study(run_facts) -> None:
    assert "No guard of this run has a `study_role`" in narrative.study_intro(run_facts)
    placed = with_roles(run_facts)
    intro = shown(narrative.study_intro(placed))
    assert f"**{MODELS[0]}** stands in for its base guard meta-llama/Llama-Guard-3-8B" in intro
    assert "a6c84c6" in intro
    html, summary = narrative.study_claims(placed)
    summary = shown(summary)
    run = study.run_numbers(placed.cfg, placed.metrics, placed.tuning)
    table = study.claims_table(run)
    agree = int(table["agree"].sum())
    assert summary.startswith(f"This run agrees with the study on {agree} of {len(table)}")
    for claim, holds in zip(table["claim"], table["agree"], strict=True):
        assert (f"{claim} (" in summary) == (not holds)
    assert html.count("<tr>") == len(table) + 1
    side = narrative.study_side_by_side_html(placed)
    ece = placed.value(MODELS[1], "bc", "ece")
    assert f"{ece:.4f}" in side and "fine-tuned +BC" in side


def test_run_numbers_index_the_runs_tables_by_role(run_facts) -> None:
    placed = with_roles(run_facts)
    run = study.run_numbers(placed.cfg, placed.metrics, placed.tuning)
    assert run.m("fine-tuned", "ts", "nll") == placed.value(MODELS[1], "ts", "nll")
    ts = placed.tuning[(placed.tuning["model"] == MODELS[0]) & (placed.tuning["method"] == "ts")]
    assert run.t("base", "ts") == pytest.approx(float(ts["value"].iloc[0]))
    assert set(pd.unique(run.metrics["role"])) == set(STUDY_ROLES)
