"""The label-logit scorer: one forward pass per example, each guard's verdict logits read at
the last position, and the resumable extraction of a run's scores files."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import guardcal
from guardcal import store
from guardcal.config import Config
from guardcal.data import dataset_fingerprint, load_split
from guardcal.forward import LastHidden, default_batch_size, final_hidden, truncate_words
from guardcal.models import (
    Guard,
    backbone_key,
    guard_revision,
    guard_tokenizer,
    load_guard,
    prompt_format,
)
from guardcal.prompts import GuardPrompt

log = logging.getLogger(__name__)

SPLITS = ("validation", "test", "content_free")
ANSWER_TOKENS = 20


@dataclass(frozen=True)
class Verbalizer:
    """Label words [safe, unsafe], the token id read for each (its first token), and all of
    each word's tokens (reported: a multi-token word is scored by its first token)."""

    words: tuple[str, str]
    token_ids: tuple[int, int]
    tokens: tuple[tuple[int, ...], tuple[int, ...]]

    def as_meta(self) -> dict[str, Any]:
        """The verbalizer as recorded in a scores file."""
        return {
            "words": list(self.words),
            "token_ids": list(self.token_ids),
            "tokens": [list(t) for t in self.tokens],
        }


def verbalizer(tokenizer: PreTrainedTokenizerBase, words: Mapping[str, str]) -> Verbalizer:
    """Map the label words to the first token of `tokenizer.encode(word)` (the study's rule)."""
    pair = (words["safe"], words["unsafe"])
    tokens = tuple(tuple(tokenizer.encode(w, add_special_tokens=False)) for w in pair)
    for word, ids in zip(pair, tokens, strict=True):
        if not ids:
            raise ValueError(f"label word {word!r} encodes to no token")
    if tokens[0][0] == tokens[1][0]:
        raise ValueError(f"label words {pair} start with the same token {tokens[0][0]}")
    return Verbalizer(pair, (tokens[0][0], tokens[1][0]), tokens)  # type: ignore[arg-type]


def check_label_score(cfg: Config) -> None:
    """Refuse options that are not implemented, before anything is loaded."""
    if cfg.prompt.label_score != "first_token":
        raise NotImplementedError(
            f"{cfg.source_file}: prompt.label_score {cfg.prompt.label_score!r} (summing the "
            "label sequence's log-probability) is not implemented; use 'first_token'"
        )


def guard_prompt(cfg: Config, guard: Guard) -> GuardPrompt:
    """The policy prompt in the guard's format and the run's taxonomy."""
    return GuardPrompt(cfg.prompt.taxonomy, guard.format, guard.tokenizer)


@torch.inference_mode()
def label_scores(
    model: PreTrainedModel, hidden: torch.Tensor, token_ids: Sequence[int]
) -> np.ndarray:
    """(N, 3) float64: logit_safe, logit_unsafe and the full-vocabulary softmax mass on the two
    label tokens, from final hidden states at the verdict position."""
    logits = model.get_output_embeddings()(hidden).float()
    pair = logits[:, list(token_ids)]
    mass = torch.exp(torch.logsumexp(pair, dim=1) - torch.logsumexp(logits, dim=1))
    return torch.cat([pair, mass[:, None]], dim=1).double().cpu().numpy()


def score_frame(
    guards: Sequence[Guard],
    frame: pd.DataFrame,
    cfg: Config,
    encoder: LastHidden | None = None,
    progress: tqdm | None = None,
) -> dict[str, pd.DataFrame]:
    """Scores of every row of `frame` for guards that share one backbone and format, from ONE
    forward pass per row: `{name: DataFrame[id, label, logit_safe, logit_unsafe, label_mass]}`."""
    first = guards[0]
    if any((g.backbone, g.format) != (first.backbone, first.format) for g in guards):
        raise ValueError("score_frame needs guards that share one backbone and prompt format")
    encoder = encoder or LastHidden(first.model, default_batch_size(first.model))
    hidden = final_hidden(
        encoder,
        guard_prompt(cfg, first),
        first.tokenizer,
        frame,
        cfg.prompt.max_response_words,
        progress,
    )
    ids = verbalizer(first.tokenizer, cfg.prompt.verbalizer).token_ids
    out = {}
    for guard in guards:
        scores = label_scores(guard.model, hidden, ids)
        out[guard.name] = pd.DataFrame(
            {
                "id": frame["id"].to_numpy(),
                "label": frame["label"].astype("int64").to_numpy(),
                "logit_safe": scores[:, 0],
                "logit_unsafe": scores[:, 1],
                "label_mass": scores[:, 2],
            }
        )
    return out


def fingerprint(cfg: Config, model_name: str, split: str, frame: pd.DataFrame) -> dict[str, Any]:
    """What a scores file depends on, computed without loading the model's weights."""
    spec = cfg.model(model_name)
    tokenizer = guard_tokenizer(cfg, model_name)
    prompt = GuardPrompt(cfg.prompt.taxonomy, prompt_format(spec), tokenizer)
    return {
        "model": spec.model,
        "revision": guard_revision(cfg, model_name),
        "backbone": backbone_key(cfg, spec),
        "format": prompt.format,
        "taxonomy": prompt.taxonomy,
        "template_hash": prompt.template_hash(),
        "max_response_words": cfg.prompt.max_response_words,
        "verbalizer": verbalizer(tokenizer, cfg.prompt.verbalizer).as_meta(),
        "label_score": cfg.prompt.label_score,
        "split": split,
        "dataset_fingerprint": dataset_fingerprint(frame),
        "guardcal_version": guardcal.__version__,
    }


def example_record(frame: pd.DataFrame) -> pd.Series:
    """The report's example: the first row with a response (else the first row)."""
    with_response = frame[frame["response"].notna()]
    return (with_response if len(with_response) else frame).iloc[0]


def greedy_generate(guard: Guard, text: str, max_new_tokens: int) -> Any:
    """Greedy `generate()` at batch 1 on one rendered input, keeping each step's logits: how the
    study read verdicts, used here for the report's example answer and as the benchmark baseline."""
    tokenizer = guard.tokenizer
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    ids = ids.to(guard.model.device)
    with torch.inference_mode():
        out = guard.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return out


def _answer(cfg: Config, guard: Guard, record: Mapping[str, Any]) -> tuple[str, str]:
    """The rendered guard input for `record` and the first line of its greedy answer."""
    response = record.get("response")
    if response is not None and not isinstance(response, str):  # NaN from a frame
        response = None
    text = guard_prompt(cfg, guard).render(
        record["prompt"],
        None if response is None else truncate_words(response, cfg.prompt.max_response_words),
    )
    out = greedy_generate(guard, text, ANSWER_TOKENS)
    new_tokens = out.sequences[0, -len(out.logits) :]  # one logits row per generated token
    answer = guard.tokenizer.decode(new_tokens, skip_special_tokens=True)
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    return text, lines[0] if lines else ""


def _write_example(
    cfg: Config, guard: Guard, frame: pd.DataFrame, test_fingerprint: dict[str, Any]
) -> None:
    """Save the report's example for a guard whose test scores are finished."""
    record = example_record(frame)
    text, answer = _answer(cfg, guard, record)
    example = {"id": record["id"], "input": text, "answer": answer}
    store.write_example(cfg, guard.name, {**example, "fingerprint": test_fingerprint})


def guard_answer(cfg: Config, model_name: str, record: Mapping[str, Any]) -> tuple[str, str]:
    """(the exact rendered guard input, the model's first output line by greedy generation)
    for one record with `prompt` and optional `response`: the report's example."""
    return _answer(cfg, load_guard(cfg, model_name), record)


def _extract_split(
    cfg: Config,
    guards: Sequence[Guard],
    split: str,
    frame: pd.DataFrame,
    prints: Mapping[str, dict[str, Any]],
    encoder: LastHidden,
    shard: tuple[int, int] | None,
) -> None:
    """Score one split for guards sharing a backbone, shard by shard, then assemble."""
    size = cfg.scoring.shard_size
    count = math.ceil(len(frame) / size)
    # another process (a notebook, a node) may have finished a file since the caller looked
    guards = [
        g
        for g in guards
        if not store.is_current(store.scores_path(cfg, g.name, split), prints[g.name])
    ]
    done = {}
    for g in guards:
        store.scores_path(cfg, g.name, split).unlink(missing_ok=True)  # stale: never read it
        done[g.name] = store.finished_shards(cfg, g.name, split, prints[g.name], count, size)
    mine = [i for i in range(count) if shard is None or i % shard[1] == shard[0]]
    todo = [i for i in mine if any(i not in done[g.name] for g in guards)]
    total = sum(len(frame.iloc[i * size : (i + 1) * size]) for i in todo)
    names = ", ".join(g.name for g in guards)
    with tqdm(total=total, desc=f"scoring {split} ({names})", unit="ex") as bar:
        for i in todo:
            part = frame.iloc[i * size : (i + 1) * size]
            need = [g for g in guards if i not in done[g.name]]
            for name, scores in score_frame(need, part, cfg, encoder, bar).items():
                store.write_shard(cfg, name, split, scores, prints[name], i, count, size)
    for g in guards:
        if not store.assemble(cfg, g.name, split, prints[g.name], count, size):
            log.info("%s / %s: waiting for the other nodes' shards", g.name, split)


def run_extraction(
    cfg: Config,
    splits: Iterable[str] = SPLITS,
    models: Iterable[str] | None = None,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> None:
    """Score every listed model on every listed split into `reports/<run>/scores/`. Guards that
    share a backbone share one forward pass; finished files whose fingerprint matches are kept
    without loading any model; a rerun resumes from the shards already written. With `shard`
    (I, N) only this node's share of the shards is computed."""
    check_label_score(cfg)
    splits = tuple(splits)
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected some of {SPLITS}")
    names = [m.name for m in cfg.models] if models is None else list(models)
    specs = {name: cfg.model(name) for name in names}
    frames = {split: load_split(cfg, split) for split in splits}  # bad data fails here
    prints = {
        (name, split): fingerprint(cfg, name, split, frames[split])
        for name in names
        for split in splits
    }
    for name in names:
        verb = prints[name, splits[0]]["verbalizer"]
        for word, tokens in zip(verb["words"], verb["tokens"], strict=True):
            if len(tokens) > 1:
                log.info(
                    "%s: label word %r is the tokens %s; its first token %d is scored",
                    name,
                    word,
                    tokens,
                    tokens[0],
                )
    todo = {
        key for key, fp in prints.items() if not store.is_current(store.scores_path(cfg, *key), fp)
    }
    examples = {
        name
        for name in names
        if "test" in splits and not store.example_is_current(cfg, name, prints[name, "test"])
    }
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        if name in examples or any((name, s) in todo for s in splits):
            key = (backbone_key(cfg, specs[name]), prompt_format(specs[name]))
            groups.setdefault(key, []).append(name)
    if not groups:
        log.info("scores of %s are up to date in %s", names, cfg.run_dir / "scores")
    for group in groups.values():
        guards = [load_guard(cfg, name) for name in group]
        for guard in guards:
            if guard.label_rows is not None:
                guard.label_rows.save(
                    cfg.run_dir / "models" / store.model_slug(guard.name) / "label_rows.npz"
                )
        encoder = LastHidden(
            guards[0].model,
            batch_size or cfg.scoring.batch_size or default_batch_size(guards[0].model),
        )
        for split in splits:
            pending = [g for g in guards if (g.name, split) in todo]
            if pending:
                _extract_split(
                    cfg,
                    pending,
                    split,
                    frames[split],
                    {g.name: prints[g.name, split] for g in pending},
                    encoder,
                    shard,
                )
        for guard in guards:
            test = prints.get((guard.name, "test"))
            if guard.name in examples and store.is_current(
                store.scores_path(cfg, guard.name, "test"), test
            ):
                _write_example(cfg, guard, frames["test"], test)
