"""The shard steps both executors share (`in_process` and `cluster`): load a forward pass's
guards, find a split's missing shards, score and write one shard (a reasoning guard's traces
first, kept as their own shard files), assemble a split's files, and write a guard's report
example. Every file they write is the same whichever executor runs them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from guardcal import scores
from guardcal.config import Config
from guardcal.extraction.forward import LastHidden, default_batch_size
from guardcal.extraction.guards import Guard, GuardSpec, load_guard
from guardcal.extraction.plan import SplitWork
from guardcal.extraction.reasoning import Trace, traces_frame, traces_of
from guardcal.extraction.scoring import (
    example_record,
    generate_traces,
    guard_answer,
    render_record,
    score_frame,
)
from guardcal.traces import TRACES, trace_fingerprint

log = logging.getLogger(__name__)

Prints = Mapping[tuple[str, str], dict[str, Any]]
"""Each (guard, split)'s fingerprint."""


def write_example(
    cfg: Config, guard: Guard, frame: pd.DataFrame, test_fingerprint: dict[str, Any]
) -> None:
    """Save the report's example for a guard whose test scores are finished (a reasoning
    guard's answer: the first line of its kept trace, not another generation)."""
    record = example_record(frame)
    if guard.spec.reasoning.on:
        traces = scores.read_checked(cfg.layout.traces(guard.name, "test"))
        trace = traces[traces["id"].astype(str) == str(record["id"])].iloc[0]["text"]
        text = render_record(guard.spec, record)
        answer = next((line.strip() for line in trace.splitlines() if line.strip()), "")
    else:
        text, answer = guard_answer(guard, record)
    example = {"id": record["id"], "input": text, "answer": answer}
    scores.write_example(cfg, guard.name, {**example, "fingerprint": test_fingerprint})


def load_pass(
    cfg: Config, specs: Sequence[GuardSpec], batch_size: int | None
) -> tuple[dict[str, Guard], LastHidden]:
    """The guards of one forward pass with their weights (a fitted guard's rows copied into the
    run) and the encoder they share."""
    guards = {spec.name: load_guard(spec) for spec in specs}
    for guard in guards.values():
        if guard.label_rows is not None:
            guard.label_rows.save(cfg.layout.label_rows(guard.name))
    model = next(iter(guards.values())).model
    size = batch_size or cfg.scoring.batch_size or default_batch_size(model)
    return guards, LastHidden(model, size)


def pending_shards(
    cfg: Config, work: SplitWork, prints: Mapping[str, dict[str, Any]]
) -> dict[int, tuple[str, ...]]:
    """This node's shards of a split still to compute, each with the guards that need it. Stale
    scores files and shards are deleted first; files finished meanwhile (by another process or
    node) are left alone."""
    guards = [
        n for n in work.guards if not scores.is_current(cfg.layout.scores(n, work.split), prints[n])
    ]
    done = {}
    for name in guards:
        cfg.layout.scores(name, work.split).unlink(missing_ok=True)  # stale: never read it
        done[name] = scores.finished_shards(
            cfg, name, work.split, prints[name], work.count, work.size
        )
    todo = {}
    for i in work.shards:
        need = tuple(n for n in guards if i not in done[n])
        if need:
            todo[i] = need
    return todo


def split_prints(prints: Prints, work: SplitWork) -> dict[str, dict[str, Any]]:
    """The fingerprints of one split's guards, by guard name."""
    return {n: prints[n, work.split] for n in work.guards}


def shard_rows(frame: pd.DataFrame, work: SplitWork, index: int) -> pd.DataFrame:
    """The rows of shard `index` of a split."""
    return frame.iloc[index * work.size : (index + 1) * work.size]


def score_shard(
    cfg: Config,
    guards: list[Guard],
    work: SplitWork,
    index: int,
    part: pd.DataFrame,
    prints: Mapping[str, dict[str, Any]],
    encoder: LastHidden,
    progress: tqdm | None = None,
) -> None:
    """Score one shard for guards sharing a backbone and write each guard's shard file (a
    reasoning guard — alone in its pass — reads its verdicts after its traces)."""
    traces = None
    if guards[0].spec.reasoning.on:
        (guard,) = guards
        traces = shard_traces(cfg, guard, work, index, part, prints[guard.name], progress)
    for name, frame_scores in score_frame(guards, part, encoder, progress, traces).items():
        scores.write_shard(
            cfg, name, work.split, frame_scores, prints[name], index, work.count, work.size
        )


def shard_traces(
    cfg: Config,
    guard: Guard,
    work: SplitWork,
    index: int,
    part: pd.DataFrame,
    fingerprint: dict[str, Any],
    progress: tqdm | None = None,
) -> list[list[Trace]]:
    """A reasoning guard's traces of one shard: from its split's trace file or its shard file
    when their fingerprint (the generation settings among it) matches, else generated and
    written as a shard file first, so a rerun that only rescores generates nothing."""
    meta, name = trace_fingerprint(fingerprint), guard.name
    ids = part["id"].astype(str).tolist()
    samples = guard.spec.reasoning.samples
    for path, expected in (
        (cfg.layout.traces(name, work.split), meta),
        (
            cfg.layout.trace_shard(name, work.split, index, work.count),
            scores.shard_meta(meta, index, work.count, work.size),
        ),
    ):
        if scores.is_current(path, expected):
            if progress is not None:
                progress.update(len(part))
            return traces_of(scores.read_checked(path), ids, samples)
    traces = generate_traces(guard, part, progress)
    frame = traces_frame(ids, traces, guard.tokenizer)
    scores.write_shard(cfg, name, work.split, frame, meta, index, work.count, work.size, TRACES)
    return traces


def assemble_split(cfg: Config, work: SplitWork, prints: Mapping[str, dict[str, Any]]) -> None:
    """Join each guard's finished shards of a split into its scores file (once all are there),
    and a reasoning guard's trace shards into its trace file."""
    for name in work.guards:
        if "reasoning" in prints[name]:
            scores.assemble(
                cfg,
                name,
                work.split,
                trace_fingerprint(prints[name]),
                work.count,
                work.size,
                TRACES,
            )
        if not scores.assemble(cfg, name, work.split, prints[name], work.count, work.size):
            if len(work.shards) < work.count:
                log.info("%s / %s: waiting for the other nodes' shards", name, work.split)
            else:  # this node wrote every shard, yet one is missing or failed its checksum
                log.warning(
                    "%s / %s: a shard is missing; run guardcal score again", name, work.split
                )
