"""The calibration tests and guaranteed thresholds against their promises, at the note's sizes.

Run: .venv/bin/python benchmarks/bench_statistics.py [--sims 300] [--draws 1000]
- Spiegelhalter's Z beside an independent computation (the Brier score's standardised excess);
- the consistency test's p-values over --sims calibrated guards of 1,000 examples (999 label draws
  each): a KS test for uniformity, and its rejection rate at 5 % against an overconfident guard;
- Learn-then-Test thresholds over --draws validation splits of 1,000 items: how often the true
  FPR stays ≤ α = 0.05 (recall ≥ β = 0.9) with δ = 0.1, beside the point-estimate threshold.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import special, stats
from sklearn.metrics import brier_score_loss
from tqdm.auto import tqdm

from guardcal.calibration.calibration_tests import consistency_test, spiegelhalter
from guardcal.calibration.guarantees import guaranteed_threshold
from guardcal.calibration.simulation import KnownGuard
from guardcal.calibration.thresholds import threshold_for_recall

SAFE, UNSAFE = (-1.5, 1.5), (1.0, 1.5)
"""Logit (mean, sd) of the safe and unsafe items of the threshold simulation."""


def true_rate(threshold: float, mean_sd: tuple[float, float]) -> float:
    """P(p ≥ threshold) for items whose logit is N(mean, sd²)."""
    return float(stats.norm.sf(special.logit(threshold), *mean_sd)) if threshold < 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()

    y, p = KnownGuard(slope=1 / 1.6).draw(2000, np.random.default_rng(0))
    z, _ = spiegelhalter(y, p)
    n = y.shape[0]
    by_brier = (brier_score_loss(y, p) - np.mean(p * (1 - p))) / (
        np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p))) / n
    )
    print(f"Spiegelhalter Z: {z:.12f}; from the Brier score: {by_brier:.12f}")

    rng = np.random.default_rng(1)
    null = [
        consistency_test(*KnownGuard().draw(1000, rng), draws=999, seed=s)[1]
        for s in tqdm(range(args.sims), desc="calibrated", leave=False)
    ]
    over = [
        consistency_test(*KnownGuard(slope=1 / 1.6).draw(1000, rng), draws=999, seed=s)[1]
        for s in tqdm(range(args.sims), desc="overconfident", leave=False)
    ]
    ks = stats.kstest(null, "uniform")
    print(
        f"consistency test, {args.sims} calibrated guards of 1000: KS statistic {ks.statistic:.4f},"
        f" p-value {ks.pvalue:.3f}; rejected at 5 %: {np.mean(np.array(null) <= 0.05):.3f}"
        f" (calibrated), {np.mean(np.array(over) <= 0.05):.3f} (overconfident)"
    )

    alpha, beta, delta = 0.05, 0.9, 0.1
    kept = {"fpr": 0, "recall": 0, "fpr_point": 0, "recall_point": 0}
    rng = np.random.default_rng(2)
    for _ in tqdm(range(args.draws), desc="validation draws", leave=False):
        y = (rng.random(1000) < 0.4).astype(np.int64)
        g = np.where(y == 1, rng.normal(*UNSAFE, 1000), rng.normal(*SAFE, 1000))
        p = special.expit(g)
        kept["fpr"] += true_rate(guaranteed_threshold(y, p, "fpr", alpha, delta), SAFE) <= alpha
        kept["fpr_point"] += true_rate(np.quantile(p[y == 0], 1 - alpha), SAFE) <= alpha
        t = guaranteed_threshold(y, p, "recall", beta, delta)
        kept["recall"] += true_rate(t, UNSAFE) >= beta
        kept["recall_point"] += true_rate(threshold_for_recall(y, p, beta), UNSAFE) >= beta
    share = {k: v / args.draws for k, v in kept.items()}
    print(
        f"Learn-then-Test, {args.draws} validation draws of 1000, delta {delta}: "
        f"true FPR <= {alpha} in {share['fpr']:.3f} (point estimate {share['fpr_point']:.3f}); "
        f"true recall >= {beta} in {share['recall']:.3f} "
        f"(point estimate {share['recall_point']:.3f}); promised >= {1 - delta:.2f}"
    )


if __name__ == "__main__":
    main()
