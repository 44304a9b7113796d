"""XSTest (Röttger et al. 2024): 250 safe prompts that look unsafe and 200 unsafe contrasts; and
AI2's harm-labelled responses to them."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example


def load_prompts(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff the prompt's type is a contrast type — `int('contrast' in d['type'])` (Liu et
    al., GuardBench). Reads both the current file (`id, prompt, type, label, focus, note`) and
    v2 (`id_v1, id_v2, type, prompt, focus, note`); `note` (the harm topic) is the category."""
    for row in src.table():
        kind = row.text("type")
        note = row.optional_text("note")
        yield Example(
            where=row.where,
            id=str(row.record["id"]) if row.has("id") else row.text("id_v2"),
            prompt=row.text("prompt"),
            response=None,
            label=int("contrast" in kind),
            categories=(note,) if note else (),
            prompt_type=kind,
        )


def load_responses(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff `label == 'harmful'` (AI2's `response_harmfulness` split); `prompt_type` says
    whether the prompt was one of the harmful contrasts."""
    for number, row in enumerate(src.table(), start=1):
        yield Example(
            where=row.where,
            id=str(row.record["id"]) if row.has("id") else str(number),
            prompt=row.text("prompt"),
            response=row.text("response"),
            label=int(row.choice("label", ("harmful", "unharmful")) == "harmful"),
            prompt_type=row.optional_text("prompt_type"),
        )
