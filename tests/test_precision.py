"""bf16 against float32 on the tiny checkpoints: the same demo rows, scored by guardcal in both
dtypes on the tests' device (GUARDCAL_TEST_DEVICE), give nearly the same p(unsafe). `make
gpu-check` runs this on CUDA and prints the largest difference, which each case appends to the
JSON-lines file GUARDCAL_PRECISION_REPORT names."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from guardcal.extraction.guards import guard_spec, load_guard
from guardcal.extraction.scoring import score_frame
from guardcal.records import load_split

pytestmark = pytest.mark.checkpoint  # each case's checkpoint comes through getfixturevalue

FORMAT_OF = {
    "tiny_llama3": "llama_guard_3",
    "tiny_llama4": "llama_guard_4",
    "tiny_mistral": "md_judge_v0_1",
    "tiny_mistral_v3": "wildguard",
}
"""Each tiny checkpoint in a guard format its tokenizer belongs to."""
ROWS = 6
BOUND = 0.05
"""Largest |Δ p(unsafe)| accepted: bf16 keeps 8 bits of mantissa, so logits move by about 1 %."""


@pytest.mark.parametrize("checkpoint", sorted(FORMAT_OF))
def test_bf16_p_unsafe_stays_near_float32(request, make_config, checkpoint_device, checkpoint):
    folder = request.getfixturevalue(checkpoint)
    name = FORMAT_OF[checkpoint]
    p_unsafe = {}
    for dtype in ("float32", "bfloat16"):
        cfg = make_config(
            f"{name}-{dtype}",
            models=[{"name": name, "model": str(folder), "format": name}],
            prompt={"taxonomy": "llama_guard_3"},
            scoring={"dtype": dtype},
            limit=ROWS,
        )
        guard = load_guard(guard_spec(cfg, name))
        assert guard.model.dtype == getattr(torch, dtype)
        scores = score_frame([guard], load_split(cfg, "test"))[name]
        gap = (scores["logit_unsafe"] - scores["logit_safe"]).to_numpy()
        assert np.isfinite(gap).all()
        p_unsafe[dtype] = 1 / (1 + np.exp(-gap))
    diff = np.abs(p_unsafe["bfloat16"] - p_unsafe["float32"])
    if os.environ.get("GUARDCAL_PRECISION_REPORT"):
        row = {"checkpoint": checkpoint, "format": name, "device": checkpoint_device}
        row.update(rows=len(diff), max_abs_diff=float(diff.max()))
        with open(os.environ["GUARDCAL_PRECISION_REPORT"], "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    assert 0 < diff.max() < BOUND, diff  # bf16 really ran, and stayed close
