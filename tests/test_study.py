"""The study, exactly: its policy, its template string and its token ids on the real Llama 3
tokenizer, against the study's own facts (tests/data/llama_guard_3_study.json, a copy of the
facts collected from its code) and an independent rendering (jinja2, then `tokenizer(text)`)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pandas as pd
import pytest

from guardcal.extraction.formats import LLAMA_GUARD_3_TEMPLATE as STUDY_TEMPLATE
from guardcal.extraction.prompts import GuardPrompt, study_template
from guardcal.policies import BEAVERTAILS_CATEGORIES, category_block, policy_file
from guardcal.records import split_fraction

STUDY = json.loads((Path(__file__).parent / "data" / "llama_guard_3_study.json").read_text())
PROMPT = "How can I get my neighbour's wifi password without asking?"
RESPONSE = "You could try common default passwords printed on the router's label."


def independent_ids(tokenizer, template: str, messages: list[dict[str, str]]) -> list[int]:
    """The study's path without guardcal: jinja2 over the template string, `tokenizer(text)`."""

    def fail(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = jinja2.Environment()
    env.globals["raise_exception"] = fail
    return tokenizer(env.from_string(template).render(messages=messages)).input_ids


def test_policy_file_is_the_study_policy():
    """Order, codes, names, descriptions and S-code → dataset-key map, as the study had them."""
    assert policy_file("beavertails")["categories"] == STUDY["categories"]
    assert BEAVERTAILS_CATEGORIES == tuple(c["dataset_key"] for c in STUDY["categories"])
    assert "MIT" in policy_file("beavertails")["provenance"]["license"]


def test_study_template_is_the_study_string():
    assert STUDY_TEMPLATE.read_text(encoding="utf-8") == STUDY["llama_guard_3_chat_template"]
    assert study_template("beavertails_descriptions") == STUDY["study_chat_template"]
    assert study_template("llama_guard_3") == STUDY["llama_guard_3_chat_template"]
    assert category_block("beavertails").startswith(
        "S1: Violence, Aiding and Abetting, Incitement.\nS2: "
    )


def test_study_ids_equal_an_independent_rendering(llama3_tok):
    """Id for id on the real Llama 3 tokenizer: BOS, the leading space, the template's own
    `<|begin_of_text|>`, … then the `\\n\\n` before the verdict (271)."""
    prompt = GuardPrompt("beavertails_descriptions", "llama_guard_3", llama3_tok, "study")
    ids = prompt.encode([prompt.render(PROMPT, RESPONSE)])[0]
    messages = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": RESPONSE}]
    assert ids == [*independent_ids(llama3_tok, STUDY["study_chat_template"], messages), 271]
    assert ids[:4] == [128000, 220, 128000, 128006]


def test_model_ids_are_the_documented_call(tiny_llama3):
    """`model` mode: the checkpoint's own template (its policy substituted) as
    `apply_chat_template(..., tokenize=True)` gives it, then `\\n\\n`."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama3)
    prompt = GuardPrompt("llama_guard_3", "llama_guard_3", tok, "model")
    ids = prompt.encode([prompt.render(PROMPT, RESPONSE)])[0]
    messages = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": RESPONSE}]
    documented = tok.apply_chat_template(messages, tokenize=True)["input_ids"]
    assert ids == [*documented, 271]
    assert ids[:3] == [220, 128000, 128006]
    beavertails = GuardPrompt("beavertails_descriptions", "llama_guard_3", tok, "model")
    text = beavertails.render(PROMPT, RESPONSE)
    assert text == GuardPrompt("beavertails_descriptions", "llama_guard_3", tok, "study").render(
        PROMPT, RESPONSE
    )  # same template string; the modes differ in the tokenizer's BOS only
    with_bos = tok(text).input_ids
    assert with_bos[0] == 128000 and beavertails.encode([text])[0] == with_bos[1:]


def test_modes_are_in_the_template_hash(llama3_tok):
    study = GuardPrompt("beavertails_descriptions", "llama_guard_3", llama3_tok, "study")
    model = GuardPrompt("beavertails_descriptions", "llama_guard_3", llama3_tok, "model")
    assert study.template_hash() != model.template_hash()


@pytest.mark.parametrize(("fraction", "seed"), [(0.1, 42), (0.3, 7)])
def test_validation_split_is_the_library_split(tmp_path, fraction, seed):
    """guardcal selects exactly `train_test_split(test_size, seed)["test"]` of a local dataset
    folder, in that order."""
    import datasets

    frame = pd.DataFrame({"id": [f"r{i}" for i in range(57)], "x": range(57)})
    datasets.Dataset.from_pandas(frame).save_to_disk(tmp_path / "local")
    local = datasets.load_from_disk(tmp_path / "local")
    expected = local.train_test_split(test_size=fraction, seed=seed)["test"]["id"]
    chosen, rest = split_fraction(local.to_pandas(), fraction, seed)
    assert chosen["id"].tolist() == list(expected)
    assert sorted(chosen["id"].tolist() + rest["id"].tolist()) == sorted(frame["id"])
