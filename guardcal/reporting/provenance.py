"""Where a run's numbers came from: guardcal's version and commit, the resolved config, the
packages, each guard's weights, each split's data, the machine, the time of each step and the one
command that reproduces the run. Written to `reports/<run>/provenance.json` and shown as the
report's last section.

Nothing here loads a model: a guard's weights and a split's rows are identified by what its
scores files recorded when they were computed (`scores.read_meta`).
"""

from __future__ import annotations

import html
import json
import os
import platform
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml

from guardcal.atomic import write_text
from guardcal.config import PACKAGE_DIR, SPLITS, Config, Source
from guardcal.reporting.markup import Markdown, code_block, md
from guardcal.scores import read_meta
from guardcal.version import __version__

PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "numpy",
    "scikit-learn",
    "papermill",
    "nbconvert",
)
"""The packages whose versions a run records (besides Python and guardcal)."""
GIT_TIMEOUT = 10


def now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_state(folder: Path = PACKAGE_DIR) -> dict[str, Any]:
    """The commit guardcal's source is checked out at and whether its package or project files
    differ from it (None for both outside a git checkout, e.g. an installed wheel)."""
    root = folder.parent
    git = shutil.which("git")
    if git is None:
        return {"commit": None, "dirty": None}

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=True,
            )
        except (subprocess.SubprocessError, OSError):
            return None
        return done.stdout.strip()

    commit = run("rev-parse", "HEAD")
    if commit is None or run("rev-parse", "--show-toplevel") != str(root.resolve()):
        return {"commit": None, "dirty": None}
    changes = run("status", "--porcelain", "--", folder.name, "pyproject.toml")
    return {"commit": commit, "dirty": bool(changes)}


def package_versions() -> dict[str, str | None]:
    """Python's and each of PACKAGES' installed version (None when one is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """The NVIDIA GPUs `nvidia-smi` lists (name, memory), none without it."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def machine(cfg: Config) -> dict[str, Any]:
    """The machine the report ran on and the device the config scored on."""
    return {
        "system": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": _gpus(),
        "scoring_device": cfg.scoring.device,
        "scoring_dtype": cfg.scoring.dtype,
    }


def guards(cfg: Config) -> list[dict[str, Any]]:
    """Each guard's model, the revision or digest of the weights its scores came from, and its
    backbone and format, as its test scores file recorded them."""
    rows = []
    for m in cfg.models:
        meta = read_meta(cfg.layout.scores(m.name, "test")) or {}
        rows.append(
            {
                "name": m.name,
                "model": m.model,
                "weights": meta.get("revision"),
                "backbone": meta.get("backbone"),
                "format": meta.get("format"),
            }
        )
    return rows


def data(cfg: Config) -> list[dict[str, Any]]:
    """Each split's file and the fingerprint of the rows that were scored (the same for every
    guard; the first guard's scores file recorded it)."""
    rows = []
    for split in SPLITS:
        meta = read_meta(cfg.layout.scores(cfg.models[0].name, split)) or {}
        source = getattr(cfg.dataset, split, None)
        rows.append(
            {
                "split": split,
                "source": _source(source) if source else "the config's content_free inputs",
                "rows": _rows(cfg.layout.scores(cfg.models[0].name, split)),
                "fingerprint": meta.get("dataset_fingerprint"),
            }
        )
    return rows


def _rows(path: Path) -> int | None:
    """How many rows a scores file holds (None when it is missing)."""
    return pq.read_metadata(path).num_rows if path.is_file() else None


def _source(source: Source) -> str:
    """A split's data as one string: its file, or its hub dataset, split and revision."""
    if source.path:
        where = source.path
    else:
        where = f"{source.hf} split {source.split}"
        where += f" @ {source.revision}" if source.revision else ""
    return where + (f" (fraction {source.fraction}, seed {source.seed})" if source.fraction else "")


def command(cfg: Config, pdf: bool = True) -> str:
    """The one command that reproduces the run: `guardcal report` on the resolved config the
    run folder holds (at guardcal's recorded commit)."""
    args = ["guardcal", "report", "--config", str(cfg.layout.config.absolute())]
    return shlex.join(args + ([] if pdf else ["--no-pdf"]))


def collect(cfg: Config, steps: list[dict[str, Any]], pdf: bool = True) -> dict[str, Any]:
    """The provenance document of a run."""
    config_file = cfg.layout.config
    return {
        "run": cfg.name,
        "created": now(),
        "guardcal": {"version": __version__, **git_state()},
        "command": command(cfg, pdf),
        "packages": package_versions(),
        "machine": machine(cfg),
        "guards": guards(cfg),
        "data": data(cfg),
        "steps": steps,
        "config": yaml.safe_load(config_file.read_text(encoding="utf-8"))
        if config_file.is_file()
        else None,
    }


def read(cfg: Config) -> dict[str, Any] | None:
    """The run's provenance.json, None before the first report."""
    path = cfg.layout.provenance
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write(cfg: Config, document: dict[str, Any]) -> Path:
    """provenance.json, atomically."""
    return write_text(cfg.layout.provenance, json.dumps(document, indent=2) + "\n")


def record(cfg: Config, steps: list[dict[str, Any]], pdf: bool = True) -> Path:
    """Collect the run's provenance with `steps` and write it."""
    return write(cfg, collect(cfg, steps, pdf))


@contextmanager
def timed(steps: list[dict[str, Any]], name: str) -> Iterator[None]:
    """Append `name`'s start time and duration to `steps` once the block succeeds."""
    started, start = now(), time.perf_counter()
    yield
    seconds = round(time.perf_counter() - start, 2)
    steps.append({"step": name, "started": started, "seconds": seconds})


FINGERPRINT_CHARS = 16
"""Hex digits of a digest the report shows (provenance.json keeps them all)."""


def _short(value: Any) -> Any:
    """A long hex digest cut to FINGERPRINT_CHARS for display."""
    if (
        isinstance(value, str)
        and len(value) > FINGERPRINT_CHARS
        and all(c in "0123456789abcdef" for c in value)
    ):
        return value[:FINGERPRINT_CHARS] + "…"
    return value


def section_tables(document: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The report's provenance tables, keyed by caption: the code and packages, the machine, the
    guards' weights, the splits' data and the steps so far."""
    code = {
        "guardcal": document["guardcal"]["version"],
        "git commit": document["guardcal"]["commit"] or "not a git checkout",
        "uncommitted changes": {True: "yes", False: "no", None: "unknown"}[
            document["guardcal"]["dirty"]
        ],
        **document["packages"],
    }
    machine = {k.replace("_", " "): v for k, v in document["machine"].items()}
    machine["gpus"] = ", ".join(machine["gpus"]) or "none"
    return {
        "Code and packages": pd.DataFrame({"": list(code), "version": list(code.values())}),
        "Machine": pd.DataFrame({"": list(machine), "value": [str(v) for v in machine.values()]}),
        "Guards and the weights they were scored with": pd.DataFrame(
            [{k: _short(v) for k, v in g.items()} for g in document["guards"]]
        ),
        "Data: each split's rows and fingerprint": pd.DataFrame(
            [{k: _short(v) for k, v in d.items()} for d in document["data"]]
        ),
        "Steps so far (rendering and printing follow; provenance.json has every step)": (
            pd.DataFrame(
                [{**step, "seconds": f"{step['seconds']:.1f}"} for step in document["steps"]],
                columns=["step", "started", "seconds"],
            )
        ),
    }


def steps(cfg: Config) -> list[dict[str, Any]]:
    """The steps the run's provenance.json has recorded so far (none before a report)."""
    return (read(cfg) or {}).get("steps", [])


def command_markdown(document: dict[str, Any]) -> Markdown:
    """The reproducing command as a Markdown code block (its paths are user text)."""
    return md("The one command that reproduces this run:\n\n{}", code_block(document["command"]))


def config_html(document: dict[str, Any]) -> str:
    """The resolved config as the report shows it: YAML, escaped, in a <pre>."""
    text = yaml.safe_dump(document["config"], sort_keys=False, allow_unicode=True)
    return (
        "<p>The resolved config (<code>config.yaml</code>):</p>"
        f'<pre class="config">{html.escape(text)}</pre>'
    )
