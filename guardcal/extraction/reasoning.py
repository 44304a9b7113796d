"""Guards that reason before their verdict: each trace is generated batched, left-padded, on the
key/value cache, until the family's end-of-reasoning marker (or EOS, or the cap); the marker (when
the guard did not write it) and the text before the verdict are then forced after it, so the
verdict logits are read exactly where `generate()` would write the verdict. With K sampled traces
the guard's probability is the mean of the K verdict distributions (docs/design.md §2)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.special import log_softmax, logsumexp, softmax
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from guardcal.config import ReasoningConfig

STOPS = ("marker", "cap", "eos")
"""Why a trace ended: the guard wrote the end-of-reasoning marker, the trace reached
`max_reasoning_tokens`, or the guard wrote its end-of-sequence token first. Only after `marker`
did the guard write the marker itself; after the others it is forced."""
TRACE_BATCH = {"cpu": 8, "cuda": 64}
"""Traces generated together by device type: a decoding step reads every weight once whatever
the batch, so a GPU wants many."""


@dataclass(frozen=True)
class Sampling:
    """How traces are drawn: greedy (`temperature` None, one trace), or `samples` traces each
    drawn at `temperature`, reproducibly from `seed` (each row's and sample's own generator, so
    a trace does not depend on which rows share its batch)."""

    samples: int = 1
    temperature: float | None = None
    seed: int = 0

    @classmethod
    def of(cls, config: ReasoningConfig) -> Sampling:
        """A model entry's `reasoning` setting (which is on) as a way to draw traces."""
        if config.mode == "greedy":
            return cls()
        return cls(config.samples, config.temperature, config.seed)

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be a positive integer, got {self.samples}")
        if self.temperature is None and self.samples != 1:
            raise ValueError("greedy decoding draws one trace; set a temperature to sample")
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be above 0, got {self.temperature}")


@dataclass(frozen=True)
class Trace:
    """What a guard wrote before its verdict: its token ids (the marker's included when it wrote
    it; an EOS it wrote is not), and why it stopped (`STOPS`)."""

    token_ids: tuple[int, ...]
    stop: str

    @property
    def hit_cap(self) -> bool:
        """Whether the trace was cut at `max_reasoning_tokens`."""
        return self.stop == "cap"


def row_generator(seed: int, key: str, sample: int, device: torch.device) -> torch.Generator:
    """The random stream of one row's sample: a function of the run's seed, the row's id and the
    sample's index only."""
    digest = hashlib.sha256(f"{seed}\0{key}\0{sample}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def sliding_attention(model: PreTrainedModel) -> bool:
    """Whether some layer of the model attends within a sliding window (its mask counts cache
    slots, so padding inside the cache would move the window)."""
    config = model.config.get_text_config()
    layers = getattr(config, "layer_types", None)
    if layers is not None:
        return any("sliding" in kind for kind in layers)
    return getattr(config, "sliding_window", None) is not None


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """The token ids that end generation for this model (its generation config's, else the
    tokenizer's EOS)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return set(eos) if isinstance(eos, list | tuple) else {int(eos)}


class TraceWriter:
    """Generates traces for one causal LM and one end-of-reasoning marker."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        end: str,
        max_tokens: int,
        sampling: Sampling = Sampling(),
        batch_size: int | None = None,
    ) -> None:
        if not end:
            raise ValueError("a reasoning guard needs an end-of-reasoning marker")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.end = end
        self.max_tokens = max_tokens
        self.sampling = sampling
        self.batch_size = batch_size or TRACE_BATCH.get(model.device.type, 1)
        self.device = model.device
        self.eos = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self.pad = pad if pad is not None else (min(self.eos) if self.eos else 0)
        # the marker's last characters arrive in some token; a window this wide holds all of it
        self.window = len(tokenizer.encode(end, add_special_tokens=False)) + 2
        self.sliding = sliding_attention(model)
        self._prefixes: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def __call__(
        self,
        inputs: Sequence[Sequence[int]],
        keys: Sequence[str],
        progress: tqdm | None = None,
        prefix: Sequence[int] = (),
    ) -> list[list[Trace]]:
        """Each input's traces (one per sample), in input order; `keys` (the rows' ids) seed
        sampled traces. Inputs that start with `prefix` (the policy text every input shares)
        reuse its key/values, computed once — except on a model with sliding-window attention,
        whose window counts cache slots, so its inputs are read whole."""
        k = self.sampling.samples
        prefix = () if self.sliding else tuple(prefix)
        n = len(prefix)
        shared = [i for i, s in enumerate(inputs) if n and len(s) > n and tuple(s[:n]) == prefix]
        alone = sorted(set(range(len(inputs))) - set(shared))
        per_batch = max(1, self.batch_size // k)
        out: list[list[Trace]] = [[] for _ in inputs]
        for rows, head in ((shared, prefix), (alone, ())):
            rows = sorted(rows, key=lambda i: len(inputs[i]))
            # longest batch first: one that does not fit in memory fails in the first seconds
            for start in reversed(range(0, len(rows), per_batch)):
                batch = rows[start : start + per_batch]
                suffixes = [inputs[i][len(head) :] for i in batch]
                traces = self._generate(suffixes, [keys[i] for i in batch], head)
                for j, i in enumerate(batch):
                    out[i] = traces[j * k : (j + 1) * k]
                if progress is not None:
                    progress.update(len(batch))
        return out

    def _cache(self, prefix: tuple[int, ...], size: int) -> DynamicCache:
        """A fresh cache holding the prefix's key/values for a batch of `size` (computed once
        per prefix, then broadcast)."""
        if prefix not in self._prefixes:
            cache = DynamicCache(config=self.model.config)
            ids = torch.tensor([prefix], device=self.device)
            self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
            self._prefixes[prefix] = [(layer.keys, layer.values) for layer in cache.layers]
        return DynamicCache(
            [
                (k.expand(size, -1, -1, -1), v.expand(size, -1, -1, -1))
                for k, v in self._prefixes[prefix]
            ],
            config=self.model.config,
        )

    @torch.inference_mode()
    def _generate(
        self, inputs: list[Sequence[int]], keys: list[str], prefix: tuple[int, ...] = ()
    ) -> list[Trace]:
        """One batch: its inputs (after the cached `prefix`) left-padded and read once, the
        cache repeated for each sample, then one token per step for every unfinished trace; a
        finished trace leaves the batch (and the cache) at once. The padding sits between the
        prefix and each input's rest, masked, every token at its true position."""
        k, device, start = self.sampling.samples, self.device, len(prefix)
        width = max(len(s) for s in inputs)
        ids = torch.full((len(inputs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(inputs), start + width), dtype=torch.long)
        mask[:, :start] = 1
        for i, seq in enumerate(inputs):
            ids[i, width - len(seq) :] = torch.as_tensor(seq, dtype=torch.long)
            mask[i, start + width - len(seq) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, start:]
        cache = (
            self._cache(prefix, len(inputs)) if prefix else DynamicCache(config=self.model.config)
        )
        logits = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]
        if k > 1:
            cache.batch_repeat_interleave(k)
            logits = logits.repeat_interleave(k, dim=0)
            mask = mask.repeat_interleave(k, dim=0)
            positions = positions.repeat_interleave(k, dim=0)
        generators = None
        if self.sampling.temperature is not None:
            generators = [
                row_generator(self.sampling.seed, key, s, device) for key in keys for s in range(k)
            ]
        written: list[list[int]] = [[] for _ in range(len(inputs) * k)]
        stops: list[str | None] = [None] * len(written)
        active = list(range(len(written)))  # the traces still in the batch, in cache order
        position = positions[:, -1]
        for step in range(self.max_tokens):
            tokens = self._next(logits, [generators[a] for a in active] if generators else None)
            keep = []
            for row, (a, token) in enumerate(zip(active, tokens.tolist(), strict=True)):
                if token in self.eos:
                    stops[a] = "eos"
                    continue
                written[a].append(token)
                if self._ends(written[a]):
                    stops[a] = "marker"
                elif step + 1 == self.max_tokens:
                    stops[a] = "cap"
                else:
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                tokens, mask, position = tokens[index], mask[index], position[index]
                active = [active[r] for r in keep]
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
            position = position + 1
            logits = self.model(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=position[:, None],
                cache=cache,
                use_cache=True,
            ).logits[:, -1]
        return [Trace(tuple(w), s or "cap") for w, s in zip(written, stops, strict=True)]

    def _next(self, logits: torch.Tensor, generators: list[torch.Generator] | None) -> torch.Tensor:
        """Each trace's next token: the argmax (greedy), or a draw from softmax(logits / τ) by
        inverting its cumulative distribution at one uniform number from the trace's own
        generator (one number per token, not one per vocabulary entry)."""
        if generators is None:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.double() / self.sampling.temperature, dim=-1)
        cdf = probs.cumsum(dim=-1)
        u = torch.cat(
            [torch.rand(1, generator=g, device=g.device, dtype=cdf.dtype) for g in generators]
        )
        drawn = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None]).squeeze(1)
        return drawn.clamp(max=probs.shape[-1] - 1)

    def _ends(self, written: list[int]) -> bool:
        """Whether the trace's newest token completes the end-of-reasoning marker (checked after
        every token, so a marker in the window arrived with the newest)."""
        return self.end in decode(self.tokenizer, written[-self.window :])


def continuation(
    tokenizer: PreTrainedTokenizerBase, trace: Trace, end: str, after: str
) -> tuple[list[int], str]:
    """What follows a guard's input up to its verdict (or its first answer line): the trace's
    own tokens, then the end-of-reasoning marker unless the guard wrote it, then `after`, the
    fixed text before the verdict, tokenized on its own. As ids, and as text."""
    forced = ("" if trace.stop == "marker" else end) + after
    ids = [*trace.token_ids, *tokenizer.encode(forced, add_special_tokens=False)]
    return ids, decode(tokenizer, trace.token_ids) + forced


def decode(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    """Token ids as the text the guard wrote, special tokens included."""
    return tokenizer.decode(
        list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False
    )


def traces_frame(
    ids: Sequence[str], traces: Sequence[Sequence[Trace]], tokenizer: PreTrainedTokenizerBase
) -> pd.DataFrame:
    """A trace file's rows: one per example and sample, `id, sample, text, token_ids, n_tokens,
    stop`, in example order."""
    rows = [
        (row, k, decode(tokenizer, t.token_ids), list(t.token_ids), len(t.token_ids), t.stop)
        for row, samples in zip(ids, traces, strict=True)
        for k, t in enumerate(samples)
    ]
    return pd.DataFrame(rows, columns=["id", "sample", "text", "token_ids", "n_tokens", "stop"])


def traces_of(frame: pd.DataFrame, ids: Sequence[str], samples: int) -> list[list[Trace]]:
    """The traces of examples `ids` (each with `samples` samples) from a trace file's rows; a
    missing one is a KeyError."""
    by_key = {
        (str(r), int(k)): Trace(tuple(int(t) for t in tokens), str(stop))
        for r, k, tokens, stop in zip(
            frame["id"], frame["sample"], frame["token_ids"], frame["stop"], strict=True
        )
    }
    return [[by_key[str(row), k] for k in range(samples)] for row in ids]


def mean_of_samples(scores: pd.DataFrame, samples: int) -> pd.DataFrame:
    """One row per example from `samples` consecutive rows per example (its sampled traces'
    verdicts): the logits become the log of the mean verdict distribution (so their softmax is
    the mean of the K distributions, a three-level guard's levels likewise), the label mass its
    mean, and `sample_sd` the standard deviation of p(unsafe) over the samples."""
    if samples == 1:
        return scores
    n = len(scores) // samples

    def per_example(values: np.ndarray) -> np.ndarray:
        return values.reshape(n, samples, *values.shape[1:])

    pair = per_example(scores[["logit_safe", "logit_unsafe"]].to_numpy(dtype=np.float64))
    p = softmax(pair, axis=-1)
    out = {
        "id": scores["id"].to_numpy()[::samples],
        "label": scores["label"].to_numpy()[::samples],
    }
    mean = np.log(p.mean(axis=1))
    out["logit_safe"], out["logit_unsafe"] = mean[:, 0], mean[:, 1]
    out["label_mass"] = per_example(scores["label_mass"].to_numpy(dtype=np.float64)).mean(axis=1)
    levels = [c for c in scores.columns if c.startswith("level_logit_")]
    if levels:
        logp = log_softmax(per_example(scores[levels].to_numpy(dtype=np.float64)), axis=-1)
        averaged = logsumexp(logp, axis=1) - np.log(samples)
        for j, column in enumerate(levels):
            out[column] = averaged[:, j]
    if "answers" in scores:
        out["answers"] = [" / ".join(a) for a in per_example(scores["answers"].to_numpy())]
    out["sample_sd"] = p[..., 1].std(axis=1)
    return pd.DataFrame(out)
