"""What an extraction run has to do, decided before any model loads: which scores files are
stale, which guards share one forward pass, and which shards this node computes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SplitWork:
    """One split of a forward pass: the guards whose scores are stale, and this node's shards."""

    split: str
    guards: tuple[str, ...]
    shards: tuple[int, ...]
    count: int
    size: int


@dataclass(frozen=True)
class ForwardPass:
    """Guards that share one backbone and prompt format, hence one forward pass per example."""

    backbone: str
    format: str
    guards: tuple[str, ...]
    splits: tuple[SplitWork, ...]
    examples: tuple[str, ...]
    """Guards whose report example is (re)written once their test scores are current."""


def node_shards(count: int, shard: tuple[int, int] | None) -> tuple[int, ...]:
    """The shard indices node I of N computes (I, I+N, I+2N, …); all of them without `shard`."""
    if shard is None:
        return tuple(range(count))
    index, nodes = shard
    return tuple(range(index, count, nodes))


def plan_extraction(
    passes: Mapping[str, tuple[str, str]],
    splits: Sequence[str],
    rows: Mapping[str, int],
    stale: set[tuple[str, str]],
    stale_examples: set[str],
    shard_size: int,
    shard: tuple[int, int] | None = None,
) -> list[ForwardPass]:
    """The forward passes to run, in the order guards are listed.

    `passes` maps each guard to its (backbone, format), `rows` each split to its row count,
    `stale` holds the (guard, split) files that are missing or out of date and `stale_examples`
    the guards whose report example is. Guards with nothing stale are not loaded at all.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for name, key in passes.items():
        if name in stale_examples or any((name, s) in stale for s in splits):
            groups.setdefault(key, []).append(name)
    plan = []
    for (backbone, fmt), names in groups.items():
        work = []
        for split in splits:
            pending = tuple(n for n in names if (n, split) in stale)
            if pending:
                count = math.ceil(rows[split] / shard_size)
                work.append(SplitWork(split, pending, node_shards(count, shard), count, shard_size))
        examples = tuple(n for n in names if n in stale_examples)
        plan.append(ForwardPass(backbone, fmt, tuple(names), tuple(work), examples))
    return plan
