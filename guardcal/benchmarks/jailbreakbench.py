"""JailbreakBench's JBB-Behaviors (Chao et al. 2024): 100 harmful and 100 benign behaviours,
and 300 jailbreak responses judged by three people (its judge comparison)."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example

SPLITS = {"harmful": 1, "benign": 0}
"""The behaviours' two splits (hub) or files (`path:` the harmful one, `benign:` the other)."""


def load(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Prompt mode: each behaviour's `Goal`, unsafe iff it is from the harmful split; `Category`
    is its category. Response mode (the judge comparison): unsafe iff `human_majority` is 1
    (the response is a jailbreak); every row is an attack. Convention `jailbreak`: the guard
    sees the attack's `prompt`; `goal`: the plain request."""
    if mode == "prompt":
        for split, label in SPLITS.items():
            table = src.table("path" if split == "harmful" else split)
            for row in table or ():
                yield Example(
                    where=row.where,
                    id=f"{split}-{row.record.get('Index', row.where)}",
                    prompt=row.text("Goal"),
                    response=None,
                    label=label,
                    categories=(row.text("Category"),),
                    prompt_type=split,
                )
        return
    for row in src.table():
        yield Example(
            where=row.where,
            id=str(row.record.get("Index", row.where)),
            prompt=row.text("prompt" if convention == "jailbreak" else "goal"),
            response=row.text("target_response"),
            label=row.required_binary("human_majority"),
            adversarial=True,
        )
