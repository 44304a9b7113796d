"""Coverage of the calibration errors' intervals against a known truth, per estimator and size.

Run: .venv/bin/python benchmarks/bench_coverage.py [--sims 200] [--resamples 1000]
     [--sizes 300,1000,3000,10000,30000]
Three simulated guards with exactly known calibration (guardcal.calibration.simulation): an
overconfident one (c(p) = σ(g/1.6), the miscalibration LLM guards show), a mildly miscalibrated
one (σ(g/1.1 + 0.1)) and a calibrated one (truth 0). For each size, --sims test splits are drawn
and every estimator gets its interval (docs/design.md §4b) from --resamples bootstrap resamples;
the table gives how often it holds the true value, beside the percentile interval's rate, how
often it holds the estimate, its mean width and the estimate's mean. Nominal coverage is 95 %.
"""

from __future__ import annotations

import argparse
import time

from tqdm.auto import tqdm

from guardcal.calibration.simulation import COVERAGE_KEYS, KnownGuard, interval_coverage

GUARDS = {
    "overconfident": KnownGuard(slope=1 / 1.6),
    "mild": KnownGuard(slope=1 / 1.1, bias=0.1),
    "calibrated": KnownGuard(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sizes", default="300,1000,3000,10000,30000")
    parser.add_argument("--guards", default=",".join(GUARDS))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{args.sims} simulations per size, {args.resamples} resamples, nominal 0.95")
    print("| guard | n | estimator | truth | coverage | percentile | holds estimate | width |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.guards.split(","):
        guard = GUARDS[name]
        for n in tqdm(sizes, desc=name, leave=False):
            start = time.perf_counter()
            result = interval_coverage(guard, n, args.sims, args.resamples, seed=n)
            for key in COVERAGE_KEYS:
                c = result[key]
                print(
                    f"| {name} | {n} | {key} | {c.truth:.4f} | {c.covered:.3f} | "
                    f"{c.covered_percentile:.3f} | {c.contains_estimate:.3f} | {c.width:.4f} |",
                    flush=True,
                )
            tqdm.write(f"{name} n={n}: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
