"""Benchmark: scoring a split on Ray with 1 worker vs N workers, against one plain process.

Run: .venv/bin/python benchmarks/bench_ray.py [--config CONFIG] [--n 16] [--shard-size 2]

On one local Ray instance over all of this machine's CPUs (started once, its start-up timed
apart), it scores the first --n test rows with every guard of the run (the demo's three embedded
guards by default), each time into a fresh reports folder, in the order:
  1. one process, no Ray (the baseline: torch uses every core in one process);
  2. Ray, 1 worker  (`scoring.ray_cpus` = all CPUs: one worker, all its torch threads);
  3. Ray, N workers (`scoring.ray_cpus` = 1: one single-threaded worker per CPU).
Each Ray time is the whole `run_extraction` call: the workers' start (importing torch, loading
the guards once) plus scoring, assembling and the report example. It checks that every run wrote
the baseline's scores (ids equal, logits and label mass within 1e-4: a one-thread worker rounds
its float32 sums in another order) and prints the wall times and their ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np
import ray

from guardcal import scores
from guardcal.config import RAY_LOCAL, Config, load_config
from guardcal.extraction.extract import run_extraction

COLUMNS = ["logit_safe", "logit_unsafe", "label_mass"]


def scoring_run(cfg: Config, folder: str, ray_cpus: float | None) -> tuple[Config, float]:
    """Score the test split into `folder` (on Ray with `ray_cpus` per worker unless None)."""
    scoring = dataclasses.replace(
        cfg.scoring,
        ray=None if ray_cpus is None else RAY_LOCAL,
        ray_cpus=ray_cpus or cfg.scoring.ray_cpus,
    )
    run = dataclasses.replace(cfg, reports_dir=folder, scoring=scoring)
    start = time.perf_counter()
    run_extraction(run, splits=["test"])
    return run, time.perf_counter() - start


def same_scores(cfg: Config, baseline: Config) -> float:
    """The largest logit or label-mass difference to the baseline (ids must be equal)."""
    worst = 0.0
    for model in cfg.models:
        got = scores.read_scores(cfg, model.name, "test")
        want = scores.read_scores(baseline, model.name, "test")
        if got["id"].tolist() != want["id"].tolist():
            raise AssertionError(f"{model.name}: ids differ from the baseline's")
        worst = max(worst, float(np.abs(got[COLUMNS].to_numpy() - want[COLUMNS].to_numpy()).max()))
    return worst


def main() -> int:
    """Run the three scorings and print their times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="experiment YAML (default: the embedded demo)")
    parser.add_argument("--n", type=int, default=16, help="test rows (default 16)")
    parser.add_argument("--shard-size", type=int, default=2, help="rows per shard (default 2)")
    args = parser.parse_args()
    cfg = load_config(args.config)
    cfg = dataclasses.replace(
        cfg,
        dataset=dataclasses.replace(cfg.dataset, limit=args.n),
        scoring=dataclasses.replace(cfg.scoring, shard_size=args.shard_size),
    )
    cpus = os.cpu_count() or 1
    start = time.perf_counter()
    ray.init(address=RAY_LOCAL, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - start
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base, t_base = scoring_run(cfg, f"{tmp}/base", None)
            one, t_one = scoring_run(cfg, f"{tmp}/one", float(cpus))
            many, t_many = scoring_run(cfg, f"{tmp}/many", 1.0)
            diff = max(same_scores(one, base), same_scores(many, base))
            rows = len(scores.read_scores(base, cfg.models[0].name, "test"))
    finally:
        ray.shutdown()
    print(f"\n{rows} test rows x {len(cfg.models)} guards, shards of {args.shard_size}")
    print(f"{cpus} CPUs, one local Ray instance")
    print(f"Ray local instance start    {started:7.1f} s (once per `guardcal score --ray`)")
    print(f"one process, no Ray         {t_base:7.1f} s")
    print(f"Ray, 1 worker  ({cpus} CPUs)    {t_one:7.1f} s")
    print(f"Ray, {cpus} workers (1 CPU each) {t_many:7.1f} s")
    print(
        f"1 worker / {cpus} workers: {t_one / t_many:.2f}x;  one process / {cpus} workers: "
        f"{t_base / t_many:.2f}x"
    )
    print(f"largest difference to the one-process scores: {diff:.1e} (must be <= 1e-4)")
    return 0 if diff <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
