"""A configured guard, resolved once. Each model entry of a config becomes one `GuardSpec` — its
format, checkpoint, tokenizer, prompt, verbalizer, input limit, revision and backbone key — which
planning, fingerprints, scoring, `guardcal render` and `guardcal predict` all read, so none of them
derives these again from a config and a model name. Each is computed on first use (the tokenizer,
the hub commit and the fitted rows' key cost I/O) and kept. `load_guard` adds the weights.

This module is the one place that asks the format registry (`formats`) about a configured guard.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from guardcal.config import (
    Config,
    ConfigError,
    ModelConfig,
    PromptConfig,
    ReasoningConfig,
    load_config,
    read_policy_file,
)
from guardcal.extraction import finetune
from guardcal.extraction.context import checkpoint_context, token_limit
from guardcal.extraction.formats import (
    FormatError,
    GuardFormat,
    Reasoning,
    binary_levels,
    check_models,
    conversation,
    spec_format,
)
from guardcal.extraction.models import (
    SMOLLM2_FINETUNED,
    SMOLLM2_MLCOMMONS,
    Checkpoint,
    checkpoint_of,
    embedded_name,
    load_backbone,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
    with_label_rows,
)
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.verbalizer import Verbalizer, verbalizer_in_context
from guardcal.layout import cache_dir

ROW_POLICIES = {SMOLLM2_FINETUNED: "beavertails", SMOLLM2_MLCOMMONS: "llama_guard_3"}
"""The embedded guards with fitted verdict rows, and the policy each one's rows learn."""
FORCED_ROOM = 64
"""Tokens kept free after a reasoning guard's longest trace for the text forced before its
verdict (the marker, a channel header, answer lines)."""


@dataclass(frozen=True, eq=False)
class GuardSpec:
    """One guard of a run, everything but its weights: the config's entry and prompt settings,
    its registry format, and (computed once, on first use) its checkpoint, tokenizer, prompt,
    verbalizer, input limit, revision and backbone key. Guards with the same backbone key and
    format share one forward pass."""

    name: str
    entry: ModelConfig
    format: GuardFormat
    settings: PromptConfig
    """The run's prompt settings (taxonomy, input mode, verbalizer words, limits, label rule)."""
    device: torch.device
    dtype: torch.dtype
    config_file: str | None
    """The config the guard comes from, for errors that name it."""
    policy_text: str | None = None
    """The text of the run's `prompt.policy_file`, read once for all its guards (None: none);
    the prompt gives it to a format that takes a policy the user writes."""

    @property
    def row_policy(self) -> str | None:
        """The policy an embedded guard's fitted verdict rows learn; None for the others."""
        return ROW_POLICIES.get(embedded_name(self.entry.model) or "")

    @cached_property
    def checkpoint(self) -> Checkpoint:
        """The files the guard's backbone and tokenizer load from, and what they are now."""
        return checkpoint_of(self.entry)

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The guard's tokenizer (no weights load)."""
        return load_tokenizer(self.checkpoint)

    @property
    def reasoning(self) -> ReasoningConfig:
        """Whether and how the guard writes a trace before its verdict (`models[].reasoning`)."""
        return self.entry.reasoning

    @property
    def markers(self) -> Reasoning:
        """Where a reasoning guard's trace starts and ends: its format's (`reasoning:`)."""
        if self.format.reasoning is None:
            raise FormatError(f"format {self.format.name!r} does not reason before its verdict")
        return self.format.reasoning

    @cached_property
    def prompt(self) -> GuardPrompt:
        """The policy prompt in the guard's format and the run's taxonomy and input mode, with
        the run's policy where the format takes one (written by the user, or built in by name);
        a reasoning guard's input ends where its trace begins."""
        s = self.settings
        return GuardPrompt(
            s.taxonomy,
            self.format.name,
            self.tokenizer,
            s.input,
            s.policy,
            self.policy_text,
            reasoning=self.reasoning.on,
        )

    @property
    def controversial(self) -> str:
        """How a three-level verdict's `controversial` counts in p(unsafe): the entry's own rule
        (a strict or a loose view of the guard), else the run's `prompt.controversial`."""
        return self.entry.controversial or self.settings.controversial

    def answer_lines(self, mode: str) -> tuple[str, ...]:
        """The format's fixed text before each answer line in `mode` (a reasoning guard's: the
        text forced after its end-of-reasoning marker)."""
        return self.format.answer_lines_of(mode, reasoning=self.reasoning.on)

    @cached_property
    def verdict_words(self) -> dict[str, str]:
        """Verdict word → level: the format's own words (a generic chat model: the config's)."""
        if self.format.name == "chat":
            words = self.settings.verbalizer
            return {words["safe"]: "safe", words["unsafe"]: "unsafe"}
        return dict(self.format.verdicts)

    @cached_property
    def verbalizer(self) -> Verbalizer:
        """The verdict tokens where the model writes them, the same in every mode the format
        judges (after a reasoning guard's end-of-reasoning marker, the text its verdict
        follows)."""
        words = self.verdict_words
        first = next(iter(words))
        sequence = self.settings.label_score == "sequence"
        trace = self.markers.start + self.markers.end if self.reasoning.on else ""
        found = {}
        try:
            for mode in self.format.judges:
                probe = conversation("x", "x" if mode == "response" else None)
                lines = self.prompt.answer_lines(probe)
                context = self.prompt.text(probe) + trace
                context += "".join(line + first for line in lines[:-1])
                found[mode] = verbalizer_in_context(
                    self.tokenizer, context + lines[-1], words, sequence
                )
            if len({v.token_ids for v in found.values()}) > 1:
                raise ValueError(f"the verdict tokens differ by mode: {found}")
        except ValueError as exc:  # the tokenizer alone tells: before any weights load
            raise ConfigError(
                f"{self.config_file or '<config>'}: model {self.name!r} ({self.entry.model}) in "
                f"format {self.format.name!r}: {exc}"
            ) from None
        return next(iter(found.values()))

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """Each verbalizer word's binary class, `safe` or `unsafe` (a three-level guard's
        `controversial` as its `controversial` rule says)."""
        binary = binary_levels(self.verdict_words, self.controversial)
        return tuple(binary[word] for word in self.verbalizer.words)

    @cached_property
    def token_limit(self) -> int | None:
        """The longest input the guard reads: its context, or `prompt.max_tokens` if lower; a
        reasoning guard's leaves room for its longest trace and the text forced after it."""
        limit = token_limit(checkpoint_context(self.checkpoint), self.settings.max_tokens)
        if limit is None or not self.reasoning.on:
            return limit
        return max(1, limit - self.entry.max_reasoning_tokens - FORCED_ROOM)

    @cached_property
    def backbone(self) -> str:
        """The forward pass's identity: the backbone (the embedded guards share SmolLM2, named
        by its GGUF digest; others by the configured revision) with its dtype, since rows fitted
        on bf16 states differ from float32 ones."""
        ckpt = self.checkpoint
        version = ckpt.files if embedded_name(ckpt.model) else ckpt.revision
        return f"{ckpt.model}@{version}/{str(self.dtype).removeprefix('torch.')}"

    @cached_property
    def revision(self) -> str:
        """What identifies the guard's weights, without loading them: the fitted rows' key, else
        the checkpoint's files (the GGUF digest, a local folder's digest or a hub commit)."""
        if self.row_policy is not None:
            return finetune.rows_key(self.backbone, self.tokenizer, self.row_policy)
        return self.checkpoint.files

    @cached_property
    def identity(self) -> dict[str, Any]:
        """What identifies the guard's scores apart from the data they score: the model and its
        weights, the backbone, the input (format, taxonomy, mode, template, answer lines, BOS,
        limits) and how the verdict is read (verbalizer, level rule, label score). Every scores
        file's fingerprint carries it; a calibrated guard's file keeps it to re-identify the
        guard."""
        s, verb = self.settings, self.verbalizer
        lines = self.answer_lines("response" if "response" in self.format.judges else "prompt")
        return {
            "model": self.entry.model,
            "revision": self.revision,
            "backbone": self.backbone,
            "format": self.format.name,
            "taxonomy": self.prompt.taxonomy,
            "input": self.prompt.input,
            "template_hash": self.prompt.template_hash(),
            "answer_lines": list(lines or ()),
            "bos": self.format.bos,
            "max_response_words": s.max_response_words,
            "max_tokens": self.token_limit,
            "overflow": s.overflow,
            "verbalizer": verb.as_meta(),
            "controversial": self.controversial if "controversial" in verb.levels else None,
            "label_score": s.label_score,
            **({"reasoning": self.trace_settings} if self.reasoning.on else {}),
        }

    @property
    def trace_settings(self) -> dict[str, Any]:
        """What a reasoning guard's traces depend on beyond its input: how they are drawn, how
        long they may grow, where they start and end."""
        r, markers = self.reasoning, self.markers
        drawn = {"samples": r.samples, "temperature": r.temperature, "seed": r.seed}
        return {
            "mode": r.mode,
            **(drawn if r.mode == "sample" else {}),
            "max_reasoning_tokens": self.entry.max_reasoning_tokens,
            "start": markers.start,
            "end": markers.end,
        }


def guard_specs(cfg: Config, names: Iterable[str] | None = None) -> dict[str, GuardSpec]:
    """The named guards of `cfg` (all by default), each resolved once. A format that no family
    matches or the input mode cannot build is a ConfigError naming the key, an unknown name an
    UnknownModelError naming the config file; nothing loads."""
    check_models(cfg)
    device = resolve_device(cfg.scoring.device)
    dtype = resolve_dtype(cfg.scoring.dtype, device)
    entries = [cfg.model(name) for name in names] if names is not None else list(cfg.models)
    policy = read_policy_file(cfg) if cfg.prompt.policy_file is not None else None
    return {
        e.name: GuardSpec(
            e.name, e, spec_format(e), cfg.prompt, device, dtype, cfg.source_file, policy
        )
        for e in entries
    }


def guard_spec(cfg: Config, name: str) -> GuardSpec:
    """Guard `name` of `cfg`, resolved (see `guard_specs`)."""
    return guard_specs(cfg, [name])[name]


@dataclass(frozen=True)
class Guard:
    """A guard with its weights: a causal LM whose output layer writes the verdict (an embedded
    fitted guard's: the shared backbone under its fitted rows, `label_rows`)."""

    spec: GuardSpec
    model: PreTrainedModel
    label_rows: finetune.LabelRows | None = None

    @property
    def name(self) -> str:
        """The guard's display name in its run."""
        return self.spec.name

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The guard's tokenizer (its spec's)."""
        return self.spec.tokenizer


def load_guard(spec: GuardSpec) -> Guard:
    """The guard with its weights: its backbone once per process, an embedded guard's fitted
    rows once per machine (then from the user cache)."""
    backbone = load_backbone(spec.checkpoint, spec.dtype, spec.device)
    if spec.row_policy is None:
        return Guard(spec, backbone)
    rows = finetune.label_rows(
        backbone, spec.tokenizer, spec.backbone, cache_dir(), spec.row_policy
    )
    return Guard(spec, with_label_rows(backbone, rows.token_ids, rows.weight, rows.bias), rows)


def ship_label_rows() -> list[Path]:
    """Refit every embedded guard's rows on the float32 CPU backbone and write them into the
    package (`finetune.SHIPPED`), replacing the files there: run after the demo data, prompt or
    fitting procedure change (a test names the stale key)."""
    cfg = load_config(None)
    scoring = dataclasses.replace(cfg.scoring, device="cpu", dtype="float32")
    cpu = dataclasses.replace(cfg, scoring=scoring)
    spec = next(s for s in guard_specs(cpu).values() if s.row_policy is not None)
    backbone = load_backbone(spec.checkpoint, spec.dtype, spec.device)
    finetune.SHIPPED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=finetune.SHIPPED.parent) as tmp:
        written = finetune.fit_missing_rows(
            backbone, spec.tokenizer, spec.backbone, cache_dir(), into=Path(tmp)
        )
        for old in finetune.SHIPPED.glob("*.npz"):
            old.unlink()
        return [path.replace(finetune.SHIPPED / path.name) for path in written]
