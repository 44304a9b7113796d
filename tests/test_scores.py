"""The scores files: paths, metadata, atomic writes, shards that resume and assemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from guardcal import store

FINGERPRINT = {"model": "m", "revision": "r", "dataset_fingerprint": "abc", "split": "test"}


def scores(ids: list[str], offset: float = 0.0) -> pd.DataFrame:
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


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("SmolLM2-135M zero-shot", "smollm2-135m-zero-shot"),
        ("Llama-Guard-3-8B", "llama-guard-3-8b"),
        ("saiteki-kai/QA-Llama-Guard-3-8B", "saiteki-kai-qa-llama-guard-3-8b"),
        ("  My Guard (v1.5) + TS ", "my-guard-v1.5-ts"),
    ],
)
def test_model_slug(name, slug):
    assert store.model_slug(name) == slug


def test_model_slug_refuses_empty_names():
    with pytest.raises(ValueError, match="empty folder name"):
        store.model_slug(" / ")


def test_scores_path_layout(make_config):
    cfg = make_config()
    path = store.scores_path(cfg, "SmolLM2-135M zero-shot", "test")
    assert path == cfg.run_dir / "scores" / "smollm2-135m-zero-shot" / "test.parquet"


def test_write_table_round_trips_rows_and_metadata(tmp_path):
    path = tmp_path / "s" / "test.parquet"
    frame = scores(["a", "b", "c"])
    store.write_table(frame, path, FINGERPRINT)
    assert store.read_meta(path) == FINGERPRINT
    assert store.is_current(path, FINGERPRINT)
    assert not store.is_current(path, {**FINGERPRINT, "revision": "other"})
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    schema = pq.read_schema(path)
    assert [schema.field(c).type for c in store.COLUMNS] == [f.type for f in store.SCHEMA]
    assert sorted(p.name for p in path.parent.iterdir()) == ["test.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "test.parquet"
    store.write_table(scores(["a"]), path, FINGERPRINT)

    def broken(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.atomic_write(path, broken)
    assert store.read_meta(path) == FINGERPRINT
    assert [p.name for p in tmp_path.iterdir()] == ["test.parquet"]


def test_read_meta_of_missing_or_foreign_files(tmp_path):
    assert store.read_meta(tmp_path / "none.parquet") is None
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    assert store.read_meta(junk) is None
    plain = tmp_path / "plain.parquet"
    scores(["a"]).to_parquet(plain)
    assert store.read_meta(plain) is None


def test_stale_shards_are_discarded_and_matching_ones_kept(make_config):
    cfg = make_config()
    name, split = "m", "test"
    store.write_shard(cfg, name, split, scores(["a", "b"]), FINGERPRINT, 0, 3, 2)
    stale = {**FINGERPRINT, "dataset_fingerprint": "changed"}
    store.write_shard(cfg, name, split, scores(["c", "d"]), stale, 1, 3, 2)
    # a shard of another layout (shard size) is stale too
    store.write_shard(cfg, name, split, scores(["e"]), FINGERPRINT, 2, 3, 1)
    folder = store.shard_dir(cfg, name, split)
    (folder / "notes.txt").write_text("stray")
    assert store.finished_shards(cfg, name, split, FINGERPRINT, 3, 2) == {0}
    assert sorted(p.name for p in folder.iterdir()) == ["00000-of-00003.parquet"]


def test_assemble_waits_for_every_shard_then_joins_them_in_order(make_config):
    cfg = make_config()
    name, split = "m", "validation"
    store.write_shard(cfg, name, split, scores(["c"], 1.0), FINGERPRINT, 1, 2, 2)
    assert not store.assemble(cfg, name, split, FINGERPRINT, 2, 2)
    assert not store.scores_path(cfg, name, split).exists()
    store.write_shard(cfg, name, split, scores(["a", "b"]), FINGERPRINT, 0, 2, 2)
    assert store.assemble(cfg, name, split, FINGERPRINT, 2, 2)
    out = store.read_scores(cfg, name, split)
    assert out["id"].tolist() == ["a", "b", "c"]
    assert out["logit_safe"].tolist() == [0.0, 1.0, 1.0]
    assert store.read_meta(store.scores_path(cfg, name, split)) == FINGERPRINT
    assert not store.shard_dir(cfg, name, split).parent.exists()
    assert store.assemble(cfg, name, split, FINGERPRINT, 2, 2)  # finished: a no-op


def test_read_scores_names_the_missing_file_and_the_fix(make_config):
    cfg = make_config()
    with pytest.raises(FileNotFoundError, match=r"test\.parquet.*python -m guardcal score"):
        store.read_scores(cfg, "m", "test")


def test_example_round_trip_and_currency(make_config):
    cfg = make_config()
    with pytest.raises(FileNotFoundError, match=r"example\.json"):
        store.read_example(cfg, "m")
    assert not store.example_is_current(cfg, "m", FINGERPRINT)
    example = {
        "id": "x-1",
        "input": "Task: … ünïcode",
        "answer": "safe",
        "fingerprint": FINGERPRINT,
    }
    store.write_example(cfg, "m", example)
    assert store.read_example(cfg, "m") == example
    assert store.example_is_current(cfg, "m", FINGERPRINT)
    assert not store.example_is_current(cfg, "m", {**FINGERPRINT, "split": "x"})
