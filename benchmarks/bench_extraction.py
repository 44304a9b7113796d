"""Benchmark: guardcal's scorer against the study's generate() loop, and against the FLOP floor.

Run: .venv/bin/python benchmarks/bench_extraction.py [--config CONFIG] [--n 100]
     [--shape embedded|llama-3-8b|tiny] [--device auto|cpu|cuda] [--batch-size B]

On the first --n test rows of the run (the demo by default), in the guard's prompt format, it times
in this process, in the order baseline, scorer, scorer, baseline over two halves of the rows (so a
machine whose load drifts hurts both alike):
  1. the baseline, the study's method: per example, render, tokenize and `generate()` at batch 1
     with max_new_tokens=10 and output_logits=True, reading the verdict step's logits;
  2. guardcal's scorer as the pipeline runs it: `score_frame` over each half with one encoder, so
     the policy prefix's key/values are computed once, in the timed run.
It checks that both give the same label logits and label mass, and prints examples/s of each,
their ratio, the machine's matmul rate (a square GEMM in the model's dtype, sampled between the
timed parts), the FLOP floor per example (2 × non-embedding parameters × the tokens after the
cached prefix + the output layer at one position) and the fraction of the matmul rate the scorer
reaches. On CUDA it prints tokens/s and the model-FLOP utilisation against the GPU's dense peak.

Shapes: `embedded` is the run's first guard (SmolLM2-135M on the demo); `llama-3-8b` (the default
on a GPU) is a randomly initialised model of Llama-3-8B's shape (no weights to download) in the
device's dtype, scored with the same tokenizer, prompt and scorer; `tiny` is a two-layer random
Llama that runs that same random-model path anywhere in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel

from guardcal.config import Config, load_config
from guardcal.extraction.forward import LastHidden, default_batch_size, prefix_ids, render_inputs
from guardcal.extraction.guards import Guard, guard_spec, load_guard
from guardcal.extraction.models import resolve_device
from guardcal.extraction.prompts import GuardPrompt, judged_role
from guardcal.extraction.scoring import greedy_generate, score_frame
from guardcal.extraction.verbalizer import verbalizer
from guardcal.records import load_split

NEW_TOKENS = 10
"""The study's generate() call: max_new_tokens=10, the verdict read at the first step."""

SHAPES = {
    "llama-3-8b": {  # meta-llama/Meta-Llama-3-8B's config.json
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
        "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
    },
    "tiny": {
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 49152,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
    },
}

PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}
"""Dense bf16 tensor-core peaks (TFLOP/s, SXM) by GPU name, for the model-FLOP utilisation."""

TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 1e-2}
"""Largest accepted |Δ| between generate() and the scorer: 1e-4 in float32 (the issue's bound);
half precision rounds batched and unbatched matmuls differently, so only a loose bound holds."""


@dataclass
class Timer:
    """Accumulated seconds of one contender."""

    seconds: float = 0.0

    def run(self, fn: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """Time one call (after the device has finished its queued work)."""
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        self.seconds += time.perf_counter() - start
        return out


def sync() -> None:
    """Wait for queued GPU work, so wall-clock timings are honest."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def random_guard(cfg: Config, shape: str, device: torch.device) -> Guard:
    """A randomly initialised Llama of `shape` (seeded) under the run's first guard (its
    tokenizer, prompt format and verbalizer), so that the scorer runs its ordinary code path."""
    spec = guard_spec(cfg, cfg.models[0].name)
    tokenizer = spec.tokenizer
    config = LlamaConfig(
        **SHAPES[shape],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=spec.dtype)
    return Guard(spec, model.eval().requires_grad_(False))


def parameters(model: PreTrainedModel) -> tuple[int, int]:
    """(non-embedding parameters, output-layer parameters): the input embedding and the output
    layer (once, when tied) are left out of the first, as the FLOP floor counts them apart."""
    inputs = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    embedding = inputs.numel() + (0 if head is inputs else head.numel())
    return total - embedding, head.numel()


def matmul_rate(dtype: torch.dtype, device: torch.device, seconds: float = 0.5) -> float:
    """FLOP/s of a square GEMM in `dtype` on `device` (2048 on a CPU, 8192 on a GPU), over
    about `seconds` after one warm-up product."""
    size = 8192 if device.type == "cuda" else 2048
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        sync()
    return 2 * size**3 * count / (time.perf_counter() - start)


def baseline(guard: Guard, prompt: GuardPrompt, frame: pd.DataFrame, max_words: int | None):
    """The study's loop: per row, render, tokenize, generate() greedily at batch 1 with
    max_new_tokens=10 and read the verdict step's logits; (N, vocab) float32 logits."""
    rows = []
    for text in render_inputs(prompt, frame, max_words):
        out = greedy_generate(guard, text, NEW_TOKENS)
        rows.append(out.logits[0][0].float())
    return torch.stack(rows)


def label_columns(logits: torch.Tensor, token_ids: tuple[int, int]) -> np.ndarray:
    """(N, 3) logit_safe, logit_unsafe, label mass from full-vocabulary logits."""
    pair = logits[:, list(token_ids)]
    mass = torch.exp(torch.logsumexp(pair, dim=1) - torch.logsumexp(logits, dim=1))
    return torch.cat([pair, mass[:, None]], dim=1).double().cpu().numpy()


@dataclass
class Workload:
    """A guard and the first rows of a run's test split, with what the FLOP floor counts: the
    tokens of each rendered input, and those after the cached policy prefix."""

    cfg: Config
    guard: Guard
    prompt: GuardPrompt
    frame: pd.DataFrame
    sequences: list[list[int]]
    fresh: list[int]
    max_words: int | None

    @property
    def floor_flops(self) -> float:
        """FLOPs per example at the floor: 2 × non-embedding parameters × the tokens after the
        prefix, plus the output layer at one position."""
        body, head = parameters(self.guard.model)
        return 2 * body * statistics.mean(self.fresh) + 2 * head

    def describe(self) -> str:
        """Two lines: the model and device, then the examples."""
        model, device = self.guard.model, self.guard.model.device
        body, _ = parameters(model)
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        return (
            f"model: {self.guard.name} ({body / 1e6:.1f} M non-embedding parameters, "
            f"{model.dtype}), device: {where}, {torch.get_num_threads()} CPU threads\n"
            f"examples: {len(self.frame)} rows of {self.cfg.name}/test, prompt format "
            f"{self.guard.spec.format.name!r}, taxonomy {self.cfg.prompt.taxonomy!r}; "
            f"{statistics.mean(map(len, self.sequences)):.0f} tokens each on average, of which "
            f"{statistics.mean(self.fresh):.0f} after the shared prefix"
        )


def workload(
    config: str | None, shape: str, device: torch.device, n: int, dtype: str | None = None
) -> Workload:
    """The run's first guard (`embedded`) or a random Llama of `shape` on `device` (in `dtype`,
    default the device's), and the run's first `n` test rows."""
    cfg = load_config(config)
    scoring = dataclasses.replace(cfg.scoring, device=str(device), dtype=dtype or cfg.scoring.dtype)
    cfg = dataclasses.replace(cfg, scoring=scoring)
    if shape == "embedded":
        guard = load_guard(guard_spec(cfg, cfg.models[0].name))
    else:
        guard = random_guard(cfg, shape, device)
    tokenizer = guard.tokenizer
    prompt = guard.spec.prompt
    max_words = cfg.prompt.max_response_words
    frame = load_split(cfg, "test").head(n).reset_index(drop=True)
    texts = render_inputs(prompt, frame, max_words)
    sequences = tokenizer(texts, add_special_tokens=False)["input_ids"]
    fresh = []
    for seq, response in zip(sequences, frame["response"].tolist(), strict=True):
        prefix = prefix_ids(prompt, tokenizer, judged_role(response))
        shared = len(prefix) if seq[: len(prefix)] == prefix and len(seq) > len(prefix) else 0
        fresh.append(len(seq) - shared)
    return Workload(cfg, guard, prompt, frame, sequences, fresh, max_words)


def main() -> int:
    """Time both, check they agree, print the speedup, the floor and the fraction reached."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="experiment YAML (default: the embedded demo)")
    parser.add_argument("--n", type=int, default=100, help="test rows (default 100)")
    parser.add_argument(
        "--shape",
        choices=["embedded", *SHAPES],
        help="model: the run's first guard, or a random Llama of that shape "
        "(default: llama-3-8b on a GPU, embedded elsewhere)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument(
        "--batch-size", type=int, help="scorer batch (default: the pipeline's for the device)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="the GPU's dense peak for the MFU (default: by name)"
    )
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2 (two halves are timed)")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch-size must be a positive integer")
    device = resolve_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible to torch")
    shape = args.shape or ("llama-3-8b" if device.type == "cuda" else "embedded")

    work = workload(args.config, shape, device, args.n)
    cfg, guard, prompt, frame = work.cfg, work.guard, work.prompt, work.frame
    model, tokenizer, max_words = guard.model, guard.tokenizer, work.max_words
    dtype = model.dtype
    ids = verbalizer(tokenizer, cfg.prompt.verbalizer).token_ids
    batch = args.batch_size or cfg.scoring.batch_size or default_batch_size(model)
    sequences, fresh, floor_flops = work.sequences, work.fresh, work.floor_flops
    print(work.describe())

    # Warm-up of both code paths (kernels, allocator) on one row, outside the timings; the
    # scorer's timed encoder is fresh, so its prefix cache is computed inside the timing.
    baseline(guard, prompt, frame.head(1), max_words)
    score_frame([guard], frame.head(1), LastHidden(model, batch))

    encoder = LastHidden(model, batch)
    half = len(frame) // 2
    parts = [frame.iloc[:half], frame.iloc[half:]]
    ours, theirs = Timer(), Timer()
    rates = [matmul_rate(dtype, device)]
    base_logits, scores = [], {}
    for i, which in enumerate(("baseline", "scorer", "scorer", "baseline")):
        part = parts[0 if i < 2 else 1]
        if which == "baseline":
            base_logits.append(theirs.run(lambda p=part: baseline(guard, prompt, p, max_words)))
        else:
            scored = ours.run(lambda p=part: score_frame([guard], p, encoder)[guard.name])
            scores[i] = scored
        if i in (1, 3):
            rates.append(matmul_rate(dtype, device))
    expected = label_columns(torch.cat(base_logits), ids)
    got = pd.concat([scores[1], scores[2]])[["logit_safe", "logit_unsafe", "label_mass"]]
    diff = np.abs(got.to_numpy() - expected)
    tolerance = TOLERANCE.get(dtype, 1e-4)

    n = len(frame)
    base_rate, our_rate = n / theirs.seconds, n / ours.seconds
    rate = statistics.median(rates)
    achieved = floor_flops * our_rate
    print(
        f"baseline (generate(), batch 1, max_new_tokens={NEW_TOKENS}, output_logits, verdict at "
        f"step 1): {theirs.seconds / n:.3f} s/example, {base_rate:.2f} examples/s"
    )
    print(
        f"guardcal scorer (score_frame: prefix cache once, length-grouped batches of {batch}, "
        f"last position): {ours.seconds / n:.3f} s/example, {our_rate:.2f} examples/s"
    )
    print(
        f"max |Δ| scorer vs generate: logits {diff[:, :2].max():.1e}, label mass "
        f"{diff[:, 2].max():.1e} (tolerance {tolerance:g})"
    )
    print(
        f"matmul rate ({'8192' if device.type == 'cuda' else '2048'}² GEMM, {dtype}): "
        f"{rate / 1e9:.0f} GFLOP/s (median of {len(rates)}: "
        f"{', '.join(f'{r / 1e9:.0f}' for r in rates)})"
    )
    print(
        f"FLOP floor: {floor_flops / 1e9:.2f} GFLOP/example = {floor_flops / rate:.3f} s/example "
        f"at the matmul rate; the scorer reaches {achieved / 1e9:.0f} GFLOP/s"
    )
    tokens = sum(map(len, sequences)) / ours.seconds
    computed = sum(fresh) / ours.seconds
    print(f"scorer tokens/s: {tokens:.0f} input tokens, {computed:.0f} after the prefix")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
        if peak:
            print(f"model-FLOP utilisation: {achieved / (peak * 1e12):.3f} of {peak:g} TFLOP/s")
        else:
            print(f"model-FLOP utilisation: unknown peak for {name!r} (pass --peak-tflops)")
    print(f"extraction speedup vs generate: {our_rate / base_rate:.2f}")
    print(f"extraction floor fraction: {achieved / rate:.2f}")
    if not diff.max() <= tolerance:
        print(f"SCORER AND GENERATE DISAGREE: max |Δ| {diff.max():.1e} > {tolerance:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
