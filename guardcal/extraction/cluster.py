"""Scoring a run's shards on Ray: one actor per device (a GPU, else `scoring.ray_cpus` CPUs)
loads the guards of a forward pass once and scores shard after shard, writing exactly the shard
files a single process writes; the driver plans, hands out the missing shards and assembles.

Resume and reuse are the shard files': finished matching shards are never handed out, a killed
worker is restarted and its shard retried, and a killed driver leaves finished shards for the
next run. On a cluster the run folder must be on a filesystem every node sees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from guardcal import scores
from guardcal.config import RAY_LOCAL, Config, ConfigError, RayUnreachable, check_reachable
from guardcal.extraction.guards import guard_specs
from guardcal.extraction.plan import ForwardPass, SplitWork
from guardcal.extraction.shards import (
    Prints,
    assemble_split,
    load_pass,
    pending_shards,
    score_shard,
    shard_rows,
    split_prints,
    write_example,
)

LOCAL_OBJECT_STORE = 200 * 2**20
"""Bytes of object store for a local instance: it only carries shards' rows (kilobytes)."""
RETRIES = 3
"""How often a killed worker is restarted, and its shard retried, before the run fails."""
INSTALL = "scoring on Ray needs the ray extra: pip install 'guardcal[ray]'"


class RayMissing(ImportError):
    """`scoring.ray` or `--ray` was asked for, but Ray is not installed."""


def import_ray() -> Any:
    """The `ray` module, or RayMissing saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayMissing(INSTALL) from None
    return ray


@contextmanager
def ray_session(address: str) -> Iterator[None]:
    """Connect to Ray for the duration: a new local instance for `local`, else the cluster at
    `address` (`auto`, HOST:6379, ray://HOST:10001). A Ray connection this process already has
    (`ray.init` in a notebook or a test) is used as it is and left open. An address nothing
    answers at is refused within CONNECT_TIMEOUT seconds."""
    check_reachable(address)
    ray = import_ray()
    if ray.is_initialized():
        yield
        return
    if address == RAY_LOCAL:
        ray.init(address=RAY_LOCAL, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
    else:
        try:
            ray.init(address=address)
        except ConnectionError as exc:  # `auto` with no cluster running here
            said = " ".join(str(exc).split())
            raise RayUnreachable(f"scoring.ray: {address}: {said}") from None
    try:
        yield
    finally:
        ray.shutdown()


def worker_config(cfg: Config) -> Config:
    """The config as the workers read it: the run folder as an absolute path (a worker's
    working directory is not the driver's), and the device they score on — `auto` is CUDA when
    the cluster has GPUs (Ray gives each worker one), else the CPU."""
    gpus = import_ray().cluster_resources().get("GPU", 0)
    device = cfg.scoring.device
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    elif device.startswith("cuda"):
        if not gpus:
            raise ConfigError(
                f"{cfg.source_file}: key 'scoring.device' is {device!r} but the Ray cluster "
                "has no GPUs"
            )
        device = "cuda"  # the one GPU Ray assigns the worker
    scoring = dataclasses.replace(cfg.scoring, device=device)
    return dataclasses.replace(
        cfg, scoring=scoring, reports_dir=str(Path(cfg.reports_dir).resolve())
    )


def worker_resources(cfg: Config) -> dict[str, float]:
    """What one worker reserves: one GPU (and `ray_cpus` CPUs) on CUDA, else `ray_cpus` CPUs."""
    cpus = {"num_cpus": cfg.scoring.ray_cpus}
    return {**cpus, "num_gpus": 1} if cfg.scoring.device == "cuda" else cpus


def worker_slots(cfg: Config) -> int:
    """How many workers the live nodes of the cluster fit at once."""
    need = {"CPU": cfg.scoring.ray_cpus}
    if cfg.scoring.device == "cuda":
        need["GPU"] = 1
    slots = sum(
        int(min(node["Resources"].get(key, 0) // amount for key, amount in need.items()))
        for node in import_ray().nodes()
        if node["Alive"]
    )
    if slots < 1:
        raise ConfigError(
            f"{cfg.source_file}: key 'scoring.ray_cpus' is {cfg.scoring.ray_cpus}: no node of "
            f"the Ray cluster has that many free CPUs{' and a GPU' if 'GPU' in need else ''}"
        )
    return slots


class ShardScorer:
    """A Ray worker: the guards of one forward pass, resolved and loaded once on the worker (its
    device may not be the driver's), scoring shard after shard."""

    def __init__(self, cfg: Config, forward_pass: ForwardPass, batch_size: int | None) -> None:
        self.cfg = cfg
        specs = guard_specs(cfg, forward_pass.guards)
        self.guards, self.encoder = load_pass(cfg, list(specs.values()), batch_size)

    def ready(self) -> None:
        """Answers once the guards are loaded."""

    def score(
        self,
        work: SplitWork,
        index: int,
        names: tuple[str, ...],
        part: pd.DataFrame,
        prints: Mapping[str, dict[str, Any]],
    ) -> int:
        """Score shard `index` of a split for guards `names` and write their shard files."""
        guards = [self.guards[n] for n in names]
        score_shard(self.cfg, guards, work, index, part, prints, self.encoder)
        return len(part)

    def example(self, name: str, frame: pd.DataFrame, fingerprint: dict[str, Any]) -> None:
        """Write guard `name`'s report example."""
        write_example(self.cfg, self.guards[name], frame, fingerprint)


def _score_on_workers(
    workers: list[Any],
    jobs: list[tuple[SplitWork, int, tuple[str, ...]]],
    frames: Mapping[str, pd.DataFrame],
    prints: Prints,
    progress: tqdm,
) -> list[Any]:
    """Hand the shards out one at a time to whichever worker is free, until all are written;
    returns the workers that came up. A worker that never gets a node gets no shard."""
    ray = import_ray()
    queue = list(reversed(jobs))
    running = {w.ready.remote(): (k, 0) for k, w in enumerate(workers)}
    ready: list[int] = []
    while running and (queue or not ready or any(rows for _, rows in running.values())):
        (done,), _ = ray.wait(list(running), num_returns=1)
        k, rows = running.pop(done)
        ray.get(done)  # a worker's exception (or one killed past its retries) stops the run
        progress.update(rows)
        if k not in ready:
            ready.append(k)
        if queue:
            work, index, names = queue.pop()
            part = shard_rows(frames[work.split], work, index)
            ref = workers[k].score.remote(work, index, names, part, split_prints(prints, work))
            running[ref] = (k, len(part))
    return [workers[k] for k in ready]


def run_plan(
    cfg: Config,
    plan: list[ForwardPass],
    frames: Mapping[str, pd.DataFrame],
    prints: Prints,
    batch_size: int | None,
) -> None:
    """Carry out an extraction plan on Ray (`cfg.scoring.ray`): per forward pass, the missing
    shards of every split on as many workers as fit, then the driver assembles the files and a
    worker writes the report examples."""
    with ray_session(cfg.scoring.ray):
        _run_on_ray(worker_config(cfg), plan, frames, prints, batch_size)


def _run_on_ray(
    cfg: Config,
    plan: list[ForwardPass],
    frames: Mapping[str, pd.DataFrame],
    prints: Prints,
    batch_size: int | None,
) -> None:
    """`run_plan` on the connected cluster, `cfg` as the workers read it."""
    ray = import_ray()
    scorer = ray.remote(ShardScorer).options(
        **worker_resources(cfg), max_restarts=RETRIES, max_task_retries=RETRIES
    )
    slots = worker_slots(cfg)
    for forward_pass in plan:
        jobs = [
            (work, index, names)
            for work in forward_pass.splits
            for index, names in pending_shards(cfg, work, split_prints(prints, work)).items()
        ]
        if not jobs and not forward_pass.examples:
            continue
        rows = sum(len(shard_rows(frames[w.split], w, i)) for w, i, _ in jobs)
        count = max(1, min(slots, len(jobs)))
        workers = [scorer.remote(cfg, forward_pass, batch_size) for _ in range(count)]
        splits = ", ".join(w.split for w in forward_pass.splits)
        desc = f"scoring {splits} ({', '.join(forward_pass.guards)}) on {count} Ray workers"
        try:
            with tqdm(total=rows, desc=desc, unit="ex") as bar:
                ready = _score_on_workers(workers, jobs, frames, prints, bar)
            for work in forward_pass.splits:
                assemble_split(cfg, work, split_prints(prints, work))
            for name in forward_pass.examples:
                test = prints[name, "test"]
                if scores.is_current(cfg.layout.scores(name, "test"), test):
                    ray.get(ready[0].example.remote(name, frames["test"], test))
        finally:
            for worker in workers:
                ray.kill(worker)
