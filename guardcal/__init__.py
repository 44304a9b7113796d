"""guardcal: measure and repair the calibration of LLM-based guardrail models."""

__version__ = "0.1.0"
