"""Benchmark: guardcal's batched trace generation against the study's style of `generate()` at
batch 1, on the same inputs and the same number of tokens.

Run: .venv/bin/python benchmarks/bench_reasoning.py [--config CONFIG] [--n 16]
     [--max-tokens 48] [--device auto|cpu|cuda]

On the first --n test rows of the run (the demo by default) and its first guard (the embedded
SmolLM2-135M), rendered in its format with reasoning on where the format reasons, it times in
this process, interleaved over two halves of the rows (ours, baseline, baseline, ours, so a
machine whose load drifts hurts both alike):
  1. guardcal's path as the pipeline runs it (`scoring.generate_traces`): the policy prefix's
     key/values computed once, the inputs' rests left-padded into batches of similar length, one
     prefill, then one cached decoding step per token for every unfinished trace, a finished
     trace leaving the batch and the cache;
  2. the baseline: per row, `generate()` greedily at batch 1 with exactly as many new tokens
     as guardcal's trace of that row has (min_new_tokens = max_new_tokens), so both write the
     same tokens.
It checks that both wrote the same tokens, and prints tokens/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from guardcal.config import ReasoningConfig, load_config
from guardcal.extraction.guards import guard_spec, load_guard
from guardcal.extraction.models import resolve_device
from guardcal.extraction.reasoning import TRACE_BATCH, Trace
from guardcal.extraction.scoring import generate_traces, guard_inputs
from guardcal.records import load_split


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """`fn()` and its wall-clock seconds (after queued GPU work has finished)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def baseline(model: Any, inputs: list[list[int]], lengths: list[int]) -> list[list[int]]:
    """The study's loop: per row, greedy `generate()` at batch 1 writing `lengths[i]` tokens."""
    out = []
    for ids, length in zip(inputs, lengths, strict=True):
        x = torch.tensor([ids], device=model.device)
        with torch.inference_mode():
            sequence = model.generate(
                x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=length,
                min_new_tokens=length,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=model.config.pad_token_id or model.config.eos_token_id,
            )
        out.append(sequence[0, len(ids) :].tolist())
    return out


def main() -> int:
    """Time both, check they wrote the same tokens, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="experiment YAML (default: the embedded demo)")
    parser.add_argument("--n", type=int, default=16, help="test rows (default 16)")
    parser.add_argument("--max-tokens", type=int, default=48, help="trace cap (default 48)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2 (two halves are timed)")
    cfg = load_config(args.config)
    device = resolve_device(args.device)
    scoring = dataclasses.replace(cfg.scoring, device=str(device))
    cfg = dataclasses.replace(cfg, scoring=scoring)
    entry = cfg.models[0]
    reasoning = entry.reasoning if entry.reasoning.on else ReasoningConfig("greedy")
    entry = dataclasses.replace(entry, reasoning=reasoning, max_reasoning_tokens=args.max_tokens)
    cfg = dataclasses.replace(cfg, models=(entry, *cfg.models[1:]))
    spec = guard_spec(cfg, entry.name)
    guard = load_guard(spec)
    model = guard.model
    frame = load_split(cfg, "test").head(args.n).reset_index(drop=True)
    inputs = guard_inputs(spec, frame, "benchmark rows")
    batch = TRACE_BATCH.get(device.type, 1)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"model: {spec.name} ({spec.entry.model}, {model.dtype}) on {where}, "
        f"{torch.get_num_threads()} CPU threads; format {spec.format.name!r}, end-of-reasoning "
        f"marker {spec.markers.end!r}, cap {args.max_tokens} tokens"
    )
    print(
        f"rows: {len(frame)} of {cfg.name}/test, inputs of "
        f"{sum(map(len, inputs)) / len(inputs):.0f} tokens on average"
    )

    # warm-up of both paths on one row, outside the timings
    warm = generate_traces(guard, frame.head(1))
    baseline(model, inputs[:1], [len(warm[0][0].token_ids) or 1])

    half = len(inputs) // 2
    parts = [slice(0, half), slice(half, len(inputs))]
    ours_s, theirs_s, written = 0.0, 0.0, {}
    traces: dict[int, list[list[Trace]]] = {}
    for i, which in enumerate(("ours", "baseline", "baseline", "ours")):
        part = parts[0 if i < 2 else 1]
        if which == "ours":
            traces[part.start], seconds = timed(lambda p=part: generate_traces(guard, frame[p]))
            ours_s += seconds
        else:
            if part.start not in traces:  # the second half: its lengths from a run of ours
                traces[part.start] = generate_traces(guard, frame[part])
            lengths = [len(t[0].token_ids) for t in traces[part.start]]
            written[part.start], seconds = timed(
                lambda p=part, n=lengths: baseline(model, inputs[p], n)
            )
            theirs_s += seconds
    ours = [list(t[0].token_ids) for start in sorted(traces) for t in traces[start]]
    theirs = [tokens for start in sorted(written) for tokens in written[start]]
    tokens = sum(map(len, ours))
    stops = [t[0].stop for start in sorted(traces) for t in traces[start]]
    print(
        f"tokens written: {tokens} ({tokens / len(ours):.1f} per trace; "
        f"{stops.count('marker')} ended at the marker, {stops.count('cap')} at the cap, "
        f"{stops.count('eos')} at EOS)"
    )
    print(
        f"baseline (generate(), batch 1, greedy, as many tokens): {theirs_s:.2f} s, "
        f"{tokens / theirs_s:.1f} tokens/s"
    )
    print(
        f"guardcal (prefix cached once, batched, left-padded, key/value cache, batches of "
        f"{batch}): {ours_s:.2f} s, "
        f"{tokens / ours_s:.1f} tokens/s"
    )
    print(f"trace generation speedup vs generate: {theirs_s / ours_s:.2f}")
    if ours != theirs:
        bad = sum(a != b for a, b in zip(ours, theirs, strict=True))
        print(f"TRACES DIFFER from generate()'s in {bad} of {len(ours)} rows")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
