"""Benchmark: seconds per example of the scorer's forward pass against greedy `generate()`.

Run: .venv/bin/python benchmarks/bench_extraction.py [--config CONFIG] [--n 20] [--rounds 3]
On the first --n test examples of the run, with its first model's backbone, it times in this
process, round-robin over --rounds rounds (median kept, so a busy machine hurts all alike):
`generate()` batch 1 (the baseline, reading the verdict step's logits), one full forward pass
batch 1, the prefix-cached pass at batch 1, 4, 8, 16, and a full pass at batch 8. Each line
gives s/example, the speedup over the baseline, and the largest logit difference from it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from guardcal.config import load_config
from guardcal.data import load_split
from guardcal.forward import LastHidden, final_hidden, render_inputs
from guardcal.models import load_guard
from guardcal.scoring import guard_prompt


def main() -> None:
    """Time every mode and print one line per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="experiment YAML (default: the embedded demo)")
    parser.add_argument("--n", type=int, default=20, help="test examples")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per mode")
    args = parser.parse_args()
    cfg = load_config(args.config)
    guard = load_guard(cfg, cfg.models[0].name)
    model, tokenizer = guard.model, guard.tokenizer
    head = model.get_output_embeddings()
    prompt = guard_prompt(cfg, guard)
    frame = load_split(cfg, "test").head(args.n)
    texts = render_inputs(prompt, frame, cfg.prompt.max_response_words)
    sequences = tokenizer(texts, add_special_tokens=False)["input_ids"]
    print(
        f"{len(sequences)} examples, {statistics.mean(map(len, sequences)):.0f} tokens each "
        f"on average, {torch.get_num_threads()} threads, device {model.device}"
    )

    @torch.inference_mode()
    def generate() -> torch.Tensor:
        out = []
        for ids in sequences:
            step = model.generate(
                torch.tensor([ids], device=model.device),
                max_new_tokens=1,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.eos_token_id,
            )
            out.append(step.logits[0][0])
        return torch.stack(out)

    def cached(batch: int) -> Callable[[], torch.Tensor]:
        encoder = LastHidden(model, batch)  # the prefix is computed once per mode, in round 1
        return lambda: head(
            final_hidden(encoder, prompt, tokenizer, frame, cfg.prompt.max_response_words)
        )

    def full(batch: int) -> Callable[[], torch.Tensor]:
        encoder = LastHidden(model, batch)
        return lambda: head(encoder(sequences))

    modes: dict[str, Callable[[], torch.Tensor]] = {
        "generate(), batch 1 (baseline)": generate,
        "forward pass, batch 1": full(1),
        "prefix cache, batch 1": cached(1),
        "prefix cache, batch 4": cached(4),
        "prefix cache, batch 8": cached(8),
        "prefix cache, batch 16": cached(16),
        "forward pass, batch 8": full(8),
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    logits: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for name, run in modes.items():
            start = time.perf_counter()
            with torch.inference_mode():
                logits[name] = run().float()
            times[name].append((time.perf_counter() - start) / len(sequences))
    base = next(iter(modes))
    for name in modes:
        s = statistics.median(times[name])
        diff = float((logits[name] - logits[base]).abs().max())
        print(
            f"{name:32s} {s:7.3f} s/example  x{statistics.median(times[base]) / s:5.2f}  "
            f"max |Δlogit| {diff:.1e}"
        )


if __name__ == "__main__":
    main()
