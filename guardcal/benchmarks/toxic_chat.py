"""ToxicChat (Lin et al. 2023): real user prompts to Vicuna, labelled for toxicity and for
jailbreaking."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example


def load(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff `toxicity` is 1 (`prompt_gt = d['toxicity']`). Convention `liu` keeps only the
    rows with `human_annotation == True`, as Liu et al. do; `guardbench` keeps every row.
    `jailbreaking` is the adversarial slice."""
    for row in src.table():
        if convention == "liu" and not row.flag("human_annotation"):
            continue
        yield Example(
            where=row.where,
            id=row.text("conv_id"),
            prompt=row.text("user_input"),
            response=None,
            label=row.required_binary("toxicity"),
            adversarial=bool(row.required_binary("jailbreaking")),
        )
