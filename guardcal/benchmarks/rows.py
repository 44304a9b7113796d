"""A benchmark's raw rows, read from its hub id through `datasets` or from a local copy of its
original file, and the field checks its label rule uses; every problem is a `DataError` naming
the file (or hub split), the row and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardcal.config import BenchmarkEntry, resolve_path
from guardcal.records import CSV_BOOLEANS, DataError, read_json, read_rows


@dataclass(frozen=True)
class Hub:
    """Where a benchmark lives on the hub: dataset id, config (subset) and split; `access` says
    how to get access where the dataset is gated (None where it is open)."""

    id: str
    subset: str | None
    split: str
    access: str | None = None


@dataclass(frozen=True)
class Row:
    """One raw row of a table, with checked accessors for its fields."""

    source: str
    where: str
    record: dict[str, Any]

    def fail(self, field: str | None, message: str) -> DataError:
        """`<source>: <row>, field '<field>': <message>`, the one error format of the input."""
        named = f", field {field!r}" if field else ""
        return DataError(f"{self.source}: {self.where}{named}: {message}")

    def has(self, field: str) -> bool:
        """Whether the field is present and not null."""
        return self.record.get(field) is not None

    def text(self, field: str) -> str:
        """A non-blank text field."""
        value = self.record.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise self.fail(field, "missing or empty")
        if not isinstance(value, str):
            raise self.fail(field, f"must be text, got {value!r}")
        return value

    def optional_text(self, field: str) -> str | None:
        """A text field that may be missing or blank (None then)."""
        return self.text(field) if self.has(field) and str(self.record[field]).strip() else None

    def flag(self, field: str) -> bool:
        """A boolean: true/false, or its CSV spellings (True/False/true/false/1/0)."""
        value = self.record.get(field)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in CSV_BOOLEANS:
            return CSV_BOOLEANS[value.strip().lower()]
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        raise self.fail(field, f"must be true or false, got {value!r}")

    def binary(self, field: str, missing: int | None = None) -> int | None:
        """A 0/1 field (an int, or its text in a CSV); a missing one is `missing` (an error when
        that is None and the field must be there)."""
        value = self.record.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return missing
        if isinstance(value, str) and value.strip() in ("0", "1"):
            return int(value.strip())
        if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
            return int(value)
        raise self.fail(field, f"must be 0 or 1, got {value!r}")

    def required_binary(self, field: str) -> int:
        """A 0/1 field that must be there."""
        value = self.binary(field)
        if value is None:
            raise self.fail(field, "missing (0 or 1)")
        return value

    def choice(self, field: str, choices: Sequence[str], optional: bool = False) -> str | None:
        """One of `choices` (None for a missing value when `optional`)."""
        value = self.record.get(field)
        if value is None and optional:
            return None
        if value not in choices:
            allowed = [*choices, *([None] if optional else [])]
            raise self.fail(field, f"must be one of {allowed}, got {value!r}")
        return value

    def flags(self, field: str) -> tuple[str, ...]:
        """The keys set to true in a mapping of category → bool (JSON text in a CSV)."""
        value = self.record.get(field)
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise self.fail(field, f"not a JSON object of flags: {exc.msg}") from None
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping of category to true/false, got {value!r}")
        for key, flag in value.items():
            if flag is not None and not isinstance(flag, bool):
                raise self.fail(field, f"category {key!r} must be true or false, got {flag!r}")
        return tuple(key for key, flag in value.items() if flag)


@dataclass(frozen=True)
class Table:
    """The raw rows of one file or hub split, numbered as errors name them."""

    source: str
    unit: str
    rows: list[tuple[int, dict[str, Any]]]

    def __iter__(self) -> Iterator[Row]:
        for number, record in self.rows:
            yield Row(self.source, f"{self.unit} {number}", record)


def file_table(path: Path) -> Table:
    """A local copy of an original file (.jsonl, .jsonl.gz, .json list, .csv, .parquet)."""
    unit, rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file: no records")
    return Table(str(path), unit, rows)


def hub_table(hub: Hub, revision: str | None, files: str) -> Table:
    """A hub split through `datasets.load_dataset`; rows are named by their 0-based index. A
    gated or unknown dataset is one error saying how to get access or what to give instead."""
    import datasets  # slow to import; only hub sources need it
    from datasets.exceptions import DatasetNotFoundError

    source = f"{hub.id} ({f'{hub.subset}, ' if hub.subset else ''}split {hub.split})"
    try:
        dataset = datasets.load_dataset(hub.id, hub.subset, split=hub.split, revision=revision)
    except (DatasetNotFoundError, FileNotFoundError, ConnectionError) as exc:
        help_ = hub.access or "check the id and the network"
        raise DataError(
            f"{source}: cannot load it from the hub ({exc}); {help_}; or give `path:` a local "
            f"copy of {files}"
        ) from None
    return Table(source, "index", list(enumerate(dataset.to_list())))


class Sources:
    """The raw tables one benchmark entry reads: its main table (the entry's `path`, else the
    hub split) and named second parts (a second file, else a split of the same hub dataset)."""

    def __init__(
        self, entry: BenchmarkEntry, hub: Hub | None, base: Path | None, files: str
    ) -> None:
        self.entry = entry
        self.hub = hub
        self.base = base
        self.files = files

    def path(self, key: str = "path") -> Path | None:
        """The entry's file under `key` (resolved beside the config), or None."""
        value = getattr(self.entry, key)
        return None if value is None else resolve_path(value, self.base)

    def _hub(self, split: str | None = None) -> Hub:
        """The registry's hub copy with the entry's overrides (`hf`, `subset`, `split`)."""
        e, hub = self.entry, self.hub or Hub("", None, "")
        return Hub(
            e.hf or hub.id, e.subset or hub.subset, split or e.split or hub.split, hub.access
        )

    def table(self, part: str = "path") -> Table | None:
        """The main table (`path`, else the hub split), or a named second part: the entry's
        file under that key, else (for a hub entry) the hub split of that name; None for a
        local entry without that file."""
        path = self.path(part)
        if path is not None:
            return file_table(path)
        if part == "path":
            return hub_table(self._hub(), self.entry.revision, self.files)
        if self.entry.path is not None:
            return None
        return hub_table(self._hub(split=part), self.entry.revision, self.files)

    def json(self) -> tuple[str, Any]:
        """The main file parsed as one JSON document (a file that is not a list of rows)."""
        path = self.path()
        if path is None:
            raise DataError(f"benchmark {self.entry.name!r}: give `path:` {self.files}")
        return str(path), read_json(path)
