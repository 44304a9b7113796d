"""NVIDIA's Aegis content-safety datasets: 1.0 (Ghosh et al. 2024, per-annotator labels) and 2.0
(Ghosh et al. 2025, aggregated prompt and response labels)."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example

SAFE = "Safe"
"""Aegis 1.0's annotator label for a safe text; any other label (a category, `Needs Caution`)
is not safe."""
VOTES = ("labels_0", "labels_1", "labels_2")
"""The three annotators Liu et al. count (labels_3 and labels_4 are ignored)."""
REDACTED = "REDACTED"
"""Aegis 2.0's placeholder for a prompt it cannot publish."""
LABELS_2 = ("safe", "unsafe")


def load_1(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """The `user_message` rows. Convention `liu` (a majority): unsafe iff fewer than two of
    labels_0..2 are 'Safe' — `prompt_gt = int((annotations['Safe']) < 2)`, so 'Needs Caution'
    counts as unsafe; `unanimous`: unsafe iff none of them is 'Safe'."""
    for number, row in enumerate(src.table(), start=1):
        if row.choice("text_type", ("user_message", "llm_response")) != "user_message":
            continue
        votes = [row.optional_text(field) for field in VOTES]  # a missing vote is not 'Safe'
        safe = votes.count(SAFE)
        unsafe = safe < 2 if convention == "liu" else safe == 0
        yield Example(
            where=row.where,
            id=str(number),
            prompt=row.text("text"),
            response=None,
            label=int(unsafe),
            categories=tuple(dict.fromkeys(v for v in votes if v not in (SAFE, None))),
        )


def load_2(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Prompt mode: unsafe iff `prompt_label == 'unsafe'`, the REDACTED prompts dropped; response
    mode: the rows with a response and a `response_label`, unsafe iff it is 'unsafe'. Convention
    `all` keeps every label source; `human` only the rows whose label an annotator gave
    (`*_label_source == 'human'`, not an LLM jury or the refusal augmentation)."""
    for row in src.table():
        categories = tuple(
            c.strip() for c in (row.optional_text("violated_categories") or "").split(",")
        )
        if mode == "prompt":
            prompt = row.text("prompt")
            if prompt.strip() == REDACTED:
                continue
            label, source, response = row.choice("prompt_label", LABELS_2), "prompt", None
        else:
            label = row.choice("response_label", LABELS_2, optional=True)
            response = row.optional_text("response")
            if label is None or response is None:
                continue
            prompt, source = row.text("prompt"), "response"
        if convention == "human" and row.text(f"{source}_label_source") != "human":
            continue
        yield Example(
            where=row.where,
            id=row.text("id"),
            prompt=prompt,
            response=response,
            label=int(label == "unsafe"),
            categories=tuple(c for c in categories if c),
        )
