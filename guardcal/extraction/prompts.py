"""The guard prompt: a registry format (`guardcal.extraction.formats`) rendered with the run's
taxonomy where the format takes one, and tokenized in one of two input modes.

- `model` (the default): the format's own template — the registry's copy of the model's chat
  template, pinned by the golden tests — tokenized as the model's documentation does
  (`apply_chat_template(..., tokenize=True)`: the tokenizer adds its BOS only where the format
  says its template carries none).
- `study`: exactly what the study's code did, for Llama Guard 3 8B only: the same template string
  with the run's policy in it (guardcal/data/policies/llama_guard_3_8b.jinja), rendered to text
  and tokenized with the tokenizer's defaults (its BOS, the template's leading space and its own
  `<|begin_of_text|>`: ids `[128000, 220, 128000, 128006, …]`).
Both then append the fixed text before the verdict (`\\n\\n` for Llama Guard 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from guardcal.config import INPUT_MODES
from guardcal.extraction.formats import (
    STUDY_FORMAT,
    TAXONOMY,
    Message,
    conversation,
    format_named,
    judged,
    llama_guard_3_template,
    with_policy,
)
from guardcal.policies import category_block


def study_template(taxonomy: str) -> str:
    """The study's template string: Llama Guard 3 8B's template carrying `taxonomy`."""
    return with_policy(llama_guard_3_template(), category_block(taxonomy))


def judged_role(response: str | None) -> str:
    """`Agent` when a response is judged, `User` for prompt classification."""
    return "User" if response is None else "Agent"


class GuardPrompt:
    """Renders and tokenizes guard inputs in one registry format, taxonomy and input mode, up to
    the fixed text before the verdict (`chat` puts Llama Guard 3's instruction text as the single
    user turn of the tokenizer's chat template, for generic instruct models)."""

    def __init__(
        self,
        taxonomy: str = "beavertails",
        format: str = STUDY_FORMAT,
        tokenizer: Any = None,
        input: str = "model",
        policy_name: str | None = None,
        policy_text: str | None = None,
        reasoning: bool = False,
    ) -> None:
        """`reasoning`: the guard writes a trace before its verdict (its format's `reasoning`
        entry): the input asks for it and ends where the trace begins."""
        self.guard = format_named(format)
        if input not in INPUT_MODES:
            raise ValueError(f"unknown input mode {input!r}; use one of {INPUT_MODES}")
        if input == "study" and format != STUDY_FORMAT:
            raise ValueError(f"the study input mode is {STUDY_FORMAT!r}'s, not {format!r}'s")
        if format == "chat" and getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the chat format needs a tokenizer with a chat template")
        category_block(taxonomy)  # fail early on an unknown taxonomy
        self.taxonomy = taxonomy
        self.format = format
        self.tokenizer = tokenizer
        self.input = input
        self.policy_name = policy_name if self.guard.policy_names else None
        self.policy_text = policy_text if self.guard.user_policy else None
        if self.policy_name is not None:
            self.guard.default_policy(self.guard.judges[0], self.policy_name)  # fail early
        if reasoning and self.guard.reasoning is None:
            raise ValueError(f"format {format!r} does not reason before its verdict")
        self.reasoning = reasoning

    @property
    def add_special_tokens(self) -> bool:
        """Whether the tokenizer adds its own BOS: the study's way, or where the format's
        template carries none."""
        return self.input == "study" or self.guard.bos == "tokenizer"

    def policy(self, mode: str = "prompt") -> str | None:
        """The policy text of `mode`: the user's where the format takes one, a built-in one by
        name, the run's category block where the format takes the taxonomy, else None (the
        format's own default)."""
        if self.policy_text is not None:
            return self.policy_text
        if self.policy_name is not None:
            return self.guard.default_policy(mode, self.policy_name)
        return category_block(self.taxonomy) if self.guard.policy == TAXONOMY else None

    def text(self, messages: Sequence[Message]) -> str:
        """The rendered conversation, up to where the model starts answering."""
        policy = self.policy(judged(messages))
        return self.guard.text(messages, policy, self.tokenizer, self.reasoning)

    def answer_lines(self, messages: Sequence[Message]) -> tuple[str, ...]:
        """The fixed text before each answer line; the verdict follows the last one (a reasoning
        guard's: forced after its trace's end-of-reasoning marker)."""
        return self.guard.answer_lines(messages, self.reasoning)

    def render(
        self,
        prompt: str,
        response: str | None = None,
        messages: Sequence[Message] | None = None,
    ) -> str:
        """The model input, special tokens as text, ending with the fixed text before the first
        answer (for all but WildGuard's response harm, the verdict itself) — or, for a guard
        that reasons, with the text its trace starts with; tokenize it with `encode`."""
        messages = messages if messages is not None else conversation(prompt, response)
        if self.reasoning:
            return self.text(messages) + self.guard.reasoning.start
        return self.text(messages) + self.answer_lines(messages)[0]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of rendered inputs, tokenized as this format and input mode do."""
        return self.tokenizer(texts, add_special_tokens=self.add_special_tokens)["input_ids"]

    def prefix(self, role: str) -> str:
        """The leading text shared by every input judging `role` (`User`: a prompt, `Agent`: a
        response): the common start of two renderings that differ only in their contents.

        Tokenizers may merge tokens across this boundary, so a scorer caching its key/values
        should drop the prefix's last token and check that what remains is a true prefix of
        each example's token ids.
        """
        if role not in ("User", "Agent"):
            raise ValueError(f"role must be 'User' or 'Agent', got {role!r}")
        first, second = (self.render(text, None if role == "User" else text) for text in ("x", "y"))
        pairs = zip(first, second, strict=False)
        same = next((i for i, (a, b) in enumerate(pairs) if a != b), len(first))
        return first[:same]

    def template_hash(self) -> str:
        """A digest of everything that shapes the input (for cache fingerprints): the rendered
        strings of the modes the format judges, its later answer lines (a reasoning guard's:
        its end-of-reasoning marker and all the lines forced after it), and whether the
        tokenizer adds its special tokens."""
        renders = {"response": ("{prompt}", "{response}"), "prompt": ("{prompt}", None)}
        probe = "\0".join(self.render(*renders[m]) for m in renders if m in self.guard.judges)
        if self.reasoning:
            probe += "\0reasoning\0" + self.guard.reasoning.end
            for mode in self.guard.judges:
                probe += "\0" + "\0".join(self.guard.answer_lines_of(mode, reasoning=True))
        lines = self.guard.response_lines or ()
        if len(lines) > 1:  # answer lines the scorer appends after the model's own answers
            probe += "\0" + "\0".join(lines)
        if self.guard.written_lines:  # lines the guard answers in its own words
            probe += "\0written\0" + "\0".join(self.guard.written_lines)
        probe += f"\0add_special_tokens={self.add_special_tokens}"
        return hashlib.sha256(probe.encode("utf-8")).hexdigest()[:16]
