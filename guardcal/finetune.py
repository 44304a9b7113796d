"""The embedded fine-tuned guard: SmolLM2's two verbalizer rows refitted on the demo train split.

A logistic regression on the final hidden state h at the verdict position (the position the
scorer reads) gives a decision function d(h) = w·h + b. It is written into an untied copy of
the output layer, keeping every other row:

    row_safe   = −w/2,  bias_safe   = β − b/2
    row_unsafe = +w/2,  bias_unsafe = β + b/2

so logit_unsafe − logit_safe = d(h) exactly, and the model still answers through the `safe` /
`uns` tokens. The shared bias β = max over the fitting rows of logsumexp(other tokens' logits)
+ log(0.99 / 0.01) makes the two label tokens hold ≥ 99 % of the softmax on every fitting row,
as a guard fine-tuned on its label words does, so `label_mass` stays meaningful.

The rows are fitted once per machine on the demo train split minus the demo config's
validation rows — whatever a run then evaluates the guard on — and kept in the user cache,
keyed by a fingerprint of everything that shaped them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import guardcal
from guardcal.config import Config, load_config, resolve_path
from guardcal.data import dataset_fingerprint, load_records, split_fraction
from guardcal.forward import LastHidden, final_hidden
from guardcal.prompts import GuardPrompt

FOLDER = "smollm2-135m-finetuned"
# Logistic regression: inverse regularisation strengths tried by deterministic 5-fold CV
# (unshuffled stratified folds) on standardised states, scored by log-loss.
HYPERPARAMETERS = {
    "Cs": [float(c) for c in np.logspace(-4, 2, 13)],
    "folds": 5,
    "scoring": "neg_log_loss",
    "label_mass": 0.99,
}


@dataclass(frozen=True)
class LabelRows:
    """The fitted output-layer rows: token ids [safe, unsafe], their weights and biases."""

    key: str
    token_ids: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def save(self, path: Path) -> None:
        """Write an `.npz` (no pickles) through a temporary file and a rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    key=np.array(self.key),
                    token_ids=self.token_ids,
                    weight=self.weight,
                    bias=self.bias,
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> LabelRows:
        """Read rows written by `save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(str(z["key"]), z["token_ids"], z["weight"], z["bias"])


def demo_config() -> Config:
    """The shipped demo config: its train split and validation rows define the fitting set."""
    return load_config(None)


def fitting_frame(cfg: Config) -> pd.DataFrame:
    """The demo train split minus the demo config's validation rows."""
    src = cfg.dataset.validation
    base = Path(cfg.source_file).parent if cfg.source_file else None
    train = load_records(
        resolve_path(src.path, base), cfg.dataset.columns, cfg.dataset.label_values
    )
    if src.fraction is None:
        raise ValueError(f"{cfg.source_file}: the demo validation split must be a fraction")
    return split_fraction(train, src.fraction, src.seed)[1]


def label_token_ids(tokenizer: PreTrainedTokenizerBase, verbalizer: dict[str, str]) -> np.ndarray:
    """The first token of each label word, [safe, unsafe] (the study's verbalizer)."""
    return np.array(
        [
            tokenizer.encode(verbalizer[label], add_special_tokens=False)[0]
            for label in ("safe", "unsafe")
        ],
        dtype=np.int64,
    )


def rows_key(backbone: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """A fingerprint of everything that shapes the fitted rows, computed without the model."""
    cfg = demo_config()
    src = cfg.dataset.validation
    prompt = GuardPrompt(cfg.prompt.taxonomy, "chat", tokenizer)
    parts = {
        "backbone": backbone,
        "data": dataset_fingerprint(fitting_frame(cfg)),
        "split": {"path": src.path, "fraction": src.fraction, "seed": src.seed},
        "template": prompt.template_hash(),
        "max_response_words": cfg.prompt.max_response_words,
        "token_ids": label_token_ids(tokenizer, cfg.prompt.verbalizer).tolist(),
        "hyperparameters": HYPERPARAMETERS,
        "guardcal": guardcal.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def fit_rows(
    hidden: np.ndarray, labels: np.ndarray, head: np.ndarray, token_ids: np.ndarray, key: str
) -> LabelRows:
    """Fit the two label rows from final hidden states (N, H), labels (1 = unsafe) and the
    original output-layer weight (V, H)."""
    x = hidden.astype(np.float64)
    scaler = StandardScaler().fit(x)
    lr = LogisticRegressionCV(
        Cs=HYPERPARAMETERS["Cs"],
        cv=StratifiedKFold(HYPERPARAMETERS["folds"]),
        scoring=HYPERPARAMETERS["scoring"],
        max_iter=10_000,
    ).fit(scaler.transform(x), labels)
    w = lr.coef_[0] / scaler.scale_
    b = float(lr.intercept_[0] - w @ scaler.mean_)
    others = np.delete(x @ head.astype(np.float64).T, token_ids, axis=1)
    mass = HYPERPARAMETERS["label_mass"]
    beta = float(logsumexp(others, axis=1).max() + np.log(mass / (1 - mass)))
    return LabelRows(
        key=key,
        token_ids=token_ids,
        weight=np.stack([-w / 2, w / 2]).astype(np.float32),
        bias=np.array([beta - b / 2, beta + b / 2], dtype=np.float32),
    )


def label_rows(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, backbone: str, cache: Path
) -> LabelRows:
    """The fine-tuned guard's rows: from the user cache, else fitted (one forward pass over the
    fitting rows) and cached."""
    key = rows_key(backbone, tokenizer)
    path = cache / FOLDER / f"{key}.npz"
    if path.is_file():
        return LabelRows.load(path)
    cfg = demo_config()
    frame = fitting_frame(cfg)
    prompt = GuardPrompt(cfg.prompt.taxonomy, "chat", tokenizer)
    with tqdm(total=len(frame), desc="fitting the fine-tuned guard's rows", unit="ex") as bar:
        hidden = final_hidden(
            LastHidden(model), prompt, tokenizer, frame, cfg.prompt.max_response_words, bar
        )
    head = model.get_output_embeddings().weight
    rows = fit_rows(
        hidden.float().cpu().numpy(),
        frame["label"].to_numpy(),
        head.detach().to(torch.float32).cpu().numpy(),
        label_token_ids(tokenizer, cfg.prompt.verbalizer),
        key,
    )
    rows.save(path)
    return rows
