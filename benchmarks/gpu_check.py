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

from guardcal.extraction.forward import LastHidden
from guardcal.extraction.scoring import score_frame
from guardcal.extraction.verbalizer import verbalizer

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mode:
    """The sizes of one run of the check."""

    device: str
    shape: str
    rows: int  # demo test rows scored at each batch size
    batches: tuple[int, ...]
    baseline_rows: int  # rows of the generate() comparison


FULL = Mode("cuda", "llama-3-8b", 128, (16, 32, 64), 16)
REDUCED = Mode("cpu", "tiny", 8, (2, 4, 8), 2)


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
    print(
        f"\ngpu-check {'passed' if agree and status == 0 else 'FAILED'} in "
        f"{time.monotonic() - started:.0f} s on {mode.device}"
        f"{' (REDUCED: no GPU measured)' if args.reduced else ''}"
    )
    return 0 if agree and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
