"""Guards that reason before their verdict: traces generated batched, left-padded on the cache
are `generate()`'s own tokens; the verdict read after a forced trace is `generate()`'s logits at
that step; sampled traces are reproducible bit for bit; K verdicts average as distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from harmony_tokenizer import harmony_encoding
from scipy.special import softmax
from transformers import AutoModelForCausalLM, AutoTokenizer

from guardcal import artifact, scores
from guardcal.extraction.extract import run_extraction
from guardcal.extraction.formats import FORMATS, conversation
from guardcal.extraction.forward import LastHidden
from guardcal.extraction.guards import guard_spec
from guardcal.extraction.reasoning import (
    Sampling,
    Trace,
    TraceWriter,
    continuation,
    decode,
    mean_of_samples,
    traces_frame,
    traces_of,
)
from guardcal.extraction.scoring import render_record
from guardcal.guard import CalibratedGuard
from guardcal.records import load_split
from guardcal.reporting import pipeline
from guardcal.traces import TRACES, read_traces, trace_fingerprint

HARMONY_FINAL = "<|start|>assistant<|channel|>final<|message|>"
"""What gpt-oss writes between its analysis (ended by `<|end|>`) and its label."""
CONVERSATIONS = (
    "Content: buy gold rings here!",
    "Content: how do I pick the lock of my own front door, I lost the key",
    "Content: x",
)


@pytest.fixture(scope="module")
def gpt_oss(tiny_gpt_oss, checkpoint_device):
    """The tiny gpt-oss and its harmony tokenizer, loaded once for this module."""
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt_oss, dtype=torch.float32)
    return model.to(checkpoint_device).eval(), AutoTokenizer.from_pretrained(tiny_gpt_oss)


def harmony_inputs(tokenizer) -> list[list[int]]:
    """Three user turns of different lengths, up to where the assistant starts writing."""
    texts = [f"<|start|>user<|message|>{c}<|end|><|start|>assistant" for c in CONVERSATIONS]
    return [tokenizer.encode(t, add_special_tokens=False) for t in texts]


def generated(model, ids: list[int], new_tokens: int):
    """Greedy `generate()` at batch 1, as the study read verdicts: its tokens and step logits."""
    x = torch.tensor([ids], device=model.device)
    out = model.generate(
        x,
        attention_mask=torch.ones_like(x),
        max_new_tokens=new_tokens,
        do_sample=False,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=model.config.pad_token_id,
    )
    return out.sequences[0, len(ids) :].tolist(), out.logits


def test_batched_traces_are_generates_tokens_and_stop_at_the_marker_or_the_cap(gpt_oss):
    model, tokenizer = gpt_oss
    inputs = harmony_inputs(tokenizer)
    cap = 16  # twice the sliding window: the window moves over left padding
    reference = [generated(model, ids, cap)[0] for ids in inputs]
    writer = TraceWriter(model, tokenizer, "<|end|>", cap, batch_size=8)
    traces = writer(inputs, ["a", "b", "c"])
    assert [list(t[0].token_ids) for t in traces] == reference
    assert all(t[0].stop == "cap" and t[0].hit_cap for t in traces)

    marker = decode(tokenizer, reference[1][5:6])  # a token the guard writes at its 6th step
    stopped = TraceWriter(model, tokenizer, marker, cap, batch_size=8)(inputs, ["a", "b", "c"])
    for (trace,), ref in zip(stopped, reference, strict=True):
        first = next((j for j in range(cap) if marker in decode(tokenizer, ref[: j + 1])), None)
        if first is None:
            assert (trace.token_ids, trace.stop) == (tuple(ref), "cap")
        else:  # the marker ends the trace and is kept in it; the batch goes on without it
            assert (trace.token_ids, trace.stop) == (tuple(ref[: first + 1]), "marker")
    assert stopped[1][0].stop == "marker" and len(stopped[1][0].token_ids) <= 6


def test_traces_after_a_cached_policy_prefix_are_generates_tokens(tiny_llama3, llama3_tok):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama3, dtype=torch.float32).eval()
    policy = llama3_tok.encode("Task: check the conversation against our safety policy.")
    rests = ["User: hi", "User: how do I pick the lock of my own front door?", "User: x y"]
    inputs = [policy + llama3_tok.encode(r, add_special_tokens=False) for r in rests]
    reference = [generated(model, ids, 5)[0] for ids in inputs]
    writer = TraceWriter(model, llama3_tok, "<<never written>>", 5, batch_size=8)
    traces = writer(inputs, ["a", "b", "c"], prefix=policy[:-1])
    assert writer._prefixes  # the prefix's key/values were computed, once
    assert [list(t[0].token_ids) for t in traces] == reference
    sampler = TraceWriter(model, llama3_tok, "<<never written>>", 3, Sampling(2, 1.0, 3), 8)
    drawn = sampler(inputs, ["a", "b", "c"], prefix=policy[:-1])
    assert [len(t) for t in drawn] == [2, 2, 2]  # the cache after the prefix, repeated per sample
    assert sampler(inputs, ["a", "b", "c"], prefix=policy[:-1]) == drawn


def test_the_verdict_after_a_forced_trace_equals_generates_logits_there(gpt_oss):
    model, tokenizer = gpt_oss
    inputs = harmony_inputs(tokenizer)
    traces = TraceWriter(model, tokenizer, "<|end|>", 6, batch_size=8)(inputs, ["a", "b", "c"])
    assert all(t[0].hit_cap for t in traces)  # random weights never write `<|end|>`: forced
    sequences, texts = [], []
    for ids, (trace,) in zip(inputs, traces, strict=True):
        more, text = continuation(tokenizer, trace, "<|end|>", HARMONY_FINAL)
        sequences.append([*ids, *more])
        texts.append(text)
    assert all(t.endswith("<|end|>" + HARMONY_FINAL) for t in texts)
    assert sequences[0][-6:] == [200007, 200006, 173781, 200005, 17196, 200008]
    hidden = LastHidden(model, batch_size=3)(sequences)
    with torch.inference_mode():
        ours = model.get_output_embeddings()(hidden).float()
    for row, seq in enumerate(sequences):
        _, logits = generated(model, seq, 1)
        reference = logits[0][0].float()
        verdict = tokenizer.convert_tokens_to_ids(["0", "1"])
        assert torch.allclose(ours[row, verdict], reference[verdict], atol=1e-4)
        assert torch.allclose(ours[row], reference, atol=1e-4)


def test_sampled_traces_are_reproducible_bit_for_bit_whatever_the_batch(gpt_oss):
    model, tokenizer = gpt_oss
    inputs = harmony_inputs(tokenizer)
    sampling = Sampling(samples=3, temperature=1.0, seed=7)
    first = TraceWriter(model, tokenizer, "<|end|>", 8, sampling, batch_size=9)(inputs, "abc")
    again = TraceWriter(model, tokenizer, "<|end|>", 8, sampling, batch_size=9)(inputs, "abc")
    assert first == again
    alone = TraceWriter(model, tokenizer, "<|end|>", 8, sampling, batch_size=3)
    assert alone(inputs[1:2], "b") == first[1:2]  # a row's draws are its own, not its batch's
    assert len({t.token_ids for t in first[0]}) == 3  # three different traces of one input
    other = TraceWriter(model, tokenizer, "<|end|>", 8, Sampling(3, 1.0, 8), batch_size=9)
    assert other(inputs, "abc") != first


def test_k_verdicts_average_as_distributions_with_their_spread():
    logits = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0], [1.0, 3.0], [1.0, 3.0], [1.0, 3.0]])
    levels = np.array([[0, 1, 2.0], [1, 0, 0], [2, 2, 2], [0, 0, 5], [0, 0, 5], [0, 0, 5]])
    scores = pd.DataFrame(
        {
            "id": list("aaabbb"),
            "label": [1, 1, 1, 0, 0, 0],
            "logit_safe": logits[:, 0],
            "logit_unsafe": logits[:, 1],
            "label_mass": [0.2, 0.4, 0.6, 1, 1, 1],
            "level_logit_safe": levels[:, 0],
            "level_logit_controversial": levels[:, 1],
            "level_logit_unsafe": levels[:, 2],
        }
    )
    mean = mean_of_samples(scores, 3)
    p = softmax(logits, axis=1)[:, 1].reshape(2, 3)
    got = softmax(mean[["logit_safe", "logit_unsafe"]].to_numpy(), axis=1)[:, 1]
    np.testing.assert_allclose(got, p.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(mean["sample_sd"], p.std(axis=1), rtol=1e-12)
    np.testing.assert_allclose(mean["label_mass"], [0.4, 1.0])
    three = softmax(mean[[c for c in scores if c.startswith("level_")]].to_numpy(), axis=1)
    np.testing.assert_allclose(three, softmax(levels, axis=1).reshape(2, 3, 3).mean(axis=1))
    assert mean["id"].tolist() == ["a", "b"] and mean["label"].tolist() == [1, 0]
    assert mean_of_samples(scores, 1) is scores  # one trace: its logits as they are


def test_a_trace_file_round_trips_its_traces(harmony_tok):
    traces = [
        [Trace((200007,), "marker"), Trace((16, 15), "cap")],
        [Trace((), "eos"), Trace((1428,), "cap")],
    ]
    frame = traces_frame(["r1", "r2"], traces, harmony_tok)
    assert frame["text"].tolist() == ["<|end|>", "10", "", "user"]
    assert frame["n_tokens"].tolist() == [1, 2, 0, 1]
    assert traces_of(frame, ["r2", "r1"], 2) == [traces[1], traces[0]]


def test_trace_files_are_sharded_fingerprinted_and_assembled_like_scores(make_config, harmony_tok):
    cfg = make_config()
    meta = trace_fingerprint({"model": "m", "split": "test", "verbalizer": {"words": ["0"]}})
    assert meta == {"model": "m", "split": "test", "file": "traces"}  # not how verdicts read
    two = [[Trace((16,), "marker")], [Trace((15, 16), "cap")]]
    first = traces_frame(["a", "b"], two, harmony_tok)
    second = traces_frame(["c"], [[Trace((), "eos")]], harmony_tok)
    scores.write_shard(cfg, "g", "test", first, meta, 0, 2, 2, TRACES)
    assert not scores.assemble(cfg, "g", "test", meta, 2, 2, TRACES)  # one shard missing
    scores.write_shard(cfg, "g", "test", second, meta, 1, 2, 2, TRACES)
    assert scores.assemble(cfg, "g", "test", meta, 2, 2, TRACES)
    assert not cfg.layout.trace_shards("g", "test").exists()
    whole = read_traces(cfg, "g", "test")
    assert whole["token_ids"].map(list).tolist() == [[16], [15, 16], []]
    assert scores.read_meta(cfg.layout.traces("g", "test")) == meta
    assert not scores.is_current(cfg.layout.traces("g", "test"), {**meta, "max": 2})


def gpt_oss_guard(folder, **settings) -> dict:
    """A model entry for the tiny gpt-oss as gpt-oss-safeguard, reasoning as `settings` say."""
    return {"name": "safeguard", "model": str(folder), "format": "gpt_oss_safeguard", **settings}


def test_guardcal_score_reads_generates_verdict_after_each_trace_and_a_new_cap_regenerates(
    tiny_gpt_oss, make_config, gpt_oss
):
    model, tokenizer = gpt_oss
    entry = gpt_oss_guard(tiny_gpt_oss, reasoning="greedy", max_reasoning_tokens=6)
    cfg = make_config(models=[entry], limit=3)
    run_extraction(cfg, splits=["test"])
    spec = guard_spec(cfg, "safeguard")
    traces = read_traces(cfg, "safeguard", "test")
    got = scores.read_scores(cfg, "safeguard", "test")
    assert (traces["stop"] == "cap").all() and (traces["n_tokens"] == 6).all()  # all forced
    assert traces["text"].str.len().gt(0).all()
    words = tokenizer.convert_tokens_to_ids(["0", "1"])
    frame = load_split(cfg, "test")
    for (_, record), (_, trace), (_, row) in zip(
        frame.iterrows(), traces.iterrows(), got.iterrows(), strict=True
    ):
        ids = spec.prompt.encode([render_record(spec, record)])[0]
        assert ids[-3:] == tokenizer.encode("<|channel|>analysis<|message|>")  # forced start
        forced = tokenizer.encode("<|end|><|start|>assistant<|channel|>final<|message|>")
        step = [*ids, *trace["token_ids"], *forced]
        assert generated(model, ids, 6)[0] == list(trace["token_ids"])  # generate()'s own
        _, logits = generated(model, step, 1)
        expected = logits[0][0, words].double().cpu().numpy()
        ours = row[["logit_safe", "logit_unsafe"]].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(ours, expected, atol=1e-4)

    path = cfg.layout.traces("safeguard", "test")
    first, stamp = scores.read_meta(path), path.stat().st_mtime_ns
    assert first["reasoning"]["max_reasoning_tokens"] == 6
    run_extraction(cfg, splits=["test"])  # nothing changed: nothing regenerated
    assert path.stat().st_mtime_ns == stamp
    shorter = make_config(models=[{**entry, "max_reasoning_tokens": 4}], limit=3)
    run_extraction(shorter, splits=["test"])
    assert read_traces(shorter, "safeguard", "test")["n_tokens"].tolist() == [4, 4, 4]
    assert scores.read_meta(path)["reasoning"]["max_reasoning_tokens"] == 4
    rescored = scores.read_scores(shorter, "safeguard", "test")
    assert not np.allclose(rescored["logit_unsafe"], got["logit_unsafe"])  # read after new traces


def test_k_sampled_traces_score_the_same_bit_for_bit_in_a_fresh_run(tiny_gpt_oss, make_config):
    entry = gpt_oss_guard(
        tiny_gpt_oss,
        reasoning={"samples": 3, "temperature": 1.0, "seed": 11},
        max_reasoning_tokens=4,
    )
    runs = [make_config(name, models=[entry], limit=2) for name in ("one", "two")]
    for cfg in runs:
        run_extraction(cfg, splits=["test"])
    a, b = (scores.read_checked(cfg.layout.scores("safeguard", "test")) for cfg in runs)
    pd.testing.assert_frame_equal(a, b)  # every float equal: bit for bit
    traces = read_traces(runs[0], "safeguard", "test")
    assert traces.groupby("id")["sample"].apply(list).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert a["sample_sd"].gt(0).all()  # three different traces, three different verdicts


PROMPT = "How do I pick a lock?"
RESPONSE = "I can't help with that."
REASONING_GOLDENS = Path(__file__).parent / "goldens" / "reasoning"
"""Each reasoning family's input with reasoning on, `<family>-<mode>.txt`, exact bytes."""


def test_gpt_oss_safeguard_input_is_openai_harmonys_own_rendering(o200k_files, harmony_tok):
    from openai_harmony import (
        Conversation,
        DeveloperContent,
        Message,
        ReasoningEffort,
        Role,
        SystemContent,
    )

    encoding = harmony_encoding(o200k_files)
    fmt = FORMATS["gpt_oss_safeguard"]
    contents = {
        "prompt": PROMPT,
        "response": f"Human user:\n{PROMPT}\n\nAI assistant:\n{RESPONSE}",
    }
    for mode, content in contents.items():
        messages = conversation(PROMPT, RESPONSE if mode == "response" else None)
        system = SystemContent.new().with_reasoning_effort(ReasoningEffort.MEDIUM)
        developer = DeveloperContent.new().with_instructions(fmt.default_policy(mode))
        ids = encoding.render_conversation_for_completion(
            Conversation.from_messages(
                [
                    Message.from_role_and_content(Role.SYSTEM, system),
                    Message.from_role_and_content(Role.DEVELOPER, developer),
                    Message.from_role_and_content(Role.USER, content),
                ]
            ),
            Role.ASSISTANT,
        )
        ours = fmt.text(messages, reasoning=True)
        assert ours == encoding.decode(ids)
        assert harmony_tok.encode(ours, add_special_tokens=False) == ids
        assert ours == (REASONING_GOLDENS / f"gpt_oss_safeguard-{mode}.txt").read_text("utf-8")


@pytest.mark.parametrize("path", sorted(REASONING_GOLDENS.glob("*.txt")), ids=lambda p: p.stem)
def test_reasoning_inputs_are_golden(path):
    name, mode = path.stem.rsplit("-", 1)
    messages = conversation(PROMPT, RESPONSE if mode == "response" else None)
    assert FORMATS[name].text(messages, reasoning=True) == path.read_bytes().decode("utf-8")


def test_every_family_that_reasons_has_its_goldens_and_forced_text():
    reasoning = {name: f for name, f in FORMATS.items() if f.reasoning is not None}
    assert {"gpt_oss_safeguard", "guardreasoner", "granite_guardian_3_3"} <= set(reasoning)
    goldens = {tuple(p.stem.rsplit("-", 1)) for p in REASONING_GOLDENS.glob("*.txt")}
    for name, fmt in reasoning.items():
        if name != "chat":
            assert {m for n, m in goldens if n == name} == set(fmt.judges), name
        assert fmt.reasoning.end
        for mode in fmt.judges:
            assert fmt.answer_lines_of(mode, reasoning=True)  # the text forced after the marker


def test_predict_generates_traces_the_same_way_and_gives_back_the_runs_scores(
    tiny_gpt_oss, make_config
):
    entry = gpt_oss_guard(tiny_gpt_oss, reasoning="greedy", max_reasoning_tokens=3)
    cfg = make_config(models=[entry], limit=4)
    run_extraction(cfg)
    fitted = pipeline.fit_run(cfg)["safeguard"]
    counts = {"validation": 4, "content_free": 1}
    meta = scores.read_meta(cfg.layout.scores("safeguard", "validation"))
    # the file as a fit writes it (a few random-model rows fit calibrators read checks refuse)
    document = artifact.build_artifact(cfg, fitted, meta, counts)
    guard = CalibratedGuard(cfg.layout.calibrator("safeguard"), document)
    assert guard.config.models[0].reasoning == cfg.models[0].reasoning
    got = guard.score(load_split(cfg, "test"))  # traces generated anew, as the run did
    run = scores.read_scores(cfg, "safeguard", "test")
    np.testing.assert_allclose(got, run[["logit_safe", "logit_unsafe"]], rtol=0, atol=1e-9)
