"""Scoring on Ray: a local two-worker instance (CPU) writes the same scores files as one process,
also when a worker is killed mid-run; a killed driver's finished shards are reused by the next
run; without Ray installed, `--ray` says how to install it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml
from shipped_demo import EMBEDDED_MODELS, FINE_TUNED, ZERO_SHOT, demo_dataset, scoring

from guardcal import scores
from guardcal.__main__ import main
from guardcal.config import Config, ConfigError, load_config
from guardcal.extraction.extract import run_extraction

GUARDS = [ZERO_SHOT, FINE_TUNED]
ROWS, SHARD = 4, 1  # the demo's first 4 test rows in 4 shards
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
        "dataset": demo_dataset(ROWS),
        "models": [{"name": name, "model": EMBEDDED_MODELS[name]} for name in GUARDS],
        "scoring": scoring(shard_size=SHARD, batch_size=2, ray=ray),
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path)


TOLERANCE = 1e-4
"""The scorer's agreement with greedy generation elsewhere in the suite; float32 order noise."""


def assert_same_files(cfg: Config, single: Config) -> None:
    """Same ids and labels, logits and label mass within 1e-4, same fingerprint and example: a
    worker with one CPU runs torch on one thread, so its float32 sums round in another order than
    the two-thread process (differences of ~1e-5 on logits near 20, float32's relative 5e-7)."""
    for name in GUARDS:
        got, want = scores.read_scores(cfg, name, "test"), scores.read_scores(single, name, "test")
        assert len(want) == ROWS
        assert got["id"].tolist() == want["id"].tolist()
        assert got["label"].tolist() == want["label"].tolist()
        np.testing.assert_allclose(got[COLUMNS], want[COLUMNS], atol=TOLERANCE, rtol=0)
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


def scorers(busy: bool = False) -> list[int]:
    """Processes of this test's Ray instance that are shard-scoring actors (`busy`: scoring a
    shard right now)."""
    title = "ray::ShardScorer.score" if busy else "ray::ShardScorer"
    out = []
    for pid in children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith(title):
            out.append(pid)
    return out


def wait_for(what: str, done, timeout: float = 300) -> None:
    """Poll `done()` every 10 ms until it is true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class ShardWatch(threading.Thread):
    """Records every (inode, mtime) each shard file of a run has while it exists: a shard that is
    written again gets a new inode (shards are written to a temporary file, then renamed)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(daemon=True)
        self.cfg, self.seen, self.stop = cfg, {}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for path in shard_files(self.cfg):
                try:
                    st = path.stat()
                except FileNotFoundError:  # assembled meanwhile
                    continue
                self.seen.setdefault(path, set()).add((st.st_ino, st.st_mtime_ns))
            time.sleep(0.002)


def test_two_ray_workers_write_the_single_process_files(local_ray, single, tmp_path):
    cfg = _config(tmp_path, "ray", ray="local")
    run_extraction(cfg, splits=["test"])
    assert_same_files(cfg, single)


def test_a_worker_killed_mid_run_is_retried_and_the_files_are_the_same(local_ray, single, tmp_path):
    cfg = _config(tmp_path, "killed", ray="local")
    killed: list[tuple[int, int]] = []

    def kill_one_busy_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            busy = scorers(busy=True)
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
    assert finished < len(GUARDS) * ROWS // SHARD  # killed mid-run
    assert not Path(f"/proc/{pid}").exists()
    assert_same_files(cfg, single)


def test_a_killed_driver_leaves_finished_shards_that_the_next_run_reuses(
    local_ray, single, tmp_path
):
    # the driver is `guardcal score` in its own process, joining this module's Ray instance by
    # its address; it is SIGKILLed as soon as its first shard file is there
    cfg = _config(tmp_path, "driver", ray=local_ray)
    command = [sys.executable, "-m", "guardcal", "score", "--config", cfg.source_file]
    log = tmp_path / "driver.log"
    with log.open("wb") as out:
        driver = subprocess.Popen(
            [*command, "--split", "test", "-q"], start_new_session=True, stdout=out, stderr=out
        )
    try:
        wait_for("the driver's first shard", lambda: shard_files(cfg) or driver.poll() is not None)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert driver.returncode == -signal.SIGKILL, log.read_text(errors="replace")
    wait_for("Ray to end the killed driver's workers", lambda: not scorers(), timeout=120)
    left = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shard_files(cfg)}
    assert 0 < len(left) < len(GUARDS) * ROWS // SHARD
    assert not cfg.layout.scores(ZERO_SHOT, "test").exists()

    watch = ShardWatch(cfg)
    watch.start()
    try:
        run_extraction(cfg, splits=["test"])  # the next run, on the same Ray instance
    finally:
        watch.stop.set()
        watch.join()
    for path, stat in left.items():  # reused as they were, never written again
        assert watch.seen[path] == {stat}, path.name
    written = set(watch.seen) - set(left)
    assert len(written) == len(GUARDS) * ROWS // SHARD - len(left)  # only the missing ones
    assert_same_files(cfg, single)


def test_without_ray_installed_ray_says_how_to_install_it(make_config, monkeypatch, capsys):
    cfg = make_config()
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as for a missing package
    assert main(["score", "--config", cfg.source_file, "--ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'guardcal[ray]'" in err
    assert "Traceback" not in err
    assert not cfg.run_dir.exists()  # stopped before any model loaded or any file was written


def test_ray_config_keys_are_validated(make_config):
    with pytest.raises(ConfigError, match=r"scoring\.ray_cpus"):
        make_config(scoring={"ray_cpus": 0})
    with pytest.raises(ConfigError, match=r"scoring\.ray'"):
        make_config(scoring={"ray": " "})
    assert make_config(scoring={"ray": "auto", "ray_cpus": 0.5}).scoring.ray_cpus == 0.5
