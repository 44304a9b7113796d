"""WildGuardMix's test set (Han et al. 2024): vanilla and adversarial prompts with responses,
each labelled by three annotators."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example

HARM = ("harmful", "unharmful")


def load(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff the mode's label (`prompt_harm_label` or `response_harm_label`) is 'harmful' —
    `int(d['prompt_harm_label'] == 'harmful')`. A null label means the annotators did not agree:
    convention `liu` counts it safe, as Liu et al.'s line does; `drop` leaves the row out.
    `adversarial` is the slice, `subcategory` the category."""
    field = f"{mode}_harm_label"
    for number, row in enumerate(src.table(), start=1):
        label = row.choice(field, HARM, optional=True)
        if label is None and convention == "drop":
            continue
        yield Example(
            where=row.where,
            id=str(number),
            prompt=row.text("prompt"),
            response=row.text("response") if mode == "response" else None,
            label=int(label == "harmful"),
            categories=(row.text("subcategory"),),
            adversarial=row.flag("adversarial"),
        )
