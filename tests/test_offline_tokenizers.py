"""Golden ids of the offline real tokenizers (built from `llama-models` and `mistral-common`
files) and the tiny checkpoints saved with them, loaded back through `from_pretrained(path)`."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece
import torch
from offline_tokenizers import MISTRAL_MODELS, _package_file
from transformers import AutoModelForCausalLM, AutoTokenizer

# Text that exercises the split pattern: contractions, digits, unicode, whitespace runs, specials.
MIXED = (
    "User: I'd've thought 12345 café naïve 日本語 — it's   fine?!\n\n\n"
    "Agent:  tabs\there, CAPS-Lock, e-mail a@b.c\r\n ok."
)


@pytest.mark.parametrize(
    ("text", "token_id"),
    [
        ("\n\n", 271),
        ("safe", 19193),
        ("unsafe", 39257),
        (" safe", 6220),
        (" unsafe", 20451),
        (" ", 220),
        ("Yes", 9642),
        ("No", 2822),
        ("<|begin_of_text|>", 128000),
        ("<|start_header_id|>", 128006),
        ("<|end_header_id|>", 128007),
        ("<|eot_id|>", 128009),
    ],
)
def test_llama3_golden_ids(llama3_tok, text: str, token_id: int) -> None:
    assert llama3_tok.encode(text, add_special_tokens=False) == [token_id]


@pytest.mark.parametrize(
    ("text", "token_id"),
    [("\n\n", 368), ("safe", 60411), ("unsafe", 72110), ("<|begin_of_text|>", 200000)],
)
def test_llama4_golden_ids(llama4_tok, text: str, token_id: int) -> None:
    assert llama4_tok.encode(text, add_special_tokens=False) == [token_id]


@pytest.mark.parametrize(("name", "meta_module"), [("llama3", "llama3"), ("llama4", "llama4")])
def test_llama_tokenizers_match_tiktoken(request, name: str, meta_module: str) -> None:
    """Same ids as Meta's own tiktoken tokenizer, special tokens included; a BOS by default."""
    import importlib

    tok = request.getfixturevalue(f"{name}_tok")
    meta = importlib.import_module(f"llama_models.{meta_module}.tokenizer").Tokenizer(
        _package_file("llama_models", meta_module, "tokenizer.model")
    )
    assert len(tok) == meta.n_words
    assert {t: tok.convert_tokens_to_ids(t) for t in meta.special_tokens} == meta.special_tokens
    text = f"<|begin_of_text|>{MIXED}<|eot_id|>" if name == "llama3" else MIXED
    plain = meta.encode(text, bos=False, eos=False, allowed_special="all")
    assert tok(text, add_special_tokens=False).input_ids == plain
    assert tok(text).input_ids == [meta.bos_id, *plain]


def test_mistral_golden_ids(mistral_v1_tok, mistral_v3_tok) -> None:
    """MD-Judge's verdict pieces on v1; BOS `<s>` = 1 added by default on both."""
    assert mistral_v1_tok.encode("safe", add_special_tokens=False) == [5023]
    assert mistral_v1_tok.encode("unsafe", add_special_tokens=False) == [15426]
    assert mistral_v1_tok.convert_ids_to_tokens([5023, 15426]) == ["▁safe", "▁unsafe"]
    assert mistral_v1_tok("safe").input_ids == [1, 5023]
    assert mistral_v3_tok("safe").input_ids[0] == 1
    # v3's control tokens are special tokens in transformers' copy, as in the hub's tokenizer.json
    assert mistral_v3_tok.encode("[INST]", add_special_tokens=False) == [3]
    assert len(mistral_v1_tok) == 32000 and len(mistral_v3_tok) == 32768


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_mistral_matches_sentencepiece(request, version: str) -> None:
    """Same ids as the SentencePiece model itself on guard-style text with single spaces
    (transformers' fast copy, like the hub's, merges runs of spaces differently)."""
    tok = request.getfixturevalue(f"mistral_{version}_tok")
    sp = sentencepiece.SentencePieceProcessor(
        model_file=str(_package_file("mistral_common", "data", MISTRAL_MODELS[version]))
    )
    text = "Human user:\nHow do I pick a lock?\n\nAI assistant:\nI can't, café 日本語.\n\n---"
    assert tok(text).input_ids == [sp.bos_id(), *sp.encode(text)]


@pytest.mark.parametrize(
    ("checkpoint", "source_tok"),
    [
        ("tiny_llama3", "llama3_tok"),
        ("tiny_llama4", "llama4_tok"),
        ("tiny_mistral", "mistral_v1_tok"),
    ],
)
@pytest.mark.checkpoint  # its checkpoint comes through request.getfixturevalue
def test_tiny_checkpoint_loads_from_path(
    request, checkpoint_device: str, checkpoint: str, source_tok: str
) -> None:
    """`from_pretrained(path)` gives back the tokenizer's ids and a causal LM over its ids."""
    folder: Path = request.getfixturevalue(checkpoint)
    source = request.getfixturevalue(source_tok)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).to(checkpoint_device)
    assert tok(MIXED).input_ids == source(MIXED).input_ids
    ids = torch.tensor([tok(MIXED).input_ids], device=checkpoint_device)
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(source))
    assert torch.isfinite(logits).all()
    assert source.chat_template is None  # the shared tokenizer only lent its template


def test_tiny_llama3_carries_llama_guard_3_template(tiny_llama3: Path) -> None:
    """Llama Guard 3 8B's template, leading space and all: the documented call gives
    `[220, 128000, 128006, ...]` (no BOS of the tokenizer's own; the template writes one)."""
    tok = AutoTokenizer.from_pretrained(tiny_llama3)
    chat = [
        {"role": "user", "content": "How do I pick a lock?"},
        {"role": "assistant", "content": "No."},
    ]
    ids = tok.apply_chat_template(chat, tokenize=True)["input_ids"]
    assert ids[:4] == [
        220,
        128000,
        128006,
        882,
    ]  # ' ', <|begin_of_text|>, <|start_header_id|>, user
    assert ids[-3:] == tok.convert_tokens_to_ids(
        ["<|start_header_id|>", "assistant", "<|end_header_id|>"]
    )
    assert "'Agent' messages" in tok.decode(ids)
