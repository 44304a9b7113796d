"""Load one benchmark entry into the normalised frame, checking the entry first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from guardcal.benchmarks.registry import BENCHMARKS, Benchmark
from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import to_frame
from guardcal.config import BenchmarkEntry, ConfigError


@dataclass(frozen=True)
class LoadedBenchmark:
    """A benchmark's examples (`frame`) and how they were chosen."""

    benchmark: Benchmark
    mode: str
    convention: str
    source: str
    frame: pd.DataFrame

    @property
    def name(self) -> str:
        return self.benchmark.name


def check_entry(entry: BenchmarkEntry, key: str, where: str = "<config>") -> Benchmark:
    """The entry's benchmark, or a ConfigError naming `key` (e.g. `benchmarks[2].mode`)."""

    def bad(sub: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: key '{key}.{sub}' {message}")

    bench = BENCHMARKS.get(entry.name)
    if bench is None:
        raise bad("name", f"names no benchmark: {entry.name!r} (known: {list(BENCHMARKS)})")
    if entry.mode is not None and entry.mode not in bench.modes:
        raise bad(
            "mode", f"must be one of {list(bench.modes)} for {bench.name}, got {entry.mode!r}"
        )
    if entry.convention is not None and entry.convention not in bench.conventions:
        raise bad(
            "convention",
            f"must be one of {list(bench.conventions)} for {bench.name}, got {entry.convention!r}",
        )
    for second in ("behaviors", "benign"):
        if getattr(entry, second) is not None and second not in bench.second_files:
            raise bad(second, f"is not a file {bench.name} takes")
        if getattr(entry, second) is not None and entry.path is None:
            raise bad(second, "needs `path:` too (a second file of a local copy)")
    if entry.path is not None and entry.hf is not None:
        raise bad("hf", "and `path` both name the data: give one")
    mode = entry.mode or bench.modes[0]
    if entry.path is None and mode not in bench.hub:
        if entry.hf is None:
            raise bad("path", f"is required: {bench.name} has no hub copy; give {bench.files}")
        if entry.split is None:
            raise bad(
                "split", f"is required with `hf:` ({bench.name} has no hub copy to take it from)"
            )
    if entry.limit is not None and entry.limit < 1:
        raise bad("limit", f"must be a positive integer, got {entry.limit!r}")
    return bench


def load_benchmark(
    entry: BenchmarkEntry, base: Path | None = None, key: str = "benchmark"
) -> LoadedBenchmark:
    """The entry's examples after its label rule and convention (and its row limit); local
    paths resolve beside `base` (the config's folder). Bad input is one DataError naming the
    file, the row and the field."""
    bench = check_entry(entry, key)
    mode = entry.mode or bench.modes[0]
    convention = entry.convention or bench.default_convention
    hub = bench.hub.get(mode)
    sources = Sources(entry, hub, base, bench.files)
    path = sources.path()
    if path is not None:
        source = str(path)
    else:
        source = entry.hf or hub.id  # check_entry made sure one of them is there
    frame = to_frame(bench.load(sources, mode, convention), source)
    if entry.limit is not None:
        frame = frame.head(entry.limit).reset_index(drop=True)
    return LoadedBenchmark(bench, mode, convention, source, frame)


def listing() -> str:
    """`guardcal benchmarks`: every benchmark with its modes, conventions (* the default), where
    it loads from, its licence and source."""
    lines = []
    for b in BENCHMARKS.values():
        hub = sorted({f"{h.id}{' (gated)' if h.access else ''}" for h in b.hub.values()})
        lines.append(f"{b.name}  —  {b.title}  ({', '.join(b.modes)})")
        width = max(map(len, b.conventions)) + 1
        for i, (name, what) in enumerate(b.conventions.items()):
            head = "convention" if i == 0 else ""
            lines.append(f"    {head:11s} {name + ('*' if i == 0 else ''):{width}s}  {what}")
        lines += [
            f"    {'hub':11s} {', '.join(hub) if hub else 'none official (give path:)'}",
            f"    {'path':11s} {b.files}",
            f"    {'licence':11s} {b.licence}",
            f"    {'source':11s} {b.source}",
        ]
    return "\n".join(lines)
