"""OpenAI's moderation evaluation set (Markov et al. 2023): 1,680 prompts, eight category keys."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example

CATEGORIES = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "sexual/minors",
    "H2": "hate/threatening",
    "V2": "violence/graphic",
}
"""The eight keys and their names (the repository's README). A key is absent where its label
is unknown."""


def load(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff any of the eight keys is 1; an absent (or null) key counts as 0 — Liu et al.'s
    `d.pop('prompt'); prompt_gt = int(1 in list(d.values()))`, and GuardBench's rule too."""
    table = src.table()
    for number, row in enumerate(table, start=1):
        flagged = tuple(name for key, name in CATEGORIES.items() if row.binary(key, missing=0) == 1)
        yield Example(
            where=row.where,
            id=str(number),
            prompt=row.text("prompt"),
            response=None,
            label=int(bool(flagged)),
            categories=flagged,
        )
