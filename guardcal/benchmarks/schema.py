"""What a benchmark loader yields: one example per row in guardcal's normalised schema, plus the
slice fields the field's evaluations split results by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from guardcal.records import COLUMNS, DataError

SLICES = ("adversarial", "attack", "response_model", "prompt_type")
"""Slice columns beside the normalised ones: whether the prompt is a jailbreak, the attack
method, the model that wrote the response, and the prompt's type in the benchmark's own terms
(XSTest's type, HarmBench's functional category, ...); None where a benchmark has no such field."""


@dataclass(frozen=True)
class Example:
    """One evaluated example: the guard's input, the label (1 = unsafe) and its slices;
    `where` names the raw row it came from (for errors, not a column)."""

    where: str
    id: str
    prompt: str
    response: str | None
    label: int
    categories: tuple[str, ...] = ()
    adversarial: bool | None = None
    attack: str | None = None
    response_model: str | None = None
    prompt_type: str | None = None


def to_frame(examples: Iterable[Example], source: str) -> pd.DataFrame:
    """The normalised frame (`guardcal.records.COLUMNS`, categories in the benchmark's own
    names) with the slice columns; a repeated id is an error naming both rows."""
    rows = list(examples)
    if not rows:
        raise DataError(f"{source}: no rows left after the label rule and its convention")
    seen: dict[str, str] = {}
    for ex in rows:
        if ex.id in seen:
            raise DataError(f"{source}: {ex.where}: duplicate id {ex.id!r} (also {seen[ex.id]})")
        seen[ex.id] = ex.where
    columns = {
        "id": [ex.id for ex in rows],
        "prompt": [ex.prompt for ex in rows],
        "response": [ex.response for ex in rows],
        "label": pd.Series([ex.label for ex in rows], dtype="int64"),
        "categories": [list(ex.categories) for ex in rows],
        "adversarial": pd.Series([ex.adversarial for ex in rows], dtype="boolean"),
        "attack": [ex.attack for ex in rows],
        "response_model": [ex.response_model for ex in rows],
        "prompt_type": [ex.prompt_type for ex in rows],
    }
    frame = pd.DataFrame(
        {
            k: v if isinstance(v, pd.Series) else pd.Series(v, dtype=object)
            for k, v in columns.items()
        }
    )
    return frame[[*COLUMNS, *SLICES]]
