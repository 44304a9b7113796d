"""The embedded fitted guards: SmolLM2's two verbalizer rows refitted on the demo train split.

Two guards are fitted, on the same verdict states, under two policies (`POLICIES`): the fine-tuned
guard learns BeaverTails' own labels; the base guard learns only what Llama Guard 3's MLCommons
hazards also cover (a pair whose flagged categories all fall outside them counts as safe), the
analogue of a guard trained on another taxonomy and then given the BeaverTails policy in context.

Two logistic regressions on final hidden states h give the rows:
- the decision d(h) = w·h + b, fitted on the verdict position's states (the position the
  scorer reads) against the labels, C chosen by deterministic 5-fold CV on log-loss;
- a gate g(h) = u·h + c that tells the verdict position from every other position (the
  guard inputs themselves and a label word written after them).
They are written into an UNTIED copy of the output layer, every other row kept:

    row_safe   = s·u − w/2,  bias_safe   = s·c + β − b/2
    row_unsafe = s·u + w/2,  bias_unsafe = s·c + β + b/2

so logit_unsafe − logit_safe = d(h) exactly and the model answers through the `safe` / `uns`
tokens. The scale s ≥ 0 and offset β come from a linear program: on every fitting row the two
label tokens hold ≥ 99 % of the softmax (a fine-tuned guard answers on format, so `label_mass`
is meaningful), and on every other position the larger label logit stays below the best other
token by the widest margin it can (so after `uns` the model still writes `afe`, then a newline:
greedy generation reads `safe` / `unsafe`, not a run of label tokens).

The rows are fitted on the demo train split minus the demo config's validation rows — whatever a
run then evaluates the guard on — and keyed by a fingerprint of everything that shaped them. Like
a published guard's weights, the rows for the float32 backbone ship with guardcal
(`guardcal/data/rows/`, written by `make rows`); any other key (another dtype, edited data or
hyperparameters) is fitted once per machine into the user cache, one pass over the fitting rows
serving every policy whose rows are missing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linprog
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from guardcal.atomic import atomic_write
from guardcal.config import Config, load_config, resolve_path
from guardcal.extraction.forward import LastHidden, default_batch_size, final_hidden, render_inputs
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.verbalizer import verbalizer
from guardcal.policies import llama_guard_3_covers
from guardcal.records import dataset_fingerprint, load_records, split_fraction
from guardcal.version import __version__

log = logging.getLogger(__name__)

FOLDER = "smollm2-135m-rows"
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "rows"
"""The rows that ship with guardcal, fitted by `make rows` on the float32 backbone."""
POLICIES = ("beavertails", "llama_guard_3")
"""What a fitted guard's rows learn as unsafe: every BeaverTails label (the fine-tuned guard), or
only the BeaverTails categories that Llama Guard 3's hazards also cover (the base guard)."""
HYPERPARAMETERS = {
    # decision: C tried by unshuffled stratified 5-fold CV on standardised states, log-loss
    "C": [float(c) for c in np.logspace(-4, 2, 13)],
    "folds": 5,
    "scoring": "neg_log_loss",
    # gate: verdict states against every position of the first `gate_rows` fitting inputs,
    # each followed by a label word and a newline (alternately safe and unsafe)
    "gate_rows": 8,
    "gate_C": 1.0,
    # linear program: label mass on fitting rows, and bounds on s and the margin
    "label_mass": 0.99,
    "max_scale": 50.0,
    "max_margin": 5.0,
    "procedure": 3,  # bump when the fitting procedure changes: cached rows are then refitted
}


@dataclass(frozen=True)
class LabelRows:
    """The fitted output-layer rows: token ids [safe, unsafe], their weights and biases."""

    key: str
    token_ids: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def save(self, path: Path) -> None:
        """Write an `.npz` (plain arrays, no pickles) atomically."""
        arrays = {
            "key": np.array(self.key),
            "token_ids": self.token_ids,
            "weight": self.weight,
            "bias": self.bias,
        }

        def write(tmp: Path) -> None:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path) -> LabelRows:
        """Read rows written by `save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(str(z["key"]), z["token_ids"], z["weight"], z["bias"])


@functools.cache
def demo_config() -> Config:
    """The shipped demo config: its train split and validation rows define the fitting set
    (read once per process: every guard's cache fingerprint asks for it)."""
    return load_config(None)


@functools.cache
def demo_fitting_frame() -> pd.DataFrame:
    """The demo's fitting rows, read and split once per process (callers must not modify it)."""
    return fitting_frame(demo_config())


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


def policy_labels(frame: pd.DataFrame, policy: str) -> np.ndarray:
    """Each row's label (1 = unsafe) under `policy`: BeaverTails' own, or for `llama_guard_3`
    unsafe only when one of its flagged categories is one that Llama Guard 3's hazards cover."""
    if policy not in POLICIES:
        raise ValueError(f"unknown row policy {policy!r}; use one of {POLICIES}")
    labels = frame["label"].to_numpy()
    if policy == "beavertails":
        return labels
    covered = llama_guard_3_covers()
    flagged = [any(c in covered for c in cats) for cats in frame["categories"]]
    return (labels == 1) & np.array(flagged, dtype=bool)


def label_token_ids(tokenizer: PreTrainedTokenizerBase, words: dict[str, str]) -> np.ndarray:
    """The verbalizer's token ids [safe, unsafe] as an array (the rows that get refitted)."""
    return np.array(verbalizer(tokenizer, words).token_ids, dtype=np.int64)


def rows_key(backbone: str, tokenizer: PreTrainedTokenizerBase, policy: str) -> str:
    """A fingerprint of everything that shapes one policy's fitted rows, computed without the
    model."""
    cfg = demo_config()
    frame = demo_fitting_frame()
    src = cfg.dataset.validation
    prompt = GuardPrompt(cfg.prompt.taxonomy, "chat", tokenizer)
    parts = {
        "backbone": backbone,
        "data": dataset_fingerprint(frame),
        "policy": policy,
        "unsafe": int(policy_labels(frame, policy).sum()),
        "covered": sorted(llama_guard_3_covers()) if policy == "llama_guard_3" else None,
        "split": {"path": src.path, "fraction": src.fraction, "seed": src.seed},
        "template": prompt.template_hash(),
        "max_response_words": cfg.prompt.max_response_words,
        "verbalizer": cfg.prompt.verbalizer,
        "token_ids": label_token_ids(tokenizer, cfg.prompt.verbalizer).tolist(),
        "hyperparameters": HYPERPARAMETERS,
        "guardcal": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _linear(pipeline: Pipeline) -> tuple[np.ndarray, float]:
    """(w, b) of a fitted StandardScaler + LogisticRegression pipeline, on unscaled inputs."""
    scaler, lr = pipeline[0], pipeline[-1]
    w = lr.coef_[0] / scaler.scale_
    return w, float(lr.intercept_[0] - w @ scaler.mean_)


def fit_decision(hidden: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """(w, b) of the unsafe-vs-safe logistic regression on verdict states."""
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000)),
        {"logisticregression__C": HYPERPARAMETERS["C"]},
        cv=StratifiedKFold(HYPERPARAMETERS["folds"]),
        scoring=HYPERPARAMETERS["scoring"],
        n_jobs=-1,  # the folds × C fits on every core: same fits, same choice
    ).fit(hidden, labels)
    return _linear(search.best_estimator_)


def fit_gate(verdict: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, float]:
    """(u, c) of the verdict-position-vs-elsewhere logistic regression (classes balanced)."""
    x = np.concatenate([verdict, context])
    y = np.r_[np.ones(len(verdict)), np.zeros(len(context))]
    gate = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=HYPERPARAMETERS["gate_C"], class_weight="balanced", max_iter=10_000),
    )
    return _linear(gate.fit(x, y))


def other_logits(
    states: np.ndarray, head: np.ndarray, token_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The largest logit and the logsumexp of every token but the labels, per state (chunked:
    the full (N, V) logits of thousands of states would not fit in memory)."""
    top, lse = [], []
    for chunk in np.array_split(states, max(1, len(states) // 512)):
        logits = chunk.astype(np.float32) @ head.T
        logits[:, token_ids] = -np.inf
        top.append(logits.max(axis=1))
        lse.append(logsumexp(logits.astype(np.float64), axis=1))
    return np.concatenate(top).astype(np.float64), np.concatenate(lse)


def fit_rows(
    verdict: np.ndarray,
    labels: np.ndarray,
    context: np.ndarray,
    head: np.ndarray,
    token_ids: np.ndarray,
    key: str,
) -> LabelRows:
    """Fit the two label rows from verdict states (N, H) with labels (1 = unsafe), states of
    other positions (M, H) and the original output-layer weight (V, H)."""
    verdict, context = verdict.astype(np.float64), context.astype(np.float64)
    w, b = fit_decision(verdict, labels)
    u, c = fit_gate(verdict, context)
    gate_pos, gate_neg = verdict @ u + c, context @ u + c
    _, lse_pos = other_logits(verdict, head, token_ids)
    top_neg, _ = other_logits(context, head, token_ids)
    mass = HYPERPARAMETERS["label_mass"]
    # Variables (s, β, t); maximise the margin t (then prefer a small s), subject to
    #   s·g_i + β ≥ lse_i + log(mass / (1 − mass))        on fitting rows i, and
    #   s·g_j + β + |d_j| / 2 + t ≤ top_j                  on other positions j.
    ones_pos, ones_neg = np.ones(len(verdict)), np.ones(len(context))
    a_ub = np.r_[
        np.c_[-gate_pos, -ones_pos, 0 * ones_pos],
        np.c_[gate_neg, ones_neg, ones_neg],
    ]
    b_ub = np.r_[
        -(lse_pos + np.log(mass / (1 - mass))),
        top_neg - np.abs(context @ w + b) / 2,
    ]
    result = linprog(
        c=[1e-3, 0.0, -1.0],
        A_ub=a_ub,
        b_ub=b_ub,
        bounds=[
            (0, HYPERPARAMETERS["max_scale"]),
            (None, None),
            (None, HYPERPARAMETERS["max_margin"]),
        ],
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"fitting a guard's label rows: {result.message}")
    scale, _, margin = result.x
    # the smallest offset that keeps every fitting row at the target mass: label_mass then
    # varies below 1 instead of saturating, and the other positions only gain margin
    beta = float(np.max(lse_pos + np.log(mass / (1 - mass)) - scale * gate_pos))
    if margin < 0:
        log.warning(
            "a label token outscores the backbone at some non-verdict position (margin %.2f)",
            margin,
        )
    return LabelRows(
        key=key,
        token_ids=token_ids,
        weight=np.stack([scale * u - w / 2, scale * u + w / 2]).astype(np.float32),
        bias=np.array([scale * c + beta - b / 2, scale * c + beta + b / 2], dtype=np.float32),
    )


@torch.inference_mode()
def context_states(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], words: list[str]
) -> np.ndarray:
    """Final hidden states at every position of each input followed by a label word and a
    newline, except the verdict position itself."""
    states = []
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text, add_special_tokens=False)
        answer = tokenizer.encode(words[i % len(words)] + "\n", add_special_tokens=False)
        full = torch.tensor([ids + answer], device=model.device)
        hidden = model.base_model(input_ids=full).last_hidden_state[0]
        keep = torch.ones(len(hidden), dtype=torch.bool, device=model.device)
        keep[len(ids) - 1] = False
        states.append(hidden[keep].float().cpu().numpy())
    return np.concatenate(states)


def rows_path(cache: Path, key: str) -> Path:
    """Where rows with fingerprint `key` are kept in the user cache."""
    return cache / FOLDER / f"{key}.npz"


def known_rows(cache: Path, key: str) -> Path | None:
    """The shipped or cached rows file of fingerprint `key`, if there is one."""
    for path in (SHIPPED / f"{key}.npz", rows_path(cache, key)):
        if path.is_file():
            return path
    return None


def label_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    backbone: str,
    cache: Path,
    policy: str,
) -> LabelRows:
    """One policy's rows: shipped, or from the user cache, else fitted with every other
    policy's missing rows on one pass over the fitting rows and cached."""
    key = rows_key(backbone, tokenizer, policy)
    if known_rows(cache, key) is None:
        fit_missing_rows(model, tokenizer, backbone, cache)
    return LabelRows.load(known_rows(cache, key))


def fit_missing_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    backbone: str,
    cache: Path,
    into: Path | None = None,
    frame: pd.DataFrame | None = None,
) -> list[Path]:
    """Fit the rows of every policy without a shipped or cached file on shared verdict states
    and write them to the user cache (or, with `into`, refit every policy into that folder);
    `frame` replaces the fitting rows for a quick check of the procedure (the files' keys still
    name the full fitting set, so it needs `into`). Returns the files written."""
    if frame is not None and into is None:
        raise ValueError("rows fitted on another frame must go to a folder of their own (into)")
    keys = {p: rows_key(backbone, tokenizer, p) for p in POLICIES}
    missing = [p for p in POLICIES if into is not None or known_rows(cache, keys[p]) is None]
    cfg = demo_config()
    frame = demo_fitting_frame() if frame is None else frame
    prompt = GuardPrompt(cfg.prompt.taxonomy, "chat", tokenizer)
    words = [cfg.prompt.verbalizer["safe"], cfg.prompt.verbalizer["unsafe"]]
    gate_texts = render_inputs(
        prompt, frame.head(HYPERPARAMETERS["gate_rows"]), cfg.prompt.max_response_words
    )
    log.info(
        "fitting the embedded guards' rows (%s policy) on %d demo rows (once per machine)",
        " and ".join(missing),
        len(frame),
    )
    with tqdm(total=len(frame), desc="fitted guards: verdict states", unit="ex") as bar:
        verdict = final_hidden(
            LastHidden(model, default_batch_size(model)),
            prompt,
            tokenizer,
            frame,
            cfg.prompt.max_response_words,
            bar,
        )
    states = verdict.float().cpu().numpy()
    context = context_states(model, tokenizer, gate_texts, words)
    head = model.get_output_embeddings().weight.detach().float().cpu().numpy()
    token_ids = label_token_ids(tokenizer, cfg.prompt.verbalizer)
    written = []
    for policy in missing:
        labels = policy_labels(frame, policy).astype(int)
        rows = fit_rows(states, labels, context, head, token_ids, keys[policy])
        path = into / f"{keys[policy]}.npz" if into is not None else rows_path(cache, keys[policy])
        rows.save(path)
        written.append(path)
    return written
