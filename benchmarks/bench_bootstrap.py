"""Benchmark: the vectorised bootstrap against a loop that recomputes every metric per resample.

Run: .venv/bin/python benchmarks/bench_bootstrap.py [--n 33396] [--resamples 1000] [--loop 10]
Both run in this process on one seeded synthetic test split of n examples: 8 rows (two guards ×
the study's four methods, BC with each resample's own prior) × every metric of the extended table
(EXTENDED_KEYS). guardcal's time includes each metric's interval (BCa with the rows' leave-one-out
values, basic, percentile: guardcal.calibration.intervals); the time of those intervals is printed
beside that of the percentile intervals alone, on the same resamples. The baseline applies
`evaluate_extended` to the resampled data of the first --loop resamples (BC recomputed on each)
and is scaled to --resamples. Prints `bootstrap seconds (33k x 1000): …` with wall and CPU
seconds, the peak resident memory, and the speedup (baseline seconds / guardcal seconds).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from guardcal.calibration import BatchCalibration, ContextualCalibration, TemperatureScaling
from guardcal.calibration.bootstrap import (
    BatchResampled,
    FixedProba,
    resample_indices,
    resampled_metrics,
)
from guardcal.calibration.intervals import metric_intervals, percentile_interval
from guardcal.calibration.jackknife import row_jackknife
from guardcal.calibration.reliability import EXTENDED_KEYS, evaluate_extended


def guard(rng: np.random.Generator, n: int, bias: float, sharp: float) -> tuple[np.ndarray, ...]:
    """Seeded logits and labels of a guard whose true log-odds are (gap − bias) / sharp."""
    z = np.column_stack([rng.normal(0, 1, n), rng.normal(bias, 2.5, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(z[:, 1] - z[:, 0] - bias) / sharp))).astype(int)
    return z, y


def rows_of(z: np.ndarray, y: np.ndarray, val: tuple, cf: np.ndarray) -> dict:
    """The study's four methods, calibrators fitted on the validation split."""
    ts = TemperatureScaling().fit(*val)
    cc = ContextualCalibration().fit(cf)
    bc = BatchCalibration().fit(*val)
    gap = z[:, 1] - z[:, 0]
    return {
        "uncalibrated": FixedProba(1 / (1 + np.exp(-gap)), gap),
        "cc": FixedProba(cc.predict_proba(z)[:, 1], gap),
        "bc": BatchResampled(z, bc.gamma_),
        "ts": FixedProba(ts.predict_proba(z)[:, 1], gap),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=33_396)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--loop", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, labels = {}, None
    z_a, y = guard(rng, args.n, -1.0, 1.5)
    z_b = z_a * 1.7 + rng.normal(0, 0.5, z_a.shape)  # a second guard on the same examples
    for name, z in (("zero-shot", z_a), ("fine-tuned", z_b)):
        val = guard(rng, 3000, -1.0, 1.5)
        cf = rng.normal(0, 1, (4, 2))
        rows.update({f"{name}/{m}": r for m, r in rows_of(z, y, val, cf).items()})
    labels = y
    indices = resample_indices(args.n, args.resamples, seed=0)

    sample = np.arange(args.n, dtype=np.int32)[None, :]  # the sample itself: the estimates
    values = {k: v[0] for k, v in resampled_metrics(labels, rows, sample, progress=False).items()}
    wall, cpu = time.perf_counter(), time.process_time()
    stats = resampled_metrics(labels, rows, indices)
    resampled = time.perf_counter()
    for name, row in rows.items():
        metric_intervals(stats[name], values[name], row_jackknife(labels, row))
    new = time.perf_counter() - resampled
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    old = time.perf_counter()
    for name in rows:
        percentile_interval(stats[name])
    old = time.perf_counter() - old

    loop = time.perf_counter()
    z_of = {"zero-shot": z_a, "fine-tuned": z_b}
    for b in range(args.loop):
        idx = indices[b]
        for name, row in rows.items():
            if isinstance(row, BatchResampled):
                p = BatchCalibration(gamma=row.gamma).predict_proba(z_of[name.split("/")[0]][idx])
                got = evaluate_extended(labels[idx], p[:, 1])
            else:
                got = evaluate_extended(labels[idx], row.proba[idx])
            same = stats[name][b, EXTENDED_KEYS.index("accuracy")]
            assert abs(got["accuracy"] - same) < 1e-12  # the same numbers
    baseline = (time.perf_counter() - loop) * args.resamples / args.loop
    print(f"rows: {len(rows)}, metrics per row: {stats[next(iter(stats))].shape[1]}")
    print(
        f"bootstrap seconds ({args.n // 1000}k x {args.resamples}): {wall:.1f} "
        f"(cpu {cpu:.1f}), peak memory {peak:,.0f} MB"
    )
    print(
        f"intervals seconds: per-metric (BCa + jackknife, basic, percentile) {new:.2f}, "
        f"percentile alone {old:.2f}"
    )
    print(f"baseline (evaluate_extended per resample, {args.loop} run, scaled): {baseline:.1f} s")
    print(f"bootstrap speedup: {baseline / wall:.1f}")


if __name__ == "__main__":
    main()
