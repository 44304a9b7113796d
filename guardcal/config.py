"""Experiment configs: one YAML file per run, validated on load; errors name the bad key."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guardcal.calibration.grid import GAMMA_RANGE, TEMPERATURE_RANGE
from guardcal.calibration.metrics import ECE_BINS, PLOT_BINS
from guardcal.layout import RunLayout
from guardcal.policies import TAXONOMIES

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACKAGE_DIR / "configs"
DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
PACKAGE_PREFIX = "package:"
REPORTS_ENV = "GUARDCAL_REPORTS"
PROMPT_FORMATS = ("llama_guard", "chat")
"""How a guard input is built: Llama Guard 3's own string, or the instruction as a chat turn."""
FORMATS = ("auto", *PROMPT_FORMATS)
LABEL_SCORES = ("first_token",)
"""How a label word is scored: the logit of its first token (the study's rule)."""


class ConfigError(ValueError):
    """A config file that does not validate; the message names the file and the key."""


@dataclass(frozen=True)
class Source:
    """One split's data: a local file (`path`) or a hub dataset (`hf` + `split`), optionally a
    seeded fraction of it (the study's validation split is 10 % of `330k_train`, seed 42)."""

    path: str | None = None
    hf: str | None = None
    split: str | None = None
    revision: str | None = None
    fraction: float | None = None
    seed: int = 42


@dataclass(frozen=True)
class LabelValues:
    """Which raw values of the label column mean safe and which mean unsafe."""

    safe: tuple[Any, ...] = (True,)
    unsafe: tuple[Any, ...] = (False,)


@dataclass(frozen=True)
class Columns:
    """Column names of the input records (the BeaverTails schema by default)."""

    id: str = "id"
    prompt: str = "prompt"
    response: str = "response"
    label: str = "is_safe"
    category: str = "category"


@dataclass(frozen=True)
class DatasetConfig:
    """The two evaluated splits, their column mapping and an optional per-split row limit."""

    validation: Source
    test: Source
    limit: int | None = None
    columns: Columns = field(default_factory=Columns)
    label_values: LabelValues = field(default_factory=LabelValues)


@dataclass(frozen=True)
class ModelConfig:
    """One guard: a display name and a hub id, local path or `embedded:<name>` model."""

    name: str
    model: str
    revision: str | None = None
    format: str = "auto"
    trust_remote_code: bool = False


@dataclass(frozen=True)
class PromptConfig:
    """The guard prompt: taxonomy, verbalizer words and how a label word is scored."""

    taxonomy: str = "beavertails"
    verbalizer: dict[str, str] = field(default_factory=lambda: {"safe": "safe", "unsafe": "unsafe"})
    label_score: str = "first_token"
    max_response_words: int | None = None


@dataclass(frozen=True)
class CalibrationConfig:
    """The study's bins and tuning grids (start, stop, step)."""

    ece_bins: int = ECE_BINS
    plot_bins: int = PLOT_BINS
    temperature_grid: tuple[float, float, float] = TEMPERATURE_RANGE
    gamma_grid: tuple[float, float, float] = GAMMA_RANGE


@dataclass(frozen=True)
class ScoringConfig:
    """Extraction settings; `auto` picks CUDA + bf16 when a GPU is there, else CPU + float32."""

    batch_size: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    shard_size: int = 256


@dataclass(frozen=True)
class Config:
    """A whole experiment: what to score, with which guards, and how to calibrate."""

    name: str
    dataset: DatasetConfig
    models: tuple[ModelConfig, ...]
    prompt: PromptConfig = field(default_factory=PromptConfig)
    content_free: tuple[str, ...] = (" ",)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    reports_dir: str = field(default_factory=lambda: os.environ.get(REPORTS_ENV, "reports"))
    source_file: str | None = None

    def model(self, name: str) -> ModelConfig:
        """The model entry called `name`."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(
            f"no model named {name!r} in config {self.source_file}; "
            f"known: {[m.name for m in self.models]}"
        )

    @property
    def run_dir(self) -> Path:
        """`<reports_dir>/<name>/`; `reports_dir` defaults to $GUARDCAL_REPORTS, else ./reports."""
        return Path(self.reports_dir) / self.name

    @property
    def layout(self) -> RunLayout:
        """Every path of the run folder."""
        return RunLayout(self.run_dir)


def resolve_path(path: str, base: Path | None) -> Path:
    """A config's data path: `package:` is inside guardcal, a relative path is beside the config."""
    if path.startswith(PACKAGE_PREFIX):
        return PACKAGE_DIR / path[len(PACKAGE_PREFIX) :]
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a YAML config (the shipped demo when `path` is None)."""
    path = Path(path) if path else DEMO_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    cfg = _build(Config, raw, "", path)
    cfg = dataclasses.replace(cfg, source_file=str(path.resolve()))
    _check(cfg, path)
    return cfg


def _build(cls: type, raw: Any, key: str, path: Path) -> Any:
    """Build dataclass `cls` from `raw`, naming the dotted `key` of anything wrong."""
    where = key or "<top level>"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: key '{where}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_file"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        bad = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(f"{path}: unknown key '{bad}' (allowed here: {sorted(fields)})")
    values = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}: missing required key '{sub}'")
            continue
        values[name] = _value(hints[name], raw[name], sub, path)
    return cls(**values)


def _value(tp: Any, value: Any, key: str, path: Path) -> Any:
    """Coerce one value to type `tp`, or raise naming `key`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, key, path)
    if dataclasses.is_dataclass(tp):
        if tp is Source and isinstance(value, str):
            value = {"path": value}
        return _build(tp, value, key, path)
    if origin is tuple:
        if isinstance(value, str) and args[-1] is Ellipsis:
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: key '{key}' must be a list, got {value!r}")
        if args[-1] is Ellipsis:
            return tuple(_value(args[0], v, f"{key}[{i}]", path) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: key '{key}' must have {len(args)} items, got {value!r}")
        return tuple(
            _value(a, v, f"{key}[{i}]", path)
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: key '{key}' must be a mapping, got {value!r}")
        return {str(k): _value(args[1], v, f"{key}.{k}", path) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp in (int, float) and isinstance(value, bool)) or not isinstance(value, tp):
        raise ConfigError(f"{path}: key '{key}' must be {tp.__name__}, got {value!r}")
    return value


def _check(cfg: Config, path: Path) -> None:
    """Cross-field checks that types alone cannot express."""

    def bad(key: str, msg: str) -> None:
        raise ConfigError(f"{path}: key '{key}' {msg}")

    if not cfg.name or "/" in cfg.name:
        bad("name", f"must be a non-empty run name without '/', got {cfg.name!r}")
    for split in ("validation", "test"):
        src: Source = getattr(cfg.dataset, split)
        if (src.path is None) == (src.hf is None):
            bad(f"dataset.{split}", "needs exactly one of 'path' (a local file) or 'hf' (a hub id)")
        if src.hf is not None and not src.split:
            bad(f"dataset.{split}.split", "is required with 'hf' (e.g. 330k_train)")
        if src.fraction is not None and not 0 < src.fraction <= 1:
            bad(f"dataset.{split}.fraction", f"must be in (0, 1], got {src.fraction}")
    both = set(map(repr, cfg.dataset.label_values.safe)) & set(
        map(repr, cfg.dataset.label_values.unsafe)
    )
    if both:
        bad("dataset.label_values", f"lists {sorted(both)} as both safe and unsafe")
    if cfg.dataset.limit is not None and cfg.dataset.limit < 1:
        bad("dataset.limit", f"must be a positive integer, got {cfg.dataset.limit}")
    if not cfg.models:
        bad("models", "must list at least one model")
    names = [m.name for m in cfg.models]
    for i, m in enumerate(cfg.models):
        if names.count(m.name) > 1:
            bad(f"models[{i}].name", f"{m.name!r} is used twice")
        if m.format not in FORMATS:
            bad(f"models[{i}].format", f"must be one of {FORMATS}, got {m.format!r}")
    if cfg.prompt.taxonomy not in TAXONOMIES:
        bad("prompt.taxonomy", f"must be one of {TAXONOMIES}, got {cfg.prompt.taxonomy!r}")
    if sorted(cfg.prompt.verbalizer) != ["safe", "unsafe"]:
        bad("prompt.verbalizer", f"must map 'safe' and 'unsafe' only, got {cfg.prompt.verbalizer}")
    if cfg.prompt.label_score not in LABEL_SCORES:
        bad("prompt.label_score", f"must be one of {LABEL_SCORES}, got {cfg.prompt.label_score!r}")
    if not cfg.content_free:
        bad("content_free", "must list at least one content-free input")
    for key in ("ece_bins", "plot_bins"):
        if getattr(cfg.calibration, key) < 1:
            bad(f"calibration.{key}", "must be a positive integer")
    for key in ("temperature_grid", "gamma_grid"):
        lo, hi, step = getattr(cfg.calibration, key)
        if not (step > 0 and hi > lo):
            bad(f"calibration.{key}", "must be [start, stop, step] with stop > start, step > 0")
