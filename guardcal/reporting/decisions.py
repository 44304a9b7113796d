"""What a guard's user decides with (docs/design.md §11): per-harm-category recall, mean
p(unsafe) and ECE (`tables/category_metrics.csv`), operating points chosen on validation and
measured on test (`tables/operating_points.csv`), and for a three-level guard its own rule with
Controversial items sent to a human (`tables/controversial_review.csv`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from guardcal import scores
from guardcal.benchmarks.suite import load_split
from guardcal.calibration.bootstrap import (
    BatchResampled,
    percentile_interval,
    resample_counts,
    resample_indices,
)
from guardcal.calibration.guarantees import guaranteed_threshold
from guardcal.calibration.methods import REGISTRY, method_names
from guardcal.calibration.metrics import calibration_errors
from guardcal.calibration.selective import aurc, optimal_aurc
from guardcal.calibration.thresholds import (
    RULE_METRICS,
    review_band,
    rule_metrics,
    threshold_for_precision,
    threshold_for_recall,
)
from guardcal.config import Config, DecisionsConfig
from guardcal.policies import category_order
from guardcal.reporting.pipeline import (
    PREDICTION_COLUMNS,
    fit_run,
    logits_of,
    read_predictions,
)
from guardcal.reporting.tables import check_columns, write_csv

CATEGORY_METRICS_COLUMNS = (
    "model",
    "method",
    "category",
    "unsafe",
    "recall",
    "mean_proba_unsafe",
    "ece",
)
POINTS = ("precision", "recall", "review_band", "recall_guaranteed", "fpr_guaranteed")
"""A threshold for the target precision, one for the target recall, the narrowest review band
meeting both (each reached on validation), and thresholds whose recall ≥ the target or false
positive rate ≤ `target_fpr` hold with probability ≥ 1 − δ over the validation draw."""
OPERATING_COLUMNS = (
    "model",
    "method",
    "point",
    "target_precision",
    "target_recall",
    "target_fpr",
    "delta",
    "low",
    "high",
    *(f"{split}_{m}" for split in ("val", "test") for m in RULE_METRICS),
    *(f"test_{m}_{end}" for m in RULE_METRICS for end in ("lo", "hi")),
)
"""The rule's metrics on validation and test, and seeded bootstrap 95 % intervals on test."""


def category_keys(categories: pd.Series) -> list[str]:
    """The categories flagged anywhere in a split: BeaverTails' 14 in their order, then others."""
    return category_order(categories.explode().dropna())


def category_metrics(preds: pd.DataFrame, split: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """Per model, method and flagged category: how many unsafe items carry it, the share of them
    flagged (recall at p ≥ 0.5), their mean p(unsafe), and the ECE over the safe items together
    with the category's items. `split` is the normalised frame the predictions were made on."""
    preds = check_columns(preds, PREDICTION_COLUMNS, "predictions")
    flags = split.set_index(split["id"].astype(str))["categories"]
    keys = category_keys(flags)
    rows = []
    for model in preds["model"].unique():
        for method in method_names(study=True):
            block = preds[(preds["model"] == model) & (preds["method"] == method)]
            ids = block["id"].astype(str)
            missing = sorted(set(ids) - set(flags.index))
            if missing:
                raise ValueError(f"predictions of {model!r} name ids not in the split: {missing}")
            y = block["label"].to_numpy()
            p = block["proba_unsafe"].to_numpy()
            item_flags = flags.loc[ids].to_numpy()
            for key in keys:
                flagged = np.fromiter((key in f for f in item_flags), bool, len(item_flags))
                unsafe = flagged & (y == 1)
                subset = flagged | (y == 0)
                rows.append(
                    {
                        "model": model,
                        "method": method,
                        "category": key,
                        "unsafe": int(unsafe.sum()),
                        "recall": float(np.mean(p[unsafe] >= 0.5)) if unsafe.any() else np.nan,
                        "mean_proba_unsafe": float(np.mean(p[unsafe])) if unsafe.any() else np.nan,
                        "ece": float(calibration_errors(y[subset], p[subset], n_bins)[0]),
                    }
                )
    return pd.DataFrame(rows, columns=list(CATEGORY_METRICS_COLUMNS))


def resampled_rule_metrics(
    labels: np.ndarray, proba: np.ndarray, counts: np.ndarray, low: float, high: float
) -> dict[str, np.ndarray]:
    """`rule_metrics` of the band on every bootstrap resample: `counts` (B, N) says how often each
    test item was drawn, `proba` is (N,) or (B, N) (BC's p̂ moves with the resample's prior)."""
    proba = np.broadcast_to(proba, counts.shape)
    unsafe = labels == 1
    flagged, passed = proba >= high, proba < low
    decided = flagged | passed
    correct = (flagged & unsafe) | (passed & ~unsafe)

    def share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        total = (counts * den).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (counts * num).sum(axis=1) / total, np.nan)

    return {
        "precision": share(flagged & unsafe, flagged),
        "recall": share(unsafe & ~passed, np.broadcast_to(unsafe, counts.shape)),
        "fpr": share(flagged & ~unsafe, np.broadcast_to(~unsafe, counts.shape)),
        "review": share(~decided, np.ones_like(decided)),
        "auto_accuracy": share(correct, decided),
    }


def operating_points(
    validation: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    test: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    targets: DecisionsConfig,
    resampled: Mapping[tuple[str, str], np.ndarray] | None = None,
    counts: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per (model, method): the thresholds for the target precision and the target recall and the
    narrowest review band meeting both, chosen on validation (labels, p) and measured on test,
    and the Learn-then-Test thresholds guaranteeing the target recall or FPR with probability
    1 − δ (NaN where the validation split cannot certify any); with bootstrap `counts` (B, N),
    percentile intervals from each row's p on the resamples (`resampled`: (B, N) where p depends
    on the resample, as BC's does; else the test p)."""
    rows = []
    tp, tr, tf, delta = (
        targets.target_precision,
        targets.target_recall,
        targets.target_fpr,
        targets.delta,
    )
    nan = np.nan
    for key, (y_val, p_val) in validation.items():
        y_test, p_test = test[key]
        p_boot = (resampled or {}).get(key, p_test)
        t_precision = threshold_for_precision(y_val, p_val, tp)
        t_recall = threshold_for_recall(y_val, p_val, tr)
        # a recall of exactly 1 is never certified by a finite sample
        sure_recall = guaranteed_threshold(y_val, p_val, "recall", tr, delta) if tr < 1 else nan
        sure_fpr = guaranteed_threshold(y_val, p_val, "fpr", tf, delta)
        bands = {
            "precision": ((t_precision, t_precision), (tp, nan, nan, nan)),
            "recall": ((t_recall, t_recall), (nan, tr, nan, nan)),
            "review_band": (review_band(y_val, p_val, tp, tr), (tp, tr, nan, nan)),
            "recall_guaranteed": ((sure_recall, sure_recall), (nan, tr, nan, delta)),
            "fpr_guaranteed": ((sure_fpr, sure_fpr), (nan, nan, tf, delta)),
        }
        for point, ((low, high), targets_of) in bands.items():
            if np.isnan(low):  # nothing certified: no rule to measure
                rows.append(_uncertified_row(key, point, targets_of))
                continue
            val = rule_metrics(y_val, p_val, low, high)
            out = rule_metrics(y_test, p_test, low, high)
            ci = {}
            if counts is not None:
                boot = resampled_rule_metrics(np.asarray(y_test), p_boot, counts, low, high)
                for m, stats in boot.items():
                    lo, hi = percentile_interval(stats[:, None])
                    ci[f"test_{m}_lo"], ci[f"test_{m}_hi"] = float(lo[0]), float(hi[0])
            rows.append(
                {
                    **_targets(key, point, targets_of),
                    "low": low,
                    "high": high,
                    **{f"val_{m}": val[m] for m in RULE_METRICS},
                    **{f"test_{m}": out[m] for m in RULE_METRICS},
                    **ci,
                }
            )
    return pd.DataFrame(rows, columns=list(OPERATING_COLUMNS))


def _targets(
    key: tuple[str, str], point: str, targets: tuple[float, float, float, float]
) -> dict[str, object]:
    """The identifying columns of an operating point: guard, method, point and its targets."""
    names = ("target_precision", "target_recall", "target_fpr", "delta")
    return {
        "model": key[0],
        "method": key[1],
        "point": point,
        **dict(zip(names, targets, strict=True)),
    }


def _uncertified_row(
    key: tuple[str, str], point: str, targets: tuple[float, float, float, float]
) -> dict[str, object]:
    """A guaranteed point the validation split cannot certify: no thresholds, no metrics."""
    return {**_targets(key, point, targets), "low": np.nan, "high": np.nan}


REVIEW_COLUMNS = (
    "model",
    "views",
    *(f"{split}_{m}" for split in ("val", "test") for m in RULE_METRICS),
    *(f"test_{m}_{end}" for m in RULE_METRICS for end in ("lo", "hi")),
)
"""A three-level guard's own rule with Controversial items sent to a human: its rule metrics on
validation and test, and seeded bootstrap 95 % intervals on test."""
LEVEL_BAND = (0.25, 0.75)
"""The review band that sends Controversial to review on `level_score`: Safe passes, Unsafe is
flagged."""


def level_score(levels: np.ndarray) -> np.ndarray:
    """0 where Safe, 0.5 where Controversial, 1 where Unsafe has the largest of a three-level
    guard's (N, 3) logits: its own verdict as a score `rule_metrics` reads with `LEVEL_BAND`."""
    return np.argmax(levels, axis=1) / 2.0


def controversial_review(cfg: Config, counts: np.ndarray | None = None) -> pd.DataFrame:
    """Per three-level guard (its strict and loose views share one scoring pass, so one row for
    all of a model's views): Unsafe flagged, Safe passed, Controversial to a human, measured on
    validation and test (bootstrap `counts` (B, N): test intervals)."""
    views: dict[str, list[str]] = {}
    for spec in cfg.models:
        if scores.read_levels(cfg, spec.name, "test") is not None:
            views.setdefault(spec.model, []).append(spec.name)
    rows = []
    low, high = LEVEL_BAND
    for names in views.values():
        row: dict[str, object] = {"model": names[0], "views": ", ".join(names)}
        for split, tag in (("validation", "val"), ("test", "test")):
            y = scores.read_scores(cfg, names[0], split)["label"].to_numpy()
            p = level_score(scores.read_levels(cfg, names[0], split))
            row.update({f"{tag}_{m}": v for m, v in rule_metrics(y, p, low, high).items()})
            if split == "test" and counts is not None:
                boot = resampled_rule_metrics(y, p, counts, low, high)
                for m, stats in boot.items():
                    lo, hi = percentile_interval(stats[:, None])
                    row[f"test_{m}_lo"], row[f"test_{m}_hi"] = float(lo[0]), float(hi[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(REVIEW_COLUMNS))


def controversial_review_display(review: pd.DataFrame) -> pd.DataFrame:
    """The Controversial-to-review rule as the report shows it, a row per three-level guard."""
    review = check_columns(review, REVIEW_COLUMNS, "controversial review")
    return pd.DataFrame(
        {
            "Model": review["model"],
            "Views": review["views"],
            "Val review": review["val_review"],
            "Test precision": review["test_precision"],
            "Test recall": review["test_recall"],
            "Test review": review["test_review"],
            "Auto accuracy": review["test_auto_accuracy"],
        }
    )


def by_model_method(preds: pd.DataFrame) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(model, method) → (labels, p_unsafe) of a long predictions frame, in its order."""
    return {
        (model, method): (g["label"].to_numpy(), g["proba_unsafe"].to_numpy())
        for (model, method), g in preds.groupby(["model", "method"], sort=False)
    }


def write_decision_tables(cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `category_metrics.csv` and `risk_coverage.csv` (test split), and
    `operating_points.csv` (validation → test, with seeded bootstrap intervals — the config's
    resamples and seed, the draw "Beyond the study" uses; test items resampled, calibrators
    fitted once; BC's prior is each resample's own, as BC applied to the resampled batch), and
    for a run with a three-level guard `controversial_review.csv` on the same resamples."""
    preds = read_predictions(cfg)
    test = load_split(cfg, "test")
    categories = category_metrics(preds, test, cfg.calibration.ece_bins)
    c = cfg.calibration
    indices = resample_indices(len(test), c.bootstrap_resamples, c.bootstrap_seed)
    counts = resample_counts(indices, len(test))
    validation, resampled = {}, {}
    study = method_names(study=True)
    for name, fitted in fit_run(cfg, study).items():
        frame = scores.read_scores(cfg, name, "validation")
        y = frame["label"].to_numpy()
        for method, p in fitted.proba_unsafe(logits_of(frame), study).items():
            validation[name, method] = (y, p)
        z = logits_of(scores.read_scores(cfg, name, "test"))
        for method in study:
            if REGISTRY[method].batch_prior:
                resampled[name, method] = BatchResampled(z, fitted[method].gamma_)(counts)
    points = operating_points(validation, by_model_method(preds), cfg.decisions, resampled, counts)
    write_csv(categories, cfg.layout.table("category_metrics"))
    write_csv(points, cfg.layout.table("operating_points"))
    write_csv(risk_coverage_table(preds), cfg.layout.table("risk_coverage"))
    review = controversial_review(cfg, counts)
    if len(review):
        write_csv(review, cfg.layout.table("controversial_review"))
    return categories, points


RISK_COVERAGE_COLUMNS = ("model", "method", "aurc", "aurc_optimal")
"""`risk_coverage.csv`: each guard and method's area under its risk–coverage curve on test, and
that of a ranking putting every wrong verdict last (its floor)."""


def risk_coverage_table(preds: pd.DataFrame) -> pd.DataFrame:
    """AURC and its floor per guard and study method, from the test predictions."""
    rows = [
        {"model": model, "method": method, "aurc": aurc(y, p), "aurc_optimal": optimal_aurc(y, p)}
        for (model, method), (y, p) in by_model_method(preds).items()
    ]
    return pd.DataFrame(rows, columns=list(RISK_COVERAGE_COLUMNS))


POINT_LABELS = {
    "precision": "precision target",
    "recall": "recall target",
    "review_band": "both",
    "recall_guaranteed": "recall target, guaranteed",
    "fpr_guaranteed": "FPR target, guaranteed",
}


def operating_points_display(points: pd.DataFrame) -> pd.DataFrame:
    """The operating points as the report shows them: a row per guard, method and point."""
    points = check_columns(points, OPERATING_COLUMNS, "operating points")
    return pd.DataFrame(
        {
            "Model": points["model"],
            "Method": points["method"].map(lambda m: REGISTRY[m].label),
            "Meets": points["point"].map(POINT_LABELS),
            "Low": points["low"],
            "High": points["high"],
            "Val review": points["val_review"],
            "Test precision": points["test_precision"],
            "Test recall": points["test_recall"],
            "Test FPR": points["test_fpr"],
            "Test review": points["test_review"],
            "Auto accuracy": points["test_auto_accuracy"],
        }
    )
