"""Input records: load BeaverTails-schema (or mapped) data, validate every row, normalise it.

Every problem in the input is a `DataError` naming the file, the row (the 1-based line of a
.jsonl file, the 1-based data row of a .csv/.parquet file or hub split) and the field, raised
before any model is loaded. The normalised frame has the columns `id` (str), `prompt` (str),
`response` (str, or None for prompt classification), `label` (int, 1 = unsafe, 0 = safe; -1 for
content-free inputs) and `categories` (list of the flagged BeaverTails category keys); when some
row carries a conversation of several turns, also `messages` (its list of {role, content}, else
None), with `prompt` / `response` then its last user message and its last response.

Column rules: a file may only hold the columns named by the config's `columns` mapping
(BeaverTails by default: `id, prompt, response, is_safe, category`, and `messages` instead of
prompt and response for a conversation of several turns); any other column is an error,
since it almost always means a mapping mistake. `prompt` and the label are required in every row;
`response`, `category` and `id` are optional columns (a missing or blank response means prompt
classification; without an `id` column the ids are `<file stem>-<line or row>` for files and
`<hub split>-<index>` for hub datasets, whose rows are named by their 0-based `dataset[index]`).
In a .csv file the default boolean label is written True/False/true/false/1/0, and `category` is
a JSON object.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guardcal.config import SPLITS, Columns, Config, InputError, LabelValues, Source, resolve_path
from guardcal.policies import BEAVERTAILS_CATEGORIES

EVALUATED_SPLITS = ("validation", "test")
"""The splits with labels."""
LABELS = {"safe": 0, "unsafe": 1}
"""The normalised frame's label values."""
MIN_CLASS_ROWS = 10
"""Fewer validation rows of a class than this fit T and γ on too little: a loud warning."""
COLUMNS = ("id", "prompt", "response", "label", "categories")
BEAVERTAILS_COLUMNS = Columns()
BOOLEAN_LABELS = LabelValues()
CSV_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class DataError(InputError):
    """Bad input data; the message names the file, the row and the field."""


def _fail(source: str, where: str, field: str | None, message: str) -> DataError:
    """A DataError whose message reads `<file>: <line/row n>, field '<f>': <message>`."""
    return DataError(f"{source}: {where}{f', field {field!r}' if field else ''}: {message}")


def _is_blank(value: Any) -> bool:
    """True for a missing cell: None, or a string of whitespace only."""
    return value is None or (isinstance(value, str) and not value.strip())


def _read_bytes(path: Path) -> bytes:
    """The file's bytes (decompressed for a .gz file), or a DataError saying why it cannot be
    read."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix.lower() == ".gz" else data
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable gzip file: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: cannot read: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: cannot read: it is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a leading BOM is dropped); a bad byte is reported with its line number."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(source, f"line {line}", None, f"not UTF-8 text ({exc.reason})") from None


def _read_jsonl(path: Path, source: str) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line; a malformed line is named. Lines end at
    newlines only: splitlines() would also cut at U+2028, which JSON strings may hold unescaped."""
    text = _decode(_read_bytes(path), source)
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(
                source, f"line {number}", None, f"malformed JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(obj, dict):
            raise _fail(
                source, f"line {number}", None, f"expected a JSON object, got {type(obj).__name__}"
            )
        records.append((number, obj))
    return records


def _read_csv(path: Path, source: str) -> list[tuple[int, dict]]:
    """(data row number, row) with every cell as text (an empty cell is None); a row whose field
    count differs from the header's is an error (pandas would silently shift its columns)."""
    reader = csv.reader(io.StringIO(_decode(_read_bytes(path), source), newline=""), strict=True)
    records = []
    try:
        header = next(reader, [])
        for name in header:
            if header.count(name) > 1:
                raise _fail(source, "line 1 (header)", name, "column appears twice")
        for cells in reader:
            if not cells:
                continue
            number = len(records) + 1
            if len(cells) != len(header):
                raise _fail(
                    source,
                    f"row {number} (line {reader.line_num})",
                    None,
                    f"expected {len(header)} fields like the header, got {len(cells)}",
                )
            records.append((number, {k: v or None for k, v in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        raise _fail(source, f"line {reader.line_num}", None, f"malformed CSV: {exc}") from None
    return records


def _read_parquet(path: Path, source: str) -> list[tuple[int, dict]]:
    """(data row number, row) from a parquet file, with plain Python values."""
    _read_bytes(path)  # the same clear error as the other formats for a missing/unreadable file
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: not a readable parquet file: {exc}") from None
    return list(enumerate(table.to_pylist(), start=1))


def read_json(path: Path) -> Any:
    """The parsed JSON of a whole file; a malformed file is named with its line and column."""
    source = str(path)
    try:
        return json.loads(_decode(_read_bytes(path), source))
    except json.JSONDecodeError as exc:
        message = f"malformed JSON: {exc.msg} (column {exc.colno})"
        raise _fail(source, f"line {exc.lineno}", None, message) from None


def _read_json_list(path: Path, source: str) -> list[tuple[int, dict]]:
    """(record number, object) of a file holding one JSON list of objects."""
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{source}: expected a JSON list of objects")
    return list(enumerate(data, start=1))


@dataclass(frozen=True)
class FileType:
    """How one kind of local data file is read: its reader, what its row numbers count, and
    whether every cell is text (labels, category flags and messages are then parsed from it)."""

    read: Callable[[Path, str], list[tuple[int, dict]]]
    unit: str
    text_cells: bool = False


FILE_TYPES = {
    ".jsonl": FileType(_read_jsonl, "line"),
    ".jsonl.gz": FileType(_read_jsonl, "line"),
    ".json": FileType(_read_json_list, "record"),
    ".csv": FileType(_read_csv, "row", text_cells=True),
    ".parquet": FileType(_read_parquet, "row"),
}
"""The local data files guardcal reads, by how their names end: what public datasets ship."""
NATIVE_FILES = tuple(FILE_TYPES)
"""The file types `read_rows` reads."""
RECORD_FILES = (".jsonl", ".csv", ".parquet")
"""The file types a run's split may be (`load_records`)."""


def read_rows(path: Path) -> tuple[str, list[tuple[int, dict]]]:
    """A local data file's rows as (number, raw record), and the unit that numbers them (`line`
    of a .jsonl file, `record` of a .json list, `row` of a .csv or .parquet file), with no
    column rules: a CSV cell is text (None when empty), the other formats keep their types."""
    source = str(path)
    kind = next((k for k in FILE_TYPES if path.name.lower().endswith(k)), None)
    if kind is None:
        raise DataError(f"{source}: unsupported file type (supported: {list(NATIVE_FILES)})")
    return FILE_TYPES[kind].unit, FILE_TYPES[kind].read(path, source)


def _label(value: Any, label_values: LabelValues, from_text: bool) -> int | None:
    """1 (unsafe) or 0 (safe) for a raw label value, None when it is not a mapped value."""
    for wanted, out in ((label_values.unsafe, 1), (label_values.safe, 0)):
        for v in wanted:
            if from_text:
                hit = (
                    CSV_BOOLEANS.get(value.strip().lower()) is v
                    if isinstance(v, bool)
                    else value.strip() == str(v)
                )
            else:
                hit = isinstance(value, bool) == isinstance(v, bool) and value == v
            if hit:
                return out
    return None


def _categories(value: Any, from_text: bool, fail: Callable[[str], DataError]) -> list[str]:
    """The flagged keys of a `category` dict (a JSON object in CSV), in BeaverTails order."""
    if value is None:
        return []
    if from_text:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise fail(f"not a JSON object of category flags: {exc.msg}") from None
    if not isinstance(value, dict):
        raise fail(f"must be a mapping of category -> bool, got {type(value).__name__}")
    for key, flag in value.items():
        if key not in BEAVERTAILS_CATEGORIES:
            raise fail(f"unknown category {key!r} (known: {list(BEAVERTAILS_CATEGORIES)})")
        if flag is not None and not isinstance(flag, bool):
            raise fail(f"category {key!r} must be true or false, got {flag!r}")
    return [key for key in BEAVERTAILS_CATEGORIES if value.get(key)]


def _messages(
    value: Any, from_text: bool, fail: Callable[[str], DataError]
) -> list[dict[str, str]] | None:
    """A record's conversation: a list of {role: user|assistant, content: text} (JSON text in a
    .csv file), or None when the record has none. Turn order is the guard format's rule."""
    if value is None or (from_text and _is_blank(value)):
        return None
    if from_text:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise fail(f"must be a JSON list of messages: {exc}") from None
    if isinstance(value, np.ndarray):  # a parquet list column
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise fail(f"must be a non-empty list of {{role, content}} messages, got {value!r}")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise fail(f"message {i} must be {{role, content}}, got {message!r}")
        if message["role"] not in ("user", "assistant"):
            raise fail(f"message {i} has role {message['role']!r} (user or assistant)")
        if not isinstance(message["content"], str):
            raise fail(f"message {i} content must be text, got {message['content']!r}")
        out.append({"role": message["role"], "content": message["content"]})
    return out


@dataclass(frozen=True)
class Schema:
    """How the rows of one source are read and named in errors: the source (a file, or a hub
    id and split), what its row numbers count (`line`, `row` or `index`), the prefix of ids
    made from row numbers, the column mapping and label values, whether every cell is text
    (CSV) and whether a row must carry a label (not so for new traffic to score: label -1)."""

    source: str
    unit: str
    id_prefix: str
    columns: Columns = BEAVERTAILS_COLUMNS
    label_values: LabelValues = BOOLEAN_LABELS
    from_text: bool = False
    require_label: bool = True

    @cached_property
    def allowed(self) -> set[str]:
        """The columns a row may hold: the mapped names."""
        return set(astuple(self.columns))

    def fail(self, number: int, field: str | None, message: str) -> DataError:
        """A DataError naming this source, row `number` and `field`."""
        return _fail(self.source, f"{self.unit} {number}", field, message)

    def expected_labels(self) -> str:
        """The label values this schema accepts, as an error states them."""
        if self.label_values == BOOLEAN_LABELS:
            return "a boolean (true/false)"
        values = self.label_values
        return f"one of safe {list(values.safe)} / unsafe {list(values.unsafe)}"


@dataclass(frozen=True)
class Row:
    """One normalised record: a row of the normalised frame."""

    id: str
    prompt: str
    response: str | None
    label: int
    categories: list[str]
    messages: list[dict[str, str]] | None = None


def _row(schema: Schema, number: int, record: dict, ids: dict[str, int] | None) -> Row:
    """Validate record `number` and normalise it. `ids` maps the ids of the rows before to
    their numbers when the source has an id column, and gains this row's; None makes the id
    from the row number."""
    c = schema.columns
    unknown = sorted(set(record) - schema.allowed)
    if unknown:
        raise schema.fail(
            number,
            unknown[0],
            f"unknown column (allowed: {sorted(schema.allowed)}; map other names under "
            "dataset.columns in the config)",
        )
    messages = _messages(
        record.get(c.messages), schema.from_text, partial(schema.fail, number, c.messages)
    )
    if messages and messages[-1]["role"] == "assistant" and _is_blank(messages[-1]["content"]):
        messages = messages[:-1]  # a blank last answer is no answer, as a blank response is
    if messages is not None:
        if not _is_blank(record.get(c.prompt)) or not _is_blank(record.get(c.response)):
            raise schema.fail(
                number, c.messages, "give either messages or prompt/response, not both"
            )
        last_user = [m["content"] for m in messages if m["role"] == "user"]
        record = {**record, c.prompt: last_user[-1] if last_user else None}
        if messages[-1]["role"] == "assistant":
            record[c.response] = messages[-1]["content"]
    prompt = record.get(c.prompt)
    if _is_blank(prompt):
        raise schema.fail(number, c.prompt, "missing or empty prompt")
    if not isinstance(prompt, str):
        raise schema.fail(number, c.prompt, f"must be text, got {prompt!r}")
    response = record.get(c.response)
    if not isinstance(response, str | None):
        raise schema.fail(number, c.response, f"must be text, got {response!r}")
    raw_label = record.get(c.label)
    if raw_label is None and schema.require_label:
        raise schema.fail(number, c.label, "missing label")
    label = -1 if raw_label is None else _label(raw_label, schema.label_values, schema.from_text)
    if label is None:
        raise schema.fail(
            number,
            c.label,
            f"label {raw_label!r} is not {schema.expected_labels()} (map other values under "
            "dataset.label_values in the config)",
        )
    if ids is None:
        rid = f"{schema.id_prefix}-{number}"
    else:
        rid = record.get(c.id)
        if _is_blank(rid) or not isinstance(rid, str | int) or isinstance(rid, bool):
            raise schema.fail(number, c.id, f"missing or invalid id {rid!r}")
        rid = str(rid)
        if rid in ids:
            raise schema.fail(
                number, c.id, f"duplicate id {rid!r} (also at {schema.unit} {ids[rid]})"
            )
        ids[rid] = number
    bad_category = partial(schema.fail, number, c.category)
    flags = _categories(record.get(c.category), schema.from_text, bad_category)
    if flags and label == 0:
        raise bad_category(f"flags {flags} as harmful but the label {raw_label!r} says safe")
    response = None if _is_blank(response) else response
    return Row(rid, prompt, response, label, flags, messages)


def _normalise(records: list[tuple[int, dict]], schema: Schema) -> pd.DataFrame:
    """Validate every (row number, record) of a source and build the normalised frame."""
    if not records:
        raise DataError(f"{schema.source}: empty file: no records")
    ids: dict[str, int] | None = {} if any(schema.columns.id in r for _, r in records) else None
    return _frame([_row(schema, number, record, ids) for number, record in records])


def _frame(rows: list[Row]) -> pd.DataFrame:
    """The normalised frame, with object text columns so a missing response stays None; the
    `messages` column only when some row is a conversation."""
    frame = pd.DataFrame(
        {
            "id": pd.Series([r.id for r in rows], dtype=object),
            "prompt": pd.Series([r.prompt for r in rows], dtype=object),
            "response": pd.Series([r.response for r in rows], dtype=object),
            "label": pd.Series([r.label for r in rows], dtype="int64"),
            "categories": pd.Series([r.categories for r in rows], dtype=object),
        },
        columns=list(COLUMNS),
    )
    if any(r.messages is not None for r in rows):
        frame["messages"] = pd.Series([r.messages for r in rows], dtype=object)
    return frame


def load_records(
    path: str | Path,
    columns: Columns = BEAVERTAILS_COLUMNS,
    label_values: LabelValues = BOOLEAN_LABELS,
    require_label: bool = True,
) -> pd.DataFrame:
    """Read and validate a local .jsonl/.csv/.parquet file into the normalised frame (with
    `require_label=False`, unlabelled rows get label -1)."""
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in RECORD_FILES:
        raise DataError(
            f"{source}: unsupported file type {suffix!r} (supported: {list(RECORD_FILES)})"
        )
    kind = FILE_TYPES[suffix]
    schema = Schema(
        source, kind.unit, path.stem, columns, label_values, kind.text_cells, require_label
    )
    return _normalise(kind.read(path, source), schema)


def _load_hub(src: Source, columns: Columns, label_values: LabelValues) -> pd.DataFrame:
    """Load a hub dataset split through `datasets` and validate it like a file; rows are named
    by their 0-based index (`dataset[index]`), and so are the ids when there is no id column."""
    import datasets  # slow to import; only hub sources need it

    dataset = datasets.load_dataset(src.hf, split=src.split, revision=src.revision)
    records = list(enumerate(dataset.to_list()))  # plain Python values, a missing cell is None
    schema = Schema(f"{src.hf} (split {src.split})", "index", str(src.split), columns, label_values)
    return _normalise(records, schema)


def split_fraction(
    df: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's split, by the library that made it: the `test` part of
    `datasets.Dataset.train_test_split(test_size=fraction, seed=seed)` over the rows (ceil(
    fraction·N) rows, in that function's order), and the `train` part (the rest; the fine-tuned
    guard is fitted on it)."""
    if fraction == 1:
        return df.reset_index(drop=True), df.iloc[:0].reset_index(drop=True)
    import datasets  # slow to import; only split sources need it

    rows = datasets.Dataset.from_dict({"row": np.arange(len(df))})
    parts = rows.train_test_split(test_size=fraction, seed=seed)
    return (
        df.iloc[list(parts["test"]["row"])].reset_index(drop=True),
        df.iloc[list(parts["train"]["row"])].reset_index(drop=True),
    )


def content_free_frame(texts: Iterable[str]) -> pd.DataFrame:
    """Content-free inputs for contextual calibration: prompt = response = text, label -1."""
    return _frame([Row(f"content_free-{i}", t, t, -1, []) for i, t in enumerate(texts)])


def split_source(cfg: Config, split: str) -> str:
    """Where a split's rows come from, as errors name it: the file, or the hub id and split."""
    if split == "content_free":
        return f"{cfg.source_file}: content_free"
    if split not in SPLITS:
        return f"benchmark {split}"
    src: Source = getattr(cfg.dataset, split)
    if src.path is not None:
        return str(
            resolve_path(src.path, Path(cfg.source_file).parent if cfg.source_file else None)
        )
    if src.benchmark is not None:
        if src.fraction is None:
            return f"benchmark {src.benchmark}"
        share = f"a seeded {src.fraction:.0%} share (seed {src.seed})"
        return f"benchmark {src.benchmark} ({'the rest after ' if src.complement else ''}{share})"
    return f"{src.hf} (split {src.split})"


def check_validation(cfg: Config, frame: pd.DataFrame) -> None:
    """The validation split must hold both classes: temperature and γ are fitted on it, and its
    AUPRC is undefined without unsafe rows. A DataError otherwise, before any model loads."""
    counts = {name: int((frame["label"] == value).sum()) for name, value in LABELS.items()}
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise DataError(
            f"{split_source(cfg, 'validation')}: the validation split has no {missing[0]} rows "
            f"({counts['safe']} safe, {counts['unsafe']} unsafe): the calibrators cannot be fitted "
            "on one class; use more or other rows (dataset.limit, dataset.validation.fraction)"
        )


def load_split(cfg: Config, split: str) -> pd.DataFrame:
    """The normalised frame of one split of a run: its source, seeded fraction and row limit."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if split == "content_free":
        return content_free_frame(cfg.content_free)
    src: Source = getattr(cfg.dataset, split)
    columns, label_values = cfg.dataset.columns, cfg.dataset.label_values
    source = split_source(cfg, split)
    if src.path is not None:
        frame = load_records(source, columns, label_values)
    else:
        frame = _load_hub(src, columns, label_values)
    if src.fraction is not None:
        frame = split_fraction(frame, src.fraction, src.seed)[0]
        if frame.empty:
            raise DataError(f"{source}: fraction {src.fraction} of the rows selects no rows")
    if cfg.dataset.limit is not None:
        frame = frame.head(cfg.dataset.limit).reset_index(drop=True)
    return frame


def dataset_fingerprint(df: pd.DataFrame) -> str:
    """sha256 over (id, prompt, response, label[, messages]) of every row in order: a
    platform-stable key."""
    digest = hashlib.sha256()
    columns = [
        df["id"].tolist(),
        df["prompt"].tolist(),
        df["response"].tolist(),
        df["label"].astype("int64").tolist(),
    ]
    if "messages" in df:
        columns.append(df["messages"].tolist())
    for row in zip(*columns, strict=True):
        digest.update(json.dumps(list(row), ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()
