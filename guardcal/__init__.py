"""guardcal: measure and repair the calibration of LLM-based guardrail models."""

from typing import Any

from guardcal.version import __version__

__all__ = ["CalibratedGuard", "__version__"]


def __getattr__(name: str) -> Any:
    """`guardcal.CalibratedGuard`, imported on first access: `import guardcal` stays light."""
    if name == "CalibratedGuard":
        from guardcal.guard import CalibratedGuard

        return CalibratedGuard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
