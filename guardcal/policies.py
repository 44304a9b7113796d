"""Safety policies as data: each taxonomy's categories, read from a file with its provenance and
licence (`guardcal/data/policies/`), the category block a guard prompt carries, and how the
report orders and names harm categories."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).parent / "data" / "policies"

TAXONOMIES = ("beavertails", "beavertails_descriptions", "llama_guard_3")
"""The policy blocks a guard prompt can carry: the study's BeaverTails policy without or with its
descriptions, and Llama Guard 3's own MLCommons S1–S14."""


@cache
def policy_file(name: str) -> dict[str, Any]:
    """A policy data file (`beavertails`, `llama_guard_3`): categories, line format, provenance."""
    return json.loads((POLICY_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _taxonomy(taxonomy: str) -> tuple[dict[str, Any], str]:
    """(the policy file, its line format) of a taxonomy name."""
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; use one of {TAXONOMIES}")
    data = policy_file(taxonomy.removesuffix("_descriptions"))
    line = "with_descriptions" if taxonomy.endswith("_descriptions") else "without_descriptions"
    return data, data["line"][line]


def category_block(taxonomy: str) -> str:
    """The text between `<BEGIN UNSAFE CONTENT CATEGORIES>` and `<END …>`, without the newline
    that ends its last line (`S1: Violent Crimes.\\n…S14: Code Interpreter Abuse.`)."""
    data, line = _taxonomy(taxonomy)
    return "".join(line.format(**c) for c in data["categories"]).removesuffix("\n")


BEAVERTAILS_CATEGORIES: tuple[str, ...] = tuple(
    c["dataset_key"] for c in policy_file("beavertails")["categories"]
)
"""The 14 BeaverTails harm categories by their dataset keys, in the study's order (S1…S14)."""

BEAVERTAILS_NAMES: tuple[str, ...] = tuple(
    c["name"] for c in policy_file("beavertails")["categories"]
)
"""Their names as the study's policy block spells them."""

COVERAGE_FILE = "beavertails_in_llama_guard_3"
"""The policy file saying which BeaverTails categories Llama Guard 3's hazards also cover."""


@cache
def llama_guard_3_covers() -> frozenset[str]:
    """The BeaverTails category keys that Llama Guard 3's MLCommons hazards also cover (the demo
    base guard's policy; the datasheet states the mapping)."""
    mapping = policy_file(COVERAGE_FILE)["categories"]
    if set(mapping) != set(BEAVERTAILS_CATEGORIES):
        raise ValueError(f"{COVERAGE_FILE}.json must map exactly the 14 BeaverTails categories")
    return frozenset(key for key, entry in mapping.items() if entry["covered"])


def category_order(keys: Iterable[str]) -> list[str]:
    """Harm-category keys in display order: BeaverTails' 14 in the study's order, then any others
    sorted, so a category keeps its place (and colour) in every split and run."""
    keys = set(keys)
    known = [c for c in BEAVERTAILS_CATEGORIES if c in keys]
    return known + sorted(keys - set(known))


def category_name(key: str) -> str:
    """A harm category's display name: `S<n> <name>` for one of BeaverTails' 14 (its place in the
    study's policy block), else the key with spaces for underscores."""
    if key in BEAVERTAILS_CATEGORIES:
        index = BEAVERTAILS_CATEGORIES.index(key)
        return f"S{index + 1} {BEAVERTAILS_NAMES[index]}"
    return key.replace("_", " ")
