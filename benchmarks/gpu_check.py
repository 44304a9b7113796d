"""The GPU check: what one NVIDIA GPU says about guardcal, in at most 8 minutes, without a download.

Run: make gpu-check      (.venv/bin/python benchmarks/gpu_check.py [--reduced] [--pytest-k EXPR])

1. Extraction on a randomly initialised model of Llama-3-8B's shape in bf16 (the benchmark's
   `--shape llama-3-8b`: no weights to download) over the demo's first test rows, at batch 16, 32
   and 64: input tokens/s, the fraction of the bf16 FLOP floor it reaches (the scorer's FLOP rate
   over a bf16 GEMM's, measured here), and the peak GPU memory; then the scorer against the
   study's `generate()` loop on a few rows (they must agree within bf16's tolerance).
2. Every tiny-checkpoint test (`pytest -m checkpoint`) with GUARDCAL_TEST_DEVICE=cuda: the real
   tokenizers and `from_pretrained(path)`, scored on the GPU against `generate()` there.
3. The largest |p(unsafe)| difference between bf16 and float32 on the tiny checkpoints (the
   tests of step 2 write it).
4. Reasoning traces on a randomly initialised model of gpt-oss-20b's shape in bf16 (about 42 GB
   of weights: run only where the GPU has the memory) with the real o200k_harmony tokenizer, over
   the demo's first test rows in gpt-oss-safeguard's harmony input: guardcal's batched
   generation on the cache against `generate()` at batch 1 writing as many tokens (they must
   write the same tokens), tokens/s, the ratio and the peak GPU memory.

Without a GPU it says so and stops (exit 2); `--reduced` runs the same three steps on the CPU at
toy sizes (a two-layer random Llama in bf16, small batches), which is how the test suite keeps
this script working.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from bench_extraction import TOLERANCE, Timer, baseline, label_columns, matmul_rate, workload
from bench_reasoning import baseline as generate_baseline
from bench_reasoning import timed

from guardcal.config import load_config
from guardcal.extraction.formats import conversation, format_named
from guardcal.extraction.forward import LastHidden
from guardcal.extraction.reasoning import TraceWriter
from guardcal.extraction.scoring import score_frame
from guardcal.extraction.verbalizer import verbalizer
from guardcal.records import load_split

ROOT = Path(__file__).resolve().parents[1]
GPT_OSS_20B = {  # openai/gpt-oss-20b's config.json (GptOssConfig's other defaults are the same)
    "num_hidden_layers": 24,
    "num_local_experts": 32,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}
GPT_OSS_TINY = {
    "num_hidden_layers": 2,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "hidden_size": 64,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "sliding_window": 8,
    "layer_types": ["sliding_attention", "full_attention"],
}
GPT_OSS_MEMORY = 56 * 2**30
"""GPU memory the 20B shape needs: ~42 GB of bf16 weights, the batch's cache and activations."""


@dataclass(frozen=True)
class Mode:
    """The sizes of one run of the check."""

    device: str
    shape: str
    rows: int  # demo test rows scored at each batch size
    batches: tuple[int, ...]
    baseline_rows: int  # rows of the generate() comparison
    gpt_oss: dict  # the reasoning step's model shape
    trace_rows: int  # demo test rows whose traces are generated
    trace_tokens: int  # the trace cap


FULL = Mode("cuda", "llama-3-8b", 128, (16, 32, 64), 16, GPT_OSS_20B, 64, 128)
REDUCED = Mode("cpu", "tiny", 8, (2, 4, 8), 2, GPT_OSS_TINY, 4, 8)


def peak_memory(device: torch.device) -> str:
    """The peak since the last reset: GPU memory on CUDA, else the process's peak RSS."""
    if device.type == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return f"peak process RSS {rss:.2f} GiB (CPU: no per-batch GPU figure)"


def extraction(mode: Mode) -> bool:
    """Step 1: tokens/s, floor fraction and peak memory per batch size; then the scorer against
    generate(). False when they disagree."""
    device = torch.device(mode.device)
    work = workload(None, mode.shape, device, mode.rows, dtype="bfloat16")
    print(work.describe())
    model = work.guard.model
    rate = matmul_rate(model.dtype, device)
    print(f"bf16 GEMM rate here: {rate / 1e12:.2f} TFLOP/s (the floor's yardstick)")
    tokens, computed = sum(map(len, work.sequences)), sum(work.fresh)
    for batch in mode.batches:
        score_frame([work.guard], work.frame.head(batch), LastHidden(model, batch))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        timer = Timer()
        encoder = LastHidden(model, batch)  # fresh: its prefix cache is computed in the timing
        timer.run(lambda e=encoder: score_frame([work.guard], work.frame, e))
        per_second = len(work.frame) / timer.seconds
        fraction = work.floor_flops * per_second / rate
        print(
            f"batch {batch:>3}: {tokens / timer.seconds:,.0f} input tokens/s "
            f"({computed / timer.seconds:,.0f} after the prefix), {per_second:.1f} examples/s, "
            f"{fraction:.2f} of the bf16 FLOP floor, {peak_memory(device)}"
        )
    rows = work.frame.head(mode.baseline_rows)
    ids = verbalizer(work.guard.tokenizer, work.cfg.prompt.verbalizer).token_ids
    expected = label_columns(baseline(work.guard, work.prompt, rows, work.max_words), ids)
    got = score_frame([work.guard], rows, LastHidden(model, mode.batches[0]))
    columns = ["logit_safe", "logit_unsafe", "label_mass"]
    diff = float(np.abs(got[work.guard.name][columns].to_numpy() - expected).max())
    tolerance = TOLERANCE[model.dtype]
    agree = diff <= tolerance
    print(
        f"scorer vs generate() on {len(rows)} rows: max |Δ| {diff:.1e} "
        f"({'within' if agree else 'OVER'} bf16's tolerance {tolerance:g})"
    )
    return agree


def reasoning_traces(mode: Mode) -> bool:
    """Step 4: guardcal's batched traces against generate() at batch 1 on a random gpt-oss of
    the mode's shape; False when they wrote different tokens. Skipped (True) where the GPU lacks
    the memory for the 20B shape."""
    from transformers import GptOssConfig, GptOssForCausalLM

    sys.path.insert(0, str(ROOT / "tests"))  # the offline harmony tokenizer (dev extra)
    from harmony_tokenizer import shared_harmony_tokenizer

    device = torch.device(mode.device)
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory
        if mode.gpt_oss is GPT_OSS_20B and memory < GPT_OSS_MEMORY:
            print(
                f"skipped: gpt-oss-20b's shape needs about {GPT_OSS_MEMORY / 2**30:.0f} GiB, "
                f"this GPU has {memory / 2**30:.0f} GiB"
            )
            return True
        torch.cuda.reset_peak_memory_stats(device)
    tokenizer = shared_harmony_tokenizer()
    config = GptOssConfig(
        **mode.gpt_oss, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = GptOssForCausalLM(config).to(torch.bfloat16).eval().requires_grad_(False)
    fmt = format_named("gpt_oss_safeguard")
    frame = load_split(load_config(None), "test").head(mode.trace_rows)
    texts = [
        fmt.text(conversation(p, r if isinstance(r, str) else None), reasoning=True)
        + fmt.reasoning.start
        for p, r in zip(frame["prompt"], frame["response"], strict=True)
    ]
    inputs = tokenizer(texts, add_special_tokens=False)["input_ids"]
    keys = frame["id"].astype(str).tolist()
    body = sum(p.numel() for p in model.parameters()) / 1e9
    print(
        f"random gpt-oss ({config.num_hidden_layers} layers, {config.num_local_experts} experts, "
        f"{body:.1f} B parameters, bf16) on {device}; {len(inputs)} demo rows in harmony, "
        f"{sum(map(len, inputs)) / len(inputs):.0f} tokens each, traces capped at "
        f"{mode.trace_tokens}"
    )
    writer = TraceWriter(model, tokenizer, fmt.reasoning.end, mode.trace_tokens, batch_size=64)
    writer(inputs[:1], keys[:1])  # warm-up
    traces, ours = timed(lambda: writer(inputs, keys))
    lengths = [len(t[0].token_ids) for t in traces]
    written, theirs = timed(lambda: generate_baseline(model, inputs, lengths))
    tokens = sum(lengths)
    same = written == [list(t[0].token_ids) for t in traces]
    print(
        f"guardcal batched: {tokens / ours:,.0f} tokens/s; generate() at batch 1: "
        f"{tokens / theirs:,.0f} tokens/s; trace generation speedup {theirs / ours:.2f}; "
        f"{peak_memory(device)}; {'the same' if same else 'DIFFERENT'} tokens"
    )
    return same


def checkpoint_tests(mode: Mode, select: str | None, paths: list[str]) -> tuple[int, list[dict]]:
    """Steps 2 and 3: the tiny-checkpoint tests on the mode's device; their exit status and the
    bf16-against-float32 rows they wrote."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "precision.jsonl"
        env = {**os.environ, "GUARDCAL_TEST_DEVICE": mode.device}
        env["GUARDCAL_PRECISION_REPORT"] = str(report)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-m", "checkpoint", *(["-k", select] if select else []), *paths]
        print("$ GUARDCAL_TEST_DEVICE=" + mode.device, " ".join(command[1:]), flush=True)
        status = subprocess.run(command, cwd=ROOT, env=env).returncode
        rows = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    return status, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reduced", action="store_true", help="the same steps on the CPU at toy sizes"
    )
    parser.add_argument("--pytest-k", help="only the tiny-checkpoint tests matching this -k")
    parser.add_argument(
        "--tests", nargs="+", default=["tests"], help="where pytest collects them (default tests)"
    )
    args = parser.parse_args()
    if not args.reduced and not torch.cuda.is_available():
        print(
            "gpu-check: NO GPU: torch sees no CUDA device here, so nothing was measured. Run it "
            "on a machine with an NVIDIA GPU; `--reduced` runs the same steps on this CPU at toy "
            "sizes (its numbers say nothing about a GPU)."
        )
        return 2
    mode = REDUCED if args.reduced else FULL
    if args.reduced:
        print("gpu-check, REDUCED on the CPU (no GPU measured): toy sizes, the same steps")
    started = time.monotonic()
    print("\n== 1. extraction, random Llama weights in bf16 ==", flush=True)
    agree = extraction(mode)
    gc.collect()  # the 8B model's memory back before the tests load their checkpoints
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(f"[{time.monotonic() - started:.0f} s]\n\n== 2. tiny-checkpoint tests ==", flush=True)
    status, rows = checkpoint_tests(mode, args.pytest_k, args.tests)
    print(f"[{time.monotonic() - started:.0f} s]\n\n== 3. bf16 against float32 ==")
    for row in rows:
        print(
            f"{row['checkpoint']} ({row['format']}, {row['rows']} rows on {row['device']}): "
            f"max |Δ p(unsafe)| {row['max_abs_diff']:.1e}"
        )
    if rows:
        worst = max(rows, key=lambda r: r["max_abs_diff"])
        print(
            f"largest |p(unsafe)| difference bf16 vs float32: {worst['max_abs_diff']:.1e} "
            f"({worst['checkpoint']}, median over checkpoints "
            f"{statistics.median(r['max_abs_diff'] for r in rows):.1e})"
        )
    else:
        print("no bf16-against-float32 rows: the selection ran none of those tests")
    print(f"[{time.monotonic() - started:.0f} s]\n\n== 4. reasoning traces, random gpt-oss ==")
    traced = reasoning_traces(mode)
    passed = agree and status == 0 and traced
    print(
        f"\ngpu-check {'passed' if passed else 'FAILED'} in "
        f"{time.monotonic() - started:.0f} s on {mode.device}"
        f"{' (REDUCED: no GPU measured)' if args.reduced else ''}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
