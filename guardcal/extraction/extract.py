"""Extraction of a run, orchestrated: check the config and data, fingerprint every (guard, split),
plan what is stale (`plan.plan_extraction`), then hand the plan to one executor — this process
(`in_process`) or Ray workers (`cluster`) — which write the scores files shard by shard."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import pandas as pd

from guardcal import scores
from guardcal.benchmarks.suite import load_split
from guardcal.config import Config
from guardcal.extraction import in_process
from guardcal.extraction.guards import GuardSpec, guard_specs
from guardcal.extraction.plan import plan_extraction
from guardcal.extraction.scoring import fingerprint, guard_inputs
from guardcal.locks import run_lock
from guardcal.records import LABELS, MIN_CLASS_ROWS, check_validation, split_source

log = logging.getLogger(__name__)


def run_extraction(
    cfg: Config,
    splits: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> None:
    """Score every listed model on every listed split (default: all of `cfg.splits`, a suite's
    benchmarks included) into `reports/<run>/scores/`. Guards that
    share a backbone share one forward pass; finished files whose fingerprint matches are kept
    without loading any model; a rerun resumes from the shards already written. With `shard`
    (I, N) only this node's share of the shards is computed; with `cfg.scoring.ray` the shards
    are scored by Ray workers (`extraction.cluster`), writing the same files."""
    specs = guard_specs(cfg, models)  # a bad format or model name fails here
    splits = cfg.splits if splits is None else tuple(splits)
    for split in splits:
        if split not in cfg.splits:
            raise ValueError(f"unknown split {split!r}; expected some of {cfg.splits}")
    if cfg.scoring.ray:
        from guardcal.extraction import cluster  # imports ray: only when asked for

        cluster.import_ray()  # not installed: say how to install it before any other work
    frames = {split: load_split(cfg, split) for split in splits}  # bad data fails here
    if "validation" in frames:
        check_validation(cfg, frames["validation"])
        _warn_if_tiny(cfg, frames["validation"])
    prints = {
        (name, split): fingerprint(spec, split, frames[split])
        for name, spec in specs.items()
        for split in splits
    }
    for name, spec in specs.items():
        verb = spec.verbalizer
        sequence = spec.settings.label_score == "sequence"
        for word, tokens in zip(verb.words, verb.tokens, strict=True):
            if len(tokens) > 1:
                log.info(
                    "%s: label word %r is the tokens %s; %s",
                    name,
                    word,
                    list(tokens),
                    "their log-probabilities are summed (label_score: sequence)"
                    if sequence
                    else f"its first token {tokens[0]} is scored",
                )
    stale = {
        key for key, fp in prints.items() if not scores.is_current(cfg.layout.scores(*key), fp)
    }
    stale_examples = {
        name
        for name in specs
        if "test" in splits and not scores.example_is_current(cfg, name, prints[name, "test"])
    }
    plan = plan_extraction(
        {name: pass_key(spec) for name, spec in specs.items()},
        splits,
        {split: len(frame) for split, frame in frames.items()},
        stale,
        stale_examples,
        cfg.scoring.shard_size,
        shard,
    )
    if not plan:
        log.info("scores of %s are up to date in %s", list(specs), cfg.run_dir / "scores")
        return
    check_lengths(cfg, specs, stale, frames)  # too long: stop before any load
    lock = "score" if shard is None else f"score-{shard[0]}-of-{shard[1]}"
    with run_lock(cfg.layout.lock(lock), f"guardcal score ({lock})"):
        if cfg.scoring.ray:  # the workers resolve their guards for their own device
            cluster.run_plan(cfg, plan, frames, prints, batch_size)
        else:
            in_process.run_plan(cfg, specs, plan, frames, prints, batch_size)


def pass_key(spec: GuardSpec) -> tuple[str, str]:
    """Which guards share a forward pass: those with one backbone and format. A reasoning guard
    has its own, since its traces (and the inputs its verdict is read from) are its own."""
    if spec.reasoning.on:
        return spec.backbone, f"{spec.format.name} (traces of {spec.name})"
    return spec.backbone, spec.format.name


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
    cfg: Config,
    specs: Mapping[str, GuardSpec],
    stale: set[tuple[str, str]],
    frames: Mapping[str, pd.DataFrame],
) -> None:
    """Measure every stale input against its guard's limit with the tokenizer alone, so an input
    too long (and `prompt.overflow: stop`) is an error naming its row before any model loads."""
    seen = set()
    for name, split in sorted(stale):
        spec = specs[name]
        key = (spec.backbone, spec.format.name, split)
        if key not in seen:
            seen.add(key)
            guard_inputs(spec, frames[split], f"{split_source(cfg, split)} ({split} split)")
