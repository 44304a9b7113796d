"""The verbalizer V: each label word's token id, read at the verdict position (the study's rule:
the first token of `tokenizer.encode(word, add_special_tokens=False)`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Verbalizer:
    """Label words [safe, unsafe], the token id read for each (its first token), and all of
    each word's tokens (reported: a multi-token word is scored by its first token)."""

    words: tuple[str, str]
    token_ids: tuple[int, int]
    tokens: tuple[tuple[int, ...], tuple[int, ...]]

    def as_meta(self) -> dict[str, Any]:
        """The verbalizer as recorded in a scores file."""
        return {
            "words": list(self.words),
            "token_ids": list(self.token_ids),
            "tokens": [list(t) for t in self.tokens],
        }


def verbalizer(tokenizer: PreTrainedTokenizerBase, words: Mapping[str, str]) -> Verbalizer:
    """Map the label words to the first token of `tokenizer.encode(word)` (the study's rule)."""
    pair = (words["safe"], words["unsafe"])
    tokens = tuple(tuple(tokenizer.encode(w, add_special_tokens=False)) for w in pair)
    for word, ids in zip(pair, tokens, strict=True):
        if not ids:
            raise ValueError(f"label word {word!r} encodes to no token")
    if tokens[0][0] == tokens[1][0]:
        raise ValueError(f"label words {pair} start with the same token {tokens[0][0]}")
    return Verbalizer(pair, (tokens[0][0], tokens[1][0]), tokens)  # type: ignore[arg-type]
