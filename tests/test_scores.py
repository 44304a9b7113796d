"""The scores files: metadata, atomic writes, shards that resume and assemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from guardcal import scores
from guardcal.atomic import atomic_write

FINGERPRINT = {"model": "m", "revision": "r", "dataset_fingerprint": "abc", "split": "test"}


def scores_frame(ids: list[str], offset: float = 0.0) -> pd.DataFrame:
    """A small scores frame."""
    n = len(ids)
    return pd.DataFrame(
        {
            "id": ids,
            "label": np.arange(n) % 2,
            "logit_safe": np.linspace(0, 1, n) + offset,
            "logit_unsafe": np.linspace(1, 0, n),
            "label_mass": np.full(n, 0.5),
        }
    )


def test_write_table_round_trips_rows_and_metadata(tmp_path):
    path = tmp_path / "s" / "test.parquet"
    frame = scores_frame(["a", "b", "c"])
    scores.write_table(frame, path, FINGERPRINT)
    assert scores.read_meta(path) == FINGERPRINT
    assert scores.is_current(path, FINGERPRINT)
    assert not scores.is_current(path, {**FINGERPRINT, "revision": "other"})
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    schema = pq.read_schema(path)
    assert [schema.field(c).type for c in scores.COLUMNS] == [f.type for f in scores.SCHEMA]
    assert sorted(p.name for p in path.parent.iterdir()) == ["test.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "test.parquet"
    scores.write_table(scores_frame(["a"]), path, FINGERPRINT)

    def broken(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert scores.read_meta(path) == FINGERPRINT
    assert [p.name for p in tmp_path.iterdir()] == ["test.parquet"]


def test_read_meta_of_missing_or_foreign_files(tmp_path):
    assert scores.read_meta(tmp_path / "none.parquet") is None
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    assert scores.read_meta(junk) is None
    plain = tmp_path / "plain.parquet"
    scores_frame(["a"]).to_parquet(plain)
    assert scores.read_meta(plain) is None


def test_stale_shards_are_discarded_and_matching_ones_kept(make_config):
    cfg = make_config()
    name, split = "m", "test"
    scores.write_shard(cfg, name, split, scores_frame(["a", "b"]), FINGERPRINT, 0, 3, 2)
    stale = {**FINGERPRINT, "dataset_fingerprint": "changed"}
    scores.write_shard(cfg, name, split, scores_frame(["c", "d"]), stale, 1, 3, 2)
    # a shard of another layout (shard size) is stale too
    scores.write_shard(cfg, name, split, scores_frame(["e"]), FINGERPRINT, 2, 3, 1)
    folder = cfg.layout.shards(name, split)
    (folder / "notes.txt").write_text("stray")
    assert scores.finished_shards(cfg, name, split, FINGERPRINT, 3, 2) == {0}
    assert sorted(p.name for p in folder.iterdir()) == ["00000-of-00003.parquet"]


def test_assemble_waits_for_every_shard_then_joins_them_in_order(make_config):
    cfg = make_config()
    name, split = "m", "validation"
    scores.write_shard(cfg, name, split, scores_frame(["c"], 1.0), FINGERPRINT, 1, 2, 2)
    assert not scores.assemble(cfg, name, split, FINGERPRINT, 2, 2)
    assert not cfg.layout.scores(name, split).exists()
    scores.write_shard(cfg, name, split, scores_frame(["a", "b"]), FINGERPRINT, 0, 2, 2)
    assert scores.assemble(cfg, name, split, FINGERPRINT, 2, 2)
    out = scores.read_scores(cfg, name, split)
    assert out["id"].tolist() == ["a", "b", "c"]
    assert out["logit_safe"].tolist() == [0.0, 1.0, 1.0]
    assert scores.read_meta(cfg.layout.scores(name, split)) == FINGERPRINT
    assert not cfg.layout.shards(name, split).parent.exists()
    assert scores.assemble(cfg, name, split, FINGERPRINT, 2, 2)  # finished: a no-op


def test_read_scores_names_the_missing_file_and_the_fix(make_config):
    cfg = make_config()
    with pytest.raises(FileNotFoundError, match=r"test\.parquet.*`guardcal score"):
        scores.read_scores(cfg, "m", "test")


def test_example_round_trip_and_currency(make_config):
    cfg = make_config()
    with pytest.raises(FileNotFoundError, match=r"example\.json"):
        scores.read_example(cfg, "m")
    assert not scores.example_is_current(cfg, "m", FINGERPRINT)
    example = {
        "id": "x-1",
        "input": "Task: … ünïcode",
        "answer": "safe",
        "fingerprint": FINGERPRINT,
    }
    scores.write_example(cfg, "m", example)
    assert scores.read_example(cfg, "m") == example
    assert scores.example_is_current(cfg, "m", FINGERPRINT)
    assert not scores.example_is_current(cfg, "m", {**FINGERPRINT, "split": "x"})
