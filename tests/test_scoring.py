"""The scorer on the embedded guards: it reads what greedy generation reads, batching and order
do not change it, the fine-tuned guard is real, and extraction resumes and caches correctly."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from shipped_demo import BASE, FINE_TUNED, POLICIES_DIR, ZERO_SHOT
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from guardcal import scores
from guardcal.__main__ import main
from guardcal.extraction import finetune
from guardcal.extraction.extract import run_extraction
from guardcal.extraction.forward import LastHidden, prefix_ids, render_inputs
from guardcal.extraction.guards import guard_spec
from guardcal.extraction.prompts import GuardPrompt
from guardcal.extraction.scoring import score_frame
from guardcal.extraction.verbalizer import verbalizer
from guardcal.records import DataError

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def sample(demo_test: pd.DataFrame) -> pd.DataFrame:
    """Eight demo test rows, two of them prompt-only (the `User` role and its own prefix)."""
    frame = demo_test.head(8).copy()
    frame["response"] = frame["response"].astype(object)
    frame.loc[[2, 5], "response"] = None
    return frame.reset_index(drop=True)


def counting_forward(monkeypatch, model, fail_after: int | None = None) -> list[int]:
    """Count calls of the backbone's forward (and raise after `fail_after` of them): a fault
    injected into the real model, not a mock of it."""
    calls: list[int] = []
    original = model.base_model.forward

    def forward(*args, **kwargs):
        if fail_after is not None and len(calls) >= fail_after:
            raise RuntimeError("injected fault")
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model.base_model, "forward", forward)
    return calls


def test_verbalizer_reads_the_first_token_of_each_label_word(guards):
    tokenizer = guards[ZERO_SHOT].tokenizer
    verb = verbalizer(tokenizer, {"safe": "safe", "unsafe": "unsafe"})
    assert verb.token_ids == (18437, 10082)
    assert verb.tokens == ((18437,), (10082, 9980))
    with pytest.raises(ValueError, match="start with the same token"):
        verbalizer(tokenizer, {"safe": "unsafe", "unsafe": "unsound"})


@pytest.mark.parametrize("name", [ZERO_SHOT, FINE_TUNED])
def test_forward_pass_equals_greedy_generation_at_the_verdict_step(demo_cfg, guards, sample, name):
    guard = guards[name]
    scores = score_frame([guard], sample)[name]
    ids = list(verbalizer(guard.tokenizer, demo_cfg.prompt.verbalizer).token_ids)
    texts = render_inputs(guard.spec.prompt, sample)
    expected = []
    with torch.inference_mode():
        for text in texts:
            input_ids = guard.tokenizer(text, add_special_tokens=False, return_tensors="pt")
            out = guard.model.generate(
                **input_ids,
                max_new_tokens=1,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=guard.tokenizer.eos_token_id,
            )
            logits = out.logits[0][0].double()
            mass = torch.softmax(logits, dim=0)[ids].sum()
            expected.append([*logits[ids].tolist(), float(mass)])
    expected = np.array(expected)
    got = scores[["logit_safe", "logit_unsafe", "label_mass"]].to_numpy()
    np.testing.assert_allclose(got[:, :2], expected[:, :2], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got[:, 2], expected[:, 2], atol=1e-5, rtol=1e-4)
    assert scores["id"].tolist() == sample["id"].tolist()
    assert scores["label"].tolist() == sample["label"].tolist()


def test_scores_do_not_depend_on_batch_size_or_order(demo_cfg, guards, sample):
    pair = [guards[ZERO_SHOT], guards[FINE_TUNED]]
    model = pair[0].model
    one = score_frame(pair, sample, LastHidden(model, 1))
    three = score_frame(pair, sample, LastHidden(model, 3))
    reverse = sample.iloc[::-1].reset_index(drop=True)
    eight = score_frame(pair, reverse, LastHidden(model, 8))
    for name in (ZERO_SHOT, FINE_TUNED):
        back = eight[name].iloc[::-1].reset_index(drop=True)
        for other in (three[name], back):
            assert other["id"].tolist() == one[name]["id"].tolist()
            cols = ["logit_safe", "logit_unsafe", "label_mass"]
            np.testing.assert_allclose(other[cols], one[name][cols], atol=1e-4, rtol=0)


def test_inputs_that_do_not_start_with_the_prefix_get_a_full_pass(demo_cfg, guards, sample):
    guard = guards[ZERO_SHOT]
    prompt = guard.spec.prompt
    texts = render_inputs(prompt, sample.head(2))
    sequences = guard.tokenizer(texts, add_special_tokens=False)["input_ids"]
    prefix = prefix_ids(prompt, guard.tokenizer, "Agent")
    cached = LastHidden(guard.model, 2)(sequences, prefix)
    wrong = LastHidden(guard.model, 2)(sequences, [prefix[0] + 1, *prefix[1:]])
    plain = LastHidden(guard.model, 2)(sequences)
    torch.testing.assert_close(wrong, plain, atol=0, rtol=0)
    torch.testing.assert_close(cached, plain, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", [BASE, FINE_TUNED])
def test_fitted_guards_keep_the_backbone_and_only_two_rows_change(guards, name):
    zero, tuned = guards[ZERO_SHOT].model, guards[name].model
    assert tuned.base_model is zero.base_model
    assert zero.get_output_embeddings().weight is zero.get_input_embeddings().weight  # tied
    old, new = zero.get_output_embeddings(), tuned.get_output_embeddings()
    assert new.weight is not old.weight
    changed = (new.weight != old.weight).any(dim=1).nonzero().flatten().tolist()
    assert changed == [10082, 18437]  # uns, safe
    assert new.bias.nonzero().flatten().tolist() == [10082, 18437]


def test_the_base_and_fine_tuned_rows_differ(guards):
    base, tuned = guards[BASE].label_rows, guards[FINE_TUNED].label_rows
    assert base.key != tuned.key
    assert not np.allclose(base.weight, tuned.weight)


def test_the_base_guard_learns_only_what_llama_guard_3_covers(demo_cfg):
    frame = finetune.fitting_frame(demo_cfg)
    mapping = json.loads((POLICIES_DIR / "beavertails_in_llama_guard_3.json").read_text())
    covered = {key for key, entry in mapping["categories"].items() if entry["covered"]}
    base = finetune.policy_labels(frame, "llama_guard_3")
    full = finetune.policy_labels(frame, "beavertails")
    assert (full == frame["label"].to_numpy()).all()
    for label, cats, b in zip(frame["label"], frame["categories"], base, strict=True):
        assert bool(b) == (label == 1 and bool(covered & set(cats)))
    assert 0 < base.sum() < full.sum()  # some unsafe pairs are outside MLCommons' hazards


def test_the_shipped_rows_are_the_current_ones(demo_cfg):
    """The package ships exactly the rows whose keys the demo's fitted guards ask for; after
    a change to the demo data, its prompt or the fitting procedure, run `make rows`."""
    fitted = [m.name for m in demo_cfg.models if m.model != "embedded:smollm2-135m"]
    keys = {guard_spec(demo_cfg, name).revision for name in fitted}
    shipped = {p.stem for p in finetune.SHIPPED.glob("*.npz")}
    assert shipped == keys, "stale rows in guardcal/data/rows/: run `make rows`"
    for key in keys:
        assert finetune.LabelRows.load(finetune.SHIPPED / f"{key}.npz").key == key


def test_one_pass_fits_every_policys_rows(guards, demo_cfg, tmp_path):
    guard = guards[ZERO_SHOT]
    frame = finetune.fitting_frame(demo_cfg).head(24)
    for policy in finetune.POLICIES:  # each of the 5 CV folds needs one of each class
        assert 5 <= finetune.policy_labels(frame, policy).sum() <= len(frame) - 5
    passes = []
    forward = guard.model.base_model.forward
    guard.model.base_model.forward = lambda *a, **k: passes.append(1) or forward(*a, **k)
    try:
        written = finetune.fit_missing_rows(
            guard.model, guard.tokenizer, guard.spec.backbone, tmp_path, into=tmp_path, frame=frame
        )
    finally:
        del guard.model.base_model.forward
    keys = {finetune.rows_key(guard.spec.backbone, guard.tokenizer, p) for p in finetune.POLICIES}
    assert {p.stem for p in written} == keys
    rows = [finetune.LabelRows.load(p) for p in written]
    assert not np.allclose(rows[0].weight, rows[1].weight)
    gate = finetune.HYPERPARAMETERS["gate_rows"]
    # one prefix pass, the fitting rows in batches, the gate's inputs one by one
    assert len(passes) <= 1 + -(-len(frame) // 8) + gate
    with pytest.raises(ValueError, match="into"):
        finetune.fit_missing_rows(
            guard.model, guard.tokenizer, guard.spec.backbone, tmp_path, frame=frame
        )


def test_finetuned_guard_clearly_beats_zero_shot(demo_cfg, guards, demo_test):
    frame = demo_test.head(24)
    assert 8 <= frame["label"].sum() <= 16
    scores = score_frame([guards[ZERO_SHOT], guards[FINE_TUNED]], frame)
    auroc = {
        name: roc_auc_score(s["label"], s["logit_unsafe"] - s["logit_safe"])
        for name, s in scores.items()
    }
    assert auroc[FINE_TUNED] > auroc[ZERO_SHOT] + 0.15, auroc
    assert scores[FINE_TUNED]["label_mass"].mean() > 0.9
    assert scores[ZERO_SHOT]["label_mass"].mean() < 0.5


def test_finetuned_guard_answers_safe_or_unsafe(demo_cfg, guards, demo_test):
    from guardcal.extraction.scoring import guard_answer

    for _, record in demo_test.head(2).iterrows():
        text, answer = guard_answer(guards[FINE_TUNED], record)
        prompt = GuardPrompt(demo_cfg.prompt.taxonomy, "chat", guards[FINE_TUNED].tokenizer)
        assert text == prompt.render(record["prompt"], record["response"])
        assert answer in ("safe", "unsafe")
    text, answer = guard_answer(guards[ZERO_SHOT], {"prompt": "hello there"})
    assert "'User' messages" in text
    assert isinstance(answer, str) and "\n" not in answer


def test_fit_rows_give_the_decision_function_and_label_mass():
    rng = np.random.default_rng(0)
    hidden, vocab, n = 12, 40, 120
    head = rng.normal(0, 1, (vocab, hidden)).astype(np.float32)
    verdict = rng.normal(0, 1, (n, hidden)) + 3 * np.eye(hidden)[0]  # verdict states: x0 ≈ 3
    labels = (verdict[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    context = rng.normal(0, 1, (300, hidden)) - 3 * np.eye(hidden)[0]
    ids = np.array([5, 9])
    rows = finetune.fit_rows(verdict, labels, context, head, ids, "k")
    new = head.astype(np.float64).copy()
    new[ids] = rows.weight
    bias = np.zeros(vocab)
    bias[ids] = rows.bias

    def logits(states):
        return states @ new.T + bias

    w, b = finetune.fit_decision(verdict, labels)
    d = logits(verdict)[:, 9] - logits(verdict)[:, 5]
    np.testing.assert_allclose(d, verdict @ w + b, atol=1e-4)
    lr = LogisticRegression(C=1e6, max_iter=10_000).fit(verdict, labels)
    assert roc_auc_score(labels, d) >= roc_auc_score(labels, lr.decision_function(verdict)) - 0.02
    z = logits(verdict)
    mass = np.exp(np.logaddexp(z[:, 5], z[:, 9]) - np.log(np.exp(z).sum(axis=1)))
    assert mass.min() >= 0.99 - 1e-4
    zc = logits(context)
    assert (zc.argmax(axis=1)[:, None] != ids).all()  # elsewhere the backbone's tokens win


def test_label_rows_round_trip_without_pickles(tmp_path):
    rows = finetune.LabelRows(
        "key", np.array([1, 2]), np.ones((2, 3), np.float32), np.zeros(2, np.float32)
    )
    rows.save(tmp_path / "r.npz")
    back = finetune.LabelRows.load(tmp_path / "r.npz")
    assert back.key == "key"
    np.testing.assert_array_equal(back.weight, rows.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]


def test_crash_mid_extraction_then_rerun_gives_the_same_file(make_config, guards, monkeypatch):
    model = guards[ZERO_SHOT].model
    whole = make_config("whole", scoring={"batch_size": 1})
    calls = counting_forward(monkeypatch, model)
    run_extraction(whole, splits=["validation"])
    assert len(calls) == 5  # the prefix once, then 4 examples one at a time
    monkeypatch.undo()

    crashed = make_config("crashed", scoring={"batch_size": 1})
    counting_forward(monkeypatch, model, fail_after=4)  # dies in the second shard
    with pytest.raises(RuntimeError, match="injected fault"):
        run_extraction(crashed, splits=["validation"])
    monkeypatch.undo()
    path = crashed.layout.scores(ZERO_SHOT, "validation")
    assert not path.exists()
    shards = sorted(p.name for p in crashed.layout.shards(ZERO_SHOT, "validation").iterdir())
    assert shards == ["00000-of-00002.parquet"]

    calls = counting_forward(monkeypatch, model)
    run_extraction(crashed, splits=["validation"])
    assert len(calls) == 3  # resumed: the prefix, then the second shard only
    expected = scores.read_scores(whole, ZERO_SHOT, "validation")
    pd.testing.assert_frame_equal(scores.read_scores(crashed, ZERO_SHOT, "validation"), expected)
    assert scores.read_meta(path) == scores.read_meta(whole.layout.scores(ZERO_SHOT, "validation"))


def test_finished_cache_is_reused_without_loading_a_model(make_config, guards, monkeypatch):
    cfg = make_config()
    run_extraction(cfg, splits=["test", "content_free"])
    example = scores.read_example(cfg, ZERO_SHOT)
    assert example["id"] == "demo-test-0001" and example["input"].startswith("<|im_start|>")
    stamps = {p: p.stat().st_mtime_ns for p in cfg.run_dir.rglob("*") if p.is_file()}

    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("guardcal.extraction.shards.load_guard", no_load)
    run_extraction(cfg, splits=["test", "content_free"])
    assert {p: p.stat().st_mtime_ns for p in cfg.run_dir.rglob("*") if p.is_file()} == stamps


@pytest.mark.parametrize(
    ("change", "overrides"),
    [
        ("model", {"models": [{"name": ZERO_SHOT, "model": "embedded:smollm2-135m-finetuned"}]}),
        ("template", {"prompt": {"taxonomy": "llama_guard_3"}}),
        ("verbalizer", {"prompt": {"verbalizer": {"safe": "safe", "unsafe": "harmful"}}}),
        ("data", {"limit": 3}),
    ],
)
def test_cache_is_recomputed_when_an_input_changes(
    make_config, guards, monkeypatch, change, overrides
):
    before = make_config("run", limit=2)
    run_extraction(before, splits=["test"])
    path = before.layout.scores(ZERO_SHOT, "test")
    old = scores.read_meta(path)
    after = make_config("run", **{"limit": 2, **overrides})
    calls = counting_forward(monkeypatch, guards[ZERO_SHOT].model)
    run_extraction(after, splits=["test"])
    assert calls, f"a changed {change} must recompute"
    new = scores.read_meta(path)
    changed = {key for key in new if new[key] != old[key]}
    expected = {
        "model": {"model", "revision"},
        "template": {"taxonomy", "template_hash"},
        "verbalizer": {"verbalizer"},
        "data": {"dataset_fingerprint"},
    }[change]
    assert changed == expected
    assert scores.example_is_current(after, ZERO_SHOT, new)


def test_cli_shards_across_nodes_assemble_the_same_file(make_config, guards):
    single = make_config("single", limit=5)
    run_extraction(single, splits=["test"])
    nodes = make_config("nodes", limit=5)
    config = nodes.source_file
    assert main(["score", "--config", config, "--split", "test", "--shard", "1/2", "-q"]) == 0
    path = nodes.layout.scores(ZERO_SHOT, "test")
    assert not path.exists()
    assert len(list(nodes.layout.shards(ZERO_SHOT, "test").iterdir())) == 1  # shard 1 of 3
    assert main(["score", "--config", config, "--split", "test", "--shard", "0/2", "-q"]) == 0
    pd.testing.assert_frame_equal(
        scores.read_scores(nodes, ZERO_SHOT, "test"), scores.read_scores(single, ZERO_SHOT, "test")
    )
    assert (
        scores.read_example(nodes, ZERO_SHOT)["answer"]
        == scores.read_example(single, ZERO_SHOT)["answer"]
    )


def test_bad_data_fails_before_any_model_loads(make_config, tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "response": "yo", "is_safe": "maybe"}\n', encoding="utf-8")
    cfg = make_config(dataset={"validation": str(bad), "test": str(bad)})

    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("guardcal.extraction.shards.load_guard", no_load)
    with pytest.raises(DataError, match=r"bad\.jsonl"):
        run_extraction(cfg)
    assert main(["score", "--config", cfg.source_file]) == 2


@pytest.mark.parametrize("name", [FINE_TUNED])  # the fitted head: the backbone and its own rows
def test_sequence_label_score_equals_forced_generation(demo_cfg, guards, sample, name):
    """`label_score: sequence` sums the log-probabilities of every token of each label word
    (SmolLM2's `unsafe` is `uns` + `afe`: one extra cached step), as `generate()` writing that
    word reads them."""
    cfg = dataclasses.replace(
        demo_cfg, prompt=dataclasses.replace(demo_cfg.prompt, label_score="sequence")
    )
    guard = dataclasses.replace(guards[name], spec=guard_spec(cfg, name))  # same weights
    got = score_frame([guard], sample, LastHidden(guard.model, 3))[name]
    words = verbalizer(guard.tokenizer, cfg.prompt.verbalizer).tokens
    assert [len(w) for w in words] == [1, 2]
    expected = []
    with torch.inference_mode():
        for text in render_inputs(guard.spec.prompt, sample):
            ids = guard.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
            start, row = ids.shape[1], []
            for word in words:
                out = guard.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=len(word),
                    prefix_allowed_tokens_fn=lambda _, done, w=word, n=start: [w[len(done) - n]],
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=guard.tokenizer.eos_token_id,
                )
                assert out.sequences[0, start:].tolist() == list(word)
                row.append(
                    sum(
                        float(torch.log_softmax(out.logits[j][0].double(), 0)[t])
                        for j, t in enumerate(word)
                    )
                )
            expected.append(row)
    expected = np.array(expected)
    np.testing.assert_allclose(got[["logit_safe", "logit_unsafe"]], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["label_mass"], np.exp(expected).sum(1), rtol=1e-4)


def test_help_is_quick_and_lists_the_score_command():
    out = subprocess.run(
        [sys.executable, "-m", "guardcal", "score", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--config", "--model", "--split", "--batch-size", "--shard"):
        assert option in out
