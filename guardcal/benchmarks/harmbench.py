"""HarmBench (Mazeika et al. 2024): its behaviours (harmful prompts), and its classifier
validation set — model responses to those behaviours under ten attacks, each judged by three
people."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Row, Sources, Table
from guardcal.benchmarks.schema import Example
from guardcal.records import DataError

FUNCTIONAL = ("standard", "contextual", "copyright")
LIU_FUNCTIONAL = ("standard", "copyright")
"""Liu et al. keep these (`b['FunctionalCategory'] in ['standard', 'copyright']`)."""
HUMANS = ("human_0", "human_1", "human_2")
DIRECT = "DirectRequest"
"""The one method that is no attack: the behaviour asked as it is."""
DEFAULT_EXPERIMENT = "default"
"""`experiment` of the direct requests; their `model` names the response model instead."""


def behaviour_prompt(row: Row, convention: str) -> str:
    """The behaviour's text; GuardBench appends a contextual behaviour's context after a blank
    line (Liu et al. drop contextual behaviours)."""
    text = row.text("Behavior")
    context = row.optional_text("ContextString")
    if convention == "guardbench" and context:
        return f"{text}\n\n{context}"
    return text


def load_prompts(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Every behaviour is unsafe (`prompt_gt = 1`). Convention `liu`: the standard and copyright
    behaviours (239 of the test file's 320); `guardbench`: all, contextual ones with their
    context. `SemanticCategory` is the category, `FunctionalCategory` the type."""
    for row in src.table():
        functional = row.choice("FunctionalCategory", FUNCTIONAL)
        if convention == "liu" and functional not in LIU_FUNCTIONAL:
            continue
        yield Example(
            where=row.where,
            id=row.text("BehaviorID"),
            prompt=behaviour_prompt(row, convention),
            response=None,
            label=1,
            categories=(row.text("SemanticCategory"),),
            prompt_type=functional,
        )


def _behaviours(table: Table | None) -> dict[str, Row]:
    """The behaviours file's rows by BehaviorID."""
    return {} if table is None else {row.text("BehaviorID"): row for row in table}


def load_classifier(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """The JSON file `{BehaviorID: [record, ...]}`; a response is unsafe iff at least two of its
    three judges said so — `response_gt = int((val['human_0'] + val['human_1'] +
    val['human_2']) >= 2)`; a prompt is always unsafe. Convention `liu` (Liu et al.'s
    `harmbench`): the prompt is the behaviour's text from the `behaviors` file, and records whose
    behaviour it lacks are skipped (596 of 602); `liu_adv` (their `harmbench-adv`): the prompt
    is the record's `test_case` (the attack's prompt), every record kept. `method` is the attack,
    adversarial unless it is DirectRequest; the response model is `experiment`, or `model` for
    the direct requests."""
    source, data = src.json()
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a JSON object of BehaviorID -> list of records")
    behaviours = _behaviours(src.table("behaviors"))
    if convention == "liu" and not behaviours:
        raise DataError(
            f"{source}: convention 'liu' needs `behaviors:` (harmbench_behaviors_text_all.csv)"
        )
    for behaviour_id, records in data.items():
        if not isinstance(records, list):
            raise DataError(f"{source}: BehaviorID {behaviour_id!r}: expected a list of records")
        behaviour = behaviours.get(behaviour_id)
        if convention == "liu" and behaviour is None:
            continue
        for k, record in enumerate(records):
            row = Row(source, f"BehaviorID {behaviour_id!r} record {k}", record)
            if not isinstance(record, dict):
                raise row.fail(None, f"expected a JSON object, got {record!r}")
            method = row.text("method")
            experiment = row.text("experiment")
            model = experiment if experiment != DEFAULT_EXPERIMENT else row.text("model")
            unsafe = sum(row.required_binary(h) for h in HUMANS) >= 2
            prompt = (
                behaviour_prompt(behaviour, "liu") if convention == "liu" else row.text("test_case")
            )
            yield Example(
                where=row.where,
                id=f"{behaviour_id}-{k}",
                prompt=prompt,
                response=row.text("generation") if mode == "response" else None,
                label=int(unsafe) if mode == "response" else 1,
                categories=(behaviour.text("SemanticCategory"),) if behaviour else (),
                adversarial=method != DIRECT,
                attack=method,
                response_model=model.removesuffix(".json"),
            )
