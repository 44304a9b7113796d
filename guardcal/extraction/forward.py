"""One forward pass per guard input: the shared policy prefix's key/values are computed once,
and only the last position's final hidden state is kept (the verdict is read there)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from guardcal.extraction.formats import conversation
from guardcal.extraction.prompts import GuardPrompt

log = logging.getLogger(__name__)

# Inputs per forward pass by device type. On a 2-core CPU, batches of 4-8 prefix-cached suffixes
# were measured ~10-25 % faster than one at a time and alike among themselves
# (benchmarks/bench_extraction.py --batch-size B); a GPU wants more.
BATCH_SIZE = {"cpu": 8, "cuda": 16}


def default_batch_size(model: PreTrainedModel) -> int:
    """Inputs per forward pass for the model's device."""
    return BATCH_SIZE.get(model.device.type, 1)


def truncate_words(text: str, max_words: int | None) -> str:
    """The first `max_words` whitespace-separated words of `text` (unchanged when shorter)."""
    words = text.split()
    if max_words is None or len(words) <= max_words:
        return text
    return " ".join(words[:max_words])


def conversations(frame: pd.DataFrame, max_response_words: int | None = None) -> list[list[dict]]:
    """Each row as a message list: its `messages` when it has them, else its prompt and optional
    response; the judged response (a last assistant message) cut to `max_response_words`."""
    listed = frame["messages"].tolist() if "messages" in frame else [None] * len(frame)
    out = []
    for p, r, messages in zip(
        frame["prompt"].tolist(), frame["response"].tolist(), listed, strict=True
    ):
        messages = [dict(m) for m in messages] if messages is not None else conversation(p, r)
        if messages[-1]["role"] == "assistant":
            messages[-1]["content"] = truncate_words(messages[-1]["content"], max_response_words)
        out.append(messages)
    return out


def render_inputs(
    prompt: GuardPrompt, frame: pd.DataFrame, max_response_words: int | None = None
) -> list[str]:
    """The guard input of every row, up to the fixed text before its first answer."""
    return [
        prompt.render("", messages=messages)
        for messages in conversations(frame, max_response_words)
    ]


def roles_of(frame: pd.DataFrame) -> list[str]:
    """The judged role of every row: `Agent` when its last message is a response, else `User`."""
    return ["Agent" if m[-1]["role"] == "assistant" else "User" for m in conversations(frame)]


def prefix_ids(prompt: GuardPrompt, tokenizer: PreTrainedTokenizerBase, role: str) -> list[int]:
    """The token ids shared by every input judging `role`: the prefix's ids minus its last
    token, which a tokenizer may merge with the text after it."""
    return prompt.encode([prompt.prefix(role)])[0][:-1]


class LastHidden:
    """Final hidden states at the last position of each token sequence, for one causal LM.

    Sequences that start with the given prefix reuse its key/values, computed once per prefix
    and broadcast afresh to every batch (a batch's own keys are concatenated onto new tensors,
    so examples never see each other); any other sequence gets a full pass. Batches hold
    sequences of similar length, right-padded, with attention masks and explicit position ids,
    and run longest first.
    """

    def __init__(self, model: PreTrainedModel, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.model = model
        # the decoder stack without its output layer (Llama 4's causal LM keeps it as `model`,
        # not under its declared base-model prefix, so `base_model` is the whole model there)
        self.base = model.base_model if model.base_model is not model else model.model
        self.batch_size = batch_size
        self.device = model.device
        self._prefixes: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}

    @torch.inference_mode()
    def __call__(
        self,
        sequences: Sequence[Sequence[int]],
        prefix: Sequence[int] = (),
        progress: tqdm | None = None,
        steps: Sequence[Sequence[int]] = (),
    ) -> torch.Tensor:
        """(N, hidden) final hidden states at each sequence's last token, in input order; with
        `steps`, (N, 1 + Σ len(steps), hidden): then the states after each token of each
        continuation in `steps`, every one fed on the cache from the sequence's end."""
        prefix = tuple(prefix)
        n = len(prefix)
        shared = [i for i, s in enumerate(sequences) if n and len(s) > n and tuple(s[:n]) == prefix]
        alone = sorted(set(range(len(sequences))) - set(shared))
        if n and alone:
            log.info(
                "%d of %d inputs do not start with the cached prefix: full passes",
                len(alone),
                len(sequences),
            )
        out = torch.empty(
            len(sequences),
            1 + sum(len(t) for t in steps),
            self.model.config.get_text_config().hidden_size,
            dtype=self.model.dtype,
            device=self.device,
        )
        for rows, skip in ((shared, n), (alone, 0)):
            rows = sorted(rows, key=lambda i: len(sequences[i]))
            starts = range(0, len(rows), self.batch_size)
            # longest batch first: one that does not fit in memory fails in the first seconds
            for start in reversed(starts):
                batch = rows[start : start + self.batch_size]
                out[batch] = self._forward(
                    [sequences[i][skip:] for i in batch], prefix[:skip], steps
                )
                if progress is not None:
                    progress.update(len(batch))
        return out if steps else out[:, 0]

    def _forward(
        self,
        suffixes: list[Sequence[int]],
        prefix: tuple[int, ...],
        steps: Sequence[Sequence[int]] = (),
    ) -> torch.Tensor:
        """One batch: suffixes after a cached prefix (or whole sequences when it is empty), then
        each continuation in `steps` from every suffix's last token, on the batch's cache."""
        size, start = len(suffixes), len(prefix)
        lengths = torch.tensor([len(s) for s in suffixes], device=self.device)
        width = int(lengths.max())
        ids = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(s, dtype=torch.long) for s in suffixes], batch_first=True
        ).to(self.device)
        positions = torch.arange(start, start + width, device=self.device).expand(size, width)
        mask = None
        if int(lengths.min()) < width:
            mask = torch.ones(size, start + width, dtype=torch.long, device=self.device)
            mask[:, start:] = positions - start < lengths[:, None]
        cache = self._cache(prefix, size) if prefix else None
        if steps and cache is None:
            cache = DynamicCache(config=self.model.config)
        hidden = self.base(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=cache is not None,
        ).last_hidden_state
        out = [hidden[torch.arange(size, device=self.device), lengths - 1]]
        for tokens in steps:  # one cached position per token, cropped off again afterwards
            # the tokens sit after the batch's padding in the cache, at their true positions
            after = start + lengths[:, None] + torch.arange(len(tokens), device=self.device)
            extended = None
            if mask is not None:
                extended = torch.cat([mask, mask.new_ones(size, len(tokens))], dim=1)
            hidden = self.base(
                input_ids=torch.tensor(tokens, device=self.device).expand(size, -1),
                attention_mask=extended,
                position_ids=after,
                cache=cache,
                use_cache=True,
            ).last_hidden_state
            out += hidden.unbind(1)
            cache.crop(-len(tokens))
        return torch.stack(out, dim=1)

    def _cache(self, prefix: tuple[int, ...], size: int) -> DynamicCache:
        """A fresh cache holding the prefix's key/values for a batch of `size`."""
        if prefix not in self._prefixes:
            ids = torch.tensor([prefix], device=self.device)
            cache = self.base(input_ids=ids, use_cache=True).cache
            self._prefixes[prefix] = [(layer.keys, layer.values) for layer in cache.layers]
        return DynamicCache(
            [
                (k.expand(size, -1, -1, -1), v.expand(size, -1, -1, -1))
                for k, v in self._prefixes[prefix]
            ],
            config=self.model.config,
        )


def final_hidden(
    encoder: LastHidden,
    prompt: GuardPrompt,
    tokenizer: PreTrainedTokenizerBase,
    frame: pd.DataFrame,
    max_response_words: int | None = None,
    progress: tqdm | None = None,
    sequences: Sequence[Sequence[int]] | None = None,
    steps: Sequence[Sequence[int]] = (),
) -> torch.Tensor:
    """(N, hidden) final hidden states after the fixed text before each row's first answer,
    from its rendered inputs or the given token `sequences` (already fitted to the context); with
    `steps`, (N, 1 + Σ len(steps), hidden), adding those after each continuation token."""
    if sequences is None:
        texts = render_inputs(prompt, frame, max_response_words)
        return hidden_after(encoder, prompt, tokenizer, texts, roles_of(frame), progress, steps)
    return hidden_of(encoder, prompt, tokenizer, sequences, roles_of(frame), progress, steps)


def hidden_after(
    encoder: LastHidden,
    prompt: GuardPrompt,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    roles: Sequence[str],
    progress: tqdm | None = None,
    steps: Sequence[Sequence[int]] = (),
) -> torch.Tensor:
    """Final hidden states at the end of each rendered text (see `hidden_of`)."""
    sequences = prompt.encode(list(texts))
    return hidden_of(encoder, prompt, tokenizer, sequences, roles, progress, steps)


def hidden_of(
    encoder: LastHidden,
    prompt: GuardPrompt,
    tokenizer: PreTrainedTokenizerBase,
    sequences: Sequence[Sequence[int]],
    roles: Sequence[str],
    progress: tqdm | None = None,
    steps: Sequence[Sequence[int]] = (),
) -> torch.Tensor:
    """(N, hidden) final hidden states at the last token of each sequence (`roles` pick the
    shared prefix whose key/values are cached); with `steps`, (N, 1 + Σ len(steps), hidden)."""
    out = None
    for role in sorted(set(roles)):
        rows = [i for i, r in enumerate(roles) if r == role]
        hidden = encoder(
            [sequences[i] for i in rows], prefix_ids(prompt, tokenizer, role), progress, steps
        )
        if out is None:
            out = hidden.new_empty(len(sequences), *hidden.shape[1:])
        out[rows] = hidden
    if out is None:
        raise ValueError("no inputs to score")
    return out
