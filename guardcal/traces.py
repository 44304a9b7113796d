"""A reasoning guard's traces — what it wrote before each verdict — kept as data beside its
scores: one parquet per (model, split), one row per example and sample (`id, sample, text,
token_ids, n_tokens, stop`), sharded, fingerprinted with the generation settings and resumable
exactly like the scores files (`guardcal.scores`, whose machinery writes both)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from guardcal.config import Config
from guardcal.layout import RunLayout
from guardcal.scores import FileKind, read_checked

TRACES = FileKind(
    "traces",
    pa.schema(
        [
            ("id", pa.string()),
            ("sample", pa.int64()),
            ("text", pa.string()),
            ("token_ids", pa.list_(pa.int64())),
            ("n_tokens", pa.int64()),
            ("stop", pa.string()),
        ]
    ),
    (),
    RunLayout.traces,
    RunLayout.trace_shards,
    RunLayout.trace_shard,
)
VERDICT_KEYS = ("answer_lines", "verbalizer", "controversial", "label_score")
"""The scores fingerprint's keys about how the verdict is read after a trace, not the trace: a
change there rescores from the traces kept."""


def trace_fingerprint(scores_fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What a trace file depends on: its scores file's fingerprint (the guard, its input, the
    generation settings, the rows) without how the verdict is read afterwards."""
    kept = {k: v for k, v in scores_fingerprint.items() if k not in VERDICT_KEYS}
    return {**kept, "file": TRACES.name}


def read_traces(cfg: Config, model_name: str, split: str) -> pd.DataFrame:
    """A split's traces, one row per example and sample (a FileNotFoundError until scored)."""
    path = cfg.layout.traces(model_name, split)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no traces for model {model_name!r}, split {split!r}: it is not a reasoning "
            f"guard, or its scores are not computed yet (`guardcal score --config "
            f"{cfg.source_file}`)"
        )
    return read_checked(path)
