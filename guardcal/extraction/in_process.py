"""The single-process executor of an extraction plan: each forward pass's guards loaded once in
this process, its stale splits scored shard by shard under a progress bar, then assembled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from guardcal import scores
from guardcal.config import Config
from guardcal.extraction.forward import LastHidden
from guardcal.extraction.guards import Guard, GuardSpec
from guardcal.extraction.plan import ForwardPass, SplitWork
from guardcal.extraction.shards import (
    Prints,
    assemble_split,
    load_pass,
    pending_shards,
    score_shard,
    shard_rows,
    split_prints,
    write_example,
)


def run_plan(
    cfg: Config,
    specs: Mapping[str, GuardSpec],
    plan: list[ForwardPass],
    frames: Mapping[str, pd.DataFrame],
    prints: Prints,
    batch_size: int | None,
) -> None:
    """Load each forward pass's guards once and score their stale splits and examples."""
    for forward_pass in plan:
        guards, encoder = load_pass(cfg, [specs[n] for n in forward_pass.guards], batch_size)
        for work in forward_pass.splits:
            _extract_split(
                cfg, guards, work, frames[work.split], split_prints(prints, work), encoder
            )
        for name in forward_pass.examples:
            test = prints[name, "test"]
            if scores.is_current(cfg.layout.scores(name, "test"), test):
                write_example(cfg, guards[name], frames["test"], test)


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
