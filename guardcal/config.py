"""Experiment configs: one YAML file per run, validated on load; errors name the bad key."""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guardcal.atomic import unwritable, write_text
from guardcal.calibration.defaults import ECE_BINS, GAMMA_RANGE, PLOT_BINS, TEMPERATURE_RANGE
from guardcal.layout import RunLayout, model_slug
from guardcal.policies import TAXONOMIES

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACKAGE_DIR / "configs"
DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
PACKAGE_PREFIX = "package:"
REPORTS_ENV = "GUARDCAL_REPORTS"
LABEL_SCORES = ("first_token", "sequence")
"""How a label word is scored: the logit of its first token (the study's rule), or the summed
log-probability of all its tokens."""
INPUT_MODES = ("study", "model")
"""How the guard input is built: as the study's code did, or as the model's documentation does."""
OVERFLOWS = ("stop", "cut_end", "cut_middle")
"""What to do with a guard input longer than the model's context (or `prompt.max_tokens`): stop
with an error naming the row, or cut the response's end or middle until the input fits."""
EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = ("smollm2-135m", "smollm2-135m-finetuned", "smollm2-135m-mlcommons")
"""The models shipped with guardcal (`embedded:<name>`): SmolLM2-135M-Instruct prompted with the
policy, and two guards whose verdict rows are fitted on the demo train split: on BeaverTails'
labels (fine-tuned), and on only what Llama Guard 3's MLCommons hazards cover (the base guard)."""
FITTED_EMBEDDED = EMBEDDED_MODELS[1:]
"""The embedded guards whose verdict rows are fitted: to the default verbalizer's words."""
STUDY_ROLES = ("base", "fine-tuned")
"""The study's two guards, which a run's guards may stand beside (`models[].study_role`)."""
DEVICES = ("auto", "cpu", "cuda", "mps")
"""Where the scorer runs; `cuda:N` picks one GPU."""
SCORING_DTYPES = ("auto", "float32", "bfloat16", "float16")
"""The scorer's weight and activation types; `auto` is bf16 on a GPU, float32 on a CPU."""
REASONING_MODES = ("off", "greedy", "sample")
"""How a guard reasons before its verdict (`models[].reasoning`): not at all (its verdict read
at once), one greedy trace, or K sampled traces whose verdict distributions are averaged."""
RAY_LOCAL = "local"
"""`scoring.ray` (and `guardcal score --ray` without an address): a new Ray instance here."""


SPLITS = ("validation", "test", "content_free")
"""A run's splits: tuning, evaluation, and the content-free inputs of contextual calibration."""


class InputError(ValueError):
    """Bad input from the user (a config or data file): the CLI prints its one-line message."""


class ConfigError(InputError):
    """A config file that does not validate; the message names the file and the key."""


class UnknownModelError(ConfigError):
    """A model name (`--model`, a notebook's) that no entry of the config has; the message
    names the config file and the names it has."""


@dataclass(frozen=True)
class Source:
    """One split's data: a local file (`path`), a hub dataset (`hf` + `split`) or one of the
    run's benchmarks (`benchmark`, its key), optionally a seeded fraction of it (the study's
    validation split is 10 % of `330k_train`, seed 42) or, with `complement`, the rest."""

    path: str | None = None
    hf: str | None = None
    split: str | None = None
    revision: str | None = None
    benchmark: str | None = None
    fraction: float | None = None
    seed: int = 42
    complement: bool = False
    """With `fraction`: the rows the fraction leaves out (a benchmark's evaluated rest)."""


@dataclass(frozen=True)
class BenchmarkEntry:
    """One named public benchmark of a suite (`guardcal benchmarks` lists the names): loaded by
    its hub id, or from `path`, a local copy of its original file; `behaviors` and `benign` are
    the second files that HarmBench's classifier set and JailbreakBench's behaviours take."""

    name: str
    mode: str | None = None
    """`prompt` or `response` where the benchmark serves both (default: its first)."""
    hf: str | None = None
    """A hub id (or a local dataset folder) instead of the registry's: a mirror."""
    convention: str | None = None
    """How its label rule is applied where evaluators differ (default: the registry's first)."""
    path: str | None = None
    behaviors: str | None = None
    benign: str | None = None
    subset: str | None = None
    """The hub dataset's config (subset) instead of the registry's."""
    split: str | None = None
    revision: str | None = None
    limit: int | None = None
    """Only the first N rows (after the label rule and convention)."""

    @property
    def key(self) -> str:
        """The benchmark's name in a run (its split, its rows in the tables): the name, with
        the mode and convention the entry sets (`harmbench_classifier-liu_adv`)."""
        return "-".join(x for x in (self.name, self.mode, self.convention) if x)


@dataclass(frozen=True)
class CalibrateOn:
    """Where a suite's calibrators are fitted: a seeded share (`fraction`) of one of its
    benchmarks (`benchmark`, its key) — the rest of it is that benchmark's evaluated rows — or a
    validation set of the user's own (`validation`, a file or hub split)."""

    benchmark: str | None = None
    fraction: float = 0.5
    seed: int = 0
    validation: Source | None = None


@dataclass(frozen=True)
class InDomain:
    """Calibration in domain: each benchmark's calibrators also fitted on a seeded share of its
    own rows, and both fits measured on the rest, so the report shows what transfer loses."""

    fraction: float = 0.5
    seed: int = 0


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
    messages: str = "messages"
    """A conversation of several turns: a list of {role, content}, judged at its last turn."""


@dataclass(frozen=True)
class DatasetConfig:
    """The two evaluated splits, their column mapping and an optional per-split row limit."""

    validation: Source
    test: Source
    limit: int | None = None
    columns: Columns = field(default_factory=Columns)
    label_values: LabelValues = field(default_factory=LabelValues)


@dataclass(frozen=True)
class ReasoningConfig:
    """`models[].reasoning`: `off`, `greedy`, or `{samples: K, temperature: τ, seed: s}` (mode
    `sample`): K traces drawn at temperature τ, reproducibly from seed s."""

    mode: str = "off"
    samples: int = 1
    temperature: float = 1.0
    seed: int = 0

    @property
    def on(self) -> bool:
        """Whether the guard writes a trace before its verdict."""
        return self.mode != "off"


@dataclass(frozen=True)
class ModelConfig:
    """One guard: a display name and a hub id, local path or `embedded:<name>` model."""

    name: str
    model: str
    revision: str | None = None
    format: str = "auto"
    trust_remote_code: bool = False
    study_role: str | None = None
    """`base` or `fine-tuned`: the study's guard whose published numbers the report sets beside
    this one's (Llama-Guard-3-8B, QA-Llama-Guard-3-8B); unset for a guard with no counterpart."""
    controversial: str | None = None
    """A three-level guard's rule for `controversial` (`unsafe`: strict, `safe`: loose); unset
    is `prompt.controversial`. Two entries of one guard with both rules are two views of ONE
    scoring pass, each calibrated and evaluated as a guard of its own."""
    reasoning: ReasoningConfig = field(default_factory=ReasoningConfig)
    max_reasoning_tokens: int = 1024
    """The longest trace; one that reaches it gets the end-of-reasoning marker forced."""


@dataclass(frozen=True)
class PromptConfig:
    """The guard prompt: taxonomy, input mode (`study` or `model`, see
    `guardcal.extraction.prompts`), verbalizer words and how a label word is scored."""

    taxonomy: str = "beavertails"
    input: str = "model"
    verbalizer: dict[str, str] = field(default_factory=lambda: {"safe": "safe", "unsafe": "unsafe"})
    label_score: str = "first_token"
    max_response_words: int | None = None
    max_tokens: int | None = None
    overflow: str = "stop"
    controversial: str = "unsafe"
    """How a three-level guard's `controversial` counts in p(unsafe) (its authors: unsafe)."""
    policy: str | None = None
    """A built-in policy by name, for guards whose format has several (Granite Guardian's
    criteria: `social_bias`, `jailbreak`, …); null is the format's own default."""
    policy_file: str | None = None
    """A policy the user writes (a UTF-8 text file, beside the config unless absolute), for
    guards whose format takes one (Granite Guardian's criteria, Nemotron's custom policy)."""


@dataclass(frozen=True)
class CalibrationConfig:
    """The study's bins and tuning grids (start, stop, step)."""

    ece_bins: int = ECE_BINS
    plot_bins: int = PLOT_BINS
    temperature_grid: tuple[float, float, float] = TEMPERATURE_RANGE
    gamma_grid: tuple[float, float, float] = GAMMA_RANGE
    histogram_bins: int = ECE_BINS  # equal-mass bins of histogram binning (beyond the study)
    bootstrap_resamples: int = 1000  # resamples of the test split behind every interval
    bootstrap_seed: int = 0
    bootstrap_refit: bool = False  # refit the calibrators on a resample of validation each time


@dataclass(frozen=True)
class DecisionsConfig:
    """What a guard's user decides with: the precision and recall an operating point must reach
    (thresholds chosen on validation, measured on test; docs/design.md §8), and the false
    positive rate and the 1 − delta confidence of the guaranteed thresholds."""

    target_precision: float = 0.9
    target_recall: float = 0.9
    target_fpr: float = 0.05
    delta: float = 0.1


@dataclass(frozen=True)
class ScoringConfig:
    """Extraction settings; `auto` picks CUDA + bf16 when a GPU is there, else CPU + float32.
    `ray` scores the shards on Ray (`local`: a new local instance; else a cluster's address),
    each worker taking one GPU where the cluster has GPUs, else `ray_cpus` CPUs."""

    batch_size: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    shard_size: int = 256
    ray: str | None = None
    ray_cpus: float = 1.0


@dataclass(frozen=True)
class Config:
    """A whole experiment: what to score, with which guards, and how to calibrate."""

    name: str
    models: tuple[ModelConfig, ...]
    dataset: DatasetConfig | None = None
    """The validation and test splits; a suite's are filled in from `calibrate_on`, so after
    `load_config` this is never None."""
    benchmarks: tuple[BenchmarkEntry, ...] = ()
    """A suite: named benchmarks, each scored in its mode (instead of `dataset`)."""
    calibrate_on: CalibrateOn | None = None
    in_domain: InDomain | None = None
    prompt: PromptConfig = field(default_factory=PromptConfig)
    content_free: tuple[str, ...] = (" ",)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    decisions: DecisionsConfig = field(default_factory=DecisionsConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    reports_dir: str = field(default_factory=lambda: os.environ.get(REPORTS_ENV, "reports"))
    source_file: str | None = None

    def model(self, name: str) -> ModelConfig:
        """The model entry called `name`."""
        for m in self.models:
            if m.name == name:
                return m
        raise UnknownModelError(
            f"{self.source_file}: no model named {name!r}; the config's models are "
            f"{[m.name for m in self.models]}"
        )

    @property
    def splits(self) -> tuple[str, ...]:
        """Every split the run scores: validation, test and content_free, then each benchmark of
        a suite by its key, but for the one whose rows the test split already is."""
        test = self.dataset.test.benchmark if self.dataset else None
        return SPLITS + tuple(e.key for e in self.benchmarks if e.key != test)

    def benchmark_split(self, key: str) -> str:
        """The split holding a suite benchmark's evaluated rows: `test` for the one the test split
        is drawn from, else its key."""
        return "test" if self.dataset and key == self.dataset.test.benchmark else key

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


def read_policy_file(cfg: Config) -> str:
    """The text of `prompt.policy_file`, without its final newline."""
    assert cfg.prompt.policy_file is not None
    base = Path(cfg.source_file).parent if cfg.source_file else None
    path = resolve_path(cfg.prompt.policy_file, base)
    return path.read_text(encoding="utf-8").removesuffix("\n")


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
    if cfg.prompt.policy_file is not None:  # absolute, so a calibrated guard finds it from its run
        policy = resolve_path(cfg.prompt.policy_file, path.resolve().parent)
        cfg = dataclasses.replace(
            cfg, prompt=dataclasses.replace(cfg.prompt, policy_file=str(policy))
        )
    cfg = _with_suite_splits(cfg, _Checker(path))
    _check(cfg, path)
    return cfg


def _with_suite_splits(cfg: Config, c: _Checker) -> Config:
    """A suite's validation and test splits from `calibrate_on`: a seeded share of one of its
    benchmarks and that benchmark's rest, or the user's validation set and the first benchmark
    whole. A config that carries both (a resolved one) must agree with itself."""
    if not cfg.benchmarks:
        if cfg.dataset is None:
            c.bad("dataset", "is required (or `benchmarks:` for a suite of named benchmarks)")
        for key in ("calibrate_on", "in_domain"):
            if getattr(cfg, key) is not None:
                c.bad(key, "is a suite's setting: it needs `benchmarks:`")
        return cfg
    on = cfg.calibrate_on
    if on is None:
        c.bad(
            "calibrate_on",
            "is required with `benchmarks:`: {benchmark: KEY, fraction: F, seed: S} or "
            "{validation: FILE}",
        )
    keys = [e.key for e in cfg.benchmarks]
    if (on.benchmark is None) == (on.validation is None):
        c.bad(
            "calibrate_on", "needs exactly one of 'benchmark' (a key of benchmarks) or 'validation'"
        )
    if on.benchmark is not None:
        if on.benchmark not in keys:
            c.bad(
                "calibrate_on.benchmark",
                f"must be one of the suite's benchmarks {keys}, got {on.benchmark!r}",
            )
        if not 0 < on.fraction < 1:
            c.bad(
                "calibrate_on.fraction",
                f"must be in (0, 1): the rest is evaluated, got {on.fraction}",
            )
        validation = Source(benchmark=on.benchmark, fraction=on.fraction, seed=on.seed)
        test = dataclasses.replace(validation, complement=True)
    else:
        validation, test = on.validation, Source(benchmark=keys[0])
    derived = DatasetConfig(validation=validation, test=test)
    if cfg.dataset is not None and dataclasses.replace(cfg.dataset, limit=None) != derived:
        c.bad("dataset", "is a suite's to derive from `calibrate_on`: give one or the other")
    limit = cfg.dataset.limit if cfg.dataset else None
    return dataclasses.replace(cfg, dataset=dataclasses.replace(derived, limit=limit))


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
        if tp is BenchmarkEntry and isinstance(value, str):
            value = {"name": value}
        if tp is ReasoningConfig:
            value = _reasoning(value, key, path)
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


def _reasoning(value: Any, key: str, path: Path) -> dict[str, Any]:
    """`models[].reasoning` as a mapping: `off` (YAML reads a bare off as false) and `greedy`
    name a mode, a mapping of samples, temperature and seed is the `sample` mode."""
    if value is False or value == "off":
        return {"mode": "off"}
    if value == "greedy":
        return {"mode": "greedy"}
    if isinstance(value, dict):
        return {"mode": "sample", **value}
    raise ConfigError(
        f"{path}: key '{key}' must be off, greedy or {{samples: K, temperature: τ, seed: s}}, "
        f"got {value!r}"
    )


def with_overrides(
    cfg: Config,
    *,
    run_name: str | None = None,
    limit: int | None = None,
    reports_dir: str | Path | None = None,
) -> Config:
    """`cfg` with the command line's (or a notebook's) overrides, checked like the file was."""
    if run_name is not None:  # an empty one is refused below, not ignored
        cfg = dataclasses.replace(cfg, name=run_name)
    if limit:
        cfg = dataclasses.replace(
            cfg,
            dataset=dataclasses.replace(cfg.dataset, limit=int(limit)),
            benchmarks=tuple(
                dataclasses.replace(e, limit=min(e.limit or int(limit), int(limit)))
                for e in cfg.benchmarks
            ),
        )
    if reports_dir is not None:
        cfg = dataclasses.replace(cfg, reports_dir=str(reports_dir))
    _check(cfg, Path(cfg.source_file or "<config>"))
    return cfg


def config_text(cfg: Config) -> str:
    """`cfg` as the YAML file a run keeps (`reports/<run>/config.yaml`): every key spelled out,
    the run folder's location absolute, and each split's data path absolute (the file lives in
    the run folder, not beside the config it came from). `load_config` reads it back to the same
    settings."""
    base = Path(cfg.source_file).parent if cfg.source_file else None

    def absolute(value: str | None) -> str | None:
        if value is None or value.startswith(PACKAGE_PREFIX):
            return value
        return str(resolve_path(value, base).absolute())

    def source(src: Source) -> Source:
        return dataclasses.replace(src, path=absolute(src.path))

    dataset = dataclasses.replace(
        cfg.dataset,
        validation=source(cfg.dataset.validation),
        test=source(cfg.dataset.test),
    )
    benchmarks = tuple(  # a suite's local copies, and the second files some take
        dataclasses.replace(
            e, path=absolute(e.path), behaviors=absolute(e.behaviors), benign=absolute(e.benign)
        )
        for e in cfg.benchmarks
    )
    on = cfg.calibrate_on
    if on is not None and on.validation is not None:
        on = dataclasses.replace(on, validation=source(on.validation))
    raw = dataclasses.asdict(
        dataclasses.replace(
            cfg,
            dataset=dataset,
            benchmarks=benchmarks,
            calibrate_on=on,
            reports_dir=str(Path(cfg.reports_dir).absolute()),
        )
    )
    del raw["source_file"]  # where it is read from, not a setting
    return yaml.safe_dump(_plain(raw), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    """A settings tree with tuples as lists, as YAML writes sequences."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class RunFolderError(InputError):
    """A run folder guardcal must not write into: it holds a symbolic link."""


def check_run_folder(cfg: Config) -> None:
    """A RunFolderError naming the first symbolic link inside the run folder: a command writing
    there (score, report) would write through it, out of the folder."""
    root = cfg.layout.root
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):  # does not follow links
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if path.is_symlink():
                raise RunFolderError(
                    f"{path}: a symbolic link (to {os.readlink(path)}) inside the run folder "
                    f"{root}; guardcal writes only into real folders there: replace it with "
                    "the folder or file itself"
                )


def write_run_config(cfg: Config) -> Path:
    """Write the run's resolved config, overrides applied, into its run folder (atomically):
    what the report's notebooks read, so the user's YAML is parsed and checked once."""
    return write_text(cfg.layout.config, config_text(cfg))


def read_run_config(run_dir: str | Path) -> Config:
    """The config `write_run_config` left in `run_dir`, read and checked like any config; a
    ConfigError when it is missing or names another run folder."""
    path = RunLayout(Path(run_dir)).config
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such file; `guardcal report` writes the run's config there (a notebook "
            "run by hand with run_dir = None uses the shipped demo)"
        )
    cfg = load_config(path)
    if cfg.run_dir.absolute() != Path(run_dir).absolute():
        raise ConfigError(
            f"{path}: keys 'reports_dir' and 'name' make the run folder {cfg.run_dir}, not the one "
            "it lies in (was it moved? run `guardcal report` again)"
        )
    return cfg


def looks_like_path(model: str) -> bool:
    """Whether a model id is meant as a local folder: absolute, `./`, `../`, `~`, a backslash,
    more than one `/`, or a folder that exists (a hub id is `org/name`)."""
    return (
        model.startswith(("/", ".", "~"))
        or "\\" in model
        or model.count("/") > 1
        or Path(model).expanduser().is_dir()
    )


class _Checker:
    """Raises a ConfigError naming the file, the dotted key and the bad value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def bad(self, key: str, msg: str) -> None:
        raise ConfigError(f"{self.path}: key '{key}' {msg}")

    def positive(self, key: str, value: int | None, optional: bool = False) -> None:
        """An integer ≥ 1 (or None when `optional`)."""
        if value is None and optional:
            return
        if value is None or value < 1:
            none = " or null" if optional else ""
            self.bad(key, f"must be a positive integer{none}, got {value!r}")

    def one_of(self, key: str, value: Any, choices: tuple[Any, ...]) -> None:
        if value not in choices:
            self.bad(key, f"must be one of {list(choices)}, got {value!r}")


BOOTSTRAP_RESAMPLES = (40, 100_000)
"""The bounds of `calibration.bootstrap_resamples`. Below 40, 2.5 % of the resamples is less than
one, so a 95 % percentile interval's ends are the extreme resamples (at 1 it is a point that
misses its estimate); above 100,000 the interval's ends move by less than the printed digits
while the (resamples × examples) index matrix outgrows a laptop's memory."""


def ray_endpoint_ok(address: str) -> bool:
    """Whether `address` has a Ray address's shape: `local`, `auto`, HOST:PORT or
    ray://HOST:PORT (a port in 1..65535)."""
    if address in (RAY_LOCAL, "auto"):
        return True
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return bool(host.strip()) and port.isdigit() and 0 < int(port) < 65536


CONNECT_TIMEOUT = 5.0
"""Seconds a cluster's address may take to accept a connection before the run stops (Ray's own
client retries for minutes)."""


class RayUnreachable(InputError):
    """No Ray cluster answers at the address `scoring.ray` or `--ray` gives."""


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """A RayUnreachable unless something accepts a connection at `address` (HOST:PORT or
    ray://HOST:PORT) within `timeout` seconds; `local` and `auto` are Ray's to find."""
    if address in (RAY_LOCAL, "auto"):
        return
    if not ray_endpoint_ok(address):
        raise RayUnreachable(
            f"scoring.ray: {address!r} is no Ray address (auto, HOST:6379, ray://HOST:10001)"
        )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnreachable(
            f"scoring.ray: no Ray cluster answers at {address} ({exc.strerror or exc}, within "
            f"{timeout:g} s): start one there (`ray start --head`), or score on a new local "
            "instance with --ray alone"
        ) from None


def _check_run(cfg: Config, c: _Checker) -> None:
    """The run name is one safe folder name under reports_dir, a folder (not the filesystem's
    root) that takes new files."""
    reports = Path(cfg.reports_dir).expanduser()
    if not str(cfg.reports_dir).strip():
        c.bad("reports_dir", f"must name a folder, got {cfg.reports_dir!r}")
    elif reports.absolute() == Path(reports.absolute().anchor):
        c.bad(
            "reports_dir",
            f"is the filesystem's root {cfg.reports_dir!r}: run folders would sit beside the "
            "system's own; name a folder for reports",
        )
    else:
        why = unwritable(reports)
        if why:
            c.bad("reports_dir", f"{cfg.reports_dir!r} cannot hold the run folder: {why}")
    name = cfg.name
    if (
        not name.strip()
        or name in (".", "..")
        or any(sep in name for sep in ("/", "\\", os.sep))
        or any(ord(ch) < 32 for ch in name)
        or name != name.strip()
    ):
        c.bad(
            "name",
            "must be one folder name (no '/', '\\', '.', '..', control characters or "
            f"surrounding spaces), got {name!r}",
        )


def _check_dataset(cfg: Config, c: _Checker) -> None:
    """Each split has one source; fractions, limits and label values make sense."""
    keys = [e.key for e in cfg.benchmarks]
    for split in ("validation", "test"):
        src: Source = getattr(cfg.dataset, split)
        if sum(x is not None for x in (src.path, src.hf, src.benchmark)) != 1:
            c.bad(
                f"dataset.{split}",
                "needs exactly one of 'path' (a local file), 'hf' (a hub id) or 'benchmark'",
            )
        if src.benchmark is not None and src.benchmark not in keys:
            c.bad(f"dataset.{split}.benchmark", f"must be one of benchmarks {keys}")
        if src.complement and src.fraction is None:
            c.bad(f"dataset.{split}.complement", "needs 'fraction' (the share it leaves out)")
        if src.hf is not None and not src.split:
            c.bad(f"dataset.{split}.split", "is required with 'hf' (e.g. 330k_train)")
        if src.fraction is not None and not 0 < src.fraction <= 1:
            c.bad(f"dataset.{split}.fraction", f"must be in (0, 1], got {src.fraction}")
    labels = cfg.dataset.label_values
    both = set(map(repr, labels.safe)) & set(map(repr, labels.unsafe))
    if both:
        c.bad("dataset.label_values", f"lists {sorted(both)} as both safe and unsafe")
    for key in ("safe", "unsafe"):
        if not getattr(labels, key):
            c.bad(f"dataset.label_values.{key}", "must list at least one value")
    seen: dict[str, str] = {}
    for key, column in dataclasses.asdict(cfg.dataset.columns).items():
        if not column.strip():
            c.bad(f"dataset.columns.{key}", f"must be a column name, got {column!r}")
        if column in seen:
            c.bad(f"dataset.columns.{key}", f"{column!r} is already dataset.columns.{seen[column]}")
        seen[column] = key
    c.positive("dataset.limit", cfg.dataset.limit, optional=True)
    for i, e in enumerate(cfg.benchmarks):
        if not e.name.strip():
            c.bad(
                f"benchmarks[{i}].name", "must name a benchmark (`guardcal benchmarks` lists them)"
            )
        if e.key in keys[:i]:
            c.bad(
                f"benchmarks[{i}]",
                f"repeats {e.key!r} (benchmarks[{keys.index(e.key)}]): set another mode or "
                "convention",
            )
        if e.key in SPLITS:
            c.bad(f"benchmarks[{i}].name", f"{e.key!r} is a split's name, not a benchmark")
        c.positive(f"benchmarks[{i}].limit", e.limit, optional=True)
    if cfg.in_domain is not None and not 0 < cfg.in_domain.fraction < 1:
        c.bad("in_domain.fraction", f"must be in (0, 1), got {cfg.in_domain.fraction}")


def _check_models(cfg: Config, c: _Checker) -> None:
    """Models have distinct names and folders, a known format, and an id that can load."""
    if not cfg.models:
        c.bad("models", "must list at least one model")
    folders: dict[str, int] = {}
    roles: dict[str, int] = {}
    for i, m in enumerate(cfg.models):
        try:
            slug = model_slug(m.name)
        except ValueError:
            c.bad(f"models[{i}].name", f"{m.name!r} has no letter or digit for its folder name")
        if slug in folders:
            j = folders[slug]
            first = cfg.models[j].name
            same = "is used twice" if first == m.name else f"and models[{j}].name {first!r}"
            c.bad(
                f"models[{i}].name",
                f"{m.name!r} {same}: both would write scores/{slug}/; rename one",
            )
        folders[slug] = i
        if not m.model.strip():
            c.bad(f"models[{i}].model", "must be a hub id, a local folder or embedded:<name>")
        if m.controversial is not None:
            c.one_of(f"models[{i}].controversial", m.controversial, ("safe", "unsafe"))
        if m.study_role is not None:
            c.one_of(f"models[{i}].study_role", m.study_role, STUDY_ROLES)
            if m.study_role in roles:
                c.bad(
                    f"models[{i}].study_role",
                    f"{m.study_role!r} is also models[{roles[m.study_role]}]'s: one guard per role",
                )
            roles[m.study_role] = i
        _check_reasoning(m, f"models[{i}]", c)
        if m.model.startswith(EMBEDDED_PREFIX):
            embedded = m.model[len(EMBEDDED_PREFIX) :]
            words = cfg.prompt.verbalizer
            if embedded in FITTED_EMBEDDED and words != PromptConfig().verbalizer:
                c.bad(
                    "prompt.verbalizer",
                    f"{words} cannot be read from models[{i}] ({m.model}): its verdict rows are "
                    f"fitted to write {PromptConfig().verbalizer}, and other words would score "
                    "the zero-shot model instead; keep the default words for it",
                )
            if embedded not in EMBEDDED_MODELS:
                c.bad(
                    f"models[{i}].model",
                    f"{m.model!r} is no embedded model (known: "
                    f"{[EMBEDDED_PREFIX + e for e in EMBEDDED_MODELS]})",
                )
        elif looks_like_path(m.model):
            folder = Path(m.model).expanduser()
            if not folder.is_dir():
                c.bad(
                    f"models[{i}].model", f"{m.model!r} looks like a path but no such folder exists"
                )
            if not (folder / "config.json").is_file():
                c.bad(f"models[{i}].model", f"{m.model!r} is a folder without a config.json")


def _check_reasoning(m: ModelConfig, key: str, c: _Checker) -> None:
    """A known reasoning mode; K ≥ 1 samples at a finite temperature above 0 (greedy and off
    draw nothing); a positive cap."""
    r = m.reasoning
    c.one_of(f"{key}.reasoning.mode", r.mode, REASONING_MODES)
    c.positive(f"{key}.reasoning.samples", r.samples)
    if not (math.isfinite(r.temperature) and r.temperature > 0):
        c.bad(f"{key}.reasoning.temperature", f"must be above 0, got {r.temperature}")
    if r.mode != "sample" and r.samples != 1:
        c.bad(f"{key}.reasoning.samples", f"is 1 when reasoning is {r.mode}, got {r.samples}")
    c.positive(f"{key}.max_reasoning_tokens", m.max_reasoning_tokens)


def _check_prompt(cfg: Config, c: _Checker) -> None:
    """The prompt's taxonomy, verbalizer, label scoring and input limits."""
    p = cfg.prompt
    c.one_of("prompt.taxonomy", p.taxonomy, TAXONOMIES)
    if sorted(p.verbalizer) != ["safe", "unsafe"]:
        c.bad("prompt.verbalizer", f"must map 'safe' and 'unsafe' only, got {p.verbalizer}")
    for key, word in p.verbalizer.items():
        if not word.strip():
            c.bad(f"prompt.verbalizer.{key}", f"must be a label word, got {word!r}")
    if p.verbalizer["safe"] == p.verbalizer["unsafe"]:
        c.bad("prompt.verbalizer", f"maps both labels to {p.verbalizer['safe']!r}")
    c.one_of("prompt.input", p.input, INPUT_MODES)
    c.one_of("prompt.label_score", p.label_score, LABEL_SCORES)
    c.one_of("prompt.controversial", p.controversial, ("safe", "unsafe"))
    if p.policy_file is not None:
        try:
            if not read_policy_file(cfg).strip():
                c.bad("prompt.policy_file", f"{p.policy_file} is empty")
        except (OSError, UnicodeDecodeError) as exc:
            c.bad("prompt.policy_file", f"cannot read {p.policy_file}: {exc}")
    if p.max_response_words is not None and p.max_response_words < 1:
        c.bad(
            "prompt.max_response_words",
            "must be a positive number of words, or null for whole responses (0 would empty "
            f"every response), got {p.max_response_words!r}",
        )
    c.positive("prompt.max_tokens", p.max_tokens, optional=True)
    c.one_of("prompt.overflow", p.overflow, OVERFLOWS)
    if not cfg.content_free:
        c.bad("content_free", "must list at least one content-free input")


def _check_calibration(cfg: Config, c: _Checker) -> None:
    """Positive bin counts; grids [start, stop, step] that rise, temperatures above 0."""
    cal = cfg.calibration
    for key in ("ece_bins", "plot_bins", "histogram_bins"):
        c.positive(f"calibration.{key}", getattr(cal, key))
    low, high = BOOTSTRAP_RESAMPLES
    if not low <= cal.bootstrap_resamples <= high:
        c.bad(
            "calibration.bootstrap_resamples",
            f"must be in [{low}, {high:,}] (fewer leave a 95 % interval's 2.5 % tails without a "
            f"resample; more cost memory with no digit gained), got {cal.bootstrap_resamples!r}",
        )
    if not 0 <= cal.bootstrap_seed < 2**63:
        c.bad(
            "calibration.bootstrap_seed",
            f"must be a non-negative integer (numpy's seeds are), got {cal.bootstrap_seed!r}",
        )
    for key in ("temperature_grid", "gamma_grid"):
        lo, hi, step = getattr(cal, key)
        if not all(map(math.isfinite, (lo, hi, step))) or not (step > 0 and hi > lo):
            c.bad(
                f"calibration.{key}",
                f"must be [start, stop, step] with stop > start and step > 0, got {[lo, hi, step]}",
            )
    if cal.temperature_grid[0] <= 0:
        c.bad(
            "calibration.temperature_grid",
            f"must start above 0 (a temperature divides the logits), got {cal.temperature_grid[0]}",
        )


def _check_decisions(cfg: Config, c: _Checker) -> None:
    """Operating-point targets are rates in (0, 1]; a false positive rate to stay under and the
    guarantee's failure probability are in (0, 1)."""
    for key in ("target_precision", "target_recall"):
        value = getattr(cfg.decisions, key)
        if not (math.isfinite(value) and 0 < value <= 1):
            c.bad(f"decisions.{key}", f"must be in (0, 1], got {value}")
    for key in ("target_fpr", "delta"):
        value = getattr(cfg.decisions, key)
        if not (math.isfinite(value) and 0 < value < 1):
            c.bad(f"decisions.{key}", f"must be in (0, 1), got {value}")


def _check_scoring(cfg: Config, c: _Checker) -> None:
    """Positive sizes; a supported device and dtype; a Ray address and a positive CPU share."""
    s = cfg.scoring
    c.positive("scoring.batch_size", s.batch_size, optional=True)
    c.positive("scoring.shard_size", s.shard_size)
    device, _, index = s.device.partition(":")
    if device not in DEVICES or (index and not (device == "cuda" and index.isdigit())):
        c.bad("scoring.device", f"must be one of {list(DEVICES)} or cuda:N, got {s.device!r}")
    c.one_of("scoring.dtype", s.dtype, SCORING_DTYPES)
    if s.ray is not None and not ray_endpoint_ok(s.ray):
        c.bad(
            "scoring.ray",
            f"must be `local` or a Ray address (auto, HOST:6379, ray://HOST:10001), got {s.ray!r}",
        )
    if not (math.isfinite(s.ray_cpus) and s.ray_cpus > 0):
        c.bad("scoring.ray_cpus", f"must be a positive number of CPUs, got {s.ray_cpus}")


CHECKS = (
    _check_run,
    _check_dataset,
    _check_models,
    _check_prompt,
    _check_calibration,
    _check_scoring,
    _check_decisions,
)
"""The cross-field checks, one per config section; a new key's check goes in its section's."""


def _check(cfg: Config, path: Path) -> None:
    """Cross-field checks that types alone cannot express."""
    checker = _Checker(path)
    for check in CHECKS:
        check(cfg, checker)
