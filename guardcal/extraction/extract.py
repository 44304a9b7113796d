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
from guardcal.extraction.plan import SplitWork, plan_extraction
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


def _write_example(
    cfg: Config, guard: Guard, frame: pd.DataFrame, test_fingerprint: dict[str, Any]
) -> None:
    """Save the report's example for a guard whose test scores are finished."""
    record = example_record(frame)
    text, answer = guard_answer(cfg, guard, record)
    example = {"id": record["id"], "input": text, "answer": answer}
    scores.write_example(cfg, guard.name, {**example, "fingerprint": test_fingerprint})


def _extract_split(
    cfg: Config,
    guards: list[Guard],
    work: SplitWork,
    frame: pd.DataFrame,
    prints: Mapping[str, dict[str, Any]],
    encoder: LastHidden,
) -> None:
    """Score one split for guards sharing a backbone, shard by shard, then assemble."""
    split, count, size = work.split, work.count, work.size
    # another process (a notebook, a node) may have finished a file since the plan was made
    guards = [
        g for g in guards if not scores.is_current(cfg.layout.scores(g.name, split), prints[g.name])
    ]
    done = {}
    for g in guards:
        cfg.layout.scores(g.name, split).unlink(missing_ok=True)  # stale: never read it
        done[g.name] = scores.finished_shards(cfg, g.name, split, prints[g.name], count, size)
    todo = [i for i in work.shards if any(i not in done[g.name] for g in guards)]
    total = sum(len(frame.iloc[i * size : (i + 1) * size]) for i in todo)
    names = ", ".join(g.name for g in guards)
    with tqdm(total=total, desc=f"scoring {split} ({names})", unit="ex") as bar:
        for i in todo:
            part = frame.iloc[i * size : (i + 1) * size]
            need = [g for g in guards if i not in done[g.name]]
            for name, frame_scores in score_frame(need, part, cfg, encoder, bar).items():
                scores.write_shard(cfg, name, split, frame_scores, prints[name], i, count, size)
    for g in guards:
        if not scores.assemble(cfg, g.name, split, prints[g.name], count, size):
            if len(work.shards) < count:
                log.info("%s / %s: waiting for the other nodes' shards", g.name, split)
            else:  # this node wrote every shard, yet one is missing or failed its checksum
                log.warning("%s / %s: a shard is missing; run guardcal score again", g.name, split)


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
    (I, N) only this node's share of the shards is computed."""
    check_models(cfg)
    splits = tuple(splits)
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected some of {SPLITS}")
    names = [m.name for m in cfg.models] if models is None else list(models)
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
        _run_plan(cfg, plan, frames, prints, batch_size)


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
    plan: list,
    frames: Mapping[str, pd.DataFrame],
    prints: Mapping[tuple[str, str], dict[str, Any]],
    batch_size: int | None,
) -> None:
    """Load each forward pass's guards once and score their stale splits and examples."""
    for forward_pass in plan:
        guards = [load_guard(cfg, name) for name in forward_pass.guards]
        for guard in guards:
            if guard.label_rows is not None:
                guard.label_rows.save(cfg.layout.label_rows(guard.name))
        encoder = LastHidden(
            guards[0].model,
            batch_size or cfg.scoring.batch_size or default_batch_size(guards[0].model),
        )
        by_name = {g.name: g for g in guards}
        for work in forward_pass.splits:
            _extract_split(
                cfg,
                [by_name[n] for n in work.guards],
                work,
                frames[work.split],
                {n: prints[n, work.split] for n in work.guards},
                encoder,
            )
        for name in forward_pass.examples:
            test = prints[name, "test"]
            if scores.is_current(cfg.layout.scores(name, "test"), test):
                _write_example(cfg, by_name[name], frames["test"], test)
