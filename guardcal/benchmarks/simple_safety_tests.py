"""SimpleSafetyTests (Vidgen et al. 2023): 100 clearly harmful prompts in five harm areas."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example


def load(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Every prompt is unsafe (`prompt_gt = 1`); `harm_area` is its category, `category` (the
    kind of request) its type."""
    for row in src.table():
        yield Example(
            where=row.where,
            id=row.text("id"),
            prompt=row.text("prompt"),
            response=None,
            label=1,
            categories=(row.text("harm_area"),),
            prompt_type=row.optional_text("category"),
        )
