"""Guard inputs against the model's context: every input is measured in tokens before any batch
is built. One that is too long stops the run with an error naming its row and length
(`prompt.overflow: stop`, the default), or has its response cut at the end or in the middle
(`cut_end`, `cut_middle`) until the whole input fits."""

from __future__ import annotations

import functools
import math

import pandas as pd
from transformers import AutoConfig, PretrainedConfig, PreTrainedTokenizerBase

from guardcal.extraction.forward import render_inputs, truncate_words
from guardcal.extraction.models import Checkpoint
from guardcal.extraction.prompts import GuardPrompt
from guardcal.records import DataError

CUT_MARK = " […] "
"""What stands where `cut_middle` removed the middle of a response."""


def context_of(config: PretrainedConfig) -> int | None:
    """The positions a model reads, from its config (`max_position_embeddings`), if it says."""
    return getattr(config.get_text_config(), "max_position_embeddings", None)


@functools.lru_cache(maxsize=16)
def checkpoint_context(checkpoint: Checkpoint) -> int | None:
    """`context_of` a checkpoint's config.json, read once per process without loading weights."""
    config = AutoConfig.from_pretrained(
        checkpoint.source,
        revision=checkpoint.revision,
        trust_remote_code=checkpoint.trust_remote_code,
    )
    return context_of(config)


def token_limit(context: int | None, max_tokens: int | None) -> int | None:
    """The longest guard input allowed: the model's context, or `prompt.max_tokens` if lower."""
    limits = [n for n in (context, max_tokens) if n]
    return min(limits) if limits else None


def cut_response(response: str, keep: int, overflow: str) -> str:
    """`response` cut to `keep` characters: its start (`cut_end`), or its start and end around
    CUT_MARK (`cut_middle`)."""
    if keep >= len(response):
        return response
    if overflow == "cut_end":
        return response[:keep]
    head = math.ceil(keep / 2)
    return response[:head] + CUT_MARK + response[len(response) - (keep - head) :]


def fit_inputs(
    prompt: GuardPrompt,
    tokenizer: PreTrainedTokenizerBase,
    frame: pd.DataFrame,
    max_response_words: int | None,
    limit: int | None,
    overflow: str,
    where: str,
) -> list[list[int]]:
    """The token ids of every row's guard input, none longer than `limit`: a longer one is a
    DataError naming `where`, the row, its id and length (`stop`), or its response is cut."""
    texts = render_inputs(prompt, frame, max_response_words)
    sequences = prompt.encode(texts)
    if limit is None:
        return sequences
    for i, ids in enumerate(sequences):
        if len(ids) > limit:
            row = frame.iloc[i]
            what = (
                f"{where}, row {i + 1} (id {row['id']!r}): the guard input is {len(ids):,} "
                f"tokens, more than the {limit:,} the model reads"
            )
            response = row["response"]
            if overflow == "stop":
                raise DataError(
                    f"{what}; shorten responses with prompt.max_response_words or cut them with "
                    "prompt.overflow: cut_end | cut_middle (prompt.max_tokens sets a lower limit)"
                )
            if response is None:
                raise DataError(f"{what}, and it has no response to cut: shorten the prompt")
            response = truncate_words(response, max_response_words)
            sequences[i] = fit(prompt, tokenizer, row["prompt"], response, limit, overflow, what)[1]
    return sequences


def fit(
    prompt: GuardPrompt,
    tokenizer: PreTrainedTokenizerBase,
    user: str,
    response: str | None,
    limit: int | None,
    overflow: str,
    what: str = "a guard input",
) -> tuple[str, list[int]]:
    """One record's guard input and its ids, its response cut (as `overflow` says) until the
    input fits in `limit` tokens: each try drops the excess tokens' share of characters (tokens
    merge across a cut, hence the loop). Too long with the response gone is a DataError."""
    keep = len(response or "")
    while True:
        text = prompt.render(
            user, None if response is None else cut_response(response, keep, overflow)
        )
        ids = prompt.encode([text])[0]
        if limit is None or len(ids) <= limit or overflow == "stop":
            return text, ids
        if keep == 0:
            raise DataError(
                f"{what}, and {len(ids):,} with its response cut away: shorten the prompt"
            )
        kept = len(tokenizer.encode(response[:keep], add_special_tokens=False))
        keep = max(0, keep - math.ceil((len(ids) - limit + 1) * keep / max(kept, 1)))
