"""The label-logit scorer: one forward pass per example, each guard's verdict logits read at the
last position (after its generated trace, for a guard that reasons first); the fingerprint a
scores file carries; the report's example input and answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from guardcal.extraction.context import fit, fit_inputs
from guardcal.extraction.formats import FormatError
from guardcal.extraction.forward import (
    LastHidden,
    conversations,
    default_batch_size,
    final_hidden,
    hidden_after,
    prefix_ids,
    roles_of,
    truncate_words,
)
from guardcal.extraction.guards import Guard, GuardSpec
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.reasoning import (
    Sampling,
    Trace,
    TraceWriter,
    continuation,
    mean_of_samples,
)
from guardcal.records import dataset_fingerprint
from guardcal.version import __version__

ANSWER_TOKENS = 20
"""Tokens generated for the report's example answer (its first line is shown)."""
WRITTEN_TOKENS = 32
"""The most tokens the guard writes on an answer line in its own words (PolyGuard's violated
categories, `S1, S10` or `None`)."""


def continuations(tokens: Sequence[Sequence[int]]) -> list[list[int]]:
    """The tokens fed after the verdict position to score whole label words: every token but
    the last of each word longer than one token (one cached step each)."""
    return [list(word[:-1]) for word in tokens if len(word) > 1]


@torch.inference_mode()
def label_scores(
    model: PreTrainedModel,
    hidden: torch.Tensor,
    tokens: Sequence[Sequence[int]],
    sequence: bool = False,
) -> np.ndarray:
    """(N, K + 1) float64: the K verdict words' scores and the label mass, for the words'
    `tokens`.

    `first_token`, from (N, hidden) states at the verdict position: each word's first-token
    logit and the full-vocabulary softmax mass on the K tokens. `sequence`, from (N, S, hidden)
    states, the verdict position's then those after each `continuations(tokens)` token: each
    word's summed log-probability over all its tokens and the probability of the K words."""
    head = model.get_output_embeddings()
    if not sequence:
        logits = head(hidden).float()
        pair = logits[:, [word[0] for word in tokens]]
        mass = torch.exp(torch.logsumexp(pair, dim=1) - torch.logsumexp(logits, dim=1))
    else:
        states = hidden if hidden.dim() == 3 else hidden[:, None]  # no word has a second token
        logp = torch.log_softmax(head(states).float(), dim=-1)
        columns, at = [], 1
        for word in tokens:
            score = logp[:, 0, word[0]]
            for j, token in enumerate(word[1:]):
                score = score + logp[:, at + j, token]
            at += len(word) - 1
            columns.append(score)
        pair = torch.stack(columns, dim=1)
        mass = torch.exp(torch.logsumexp(pair, dim=1))
    return torch.cat([pair, mass[:, None]], dim=1).double().cpu().numpy()


def binary_logits(levels: Sequence[str], logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit_safe, logit_unsafe): each class's verdict-token logits merged by logsumexp, so the
    binary softmax is the verdict tokens' softmax with a three-level guard's classes merged."""
    cls = np.asarray(levels)
    return (
        logsumexp(logits[:, cls == "safe"], axis=1),
        logsumexp(logits[:, cls == "unsafe"], axis=1),
    )


def guard_inputs(spec: GuardSpec, frame: pd.DataFrame, where: str) -> list[list[int]]:
    """The token ids of every row's input to guard `spec`, each fitted to the guard's limit as
    `prompt.overflow` says (a too-long one under `stop` is a DataError naming `where` and the
    row). Needs the tokenizer only, so a check by it answers before any weights load."""
    s = spec.settings
    return fit_inputs(
        spec.prompt,
        spec.tokenizer,
        frame,
        s.max_response_words,
        spec.token_limit,
        s.overflow,
        where,
    )


def answered_hidden(
    guard: Guard,
    encoder: LastHidden,
    frame: pd.DataFrame,
    first: torch.Tensor,
    tokens: Sequence[Sequence[int]],
    written: Sequence[str] | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """Hidden states at the verdict for formats whose verdict follows earlier answer lines
    (WildGuard's response harm): each earlier line is answered by the guard itself, its
    higher-scoring verdict word teacher-forced (a line the format says the guard writes in its
    own words, PolyGuard's categories, by greedy generation to the line's end), then one more
    forward pass (docs/design.md). `written`: what each row's guard wrote (and was forced)
    after its input through the first answer line (a reasoning guard's trace)."""
    spec = guard.spec
    prompt, words = spec.prompt, spec.verbalizer.words
    sequence = spec.settings.label_score == "sequence"
    messages = conversations(frame, spec.settings.max_response_words)
    lines = [prompt.answer_lines(m) for m in messages]
    after = written if written is not None else [""] * len(messages)
    texts = [prompt.render("", messages=m) + w for m, w in zip(messages, after, strict=True)]
    roles = roles_of(frame)
    answers: list[list[str]] = [[] for _ in messages]
    hidden = first.clone()
    for step in range(1, max(len(ls) for ls in lines)):
        rows = [i for i, ls in enumerate(lines) if len(ls) > step]
        picks = label_scores(guard.model, hidden[rows], tokens, sequence)[:, :-1].argmax(axis=1)
        for i, pick in zip(rows, picks, strict=True):
            if lines[i][step - 1] in spec.format.written_lines:
                answer = written_answer(guard, texts[i])
            else:
                answer = words[pick]
            answers[i].append(answer)
            texts[i] += answer + lines[i][step]
        hidden[rows] = hidden_after(
            encoder,
            prompt,
            spec.tokenizer,
            [texts[i] for i in rows],
            [roles[i] for i in rows],
            steps=continuations(tokens),
        )
    return hidden, ["|".join(a) for a in answers]


def score_frame(
    guards: Sequence[Guard],
    frame: pd.DataFrame,
    encoder: LastHidden | None = None,
    progress: tqdm | None = None,
    traces: Sequence[Sequence[Trace]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Scores of every row of `frame` for guards that share one backbone and format, from ONE
    forward pass per row after the fixed text before the verdict (plus one per earlier answer
    line where the format has them): `{name: DataFrame[id, label, logit_safe, logit_unsafe,
    label_mass]}`, with a three-level guard's `level_logit_*` and earlier `answers` beside.

    A guard that reasons first has its verdict read after its trace: each row's `traces` (one
    per sample), generated here when not given; with K samples, its scores are the mean of the
    K verdict distributions, with their spread (`sample_sd`)."""
    spec = guards[0].spec
    if len({(g.spec.backbone, g.spec.format.name, g.spec.reasoning) for g in guards}) > 1:
        raise ValueError(
            "score_frame needs guards that share one backbone, prompt format and reasoning"
        )
    if not spec.reasoning.on:
        return verdict_scores(guards, frame, encoder, progress)
    if traces is None:
        traces = generate_traces(guards[0], frame, progress)
    samples = spec.reasoning.samples
    rows = frame.iloc[np.repeat(np.arange(len(frame)), samples)]
    messages = conversations(rows, spec.settings.max_response_words)
    flat = [trace for row in traces for trace in row]
    continued = [
        continuation(spec.tokenizer, trace, spec.markers.end, spec.prompt.answer_lines(m)[0])
        for trace, m in zip(flat, messages, strict=True)
    ]
    scored = verdict_scores(guards, rows, encoder, None, continued)
    return {name: mean_of_samples(s, samples) for name, s in scored.items()}


def generate_traces(
    guard: Guard, frame: pd.DataFrame, progress: tqdm | None = None
) -> list[list[Trace]]:
    """Every row's traces (one per sample) for a guard that reasons, batched on the key/value
    cache from its rendered input (which ends with the text its trace starts with), the policy
    prefix its inputs share computed once per judged role."""
    spec = guard.spec
    writer = TraceWriter(
        guard.model,
        spec.tokenizer,
        spec.markers.end,
        spec.entry.max_reasoning_tokens,
        Sampling.of(spec.reasoning),
    )
    inputs = guard_inputs(spec, frame, f"guard {spec.name!r}")
    keys = frame["id"].astype(str).tolist()
    roles = roles_of(frame)
    out: list[list[Trace]] = [[] for _ in inputs]
    for role in sorted(set(roles)):
        rows = [i for i, r in enumerate(roles) if r == role]
        prefix = prefix_ids(spec.prompt, spec.tokenizer, role)
        traces = writer([inputs[i] for i in rows], [keys[i] for i in rows], progress, prefix)
        for i, trace in zip(rows, traces, strict=True):
            out[i] = trace
    return out


def verdict_scores(
    guards: Sequence[Guard],
    frame: pd.DataFrame,
    encoder: LastHidden | None = None,
    progress: tqdm | None = None,
    continued: Sequence[tuple[list[int], str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """`score_frame`'s verdict pass; `continued` holds what follows each row's input up to its
    first answer line (a trace and the text forced after it), as ids and as text."""
    spec = guards[0].spec
    model = guards[0].model
    encoder = encoder or LastHidden(model, default_batch_size(model))
    sequences = guard_inputs(spec, frame, f"guard {spec.name!r}")
    written = None
    if continued is not None:
        sequences = [[*s, *ids] for s, (ids, _) in zip(sequences, continued, strict=True)]
        written = [text for _, text in continued]
    sequence = spec.settings.label_score == "sequence"
    verb = spec.verbalizer
    tokens = verb.tokens if sequence else tuple(word[:1] for word in verb.tokens)
    hidden = final_hidden(
        encoder,
        spec.prompt,
        spec.tokenizer,
        frame,
        progress=progress,
        sequences=sequences,
        steps=continuations(tokens),
    )
    answered = any(len(spec.answer_lines(mode)) > 1 for mode in spec.format.judges)
    out = {}
    for guard in guards:
        answers = None
        at_verdict = hidden
        if answered:
            at_verdict, answers = answered_hidden(guard, encoder, frame, hidden, tokens, written)
        scores = label_scores(guard.model, at_verdict, tokens, sequence)
        logit_safe, logit_unsafe = binary_logits(guard.spec.classes, scores[:, :-1])
        columns = {
            "id": frame["id"].to_numpy(),
            "label": frame["label"].astype("int64").to_numpy(),
            "logit_safe": logit_safe,
            "logit_unsafe": logit_unsafe,
            "label_mass": scores[:, -1],
        }
        if len(verb.words) > 2:
            for k, level in enumerate(verb.levels):
                columns[f"level_logit_{level}"] = scores[:, k]
        if answers is not None:
            columns["answers"] = answers
        out[guard.name] = pd.DataFrame(columns)
    return out


def fingerprint(spec: GuardSpec, split: str, frame: pd.DataFrame) -> dict[str, Any]:
    """What a scores file depends on: the guard's identity, the split and its rows, and
    guardcal's version, computed without loading the model's weights; a record the guard's
    format cannot render fails here, naming the row."""
    check_rows(spec.prompt, frame, f"{spec.config_file}: split {split!r}, model {spec.name!r}")
    return {
        **spec.identity,
        "split": split,
        "dataset_fingerprint": dataset_fingerprint(frame),
        "guardcal_version": __version__,
    }


def check_rows(prompt: GuardPrompt, frame: pd.DataFrame, where: str) -> None:
    """Every row renders in the prompt's format, or an error naming the row and why."""
    for row, messages in zip(frame["id"].tolist(), conversations(frame), strict=True):
        try:
            prompt.guard.check(messages)
        except FormatError as exc:
            raise FormatError(f"{where}: row id {row!r}: {exc}") from None


def example_record(frame: pd.DataFrame) -> pd.Series:
    """The report's example: the first row with a response (else the first row)."""
    with_response = frame[frame["response"].notna()]
    return (with_response if len(with_response) else frame).iloc[0]


def greedy_generate(
    guard: Guard, text: str, max_new_tokens: int, add_special_tokens: bool = False
) -> Any:
    """Greedy `generate()` at batch 1 on one rendered input, keeping each step's logits: how the
    study read verdicts, used here for the report's example answer and as the benchmark baseline."""
    tokenizer = guard.tokenizer
    ids = tokenizer(text, add_special_tokens=add_special_tokens, return_tensors="pt").input_ids
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


def written_answer(guard: Guard, text: str) -> str:
    """What the guard writes after `text` in its own words, up to the end of the line (greedy,
    at most `WRITTEN_TOKENS` tokens)."""
    out = greedy_generate(guard, text, WRITTEN_TOKENS, guard.spec.prompt.add_special_tokens)
    new_tokens = out.sequences[0, -len(out.logits) :]
    return guard.tokenizer.decode(new_tokens, skip_special_tokens=True).split("\n", 1)[0]


def render_record(spec: GuardSpec, record: Mapping[str, Any]) -> str:
    """The exact input guard `spec` reads for one record (`prompt`, optional `response`, or
    `messages`), cut as the run cuts (to `max_response_words`, then to the guard's token limit
    as `prompt.overflow` says)."""
    settings = spec.settings
    response = record.get("response")
    if response is not None and not isinstance(response, str):  # NaN from a frame
        response = None
    if isinstance(record.get("messages"), list):
        row = {
            "prompt": [record["prompt"]],
            "response": [response],
            "messages": [record["messages"]],
        }
        (messages,) = conversations(pd.DataFrame(row), settings.max_response_words)
        return spec.prompt.render("", messages=messages)
    if response is not None:
        response = truncate_words(response, settings.max_response_words)
    if spec.token_limit is None:
        return spec.prompt.render(record["prompt"], response)
    prompt = spec.prompt
    return fit(
        prompt, prompt.tokenizer, record["prompt"], response, spec.token_limit, settings.overflow
    )[0]


def guard_answer(guard: Guard, record: Mapping[str, Any]) -> tuple[str, str]:
    """(the exact rendered guard input, the model's first output line by greedy generation)
    for one record with `prompt` and optional `response`: the report's example."""
    text = render_record(guard.spec, record)
    out = greedy_generate(guard, text, ANSWER_TOKENS, guard.spec.prompt.add_special_tokens)
    new_tokens = out.sequences[0, -len(out.logits) :]  # one logits row per generated token
    answer = guard.tokenizer.decode(new_tokens, skip_special_tokens=True)
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    return text, lines[0] if lines else ""


def render_input(spec: GuardSpec, record: Mapping[str, Any]) -> tuple[str, list[int]]:
    """The exact input guard `spec` reads for one record, and its token ids, computed with the
    guard's tokenizer only (no weights are loaded)."""
    text = render_record(spec, record)
    return text, spec.prompt.encode([text])[0]
