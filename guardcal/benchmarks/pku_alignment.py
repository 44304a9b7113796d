"""PKU-Alignment's response-safety sets: BeaverTails (Ji et al. 2023), one annotation per row,
and PKU-SafeRLHF (Ji et al. 2024), two responses per prompt."""

from __future__ import annotations

from collections.abc import Iterator

from guardcal.benchmarks.rows import Sources
from guardcal.benchmarks.schema import Example

LIU_ROWS = 2000
"""Liu et al. stop after 2,000 examples (BeaverTails rows; SafeRLHF responses, 1,000 pairs)."""
RESPONSES = (0, 1)


def load_beavertails(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Unsafe iff `is_safe` is false — `response_gt = int(d['is_safe'] == False)`. Rows are
    annotations, so a (prompt, response) pair can recur. Convention `liu`: the first 2,000 rows
    in file order; `all`: every row (the study's code); `guardbench`: one row per distinct pair,
    safe iff at least half its annotations say safe, flagged with every category any of them
    flagged."""
    table = src.table()
    if convention != "guardbench":
        for number, row in enumerate(table, start=1):
            if convention == "liu" and number > LIU_ROWS:
                return
            yield Example(
                where=row.where,
                id=str(number),
                prompt=row.text("prompt"),
                response=row.text("response"),
                label=int(not row.flag("is_safe")),
                categories=row.flags("category"),
            )
        return
    pairs: dict[tuple[str, str], list] = {}
    for row in table:
        key = (row.text("prompt"), row.text("response"))
        pairs.setdefault(key, []).append((row.where, row.flag("is_safe"), row.flags("category")))
    for number, ((prompt, response), notes) in enumerate(pairs.items(), start=1):
        safe = sum(is_safe for _, is_safe, _ in notes) / len(notes) >= 0.5
        yield Example(
            where=notes[0][0],
            id=str(number),
            prompt=prompt,
            response=response,
            label=int(not safe),
            categories=tuple(dict.fromkeys(c for _, _, flags in notes for c in flags)),
        )


def load_saferlhf(src: Sources, mode: str, convention: str) -> Iterator[Example]:
    """Each pair gives two examples (prompt, response_i), unsafe iff `is_response_i_safe` is
    false — `response_gt = int(d[safe_i] == False)`. Convention `liu`: only the pairs whose two
    responses disagree, in file order, until 2,000 examples (1,000 safe, 1,000 unsafe); `all`:
    both responses of every pair. The category is `response_i_harm_category`'s flags."""
    count = 0
    for number, row in enumerate(src.table(), start=1):
        safe = [row.flag(f"is_response_{i}_safe") for i in RESPONSES]
        if convention == "liu" and safe[0] == safe[1]:
            continue
        for i in RESPONSES:
            yield Example(
                where=row.where,
                id=f"{number}-{i}",
                prompt=row.text("prompt"),
                response=row.text(f"response_{i}"),
                label=int(not safe[i]),
                categories=row.flags(f"response_{i}_harm_category"),
            )
        count += 2
        if convention == "liu" and count == LIU_ROWS:
            return
