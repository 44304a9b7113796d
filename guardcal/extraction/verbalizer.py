"""The verbalizer V: each verdict word's token id, read at the verdict position.

For a registry format the token is the one the tokenizer produces where the model writes the word:
the first token that encoding (rendered input + word) adds after the rendered input. For Llama
Guard 3 this is the study's rule (the first token of `tokenizer.encode(word)`); for SentencePiece
guards it is not (`encode(" yes")` starts with a bare `▁`), which is why the context is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Verbalizer:
    """Verdict words, the token id read for each (its first token), all of each word's tokens
    (reported: a multi-token word is scored by its first token) and each word's level
    (`safe`, `unsafe`, or `controversial` for three-level guards)."""

    words: tuple[str, ...]
    token_ids: tuple[int, ...]
    tokens: tuple[tuple[int, ...], ...]
    levels: tuple[str, ...] = ("safe", "unsafe")

    def as_meta(self) -> dict[str, Any]:
        """The verbalizer as recorded in a scores file."""
        return {
            "words": list(self.words),
            "token_ids": list(self.token_ids),
            "tokens": [list(t) for t in self.tokens],
            "levels": list(self.levels),
        }


def _checked(
    words: Sequence[str],
    tokens: Sequence[tuple[int, ...]],
    levels: Sequence[str],
    sequence: bool = False,
) -> Verbalizer:
    """A verbalizer whose words each have a token and can be told apart: by their first tokens,
    or with `sequence` (whole words scored) by their token sequences, none a prefix of another."""
    for word, ids in zip(words, tokens, strict=True):
        if not ids:
            raise ValueError(f"label word {word!r} encodes to no token")
    firsts = [ids[0] for ids in tokens]
    if sequence:
        for i, a in enumerate(tokens):
            for j, b in enumerate(tokens):
                if i != j and b[: len(a)] == a:
                    raise ValueError(
                        f"label word {words[j]!r} begins with all of {words[i]!r}'s tokens {a}: "
                        "their probabilities overlap; choose words that differ"
                    )
    elif len(set(firsts)) < len(firsts):
        raise ValueError(
            f"label words {tuple(words)} start with the same token {firsts}: their first tokens "
            "cannot tell them apart (prompt.label_score: sequence scores whole words)"
        )
    return Verbalizer(tuple(words), tuple(firsts), tuple(tokens), tuple(levels))


def verbalizer(tokenizer: PreTrainedTokenizerBase, words: Mapping[str, str]) -> Verbalizer:
    """Map the label words to the first token of `tokenizer.encode(word)` (the study's rule)."""
    pair = (words["safe"], words["unsafe"])
    tokens = [tuple(tokenizer.encode(w, add_special_tokens=False)) for w in pair]
    return _checked(pair, tokens, ("safe", "unsafe"))


def verbalizer_in_context(
    tokenizer: PreTrainedTokenizerBase,
    context: str,
    words: Mapping[str, str],
    sequence: bool = False,
) -> Verbalizer:
    """Map each verdict word (word → level) to the tokens that encoding `context + word` adds
    after `context`'s own: the tokens the model writes for it at the verdict position (told apart
    by their first tokens, or with `sequence` by all of them)."""
    base = tokenizer.encode(context, add_special_tokens=False)
    tokens = []
    for word in words:
        full = tokenizer.encode(context + word, add_special_tokens=False)
        if full[: len(base)] != base:
            raise ValueError(
                f"label word {word!r} merges with the text before the verdict "
                f"({context[-20:]!r}); its token cannot be read at one position"
            )
        tokens.append(tuple(full[len(base) :]))
    return _checked(list(words), tokens, list(words.values()), sequence)
