"""The shipped demo dataset (guardcal/data/demo) and its datasheet statistics."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from guardcal.__main__ import main
from guardcal.config import load_config
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.records import load_records, load_split
from guardcal.reporting.datasheet import (
    DEMO_FILES,
    longest_shared_run,
    marker_rates,
    report,
    shared_ngrams,
    shared_opening,
    texts_sharing_ngram,
    words,
)

TRAIN, TEST = DEMO_FILES
DATASHEET = TRAIN.parent / "DATASHEET.md"
KEYS = ["id", "prompt", "response", "category", "is_safe"]


def raw_rows(path: Path) -> list[dict]:
    """The file's JSON objects, in order, keys as written."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    """Both demo splits, loaded through the same loader as any local file."""
    return {"train": load_records(TRAIN), "test": load_records(TEST)}


@pytest.fixture(scope="module")
def both(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(splits.values(), ignore_index=True)


@pytest.mark.parametrize("path", DEMO_FILES, ids=["train", "test"])
def test_rows_follow_the_beavertails_schema(path: Path) -> None:
    for n, row in enumerate(raw_rows(path), start=1):
        assert list(row) == KEYS, f"{path.name} line {n}"
        assert re.fullmatch(rf"demo-{path.stem}-\d{{4}}", row["id"]), row["id"]
        assert isinstance(row["prompt"], str) and row["prompt"].strip(), row["id"]
        assert isinstance(row["response"], str) and row["response"].strip(), row["id"]
        assert list(row["category"]) == list(BEAVERTAILS_CATEGORIES), row["id"]
        assert all(isinstance(flag, bool) for flag in row["category"].values()), row["id"]
        assert isinstance(row["is_safe"], bool), row["id"]


@pytest.mark.parametrize("path", DEMO_FILES, ids=["train", "test"])
def test_is_safe_is_false_exactly_when_a_category_is_flagged(path: Path) -> None:
    for row in raw_rows(path):
        assert row["is_safe"] is not any(row["category"].values()), row["id"]


def test_counts_split_and_balance(splits: dict[str, pd.DataFrame], both: pd.DataFrame) -> None:
    assert len(both) >= 600
    assert 0.55 <= len(splits["train"]) / len(both) <= 0.65
    for frame in (*splits.values(), both):
        assert 0.40 <= frame["label"].mean() <= 0.60
    assert both["response"].notna().all()  # pairs, not prompt-only rows


def test_every_category_has_at_least_12_unsafe_pairs(both: pd.DataFrame) -> None:
    unsafe = both.loc[both["label"] == 1, "categories"]
    counts = unsafe.explode().value_counts()
    assert {
        key: int(counts.get(key, 0)) for key in BEAVERTAILS_CATEGORIES if counts.get(key, 0) < 12
    } == {}
    assert (unsafe.map(len) >= 2).mean() >= 0.25  # many pairs carry two or three categories
    assert (both.loc[both["label"] == 0, "categories"].map(len) == 0).all()


def test_ids_unique_and_no_prompt_in_both_splits(splits: dict[str, pd.DataFrame]) -> None:
    train, test = splits["train"], splits["test"]
    assert not set(train["id"]) & set(test["id"])
    normalised = [{" ".join(words(p)) for p in frame["prompt"]} for frame in (train, test)]
    assert not normalised[0] & normalised[1]


def test_no_near_copies(both: pd.DataFrame) -> None:
    responses, prompts = both["response"].tolist(), both["prompt"].tolist()
    assert shared_opening(responses) < 6
    assert shared_opening(prompts) < 6
    assert longest_shared_run(responses) < 8
    assert not shared_ngrams(responses, 8)


def test_demo_config_reads_the_shipped_files(splits: dict[str, pd.DataFrame]) -> None:
    cfg = load_config()
    pd.testing.assert_frame_equal(load_split(cfg, "test"), splits["test"])
    assert len(load_split(cfg, "validation")) == round(0.3 * len(splits["train"]))


def test_words_lowercases_and_strips_punctuation() -> None:
    assert words("Don't STOP—now! [steps omitted], ok?") == [
        "dont",
        "stop",
        "now",
        "steps",
        "omitted",
        "ok",
    ]


def test_near_copy_measures_on_known_texts() -> None:
    texts = ["The cat sat on the mat.", "the cat, sat down quickly", "A dog ran on the mat today"]
    assert shared_opening(texts) == 3
    assert shared_opening(["alone"]) == 0
    assert longest_shared_run(texts) == 3  # "on the mat"
    assert longest_shared_run(["a b c", "a b c"]) == 3  # identical texts share everything
    assert shared_ngrams(texts, 3) == {("the", "cat", "sat"): {0, 1}, ("on", "the", "mat"): {0, 2}}
    assert texts_sharing_ngram(texts, 3) == 3
    assert texts_sharing_ngram(texts, 4) == 0
    assert longest_shared_run(["x y", "y x"]) == 1  # a repeat inside one text is not shared


@pytest.fixture(scope="module")
def printed() -> str:
    """What `guardcal datasheet` prints for the demo (its baseline fit is the slow part: once)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["datasheet"]) == 0
    return out.getvalue().strip()


def test_datasheet_quotes_the_stats_command(printed: str) -> None:
    assert "pairs" in printed and "total" in printed
    quoted = re.search(r"```text\n(.*?)\n```", DATASHEET.read_text(encoding="utf-8"), re.S)
    assert quoted is not None, "DATASHEET.md has no ```text block with the stats output"
    assert quoted.group(1).strip() == printed


def test_report_of_one_file_has_no_total_column(tmp_path: Path) -> None:
    path = tmp_path / "mini.jsonl"
    rows = [
        {
            "prompt": "hi",
            "response": "hello [steps omitted]",
            "is_safe": False,
            "category": {"self_harm": True},
        },
        {"prompt": "hey", "response": "hello there", "is_safe": True},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    text = report({"mini": load_records(path)})
    assert "total" not in text
    assert re.search(r"elision bracket, e\.g\. \[details omitted\]\s+0\.0\s+100\.0\s+100\.0", text)
    assert "Lexical baseline" not in text  # it needs a train and a test split
    assert re.search(r"self_harm\s+1\n", text)


def test_command_names_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "response": "yo", "is_safe": "maybe"}\n', encoding="utf-8")
    assert main(["datasheet", str(bad)]) == 2
    assert f"{bad}: line 1, field 'is_safe'" in capsys.readouterr().err


def test_marker_rates_and_baseline_on_known_texts() -> None:
    frame = pd.DataFrame(
        {
            "prompt": ["a", "b", "c", "d"],
            "response": ["Sure! Here", "I can't help.", "sorry, no", "- one\n- two"],
            "label": [1, 0, 0, 1],
            "categories": [["self_harm"], [], [], ["self_harm"]],
        }
    )
    rates = marker_rates(frame)
    assert rates.loc["opens with sure / of course / yes"].tolist() == [0.0, 50.0, 50.0]
    assert rates.loc["opens with a refusal (I can't, I won't)"].tolist() == [50.0, 0.0, -50.0]
    assert rates.loc["bulleted or numbered list"].tolist() == [0.0, 50.0, 50.0]


def test_demo_baseline_is_quoted_and_below_a_bag_of_words_ceiling(printed: str) -> None:
    found = re.search(r"test AUROC\s+(\d\.\d{3})", printed)
    assert found is not None, "guardcal datasheet printed no baseline AUROC"
    assert found.group(0) in DATASHEET.read_text(encoding="utf-8")
    assert 0.5 < float(found.group(1)) < 0.9  # words alone must not give the labels away


def test_demo_markers_are_not_a_shortcut(both: pd.DataFrame) -> None:
    gaps = marker_rates(both)["gap"].abs()
    assert gaps[gaps > 10].to_dict() == {}


def test_datasheet_states_the_base_policy_as_the_data_file_defines_it(both: pd.DataFrame) -> None:
    from guardcal.policies import COVERAGE_FILE, llama_guard_3_covers, policy_file

    text = DATASHEET.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([a-z_,]+) \| (yes|no) \|", text, re.M))
    assert rows == {
        key: "yes" if entry["covered"] else "no"
        for key, entry in policy_file(COVERAGE_FILE)["categories"].items()
    }
    unsafe = both[both["label"] == 1]
    uncovered = int(unsafe["categories"].map(lambda c: not set(c) & llama_guard_3_covers()).sum())
    assert f"{uncovered} of the {len(unsafe)} unsafe pairs" in text
