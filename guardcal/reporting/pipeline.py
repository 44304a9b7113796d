"""The study from the scores files: fit the calibrators, evaluate every method, write the tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from guardcal import artifact, records, scores
from guardcal.benchmarks.suite import load_split
from guardcal.calibration import check_logits, proba_unsafe
from guardcal.calibration.fitted import FittedCalibrators, fit_calibrators
from guardcal.calibration.methods import method_names
from guardcal.calibration.metrics import evaluate
from guardcal.calibration.protocol import FitInputs
from guardcal.config import CalibrationConfig, Config, load_config, read_run_config
from guardcal.policies import category_order
from guardcal.reporting.tables import (
    METRICS_COLUMNS,
    TUNING_COLUMNS,
    TUNING_METRICS,
    check_columns,
    final_table_latex,
    write_csv,
    write_parquet,
    write_text,
)

SIZES_COLUMNS = ("split", "examples", "safe", "unsafe", "with_response")
CATEGORY_COLUMNS = ("split", "category", "count")
PREDICTION_COLUMNS = ("model", "method", "id", "label", "proba_unsafe")


def run_config(run_dir: str | Path | None = None) -> Config:
    """The config a report's notebooks read: the one `guardcal report` resolved and wrote into
    the run folder `run_dir` (`reports/<run>/config.yaml`); the shipped demo when None (a
    notebook opened by hand)."""
    return load_config(None) if run_dir is None else read_run_config(run_dir)


def scores_summary(cfg: Config) -> pd.DataFrame:
    """Per guard and split: rows, mean p_unsafe, unsafe share and mean label mass of the scores."""
    rows = []
    for m in cfg.models:
        for split in records.SPLITS:
            frame = scores.read_scores(cfg, m.name, split)
            labelled = frame[frame["label"] >= 0]
            rows.append(
                {
                    "model": m.name,
                    "split": split,
                    "examples": len(frame),
                    "unsafe_share": float((labelled["label"] == 1).mean())
                    if len(labelled)
                    else None,
                    "mean_proba_unsafe": float(proba_unsafe(logits_of(frame)).mean()),
                    "mean_label_mass": float(frame["label_mass"].mean()),
                }
            )
    return pd.DataFrame(rows)


def read_table(cfg: Config, name: str) -> pd.DataFrame:
    """A table the pipeline wrote, by name (`metrics`, `tuning`, `tuning_temperature`, …)."""
    path = cfg.layout.table(name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not written yet; run the notebook that makes it first")
    return pd.read_csv(path)


def read_predictions(cfg: Config) -> pd.DataFrame:
    """Test-split p_unsafe of every model and method, as written by `evaluate_run`; a suite's
    file holds every benchmark's (a `benchmark` column), of which these are the rows of the one
    the test split is drawn from."""
    preds = pd.read_parquet(cfg.layout.table("predictions", ".parquet"))
    if "benchmark" in preds.columns:
        test = preds["benchmark"] == cfg.dataset.test.benchmark
        preds = preds[test].drop(columns="benchmark").reset_index(drop=True)
    return preds


def logits_of(scores: pd.DataFrame) -> np.ndarray:
    """The (N, 2) [safe, unsafe] logits of a scores frame."""
    return check_logits(scores[["logit_safe", "logit_unsafe"]].to_numpy(dtype=np.float64))


def fit_model(
    model: str,
    validation: pd.DataFrame,
    content_free: pd.DataFrame,
    calibration: CalibrationConfig,
    methods: Iterable[str] | None = None,
) -> FittedCalibrators:
    """Fit one guard's calibrators of `methods` (default every registered one) from its
    validation and content-free scores frames."""
    inputs = FitInputs(
        logits=logits_of(validation),
        labels=validation["label"].to_numpy(),
        content_free=logits_of(content_free),
        settings=calibration,
    )
    return fit_calibrators(model, inputs, methods)


def fit_run(cfg: Config, methods: Iterable[str] | None = None) -> dict[str, FittedCalibrators]:
    """Every configured guard's calibrators of `methods` (default all), fitted from the run's
    scores files."""
    return {
        m.name: fit_model(
            m.name,
            scores.read_scores(cfg, m.name, "validation"),
            scores.read_scores(cfg, m.name, "content_free"),
            cfg.calibration,
            methods,
        )
        for m in cfg.models
    }


def predictions(fitted: FittedCalibrators, scores: pd.DataFrame) -> pd.DataFrame:
    """Long frame `model, method, id, label, proba_unsafe` of one split under the study's
    methods."""
    probas = fitted.proba_unsafe(logits_of(scores), method_names(study=True))
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "model": fitted.model,
                    "method": method,
                    "id": scores["id"].astype(str).to_numpy(),
                    "label": scores["label"].to_numpy(dtype=np.int64),
                    "proba_unsafe": probas[method],
                }
            )
            for method in probas
        ],
        ignore_index=True,
    )


def metrics_table(preds: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """`metrics.csv`: every metric of every (model, method), models in order, then the study's
    methods in the registry's order."""
    preds = check_columns(preds, PREDICTION_COLUMNS, "predictions")
    rows = []
    for model in preds["model"].unique():
        for method in method_names(study=True):
            p = preds[(preds["model"] == model) & (preds["method"] == method)]
            scores = evaluate(p["label"].to_numpy(), p["proba_unsafe"].to_numpy(), n_bins=n_bins)
            rows.append({"model": model, "method": method, **scores})
    return check_columns(pd.DataFrame(rows), METRICS_COLUMNS, "metrics table")


TUNED = (("ts", "temperature"), ("bc", "gamma"))
"""The study's two methods tuned on a grid, with their parameter (the fitted `<parameter>_`)."""


def tuning_rows(fitted: FittedCalibrators, validation: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """One guard's rows of `tuning.csv`: T and γ with the validation metrics at each."""
    z, y = logits_of(validation), validation["label"].to_numpy()
    probas = fitted.proba_unsafe(z, [method for method, _ in TUNED])
    rows = []
    for method, parameter in TUNED:
        value = getattr(fitted[method], f"{parameter}_")
        scores = evaluate(y, probas[method], n_bins=n_bins)
        rows.append(
            {
                "model": fitted.model,
                "method": method,
                "parameter": parameter,
                "value": value,
                **{k: scores[k] for k in TUNING_METRICS},
            }
        )
    return check_columns(pd.DataFrame(rows), TUNING_COLUMNS, "tuning table")


def tuning_history(fitted: Mapping[str, FittedCalibrators], method: str) -> pd.DataFrame:
    """The grid search of `ts` (per T) or `bc` (per γ) of every guard, with a `model` column."""
    frames = []
    for name, f in fitted.items():
        history = f[method].history_
        frames.append(history.assign(model=name)[["model", *history.columns]])
    return pd.concat(frames, ignore_index=True)


def dataset_summary(frames: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per split: sizes and label counts, and how many examples carry each harm-category flag."""
    sizes, categories = [], []
    for split, df in frames.items():
        unsafe = int((df["label"] == 1).sum())
        sizes.append(
            {
                "split": split,
                "examples": len(df),
                "safe": len(df) - unsafe,
                "unsafe": unsafe,
                "with_response": int(df["response"].notna().sum()),
            }
        )
        counts = df["categories"].explode().dropna().value_counts()
        for category in category_order(counts.index):
            categories.append(
                {"split": split, "category": category, "count": int(counts[category])}
            )
    return (
        pd.DataFrame(sizes, columns=list(SIZES_COLUMNS)),
        pd.DataFrame(categories, columns=list(CATEGORY_COLUMNS)),
    )


def summarise_data(cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `dataset.csv` and `categories.csv` for the evaluated splits (the setup section)."""
    frames = {s: load_split(cfg, s) for s in records.EVALUATED_SPLITS}
    sizes, categories = dataset_summary(frames)
    write_csv(sizes, cfg.layout.table("dataset"))
    write_csv(categories, cfg.layout.table("categories"))
    return sizes, categories


def write_calibrated_guard(cfg: Config, fitted: FittedCalibrators) -> Path:
    """`calibrators/<model>.json`: every fitted calibrator as `guardcal predict` reads them."""
    validation = cfg.layout.scores(fitted.model, "validation")
    counts = {
        split: len(scores.read_scores(cfg, fitted.model, split))
        for split in ("validation", "content_free")
    }
    document = artifact.build_artifact(cfg, fitted, scores.read_meta(validation), counts)
    return artifact.write_artifact(cfg.layout.calibrator(fitted.model), document)


def tune(cfg: Config) -> pd.DataFrame:
    """Fit every guard's calibrators; write `tuning.csv`, the T and γ grid histories and each
    calibrated guard's `calibrators/<model>.json`."""
    fitted = fit_run(cfg)
    for f in fitted.values():
        write_calibrated_guard(cfg, f)
    tuning = pd.concat(
        [
            tuning_rows(f, scores.read_scores(cfg, name, "validation"), cfg.calibration.ece_bins)
            for name, f in fitted.items()
        ],
        ignore_index=True,
    )
    write_csv(tuning, cfg.layout.table("tuning"))
    write_csv(tuning_history(fitted, "ts"), cfg.layout.table("tuning_temperature"))
    write_csv(tuning_history(fitted, "bc"), cfg.layout.table("tuning_gamma"))
    return tuning


def evaluate_run(cfg: Config) -> pd.DataFrame:
    """Evaluate the study's methods on test; write `metrics.csv`, `metrics.tex` and the
    predictions."""
    fitted = fit_run(cfg, method_names(study=True))
    preds = pd.concat(
        [predictions(f, scores.read_scores(cfg, name, "test")) for name, f in fitted.items()],
        ignore_index=True,
    )
    metrics = metrics_table(preds, cfg.calibration.ece_bins)
    write_csv(metrics, cfg.layout.table("metrics"))
    write_text(cfg.layout.table("metrics", ".tex"), final_table_latex(metrics))
    write_parquet(preds, cfg.layout.table("predictions", ".parquet"))
    return metrics
