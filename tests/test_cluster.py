"""Scoring on Ray: a local two-worker instance (CPU) writes the same scores files as one process,
also when a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml
from conftest import DEMO_DIR, EMBEDDED_MODELS, FINE_TUNED, ZERO_SHOT

from guardcal import scores
from guardcal.__main__ import main
from guardcal.config import Config, ConfigError, load_config
from guardcal.extraction.extract import run_extraction

pytestmark = pytest.mark.model

GUARDS = [ZERO_SHOT, FINE_TUNED]
ROWS, SHARD = 16, 2  # the demo's first 16 test rows in 8 shards
COLUMNS = ["logit_safe", "logit_unsafe", "label_mass"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for this module: two CPUs (two one-CPU workers), a small object
    store, no dashboard; shut down afterwards. `scoring.ray: local` uses it as it is. A worker
    process gets 10 minutes to start (Ray's 60 s is too short on a busy shared machine)."""
    os.environ["RAY_worker_register_timeout_seconds"] = "600"
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        object_store_memory=80 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    del os.environ["RAY_worker_register_timeout_seconds"]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Config:
    """The single-process run the Ray runs must reproduce."""
    cfg = _config(tmp_path_factory.mktemp("single"), "single", ray=None)
    run_extraction(cfg, splits=["test"])
    return cfg


def _config(folder: Path, name: str, ray: str | None) -> Config:
    """A run of both embedded guards on the first ROWS demo test rows, in shards of SHARD."""
    raw = {
        "name": name,
        "reports_dir": str(folder / "reports"),
        "dataset": {
            "validation": {"path": str(DEMO_DIR / "train.jsonl"), "fraction": 0.3, "seed": 42},
            "test": str(DEMO_DIR / "test.jsonl"),
            "limit": ROWS,
        },
        "models": [{"name": name, "model": EMBEDDED_MODELS[name]} for name in GUARDS],
        "scoring": {"shard_size": SHARD, "batch_size": 2, "ray": ray},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path)


def assert_same_files(cfg: Config, single: Config) -> None:
    """Same ids and labels, logits and label mass within 1e-6, same fingerprint and example."""
    for name in GUARDS:
        got, want = scores.read_scores(cfg, name, "test"), scores.read_scores(single, name, "test")
        assert len(want) == ROWS
        assert got["id"].tolist() == want["id"].tolist()
        assert got["label"].tolist() == want["label"].tolist()
        np.testing.assert_allclose(got[COLUMNS], want[COLUMNS], atol=1e-6, rtol=0)
        path = cfg.layout.scores(name, "test")
        assert scores.read_meta(path) == scores.read_meta(single.layout.scores(name, "test"))
        assert scores.read_example(cfg, name) == scores.read_example(single, name)
    assert not (cfg.layout.model_scores(ZERO_SHOT) / "shards").exists()


def shard_files(cfg: Config) -> list[Path]:
    """The finished shard files of the test split, both guards."""
    return [p for name in GUARDS for p in cfg.layout.shards(name, "test").glob("*.parquet")]


def children(pid: int) -> list[int]:
    """Every descendant process of `pid` (read from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def busy_scorers() -> list[int]:
    """Processes of this test's Ray instance that are scoring a shard right now."""
    out = []
    for pid in children(os.getpid()):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::ShardScorer.score"):
            out.append(pid)
    return out


def test_two_ray_workers_write_the_single_process_files(local_ray, single, tmp_path):
    cfg = _config(tmp_path, "ray", ray="local")
    run_extraction(cfg, splits=["test"])
    assert_same_files(cfg, single)


def test_a_worker_killed_mid_run_is_retried_and_the_files_are_the_same(local_ray, single, tmp_path):
    cfg = _config(tmp_path, "killed", ray="local")
    killed: list[tuple[int, int]] = []

    def kill_one_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = busy_scorers()
            finished = shard_files(cfg)
            if finished and busy:  # a shard is written and another is being scored
                os.kill(busy[0], signal.SIGKILL)
                killed.append((busy[0], len(finished)))
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_busy_worker)
    watcher.start()
    run_extraction(cfg, splits=["test"])
    watcher.join()
    assert killed, "no worker was killed"
    pid, finished = killed[0]
    assert finished < 2 * ROWS // SHARD  # killed mid-run
    assert not Path(f"/proc/{pid}").exists()
    assert_same_files(cfg, single)


def test_ray_missing_says_how_to_install_it_before_any_model_loads(
    make_config, monkeypatch, capsys
):
    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("guardcal.extraction.extract.load_guard", no_load)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    cfg = make_config()
    assert main(["score", "--config", cfg.source_file, "--split", "test", "--ray"]) == 2
    assert "pip install 'guardcal[ray]'" in capsys.readouterr().err
    assert not cfg.run_dir.exists()


def test_ray_config_keys_are_validated(make_config):
    with pytest.raises(ConfigError, match=r"scoring\.ray_cpus"):
        make_config(scoring={"ray_cpus": 0})
    with pytest.raises(ConfigError, match=r"scoring\.ray'"):
        make_config(scoring={"ray": " "})
    assert make_config(scoring={"ray": "auto", "ray_cpus": 0.5}).scoring.ray_cpus == 0.5
