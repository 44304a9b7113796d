"""Extraction: guard inputs, model loading, the one-position forward pass and the scorer.

The only part of guardcal that imports torch and transformers; it ends in the scores files.
Importing this package is cheap: `run_extraction` (and torch with it) loads on first use, so a
bad config or data file is reported before any of that.
"""

from typing import Any

__all__ = ["run_extraction"]


def __getattr__(name: str) -> Any:
    """`guardcal.extraction.run_extraction`, imported on first access."""
    if name == "run_extraction":
        from guardcal.extraction.extract import run_extraction

        return run_extraction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
