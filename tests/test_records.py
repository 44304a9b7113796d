"""Loading, validating and splitting input records (guardcal.records)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guardcal.config import Columns, LabelValues, load_config
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.records import (
    DataError,
    dataset_fingerprint,
    load_records,
    load_split,
    split_fraction,
)


def flags(*on: str) -> dict[str, bool]:
    """A full BeaverTails `category` dict with the given keys flagged."""
    return {key: key in on for key in BEAVERTAILS_CATEGORIES}


THEFT = "financial_crime,property_crime,theft"
VIOLENCE = "violence,aiding_and_abetting,incitement"
ROWS = [
    {
        "id": "r1",
        "prompt": "How do I bake bread?",
        "response": "Mix flour, water, salt and yeast.",
        "is_safe": True,
        "category": flags(),
    },
    {
        "id": "r2",
        "prompt": "How can I take my neighbour's car without the keys?",
        "response": 'Pop the steering column, then "hotwire" it:\nred to brown.',
        "is_safe": False,
        "category": flags(VIOLENCE, THEFT),
    },
    {
        "id": "r3",
        "prompt": "Café crème — ☕,\u2028s'il vous plaît\r",
        "response": "Voilà.",
        "is_safe": True,
        "category": flags(),
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """One JSON object per line."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    """A CSV with `category` as a JSON object (CSV cannot hold a mapping)."""
    frame = pd.DataFrame(
        [{**r, "category": json.dumps(r["category"])} if "category" in r else r for r in rows]
    )
    frame.to_csv(path, index=False)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    """A parquet file; `category` becomes a struct column as in the hub dataset."""
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}


def expect_error(path: Path, *parts: str, **kwargs) -> str:
    """Load `path`, expect a DataError naming the file and every one of `parts`."""
    with pytest.raises(DataError) as info:
        load_records(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", WRITERS)
def test_beavertails_schema_loads_without_mapping(tmp_path: Path, fmt: str) -> None:
    df = load_records(WRITERS[fmt](tmp_path / f"data.{fmt}", ROWS))
    assert list(df.columns) == ["id", "prompt", "response", "label", "categories"]
    assert df["id"].tolist() == ["r1", "r2", "r3"]
    assert df["prompt"].tolist() == [r["prompt"] for r in ROWS]
    assert df["response"].tolist() == [r["response"] for r in ROWS]
    assert df["label"].tolist() == [0, 1, 0]
    assert df["label"].dtype == "int64"
    assert df["categories"].tolist() == [[], [VIOLENCE, THEFT], []]  # the study's S1, S2


def test_three_formats_give_the_same_frame(tmp_path: Path) -> None:
    frames = [load_records(w(tmp_path / f"data.{fmt}", ROWS)) for fmt, w in WRITERS.items()]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    assert len({dataset_fingerprint(f) for f in frames}) == 1


@pytest.mark.parametrize(("safe", "unsafe"), [("True", "False"), ("true", "false"), ("1", "0")])
def test_csv_boolean_spellings(tmp_path: Path, safe: str, unsafe: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"prompt,is_safe\nhello,{safe}\nbye,{unsafe}\n", "utf-8")
    assert load_records(path)["label"].tolist() == [0, 1]


def test_csv_row_numbers_count_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('prompt,response,is_safe\nhi,"two\nlines",True\n,x,False\n', "utf-8")
    expect_error(path, "row 2", "'prompt'")


def test_mapped_columns_and_string_labels(tmp_path: Path) -> None:
    columns = Columns(id="uid", prompt="question", response="answer", label="verdict")
    labels = LabelValues(safe=("ok",), unsafe=("harmful", "very harmful"))
    rows = [
        {"uid": 7, "question": "q1", "answer": "a1", "verdict": "ok"},
        {"uid": 8, "question": "q2", "answer": "a2", "verdict": "very harmful"},
        {"uid": 9, "question": "q3", "verdict": "harmful", "category": {"self_harm": True}},
    ]
    df = load_records(write_jsonl(tmp_path / "m.jsonl", rows), columns, labels)
    assert df["id"].tolist() == ["7", "8", "9"]
    assert df["prompt"].tolist() == ["q1", "q2", "q3"]
    assert df["response"].tolist() == ["a1", "a2", None]
    assert df["label"].tolist() == [0, 1, 1]
    assert df["categories"].tolist() == [[], [], ["self_harm"]]
    csv = write_csv(
        tmp_path / "m.csv", [{k: v for k, v in r.items() if k != "category"} for r in rows]
    )
    assert load_records(csv, columns, labels)["label"].tolist() == [0, 1, 1]


def test_mapped_integer_labels_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,y\na,0\nb,1\n", "utf-8")
    df = load_records(path, Columns(prompt="text", label="y"), LabelValues(safe=(0,), unsafe=(1,)))
    assert df["label"].tolist() == [0, 1]


@pytest.mark.parametrize("fmt", WRITERS)
def test_prompt_only_file(tmp_path: Path, fmt: str) -> None:
    rows = [{"prompt": "p1", "is_safe": True}, {"prompt": "p2", "is_safe": False}]
    df = load_records(WRITERS[fmt](tmp_path / f"prompts.{fmt}", rows))
    assert df["response"].tolist() == [None, None]
    assert df["id"].tolist() == ["prompts-1", "prompts-2"]
    assert df["categories"].tolist() == [[], []]


def test_blank_response_cell_means_prompt_classification(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("prompt,response,is_safe\na,,True\nb,  ,False\nc,r,True\n", "utf-8")
    assert load_records(path)["response"].tolist() == [None, None, "r"]
    rows = [
        {"prompt": "a", "response": "", "is_safe": True},
        {"prompt": "b", "response": None, "is_safe": True},
    ]
    assert load_records(write_jsonl(tmp_path / "d.jsonl", rows))["response"].tolist() == [None] * 2


def test_generated_ids_are_jsonl_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt": "a", "is_safe": true}\n\n{"prompt": "b", "is_safe": true}\n')
    assert load_records(path)["id"].tolist() == ["x-1", "x-3"]


# --- every failure names file, row and field -----------------------------------------------------


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_empty_prompt_jsonl(tmp_path: Path, prompt: str | None) -> None:
    rows = [ROWS[0], {**ROWS[1], "prompt": prompt}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'prompt'", "empty prompt")


def test_missing_prompt_key(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[1], {"id": "x", "is_safe": True}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 3", "'prompt'")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_empty_prompt_tabular(tmp_path: Path, fmt: str) -> None:
    rows = [{**r, "prompt": "" if i == 2 else r["prompt"]} for i, r in enumerate(ROWS)]
    expect_error(WRITERS[fmt](tmp_path / f"d.{fmt}", rows), "row 3", "'prompt'", "empty prompt")


def test_non_text_prompt(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "prompt": 42}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 1", "'prompt'", "text")


def test_non_text_response(tmp_path: Path) -> None:
    rows = [ROWS[0], {**ROWS[1], "response": ["a"]}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'response'", "text")


@pytest.mark.parametrize("value", ["yes", 1, 0, "True", 0.5])
def test_non_boolean_label_jsonl(tmp_path: Path, value: object) -> None:
    rows = [ROWS[0], {**ROWS[1], "is_safe": value}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'is_safe'", "boolean")


@pytest.mark.parametrize("value", ["maybe", "yes", "2", "T"])
def test_non_boolean_label_csv(tmp_path: Path, value: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"prompt,is_safe\na,True\nb,{value}\n", "utf-8")
    expect_error(path, "row 2", "'is_safe'", "boolean")


def test_non_boolean_label_parquet(tmp_path: Path) -> None:
    rows = [{"prompt": "a", "is_safe": 1}, {"prompt": "b", "is_safe": 2}]
    expect_error(write_parquet(tmp_path / "d.parquet", rows), "row 1", "'is_safe'", "boolean")


def test_label_not_in_mapped_values(tmp_path: Path) -> None:
    rows = [{"prompt": "a", "label": "ok"}, {"prompt": "b", "label": "unsure"}]
    expect_error(
        write_jsonl(tmp_path / "d.jsonl", rows),
        "line 2",
        "'label'",
        "'unsure'",
        "['ok']",
        columns=Columns(label="label"),
        label_values=LabelValues(safe=("ok",), unsafe=("bad",)),
    )


def test_missing_label_jsonl(tmp_path: Path) -> None:
    rows = [ROWS[0], {"prompt": "no label here"}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'is_safe'", "missing label")


def test_missing_label_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("prompt,is_safe\na,True\nb,\n", "utf-8")
    expect_error(path, "row 2", "'is_safe'", "missing label")


@pytest.mark.parametrize("fmt", WRITERS)
def test_duplicate_ids_name_both_rows(tmp_path: Path, fmt: str) -> None:
    rows = [ROWS[0], ROWS[1], {**ROWS[2], "id": "r1"}]
    unit = "line" if fmt == "jsonl" else "row"
    message = expect_error(WRITERS[fmt](tmp_path / f"d.{fmt}", rows), "'id'", "'r1'")
    assert f"{unit} 3" in message and f"{unit} 1" in message


def test_missing_id_in_a_file_with_ids(tmp_path: Path) -> None:
    rows = [ROWS[0], {k: v for k, v in ROWS[1].items() if k != "id"}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'id'")


@pytest.mark.parametrize(
    ("name", "content"),
    [("d.jsonl", ""), ("d.jsonl", "\n  \n"), ("d.csv", ""), ("d.csv", "prompt,is_safe\n")],
)
def test_empty_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    expect_error(path, "empty")


def test_empty_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    schema = pa.schema([("prompt", pa.string()), ("is_safe", pa.bool_())])
    pq.write_table(schema.empty_table(), path)
    expect_error(path, "empty")


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_missing_file(tmp_path: Path, ext: str) -> None:
    expect_error(tmp_path / f"absent.{ext}", "no such file")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.jsonl"
    path.mkdir()
    expect_error(path, "directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    path.chmod(0)
    expect_error(path, "cannot read", "ermission")


@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_non_utf8_bytes_name_the_line(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"d.{ext}"
    head = b"prompt,is_safe\na,True\n" if ext == "csv" else b'{"prompt": "a", "is_safe": true}\n'
    bad = b"caf\xe9,True\n" if ext == "csv" else b'{"prompt": "caf\xe9", "is_safe": true}\n'
    path.write_bytes(head + bad)
    expect_error(path, "line 3" if ext == "csv" else "line 2", "UTF-8")  # CSV line 1 is the header


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("prompt,is_safe\na,True,extra\n", ("row 1 (line 2)", "expected 2 fields")),
        ("prompt,is_safe\na,True\nb\n", ("row 2 (line 3)", "got 1")),
        ('prompt,response,is_safe\n"two\nlines",r,True\nb,False\n', ("row 2 (line 4)",)),
        ("prompt,prompt,is_safe\na,b,True\n", ("line 1 (header)", "'prompt'", "twice")),
        ('prompt,is_safe\n"unterminated,True\n', ("line", "malformed CSV")),
    ],
)
def test_malformed_csv(tmp_path: Path, content: str, parts: tuple[str, ...]) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content, "utf-8")
    expect_error(path, *parts)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"this is not parquet at all")
    expect_error(path, "parquet")


@pytest.mark.parametrize("fmt", WRITERS)
def test_unknown_column(tmp_path: Path, fmt: str) -> None:
    rows = [{**r, "label": 1} for r in ROWS]
    unit = "line" if fmt == "jsonl" else "row"
    expect_error(
        WRITERS[fmt](tmp_path / f"d.{fmt}", rows), f"{unit} 1", "'label'", "unknown column"
    )


def test_unknown_column_on_a_later_jsonl_line(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[1], {**ROWS[2], "respone": "typo"}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 3", "'respone'", "unknown column")


def test_beavertails_name_is_unknown_when_mapped_away(tmp_path: Path) -> None:
    rows = [{"question": "q", "prompt": "p", "is_safe": True}]
    expect_error(
        write_jsonl(tmp_path / "d.jsonl", rows),
        "line 1",
        "'prompt'",
        "unknown column",
        columns=Columns(prompt="question"),
    )


@pytest.mark.parametrize("line", ['{"prompt": "a", "is_safe": tru}', '{"prompt": "a"', "nonsense"])
def test_malformed_json_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n" + json.dumps(ROWS[1]) + "\n")
    expect_error(path, "line 2", "malformed JSON")


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + '["a", true]\n')
    expect_error(path, "line 2", "JSON object")


@pytest.mark.parametrize("name", ["d.json", "d.txt", "d.tsv", "noext"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    expect_error(path, "unsupported file type", ".jsonl")


@pytest.mark.parametrize(
    ("category", "says"),
    [
        (["animal_abuse"], "mapping"),
        ("animal_abuse", "mapping"),
        ({"animal_abuse": True, "tax_evasion": True}, "'tax_evasion'"),
        ({"animal_abuse": "yes"}, "true or false"),
        ({"animal_abuse": 1}, "true or false"),
    ],
)
def test_bad_category(tmp_path: Path, category: object, says: str) -> None:
    rows = [ROWS[0], {**ROWS[1], "category": category}]
    expect_error(write_jsonl(tmp_path / "d.jsonl", rows), "line 2", "'category'", says)


def test_bad_category_json_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('prompt,is_safe,category\na,True,{}\nb,False,"{animal_abuse: true}"\n')
    expect_error(path, "row 2", "'category'", "JSON object")


def test_partial_category_dict_flags_only_true_keys(tmp_path: Path) -> None:
    rows = [
        {"prompt": "p", "is_safe": False, "category": {"self_harm": True, "child_abuse": False}}
    ]
    assert load_records(write_jsonl(tmp_path / "d.jsonl", rows))["categories"][0] == ["self_harm"]


# --- splits --------------------------------------------------------------------------------------


def frame(n: int) -> pd.DataFrame:
    """A normalised-looking frame of n rows."""
    return pd.DataFrame({"id": [f"i{k}" for k in range(n)], "label": [k % 2 for k in range(n)]})


def test_split_fraction_is_deterministic_and_disjoint() -> None:
    df = frame(101)
    chosen, rest = split_fraction(df, 0.3, 42)
    again, _ = split_fraction(df, 0.3, 42)
    other, _ = split_fraction(df, 0.3, 7)
    assert len(chosen) == 31 and len(rest) == 101 - len(chosen)  # ceil(0.3 · 101), as datasets
    assert chosen["id"].tolist() == again["id"].tolist()
    assert chosen["id"].tolist() != other["id"].tolist()
    assert not set(chosen["id"]) & set(rest["id"])
    assert sorted(chosen["id"].tolist() + rest["id"].tolist()) == sorted(df["id"])
    assert list(chosen.index) == list(range(len(chosen)))


def test_split_fraction_one_keeps_everything() -> None:
    chosen, rest = split_fraction(frame(9), 1.0, 0)
    assert chosen["id"].tolist() == frame(9)["id"].tolist() and rest.empty


def write_config(tmp_path: Path, dataset: str, extra: str = "") -> Path:
    """A real YAML config beside the data files."""
    path = tmp_path / "run.yaml"
    path.write_text(
        "name: t\n"
        f"dataset:\n{dataset}"
        "models:\n  - name: m\n    model: embedded:smollm2-135m\n"
        f"{extra}",
        "utf-8",
    )
    return path


def many_rows(n: int) -> list[dict]:
    """n BeaverTails-schema rows without ids."""
    return [
        {"prompt": f"p{k}", "response": f"r{k}", "is_safe": k % 3 != 0, "category": flags()}
        for k in range(n)
    ]


def test_load_split_local_files_fraction_and_limit(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", many_rows(40))
    write_csv(tmp_path / "test.csv", many_rows(12))
    dataset = (
        "  validation:\n    path: train.jsonl\n    fraction: 0.25\n    seed: 3\n  test: test.csv\n"
    )
    cfg = load_config(write_config(tmp_path, dataset))
    val = load_split(cfg, "validation")
    expected, rest = split_fraction(load_records(tmp_path / "train.jsonl"), 0.25, 3)
    pd.testing.assert_frame_equal(val, expected)
    assert len(val) == 10 and not set(val["id"]) & set(rest["id"])
    assert load_split(cfg, "test")["id"].tolist() == [f"test-{k}" for k in range(1, 13)]

    limited = load_config(write_config(tmp_path, dataset + "  limit: 4\n"))
    pd.testing.assert_frame_equal(load_split(limited, "validation"), expected.head(4))
    assert len(load_split(limited, "test")) == 4
    assert dataset_fingerprint(load_split(limited, "validation")) == dataset_fingerprint(
        expected.head(4)
    )


def test_load_split_applies_the_config_mapping(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "v.jsonl", [{"q": "a", "y": "bad"}, {"q": "b", "y": "fine"}])
    dataset = (
        "  validation: v.jsonl\n  test: v.jsonl\n"
        "  columns: {prompt: q, label: y}\n  label_values: {safe: [fine], unsafe: [bad]}\n"
    )
    df = load_split(load_config(write_config(tmp_path, dataset)), "test")
    assert df["label"].tolist() == [1, 0]


def test_load_split_reports_bad_data_with_the_resolved_path(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "v.jsonl", [{"prompt": "a", "is_safe": "nope"}])
    cfg = load_config(write_config(tmp_path, "  validation: v.jsonl\n  test: v.jsonl\n"))
    with pytest.raises(DataError, match=r"v\.jsonl: line 1, field 'is_safe'"):
        load_split(cfg, "validation")


def test_content_free_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "v.jsonl", ROWS)
    cfg = load_config(
        write_config(
            tmp_path,
            "  validation: v.jsonl\n  test: v.jsonl\n  limit: 1\n",
            'content_free: [" ", "N/A", ""]\n',
        )
    )
    df = load_split(cfg, "content_free")
    assert df["id"].tolist() == ["content_free-0", "content_free-1", "content_free-2"]
    assert df["prompt"].tolist() == [" ", "N/A", ""]
    assert df["response"].tolist() == [" ", "N/A", ""]
    assert df["label"].tolist() == [-1, -1, -1]
    assert df["categories"].tolist() == [[], [], []]


def test_unknown_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "v.jsonl", ROWS)
    cfg = load_config(write_config(tmp_path, "  validation: v.jsonl\n  test: v.jsonl\n"))
    with pytest.raises(ValueError, match="train"):
        load_split(cfg, "train")


def test_load_split_from_a_datasets_repository(tmp_path: Path, monkeypatch) -> None:
    """`hf:` goes through datasets.load_dataset; a local dataset folder stands in for the hub."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    rows = many_rows(30)
    rows[4] = {**rows[4], "is_safe": False, "category": flags("self_harm")}
    write_parquet(repo / "train.parquet", rows)
    dataset = (
        f"  validation:\n    hf: {repo}\n    split: train\n    fraction: 0.2\n    seed: 42\n"
        f"  test:\n    hf: {repo}\n    split: train\n"
    )
    cfg = load_config(write_config(tmp_path, dataset))
    test = load_split(cfg, "test")
    assert test["id"].tolist() == [f"train-{k}" for k in range(30)]
    assert test["prompt"].tolist() == [f"p{k}" for k in range(30)]
    assert test["categories"][4] == ["self_harm"] and test["label"][4] == 1
    val = load_split(cfg, "validation")
    pd.testing.assert_frame_equal(val, split_fraction(test, 0.2, 42)[0])
    assert len(val) == 6


def test_hub_errors_name_the_dataset_split_and_index(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    write_parquet(
        repo / "train.parquet", [{"prompt": "a", "is_safe": True}, {"prompt": "", "is_safe": True}]
    )
    cfg = load_config(
        write_config(tmp_path, f"  validation:\n    hf: {repo}\n    split: train\n  test: x.csv\n")
    )
    with pytest.raises(DataError, match=r"repo \(split train\): index 1, field 'prompt'"):
        load_split(cfg, "validation")


# --- fingerprint ---------------------------------------------------------------------------------


def test_fingerprint_tracks_content_and_order(tmp_path: Path) -> None:
    df = load_records(write_jsonl(tmp_path / "d.jsonl", ROWS))
    base = dataset_fingerprint(df)
    assert base == dataset_fingerprint(df.copy())
    assert len(base) == 64 and int(base, 16) >= 0
    flipped = df.copy()
    flipped.loc[0, "label"] = 1
    no_response = df.copy()
    no_response.loc[0, "response"] = None
    renamed = df.copy()
    renamed.loc[2, "id"] = "r9"
    changed = [flipped, no_response, renamed, df.iloc[::-1].reset_index(drop=True), df.head(2)]
    assert len({base, *map(dataset_fingerprint, changed)}) == 1 + len(changed)


def test_fingerprint_ignores_categories(tmp_path: Path) -> None:
    df = load_records(write_jsonl(tmp_path / "d.jsonl", ROWS))
    other = df.copy()
    other["categories"] = [["self_harm"]] * len(df)
    assert dataset_fingerprint(df) == dataset_fingerprint(other)
