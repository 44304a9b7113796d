"""The run layout (every path of reports/<run>/, the user cache) and the atomic-write helper."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from guardcal.atomic import atomic_folder, atomic_write, write_text
from guardcal.layout import RunLayout, cache_dir, model_slug


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
    assert model_slug(name) == slug


def test_model_slug_refuses_empty_names():
    with pytest.raises(ValueError, match="empty folder name"):
        model_slug(" / ")


def test_scores_path_layout(make_config):
    cfg = make_config()
    path = cfg.layout.scores("SmolLM2-135M zero-shot", "test")
    assert path == cfg.run_dir / "scores" / "smollm2-135m-zero-shot" / "test.parquet"


def test_every_run_path_lives_under_the_run_folder(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    paths = [
        layout.scores("Guard A", "test"),
        layout.shard("Guard A", "test", 1, 3),
        layout.example("Guard A"),
        layout.label_rows("Guard A"),
        layout.table("metrics"),
        layout.table("predictions", ".parquet"),
        layout.figure("uncalibrated"),
        layout.notebook("05_report"),
        layout.report_html,
        layout.slides_html,
        layout.report_pdf,
        layout.slides_pdf,
        layout.provenance,
    ]
    assert all(p.is_relative_to(layout.root) for p in paths)
    assert layout.shard("Guard A", "test", 1, 3).name == "00001-of-00003.parquet"


def test_cache_dir_follows_guardcal_cache_then_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GUARDCAL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "guardcal"
    monkeypatch.setenv("GUARDCAL_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_concurrent_writers_never_share_a_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    seen: list[Path] = []
    barrier = threading.Barrier(8)

    def write(tmp: Path) -> None:
        seen.append(tmp)
        barrier.wait()  # every writer holds its temporary file at the same time
        tmp.write_text(tmp.name, encoding="utf-8")

    threads = [threading.Thread(target=atomic_write, args=(path, write)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 8
    assert path.read_text(encoding="utf-8") in {p.name for p in seen}
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a" / "b.txt", "x\r\ny")
    assert path.read_bytes() == b"x\r\ny"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_folder_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("conversion failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
