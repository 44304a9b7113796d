"""Report tables computed the slow, obvious way, for tests to compare the library's against."""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import recall_score

from guardcal.calibration.metrics import expected_calibration_error


def recompute_categories(preds: pd.DataFrame, split: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """The per-category table the slow way: one merge, then pandas/sklearn per group."""
    flags = split[["id", "categories"]].explode("categories").dropna()
    rows = []
    for (model, method), block in preds.groupby(["model", "method"], sort=False):
        for category, ids in flags.groupby("categories")["id"]:
            mine = block[block["id"].isin(set(ids))]
            unsafe = mine[mine["label"] == 1]
            subset = pd.concat([block[block["label"] == 0], mine]).drop_duplicates("id")
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "category": category,
                    "unsafe": len(unsafe),
                    "recall": recall_score(unsafe["label"], unsafe["proba_unsafe"] >= 0.5),
                    "mean_proba_unsafe": unsafe["proba_unsafe"].mean(),
                    "ece": expected_calibration_error(
                        subset["label"], subset["proba_unsafe"], n_bins
                    ),
                }
            )
    return pd.DataFrame(rows)
