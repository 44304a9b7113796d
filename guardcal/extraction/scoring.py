"""The label-logit scorer: one forward pass per example, each guard's verdict logits read at the
last position; the fingerprint a scores file carries; the report's example input and answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

import guardcal
from guardcal.config import Config
from guardcal.extraction.context import context_of, fit, fit_inputs, token_limit
from guardcal.extraction.forward import (
    LastHidden,
    default_batch_size,
    final_hidden,
    truncate_words,
)
from guardcal.extraction.models import (
    Guard,
    backbone_key,
    guard_revision,
    guard_tokenizer,
    prompt_format,
)
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.verbalizer import verbalizer
from guardcal.records import dataset_fingerprint

ANSWER_TOKENS = 20
"""Tokens generated for the report's example answer (its first line is shown)."""


def model_limit(cfg: Config, guard: Guard) -> int | None:
    """The longest input a loaded guard reads: its context, or `prompt.max_tokens` if lower."""
    limits = [n for n in (context_of(guard.model.config), cfg.prompt.max_tokens) if n]
    return min(limits) if limits else None


def guard_prompt(cfg: Config, guard: Guard) -> GuardPrompt:
    """The policy prompt in the guard's format and the run's taxonomy and input mode."""
    return GuardPrompt(cfg.prompt.taxonomy, guard.format, guard.tokenizer, cfg.prompt.input)


def continuations(tokens: Sequence[Sequence[int]]) -> list[list[int]]:
    """The tokens fed after the verdict position to score whole label words: every token but
    the last of each word longer than one token (one cached step each)."""
    return [list(word[:-1]) for word in tokens if len(word) > 1]


@torch.inference_mode()
def label_scores(
    model: PreTrainedModel,
    hidden: torch.Tensor,
    tokens: Sequence[Sequence[int]],
    sequence: bool = False,
) -> np.ndarray:
    """(N, 3) float64: logit_safe, logit_unsafe and label_mass for the label words' `tokens`.

    `first_token`, from (N, hidden) states at the verdict position: each word's first-token
    logit and the full-vocabulary softmax mass on the two. `sequence`, from (N, K, hidden)
    states, the verdict position's then those after each `continuations(tokens)` token: each
    word's summed log-probability over all its tokens and the probability of the two words."""
    head = model.get_output_embeddings()
    if not sequence:
        logits = head(hidden).float()
        pair = logits[:, [word[0] for word in tokens]]
        mass = torch.exp(torch.logsumexp(pair, dim=1) - torch.logsumexp(logits, dim=1))
    else:
        states = hidden if hidden.dim() == 3 else hidden[:, None]  # no word has a second token
        logp = torch.log_softmax(head(states).float(), dim=-1)
        columns, at = [], 1
        for word in tokens:
            score = logp[:, 0, word[0]]
            for j, token in enumerate(word[1:]):
                score = score + logp[:, at + j, token]
            at += len(word) - 1
            columns.append(score)
        pair = torch.stack(columns, dim=1)
        mass = torch.exp(torch.logsumexp(pair, dim=1))
    return torch.cat([pair, mass[:, None]], dim=1).double().cpu().numpy()


def score_frame(
    guards: Sequence[Guard],
    frame: pd.DataFrame,
    cfg: Config,
    encoder: LastHidden | None = None,
    progress: tqdm | None = None,
) -> dict[str, pd.DataFrame]:
    """Scores of every row of `frame` for guards that share one backbone and format, from ONE
    forward pass per row: `{name: DataFrame[id, label, logit_safe, logit_unsafe, label_mass]}`."""
    first = guards[0]
    if any((g.backbone, g.format) != (first.backbone, first.format) for g in guards):
        raise ValueError("score_frame needs guards that share one backbone and prompt format")
    encoder = encoder or LastHidden(first.model, default_batch_size(first.model))
    prompt = guard_prompt(cfg, first)
    sequences = fit_inputs(
        prompt,
        first.tokenizer,
        frame,
        cfg.prompt.max_response_words,
        model_limit(cfg, first),
        cfg.prompt.overflow,
        f"guard {first.name!r}",
    )
    sequence = cfg.prompt.label_score == "sequence"
    tokens = verbalizer(first.tokenizer, cfg.prompt.verbalizer).tokens
    if not sequence:
        tokens = tuple(word[:1] for word in tokens)
    hidden = final_hidden(
        encoder,
        prompt,
        first.tokenizer,
        frame,
        progress=progress,
        sequences=sequences,
        steps=continuations(tokens),
    )
    out = {}
    for guard in guards:
        scores = label_scores(guard.model, hidden, tokens, sequence)
        out[guard.name] = pd.DataFrame(
            {
                "id": frame["id"].to_numpy(),
                "label": frame["label"].astype("int64").to_numpy(),
                "logit_safe": scores[:, 0],
                "logit_unsafe": scores[:, 1],
                "label_mass": scores[:, 2],
            }
        )
    return out


def fingerprint(cfg: Config, model_name: str, split: str, frame: pd.DataFrame) -> dict[str, Any]:
    """What a scores file depends on, computed without loading the model's weights."""
    spec = cfg.model(model_name)
    tokenizer = guard_tokenizer(cfg, model_name)
    prompt = GuardPrompt(cfg.prompt.taxonomy, prompt_format(spec), tokenizer, cfg.prompt.input)
    return {
        "model": spec.model,
        "revision": guard_revision(cfg, model_name),
        "backbone": backbone_key(cfg, spec),
        "format": prompt.format,
        "taxonomy": prompt.taxonomy,
        "input": prompt.input,
        "template_hash": prompt.template_hash(),
        "max_response_words": cfg.prompt.max_response_words,
        "max_tokens": token_limit(cfg, model_name),
        "overflow": cfg.prompt.overflow,
        "verbalizer": verbalizer(tokenizer, cfg.prompt.verbalizer).as_meta(),
        "label_score": cfg.prompt.label_score,
        "split": split,
        "dataset_fingerprint": dataset_fingerprint(frame),
        "guardcal_version": guardcal.__version__,
    }


def example_record(frame: pd.DataFrame) -> pd.Series:
    """The report's example: the first row with a response (else the first row)."""
    with_response = frame[frame["response"].notna()]
    return (with_response if len(with_response) else frame).iloc[0]


def greedy_generate(
    guard: Guard, text: str, max_new_tokens: int, add_special_tokens: bool = False
) -> Any:
    """Greedy `generate()` at batch 1 on one rendered input, keeping each step's logits: how the
    study read verdicts, used here for the report's example answer and as the benchmark baseline."""
    tokenizer = guard.tokenizer
    ids = tokenizer(text, add_special_tokens=add_special_tokens, return_tensors="pt").input_ids
    ids = ids.to(guard.model.device)
    with torch.inference_mode():
        out = guard.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return out


def render_record(
    cfg: Config, prompt: GuardPrompt, record: Mapping[str, Any], limit: int | None = None
) -> str:
    """The exact guard input of one record (`prompt`, optional `response`), cut as the run cuts
    (to `max_response_words`, then to `limit` tokens as `prompt.overflow` says)."""
    response = record.get("response")
    if response is not None and not isinstance(response, str):  # NaN from a frame
        response = None
    if response is not None:
        response = truncate_words(response, cfg.prompt.max_response_words)
    if limit is None:
        return prompt.render(record["prompt"], response)
    return fit(prompt, prompt.tokenizer, record["prompt"], response, limit, cfg.prompt.overflow)[0]


def guard_answer(cfg: Config, guard: Guard, record: Mapping[str, Any]) -> tuple[str, str]:
    """(the exact rendered guard input, the model's first output line by greedy generation)
    for one record with `prompt` and optional `response`: the report's example."""
    prompt = guard_prompt(cfg, guard)
    text = render_record(cfg, prompt, record, model_limit(cfg, guard))
    out = greedy_generate(guard, text, ANSWER_TOKENS, prompt.add_special_tokens)
    new_tokens = out.sequences[0, -len(out.logits) :]  # one logits row per generated token
    answer = guard.tokenizer.decode(new_tokens, skip_special_tokens=True)
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    return text, lines[0] if lines else ""


def render_input(cfg: Config, model_name: str, record: Mapping[str, Any]) -> tuple[str, list[int]]:
    """The exact input guard `model_name` reads for one record, and its token ids, computed with
    the guard's tokenizer only (no weights are loaded)."""
    tokenizer = guard_tokenizer(cfg, model_name)
    spec = cfg.model(model_name)
    prompt = GuardPrompt(cfg.prompt.taxonomy, prompt_format(spec), tokenizer, cfg.prompt.input)
    text = render_record(cfg, prompt, record, token_limit(cfg, model_name))
    return text, prompt.encode([text])[0]
