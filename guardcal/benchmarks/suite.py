"""A suite run's splits: each named benchmark is a split of its own, and the validation and test
splits may be drawn from one of them (a seeded share to calibrate on, the rest to evaluate);
every other source is `guardcal.records`'s."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from guardcal import records
from guardcal.benchmarks.loading import LoadedBenchmark, check_entry, load_benchmark
from guardcal.config import BenchmarkEntry, Config, InDomain


def check_suite(cfg: Config) -> None:
    """Every benchmark entry names a known benchmark, mode, convention and files (a ConfigError
    naming `benchmarks[i].<key>` otherwise): before any data or model loads."""
    for i, entry in enumerate(cfg.benchmarks):
        check_entry(entry, f"benchmarks[{i}]", cfg.source_file or "<config>")


@functools.cache
def _load(entry: BenchmarkEntry, base: Path | None) -> LoadedBenchmark:
    """One benchmark, read once per process (validation and test may both be drawn from it)."""
    return load_benchmark(entry, base)


def suite_benchmark(cfg: Config, key: str) -> LoadedBenchmark:
    """The suite benchmark with this key, loaded (paths resolve beside the config)."""
    for entry in cfg.benchmarks:
        if entry.key == key:
            base = Path(cfg.source_file).parent if cfg.source_file else None
            return _load(entry, base)
    raise KeyError(f"no benchmark {key!r} in config {cfg.source_file}")


def load_split(cfg: Config, split: str) -> pd.DataFrame:
    """The normalised frame of one split of a run (`cfg.splits`): a benchmark's examples, a
    share of them (or the rest), or `guardcal.records.load_split`'s for a file or hub split."""
    src = getattr(cfg.dataset, split, None) if split in ("validation", "test") else None
    if split not in ("validation", "test", "content_free"):
        return suite_benchmark(cfg, split).frame.copy()
    if src is None or src.benchmark is None:
        return records.load_split(cfg, split)
    frame = suite_benchmark(cfg, src.benchmark).frame
    if src.fraction is not None:
        share, rest = records.split_fraction(frame, src.fraction, src.seed)
        frame = rest if src.complement else share
    if cfg.dataset.limit is not None:
        frame = frame.head(cfg.dataset.limit)
    return frame.reset_index(drop=True)


def in_domain_split(frame: pd.DataFrame, in_domain: InDomain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the share of a benchmark's evaluated rows its in-domain calibrators are fitted on, the
    rest both fits are measured on): the seeded split of `records.split_fraction`."""
    return records.split_fraction(frame, in_domain.fraction, in_domain.seed)
