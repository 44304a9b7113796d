"""The field's public guard benchmarks by name: a registry of loaders that read each one from its
hub id or a local copy of its original file, apply its label rule and keep its categories and
slice fields (docs/design.md §9)."""

from guardcal.benchmarks.loading import LoadedBenchmark, check_entry, listing, load_benchmark
from guardcal.benchmarks.registry import BENCHMARKS, MODES, Benchmark

__all__ = [
    "BENCHMARKS",
    "MODES",
    "Benchmark",
    "LoadedBenchmark",
    "check_entry",
    "listing",
    "load_benchmark",
]
