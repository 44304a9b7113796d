"""The scores files — the seam between extraction and calibration: one parquet per (model, split)
with `id, label, logit_safe, logit_unsafe, label_mass`, written in resumable shards, each file
carrying the fingerprint of what produced it; nothing half-written is ever left in place. A
reasoning guard's traces (`guardcal.traces`) are files of another kind kept the same way."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guardcal.atomic import atomic_write, write_text
from guardcal.config import Config
from guardcal.layout import RunLayout

COLUMNS = ("id", "label", "logit_safe", "logit_unsafe", "label_mass")
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("label", pa.int64()),
        ("logit_safe", pa.float64()),
        ("logit_unsafe", pa.float64()),
        ("label_mass", pa.float64()),
    ]
)
EXTRA_FIELDS = (
    ("level_logit_safe", pa.float64()),
    ("level_logit_controversial", pa.float64()),
    ("level_logit_unsafe", pa.float64()),
    ("answers", pa.string()),
    ("sample_sd", pa.float64()),
)
"""Kept beside the binary logits when a format has them: a three-level guard's three logits, the
model's own answers to the lines before its verdict (`no|yes` for WildGuard's response harm), and
the standard deviation of p(unsafe) over a reasoning guard's sampled traces."""


@dataclass(frozen=True)
class FileKind:
    """A kind of per-(guard, split) parquet file written in resumable, fingerprinted shards: its
    columns (those every file has, then those kept when present) and where a run keeps it."""

    name: str
    schema: pa.Schema
    extra: tuple[tuple[str, pa.DataType], ...]
    path: Callable[[RunLayout, str, str], Path]
    shards: Callable[[RunLayout, str, str], Path]
    shard: Callable[[RunLayout, str, str, int, int], Path]

    def columns(self, frame: pd.DataFrame) -> list[str]:
        """The columns a file of this kind keeps from `frame`, in file order."""
        return [*self.schema.names, *(name for name, _ in self.extra if name in frame)]


SCORES = FileKind(
    "scores", SCHEMA, EXTRA_FIELDS, RunLayout.scores, RunLayout.shards, RunLayout.shard
)
META_KEY = b"guardcal"
CHECKSUM_KEY = b"guardcal_checksum"

log = logging.getLogger(__name__)


class ScoresError(ValueError):
    """A scores file that fails its checksum; the message names it (it has been discarded)."""


def checksum(frame: pd.DataFrame) -> str:
    """sha256 of a file's values, column by column in the file's types (text and lists as JSON,
    integers as int64, numbers as float64): what a file carries so that a corrupted data page is
    caught even when its footer is intact."""
    digest = hashlib.sha256()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
            digest.update(values.to_numpy(dtype="<i8").tobytes())
        elif pd.api.types.is_float_dtype(values):
            digest.update(values.to_numpy(dtype="<f8").tobytes())
        elif len(values) and not isinstance(values.iloc[0], str | type(None)):  # token id lists
            digest.update(json.dumps([[int(t) for t in v] for v in values]).encode("utf-8"))
        else:
            digest.update(json.dumps(values.astype(str).tolist()).encode("utf-8"))
    return digest.hexdigest()


def write_table(
    frame: pd.DataFrame, path: Path, meta: dict[str, Any], kind: FileKind = SCORES
) -> None:
    """Write a frame with `meta` and its checksum in the parquet metadata, atomically."""
    columns = kind.columns(frame)
    extra = [(name, tp) for name, tp in kind.extra if name in frame]
    schema = pa.schema([*kind.schema, *(pa.field(name, tp) for name, tp in extra)])
    table = pa.Table.from_pandas(frame[columns], schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(
        {META_KEY: json.dumps(meta, sort_keys=True), CHECKSUM_KEY: checksum(frame[columns])}
    )
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_checked(path: Path) -> pd.DataFrame:
    """A file's frame if it matches its checksum; otherwise the file is deleted and a
    ScoresError names it and says why."""
    try:
        table = pq.read_table(path)
        stored = (pq.read_schema(path).metadata or {}).get(CHECKSUM_KEY, b"").decode()
        frame = table.to_pandas()
        reason = None if stored == checksum(frame) else "its data do not match its checksum"
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        reason = f"unreadable ({exc})"
    if reason is None:
        return frame
    path.unlink(missing_ok=True)
    raise ScoresError(
        f"{path}: file is corrupt, {reason}; discarded, the next `guardcal score` "
        "or report recomputes it"
    )


def read_meta(path: Path) -> dict[str, Any] | None:
    """The fingerprint stored in a scores file, or None when it is missing or unreadable."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    raw = meta.get(META_KEY)
    return json.loads(raw) if raw else None


def is_current(path: Path, meta: dict[str, Any]) -> bool:
    """Whether `path` exists, was produced by exactly `meta` and holds intact data (a file
    failing its checksum is discarded, with a warning naming it)."""
    if read_meta(path) != meta:
        return False
    try:
        read_checked(path)
    except ScoresError as exc:
        log.warning("%s", exc)
        return False
    return True


def shard_meta(fingerprint: dict[str, Any], index: int, count: int, size: int) -> dict[str, Any]:
    """A shard's metadata: the split's fingerprint plus where the shard sits."""
    return {**fingerprint, "shard": {"index": index, "count": count, "size": size}}


def finished_shards(
    cfg: Config,
    model_name: str,
    split: str,
    fingerprint: dict[str, Any],
    count: int,
    size: int,
    kind: FileKind = SCORES,
) -> set[int]:
    """Indices of the shards already written for this fingerprint; stale shards and stray
    temporary files are deleted."""
    folder = kind.shards(cfg.layout, model_name, split)
    if not folder.is_dir():
        return set()
    done = set()
    for path in folder.iterdir():
        match = re.fullmatch(r"(\d{5})-of-(\d{5})\.parquet", path.name)
        index = int(match.group(1)) if match else -1
        if match and is_current(path, shard_meta(fingerprint, index, count, size)):
            done.add(index)
        elif not path.name.endswith(".tmp"):  # another process may be writing a .tmp now
            path.unlink(missing_ok=True)
    return done


def write_shard(
    cfg: Config,
    model_name: str,
    split: str,
    frame: pd.DataFrame,
    fingerprint: dict[str, Any],
    index: int,
    count: int,
    size: int,
    kind: FileKind = SCORES,
) -> None:
    """Write one finished shard."""
    path = kind.shard(cfg.layout, model_name, split, index, count)
    write_table(frame, path, shard_meta(fingerprint, index, count, size), kind)


def assemble(
    cfg: Config,
    model_name: str,
    split: str,
    fingerprint: dict[str, Any],
    count: int,
    size: int,
    kind: FileKind = SCORES,
) -> bool:
    """Join the shards into the split's file once all are there (then drop them); False while
    some are missing. Safe when several nodes race to do it."""
    path = kind.path(cfg.layout, model_name, split)
    if is_current(path, fingerprint):
        return True
    if len(finished_shards(cfg, model_name, split, fingerprint, count, size, kind)) < count:
        return False
    shards = kind.shards(cfg.layout, model_name, split)
    try:
        parts = [
            read_checked(kind.shard(cfg.layout, model_name, split, i, count)) for i in range(count)
        ]
    except (FileNotFoundError, ScoresError):  # another node assembled and removed them meanwhile
        return is_current(path, fingerprint)
    write_table(pd.concat(parts, ignore_index=True), path, fingerprint, kind)
    shutil.rmtree(shards, ignore_errors=True)
    with contextlib.suppress(OSError):  # `shards/` goes once no split has any left
        shards.parent.rmdir()
    return True


def read_scores(cfg: Config, model_name: str, split: str) -> pd.DataFrame:
    """A split's scores: `id, label, logit_safe, logit_unsafe, label_mass`, one row per example."""
    path = cfg.layout.scores(model_name, split)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no scores yet for model {model_name!r}, split {split!r}; run "
            f"`guardcal score --config {cfg.source_file}` or "
            "guardcal.extraction.run_extraction(cfg)"
        )
    return read_checked(path)[list(COLUMNS)]


LEVEL_COLUMNS = ("level_logit_safe", "level_logit_controversial", "level_logit_unsafe")


def read_levels(cfg: Config, model_name: str, split: str) -> np.ndarray | None:
    """A three-level guard's (N, 3) logits of Safe, Controversial and Unsafe on a split, in the
    order of `read_scores`; None for a guard with two levels."""
    frame = read_checked(cfg.layout.scores(model_name, split))
    if LEVEL_COLUMNS[1] not in frame:
        return None
    return frame[list(LEVEL_COLUMNS)].to_numpy(dtype=np.float64)


def write_example(cfg: Config, model_name: str, example: dict[str, Any]) -> None:
    """Save the report's example (id, input, answer, and the fingerprint it came from)."""
    text = json.dumps(example, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_text(cfg.layout.example(model_name), text)


def read_example(cfg: Config, model_name: str) -> dict[str, Any]:
    """The report's example for a model: {"id", "input", "answer"} (no model load needed)."""
    path = cfg.layout.example(model_name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no example yet for model {model_name!r}; score the test split"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def example_is_current(cfg: Config, model_name: str, fingerprint: dict[str, Any]) -> bool:
    """Whether the saved example came from the test split's current fingerprint."""
    try:
        return read_example(cfg, model_name).get("fingerprint") == fingerprint
    except (FileNotFoundError, json.JSONDecodeError):
        return False
