"""Extraction of a run: score every guard on every split into `reports/<run>/scores/`, resuming
from finished shards, following the plan that `plan.plan_extraction` makes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from guardcal import scores
from guardcal.config import Config
from guardcal.extraction.context import fit_inputs, token_limit
from guardcal.extraction.formats import check_models
from guardcal.extraction.forward import LastHidden, default_batch_size
from guardcal.extraction.models import (
    Guard,
    backbone_key,
    guard_tokenizer,
    load_guard,
    prompt_format,
)
from guardcal.extraction.plan import ForwardPass, SplitWork, plan_extraction
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.scoring import example_record, fingerprint, guard_answer, score_frame
from guardcal.locks import run_lock
from guardcal.records import (
    LABELS,
    MIN_CLASS_ROWS,
    SPLITS,
    check_validation,
    load_split,
    split_source,
)

log = logging.getLogger(__name__)

Prints = Mapping[tuple[str, str], dict[str, Any]]
"""Each (guard, split)'s fingerprint."""


def write_example(
    cfg: Config, guard: Guard, frame: pd.DataFrame, test_fingerprint: dict[str, Any]
) -> None:
    """Save the report's example for a guard whose test scores are finished."""
    record = example_record(frame)
    text, answer = guard_answer(cfg, guard, record)
    example = {"id": record["id"], "input": text, "answer": answer}
    scores.write_example(cfg, guard.name, {**example, "fingerprint": test_fingerprint})


def load_pass(
    cfg: Config, forward_pass: ForwardPass, batch_size: int | None
) -> tuple[dict[str, Guard], LastHidden]:
    """The guards of one forward pass (a fitted guard's rows copied into the run) and the
    encoder they share."""
    guards = {name: load_guard(cfg, name) for name in forward_pass.guards}
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
    """Score one shard for guards sharing a backbone and write each guard's shard file."""
    for name, frame_scores in score_frame(guards, part, cfg, encoder, progress).items():
        scores.write_shard(
            cfg, name, work.split, frame_scores, prints[name], index, work.count, work.size
        )


def assemble_split(cfg: Config, work: SplitWork, prints: Mapping[str, dict[str, Any]]) -> None:
    """Join each guard's finished shards of a split into its scores file (once all are there)."""
    for name in work.guards:
        if not scores.assemble(cfg, name, work.split, prints[name], work.count, work.size):
            if len(work.shards) < work.count:
                log.info("%s / %s: waiting for the other nodes' shards", name, work.split)
            else:  # this node wrote every shard, yet one is missing or failed its checksum
                log.warning(
                    "%s / %s: a shard is missing; run guardcal score again", name, work.split
                )


def _extract_split(
    cfg: Config,
    guards: Mapping[str, Guard],
    work: SplitWork,
    frame: pd.DataFrame,
    prints: Mapping[str, dict[str, Any]],
    encoder: LastHidden,
) -> None:
    """Score one split for guards sharing a backbone, shard by shard, then assemble."""
    todo = pending_shards(cfg, work, prints)
    total = sum(len(shard_rows(frame, work, i)) for i in todo)
    names = ", ".join(work.guards)
    with tqdm(total=total, desc=f"scoring {work.split} ({names})", unit="ex") as bar:
        for i, need in todo.items():
            part = shard_rows(frame, work, i)
            score_shard(cfg, [guards[n] for n in need], work, i, part, prints, encoder, bar)
    assemble_split(cfg, work, prints)


def run_extraction(
    cfg: Config,
    splits: Iterable[str] = SPLITS,
    models: Iterable[str] | None = None,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> None:
    """Score every listed model on every listed split into `reports/<run>/scores/`. Guards that
    share a backbone share one forward pass; finished files whose fingerprint matches are kept
    without loading any model; a rerun resumes from the shards already written. With `shard`
    (I, N) only this node's share of the shards is computed; with `cfg.scoring.ray` the shards
    are scored by Ray workers (`extraction.cluster`), writing the same files."""
    check_models(cfg)
    splits = tuple(splits)
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected some of {SPLITS}")
    names = [m.name for m in cfg.models] if models is None else list(models)
    run_plan = _run_plan
    if cfg.scoring.ray:
        from guardcal.extraction import cluster  # imports ray: only when asked for

        cluster.import_ray()  # not installed: say how to install it before any other work
        run_plan = cluster.run_plan
    specs = {name: cfg.model(name) for name in names}
    frames = {split: load_split(cfg, split) for split in splits}  # bad data fails here
    if "validation" in frames:
        check_validation(cfg, frames["validation"])
        _warn_if_tiny(cfg, frames["validation"])
    prints = {
        (name, split): fingerprint(cfg, name, split, frames[split])
        for name in names
        for split in splits
    }
    for name in names:
        verb = prints[name, splits[0]]["verbalizer"]
        for word, tokens in zip(verb["words"], verb["tokens"], strict=True):
            if len(tokens) > 1:
                log.info(
                    "%s: label word %r is the tokens %s; its first token %d is scored",
                    name,
                    word,
                    tokens,
                    tokens[0],
                )
    stale = {
        key for key, fp in prints.items() if not scores.is_current(cfg.layout.scores(*key), fp)
    }
    stale_examples = {
        name
        for name in names
        if "test" in splits and not scores.example_is_current(cfg, name, prints[name, "test"])
    }
    plan = plan_extraction(
        {n: (backbone_key(cfg, specs[n]), prompt_format(specs[n])) for n in names},
        splits,
        {split: len(frame) for split, frame in frames.items()},
        stale,
        stale_examples,
        cfg.scoring.shard_size,
        shard,
    )
    if not plan:
        log.info("scores of %s are up to date in %s", names, cfg.run_dir / "scores")
        return
    check_lengths(cfg, {(n, s) for n, s in stale}, frames)  # too long: stop before any load
    lock = "score" if shard is None else f"score-{shard[0]}-of-{shard[1]}"
    with run_lock(cfg.layout.lock(lock), f"guardcal score ({lock})"):
        run_plan(cfg, plan, frames, prints, batch_size)


def _warn_if_tiny(cfg: Config, validation: pd.DataFrame) -> None:
    """Warn loudly when a class has fewer than MIN_CLASS_ROWS validation rows."""
    for name, value in LABELS.items():
        n = int((validation["label"] == value).sum())
        if n < MIN_CLASS_ROWS:
            log.warning(
                "validation split has only %d %s rows (%s): T and γ are fitted on very few "
                "examples and their validation metrics are unreliable",
                n,
                name,
                split_source(cfg, "validation"),
            )


def check_lengths(
    cfg: Config, stale: set[tuple[str, str]], frames: Mapping[str, pd.DataFrame]
) -> None:
    """Measure every stale input against its model's limit with the tokenizer alone, so an input
    too long (and `prompt.overflow: stop`) is an error naming its row before any model loads."""
    seen = set()
    for name, split in sorted(stale):
        spec = cfg.model(name)
        key = (backbone_key(cfg, spec), prompt_format(spec), split)
        if key in seen:
            continue
        seen.add(key)
        check_frame_lengths(cfg, name, frames[split], f"{split_source(cfg, split)} ({split} split)")


def check_frame_lengths(cfg: Config, name: str, frame: pd.DataFrame, where: str) -> None:
    """Guard `name`'s inputs of `frame` measured against its limit by its tokenizer alone (no
    weights load); a too-long one is a DataError naming `where` and the row."""
    tokenizer = guard_tokenizer(cfg, name)
    prompt = GuardPrompt(
        cfg.prompt.taxonomy, prompt_format(cfg.model(name)), tokenizer, cfg.prompt.input
    )
    fit_inputs(
        prompt,
        tokenizer,
        frame,
        cfg.prompt.max_response_words,
        token_limit(cfg, name),
        cfg.prompt.overflow,
        where,
    )


def _run_plan(
    cfg: Config,
    plan: list[ForwardPass],
    frames: Mapping[str, pd.DataFrame],
    prints: Prints,
    batch_size: int | None,
) -> None:
    """Load each forward pass's guards once and score their stale splits and examples."""
    for forward_pass in plan:
        guards, encoder = load_pass(cfg, forward_pass, batch_size)
        for work in forward_pass.splits:
            _extract_split(
                cfg, guards, work, frames[work.split], split_prints(prints, work), encoder
            )
        for name in forward_pass.examples:
            test = prints[name, "test"]
            if scores.is_current(cfg.layout.scores(name, "test"), test):
                write_example(cfg, guards[name], frames["test"], test)
