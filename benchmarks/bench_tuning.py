"""Benchmark: guardcal's vectorised TS + BC tuning against the study's per-grid-value Python loop.

Run: .venv/bin/python benchmarks/bench_tuning.py [--n 30000] [--budget 60]
Both run in this process on the same seeded synthetic validation split; the last line is
`tuning speedup: X.XX` (baseline seconds / guardcal seconds). If the full baseline would take
longer than --budget seconds, it runs on every k-th grid value and its time is extrapolated.

The baseline is the study's loop: for each grid value a full recomputation in Python of exactly
the columns guardcal's `history_` holds: per T, softmax(z / T), NLL by sklearn's log_loss, ECE and
MCE by one Python loop over the examples; per γ, the recalibrated softmax, the same three, and
accuracy, F1, precision and recall by sklearn. guardcal fits both from one sort of the logit gaps.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import pandas as pd
from scipy.special import log_softmax, softmax
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score
from tqdm import tqdm

from guardcal.calibration import (
    GAMMA_GRID,
    TEMPERATURE_GRID,
    BatchCalibration,
    TemperatureScaling,
    select_gamma,
)
from guardcal.calibration.metrics import ECE_BINS

N_BINS = ECE_BINS
BASELINE = (
    "per T: softmax, sklearn log_loss, ECE/MCE by a Python loop over the examples; per γ: the "
    "same plus sklearn accuracy, F1, precision, recall"
)


def synthetic_validation(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A biased, over-confident guard: labels drawn from σ((gap + 1.5) / 1.7) of its logit gap."""
    rng = np.random.default_rng(seed)
    z_safe = rng.normal(0.0, 1.5, n)
    gap = rng.normal(-1.0, 3.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-(gap + 1.5) / 1.7))).astype(np.int64)
    return np.column_stack([z_safe, z_safe + gap]), labels


def naive_ece_mce(labels: list[int], proba: list[float], n_bins: int) -> tuple[float, float]:
    """Binned ECE/MCE the way a notebook writes it: one Python loop over the examples."""
    counts, sum_p, sum_y = [0] * n_bins, [0.0] * n_bins, [0.0] * n_bins
    for y, p in zip(labels, proba, strict=True):
        m = min(max(math.ceil(p * n_bins) - 1, 0), n_bins - 1)
        counts[m] += 1
        sum_p[m] += p
        sum_y[m] += y
    ece, mce = 0.0, 0.0
    for c, sp, sy in zip(counts, sum_p, sum_y, strict=True):
        if c:
            gap = abs(sy / c - sp / c)
            ece += c / len(labels) * gap
            mce = max(mce, gap)
    return ece, mce


def baseline_temperature(z: np.ndarray, y: np.ndarray, grid: np.ndarray) -> tuple[float, dict]:
    """The study's TS loop: per T, softmax, sklearn log_loss and the per-example ECE."""
    rows = {}
    for t in tqdm(grid, desc="baseline T", leave=False):
        p = softmax(z / t, axis=1)[:, 1]
        ece, mce = naive_ece_mce(y.tolist(), p.tolist(), N_BINS)
        rows[float(t)] = {"nll": log_loss(y, p, labels=[0, 1]), "ece": ece, "mce": mce}
    best = min(rows, key=lambda t: rows[t]["nll"])
    return best, rows


def baseline_gamma(z: np.ndarray, y: np.ndarray, grid: np.ndarray) -> tuple[float, dict]:
    """The study's BC loop: per γ, recalibrate and score everything with sklearn."""
    log_p = log_softmax(z, axis=1)
    log_prior = np.log(np.exp(log_p).mean(axis=0))
    rows = {}
    for g in tqdm(grid, desc="baseline γ", leave=False):
        p = softmax(log_p - g * log_prior, axis=1)[:, 1]
        y_hat = (p >= 0.5).astype(int)
        ece, mce = naive_ece_mce(y.tolist(), p.tolist(), N_BINS)
        rows[float(g)] = {
            "nll": log_loss(y, p, labels=[0, 1]),
            "ece": ece,
            "mce": mce,
            "accuracy": accuracy_score(y, y_hat),
            "f1": f1_score(y, y_hat, zero_division=0),
            "precision": precision_score(y, y_hat, zero_division=0),
            "recall": recall_score(y, y_hat, zero_division=0),
        }
    best = min(rows, key=lambda g: (-rows[g]["accuracy"], rows[g]["nll"], abs(g), g))
    return best, rows


def guardcal_tuning(z: np.ndarray, y: np.ndarray) -> tuple[TemperatureScaling, BatchCalibration]:
    """What guardcal runs: both fits, every grid value scored."""
    return TemperatureScaling(n_bins=N_BINS).fit(z, y), BatchCalibration(n_bins=N_BINS).fit(z, y)


def largest_gaps(history: pd.DataFrame, rows: dict, key: str) -> dict[str, float]:
    """Per metric, the largest |guardcal − baseline| over the grid values the baseline ran."""
    table = history.set_index(key)
    metrics = next(iter(rows.values())).keys()
    return {m: max(abs(table.loc[v, m] - row[m]) for v, row in rows.items()) for m in metrics}


def main() -> int:
    """Time both, check they choose the same T (grid) and γ, print the speedup."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000, help="validation examples")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds for the full baseline")
    parser.add_argument("--repeats", type=int, default=7, help="guardcal timings (median taken)")
    args = parser.parse_args()

    z, y = synthetic_validation(args.n)
    print(
        f"validation examples: {args.n} (seeded), grids: {len(TEMPERATURE_GRID)} T + "
        f"{len(GAMMA_GRID)} γ, {N_BINS} bins"
    )

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ts, bc = guardcal_tuning(z, y)
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)
    print(
        f"guardcal TemperatureScaling.fit + BatchCalibration.fit: {ours:.3f} s "
        f"(median of {args.repeats})"
    )

    # Probe the baseline's cost on 5 values of each grid, then run all of it or every k-th value.
    start = time.perf_counter()
    baseline_temperature(z, y, TEMPERATURE_GRID[:5])
    baseline_gamma(z, y, GAMMA_GRID[:5])
    full = (time.perf_counter() - start) / 10 * (len(TEMPERATURE_GRID) + len(GAMMA_GRID))
    step = max(1, math.ceil(full / args.budget))
    t_grid, g_grid = TEMPERATURE_GRID[::step], GAMMA_GRID[::step]
    start = time.perf_counter()
    t_best, t_rows = baseline_temperature(z, y, t_grid)
    g_best, g_rows = baseline_gamma(z, y, g_grid)
    measured = time.perf_counter() - start
    if step == 1:
        theirs = measured
        print(f"baseline (the study's loop, {BASELINE}): {theirs:.2f} s (full grids)")
    else:
        theirs = measured * (len(TEMPERATURE_GRID) + len(GAMMA_GRID)) / (len(t_grid) + len(g_grid))
        print(
            f"baseline (the study's loop, {BASELINE}): {theirs:.2f} s "
            f"EXTRAPOLATED linearly from {measured:.2f} s on every {step}-th grid value "
            f"({len(t_grid)} T + {len(g_grid)} γ)"
        )

    # guardcal's choice restricted to the grid values the baseline saw, by the same rules.
    h_t = ts.history_.set_index("temperature").loc[t_grid]
    ours_t = float(h_t["nll"].idxmin())
    h_g = bc.history_.set_index("gamma").loc[g_grid]
    correct = np.rint(h_g["accuracy"].to_numpy() * args.n).astype(np.int64)
    ours_g = float(g_grid[select_gamma(correct, h_g["nll"].to_numpy(), g_grid)])
    agree = ours_t == t_best and ours_g == g_best
    print(f"chosen T (grid): guardcal {ours_t:g}, baseline {t_best:g}")
    print(f"chosen γ: guardcal {ours_g:g}, baseline {g_best:g}")
    print(f"refined T: {ts.temperature_:.4f}")
    for name, history, rows, key in (
        ("T", ts.history_, t_rows, "temperature"),
        ("γ", bc.history_, g_rows, "gamma"),
    ):
        gaps = ", ".join(f"{m} {gap:.1e}" for m, gap in largest_gaps(history, rows, key).items())
        print(f"largest |guardcal − baseline| over the {name} grid: {gaps}")
    print(
        "(NLL: guardcal's is exact from logits, sklearn's log_loss clips p to [eps, 1-eps], so they"
        " part where p saturates; ECE/MCE: the baseline bins by ceil(p·M), off at exact edges)"
    )
    print("choices agree" if agree else "CHOICES DISAGREE")
    print(f"tuning speedup: {theirs / ours:.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
