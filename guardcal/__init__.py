"""guardcal: measure and repair the calibration of LLM-based guardrail models."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["CalibratedGuard", "__version__"]


def __getattr__(name: str) -> Any:
    """`guardcal.CalibratedGuard`, imported on first access: `import guardcal` stays light."""
    if name == "CalibratedGuard":
        from guardcal.guard import CalibratedGuard

        return CalibratedGuard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
