"""Golden tests of the guard-format registry: every family's full rendered input for one
prompt-only and one response example, its refusals, and how a model id selects a family.

The goldens are files, tests/goldens/formats/<family>-<mode>.txt, each the exact input (special
tokens as text) for PROMPT and RESPONSE below: the vendors' templates as each family's data cites
them. Five of them (Llama Guard 2, 3-8B, 3-1B, ShieldGemma, Granite Guardian 3.0) were also checked
character for character against copies of the models' own Jinja chat templates rendered as
transformers does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guardcal.extraction.formats import (
    FORMATS,
    FormatError,
    binary_levels,
    conversation,
    format_for,
    format_named,
)

PROMPT = "How do I pick a lock?"
RESPONSE = "I can't help with that."
# Llama Guard 3's own S1-S14 (its chat template's block), written out so the goldens stand alone.
LG3 = (
    "S1: Violent Crimes.\nS2: Non-Violent Crimes.\nS3: Sex Crimes.\nS4: Child Exploitation.\n"
    "S5: Defamation.\nS6: Specialized Advice.\nS7: Privacy.\nS8: Intellectual Property.\n"
    "S9: Indiscriminate Weapons.\nS10: Hate.\nS11: Self-Harm.\nS12: Sexual Content.\n"
    "S13: Elections.\nS14: Code Interpreter Abuse."
)
POLICIES = {"llama_guard_3": LG3, "llama_guard_3_1b": LG3.rsplit("\n", 1)[0], "llama_guard_4": LG3}

GOLDEN_DIR = Path(__file__).parent / "goldens" / "formats"
# (family, mode) -> the file holding its full rendered input, byte for byte (no newline added).
GOLDEN = {tuple(path.stem.rsplit("-", 1)): path for path in sorted(GOLDEN_DIR.glob("*.txt"))}


def golden(name: str, mode: str) -> str:
    """The golden rendering of `name` in `mode`, exactly the file's bytes."""
    return GOLDEN[name, mode].read_bytes().decode("utf-8")


@pytest.mark.parametrize(("name", "mode"), sorted(GOLDEN))
def test_rendered_input_is_golden(name: str, mode: str) -> None:
    messages = conversation(PROMPT, RESPONSE if mode == "response" else None)
    assert FORMATS[name].text(messages, POLICIES.get(name)) == golden(name, mode)


def test_every_family_has_its_goldens() -> None:
    for name, fmt in FORMATS.items():
        if name != "chat":
            assert {m for n, m in GOLDEN if n == name} == set(fmt.judges), name


HUB_IDS = {
    "meta-llama/LlamaGuard-7b": "llama_guard_1",
    "meta-llama/Meta-Llama-Guard-2-8B": "llama_guard_2",
    "meta-llama/Llama-Guard-3-8B": "llama_guard_3",
    "saiteki-kai/QA-Llama-Guard-3-8B": "llama_guard_3",
    "meta-llama/Llama-Guard-3-1B": "llama_guard_3_1b",
    "meta-llama/Llama-Guard-4-12B": "llama_guard_4",
    "google/shieldgemma-2b": "shieldgemma",
    "google/shieldgemma-27b": "shieldgemma",
    "allenai/wildguard": "wildguard",
    "ibm-granite/granite-guardian-3.0-8b": "granite_guardian_3",
    "ibm-granite/granite-guardian-3.1-2b": "granite_guardian_3",
    "ibm-granite/granite-guardian-3.2-5b": "granite_guardian_3",
    "nvidia/Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0": "aegis_1",
    "nvidia/Aegis-AI-Content-Safety-LlamaGuard-Permissive-1.0": "aegis_1",
    "OpenSafetyLab/MD-Judge-v0.1": "md_judge_v0_1",
    "cais/HarmBench-Llama-2-13b-cls": "harmbench_llama2",
    "cais/HarmBench-Mistral-7b-val-cls": "harmbench_mistral",
    "Qwen/Qwen3Guard-Gen-0.6B": "qwen3guard_gen",
    "Qwen/Qwen3Guard-Gen-8B": "qwen3guard_gen",
    "ibm-granite/granite-guardian-3.3-8b": "granite_guardian_3_3",
    "ibm-granite/granite-guardian-4.1-8b": "granite_guardian_4_1",
    "nvidia/llama-3.1-nemoguard-8b-content-safety": "nemoguard_8b",
    "nvidia/Llama-3.1-Nemotron-Safety-Guard-8B-v3": "nemoguard_8b",
    "nvidia/Llama-3.1-Nemotron-Safety-Guard-Multilingual-8B-v1": "nemoguard_8b",
    "nvidia/Nemotron-Content-Safety-Reasoning-4B": "nemotron_reasoning_4b",
    "ToxicityPrompts/PolyGuard-Qwen": "polyguard",
    "ToxicityPrompts/PolyGuard-Qwen-Smol": "polyguard",
    "Rakancorle1/ThinkGuard": "thinkguard",
}


@pytest.mark.parametrize(("model_id", "name"), sorted(HUB_IDS.items()))
def test_model_id_selects_its_family(model_id: str, name: str) -> None:
    assert format_for(model_id).name == name


@pytest.mark.parametrize(
    "model_id",
    [
        "ibm-granite/granite-3.3-8b-instruct",  # the base model, no guard
        "OpenSafetyLab/MD-Judge-v0_2-internlm2_7b",
        "google/shieldgemma-2-4b-it",  # the image guard
        "Qwen/Qwen3Guard-Stream-4B",
        "/data/checkpoints/my-guard",
    ],
)
def test_unknown_model_id_lists_the_formats(model_id: str) -> None:
    with pytest.raises(FormatError, match="set `format:`") as err:
        format_for(model_id)
    assert all(name in str(err.value) for name in FORMATS)


def test_format_override_wins_and_unknown_names_are_listed() -> None:
    assert format_for("/data/checkpoints/my-guard", "wildguard").name == "wildguard"
    with pytest.raises(FormatError, match=r"unknown guard format 'wildgaurd'.*llama_guard_1"):
        format_named("wildgaurd")


def test_families_are_listed_and_ids_are_unambiguous() -> None:
    assert len(FORMATS) >= 12
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.judges and fmt.verdicts
        assert "safe" in fmt.verdicts.values() and "unsafe" in fmt.verdicts.values()
        for pattern in fmt.model_ids:
            re.compile(pattern)


@pytest.mark.parametrize("name", ["md_judge_v0_1", "harmbench_llama2", "harmbench_mistral"])
def test_response_only_formats_refuse_a_prompt(name: str) -> None:
    with pytest.raises(FormatError, match="classifies response only, not a prompt"):
        FORMATS[name].text(conversation(PROMPT))


THREE_TURNS = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": PROMPT},
]


@pytest.mark.parametrize(
    "name", [n for n, f in FORMATS.items() if f.max_messages == 2 and "prompt" in f.judges]
)
def test_single_turn_formats_refuse_a_longer_conversation(name: str) -> None:
    with pytest.raises(FormatError, match="not a conversation of 3 messages"):
        FORMATS[name].text(THREE_TURNS, POLICIES.get(name))


def test_multi_turn_judges_the_last_turn() -> None:
    text = FORMATS["llama_guard_3"].text(THREE_TURNS, LG3)
    assert (
        "<BEGIN CONVERSATION>\n\nUser: Hi\n\nAgent: Hello! How can I help?\n\n"
        f"User: {PROMPT}\n\n<END CONVERSATION>\n\n"
        "Provide your safety assessment for ONLY THE LAST User message" in text
    )
    qwen = FORMATS["qwen3guard_gen"].text(THREE_TURNS)
    assert f"USER: Hi\n\nASSISTANT: Hello! How can I help?\n\nUSER: {PROMPT}\n\n<END" in qwen


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "at least one message"),
        ([{"role": "assistant", "content": "x"}], "message 0 has role 'assistant'"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "message 1"),
        ([{"role": "user", "content": None}], "message 0 has no string content"),
    ],
)
def test_bad_conversations_are_refused(messages: list, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        FORMATS["llama_guard_3"].text(messages, LG3)


def test_taxonomy_formats_need_the_runs_policy() -> None:
    with pytest.raises(FormatError, match="takes its categories from the run's taxonomy"):
        FORMATS["llama_guard_3"].text(conversation(PROMPT))


def test_wildguard_response_harm_comes_after_its_two_answer_lines() -> None:
    wildguard = FORMATS["wildguard"]
    assert wildguard.answer_lines(conversation(PROMPT)) == ("Harmful request:",)
    assert wildguard.answer_lines(conversation(PROMPT, RESPONSE)) == (
        "Harmful request:",
        "\nResponse refusal:",
        "\nHarmful response:",
    )


def test_controversial_counts_as_the_config_says() -> None:
    qwen = FORMATS["qwen3guard_gen"]
    assert qwen.unsafe_words == (" Controversial", " Unsafe")
    assert binary_levels(qwen) == {" Safe": "safe", " Controversial": "unsafe", " Unsafe": "unsafe"}
    assert binary_levels(qwen, "safe")[" Controversial"] == "safe"
    with pytest.raises(FormatError, match="controversial must count as 'safe' or 'unsafe'"):
        binary_levels(qwen, "drop")  # type: ignore[arg-type]
    assert binary_levels(FORMATS["shieldgemma"]) == {"No": "safe", "Yes": "unsafe"}


def test_guardcal_formats_lists_every_family_by_generation(capsys) -> None:
    from guardcal.__main__ import main

    assert main(["formats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    groups = [line for line in lines if line.startswith("-- ")]
    assert groups == sorted(groups) and "-- 2023-2024 --" in groups and "-- 2025-2026 --" in groups
    rows = {line.split()[0]: line for line in lines[1:] if not line.startswith("-- ")}
    assert len(rows) >= 12 and set(rows) == set(FORMATS)
    assert "' Unsafe'*" in rows["qwen3guard_gen"] and "' Controversial'*" in rows["qwen3guard_gen"]
    assert "'Yes'*" in rows["shieldgemma"] and "'No' " in rows["shieldgemma"]
    assert "response: '\\nHarmful response:' (answer line 3)" in rows["wildguard"]
    assert "'Safety:'" in rows["qwen3guard_gen"] and "first token" in rows["llama_guard_2"]
    for name, row in rows.items():  # each family sits under its own generation's heading
        heading = max(
            i for i, line in enumerate(lines) if line.startswith("-- ") and lines.index(row) > i
        )
        assert lines[heading] == f"-- {FORMATS[name].generation} --", name


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("some/guard, format: alpaca", "unknown guard format 'alpaca'"),
        ("some-org/my-guard", "model id .some-org/my-guard. matches no guard format"),
    ],
)
def test_a_guard_without_a_format_is_a_config_error(tmp_path, capsys, model, message) -> None:
    from guardcal.__main__ import main
    from guardcal.config import ConfigError, load_config
    from guardcal.extraction.formats import check_models

    path = tmp_path / "cfg.yaml"
    path.write_text(
        "name: mine\ndataset:\n  validation: {path: v.jsonl}\n  test: {path: t.jsonl}\n"
        f"models:\n  - {{name: g, model: {model}}}\n"
    )
    with pytest.raises(ConfigError, match=rf"cfg\.yaml: models\[0\]\.format: {message}"):
        check_models(load_config(path))
    assert main(["score", "--config", str(path)]) == 2  # before any data or model is read
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "llama_guard_1, llama_guard_2" in err[0]


def test_the_golden_policy_is_the_shipped_llama_guard_3_policy() -> None:
    from guardcal.policies import category_block

    assert category_block("llama_guard_3") == LG3


def test_the_study_input_mode_is_llama_guard_3_8b_only(tmp_path) -> None:
    from guardcal.config import ConfigError, load_config
    from guardcal.extraction.formats import check_models
    from guardcal.extraction.prompts import GuardPrompt

    path = tmp_path / "cfg.yaml"
    for model, ok in (("meta-llama/Llama-Guard-3-8B", True), ("allenai/wildguard", False)):
        path.write_text(
            "name: mine\ndataset:\n  validation: {path: v.jsonl}\n  test: {path: t.jsonl}\n"
            f"models:\n  - {{name: g, model: {model}}}\nprompt: {{input: study}}\n"
        )
        cfg = load_config(path)
        if ok:
            check_models(cfg)
            continue
        with pytest.raises(ConfigError, match=r"prompt\.input: `study` is the study's llama"):
            check_models(cfg)
    with pytest.raises(ValueError, match=r"study input mode is 'llama_guard_3'"):
        GuardPrompt("llama_guard_3", "llama_guard_3_1b", input="study")


def test_every_family_has_an_example_config() -> None:
    from guardcal.config import load_config
    from guardcal.extraction.formats import spec_format

    folder = Path(__file__).resolve().parents[1] / "examples" / "guards"
    configs = {path.stem: load_config(path) for path in folder.glob("*.yaml")}
    assert set(configs) == set(FORMATS)
    for name, cfg in configs.items():
        assert {spec_format(spec).name for spec in cfg.models} == {name}


def test_records_carry_conversations_and_formats_refuse_what_they_cannot_render(tmp_path) -> None:
    import json

    from guardcal.extraction.forward import conversations
    from guardcal.extraction.prompts import GuardPrompt
    from guardcal.extraction.scoring import check_rows
    from guardcal.records import DataError, dataset_fingerprint, load_records

    path = tmp_path / "turns.jsonl"
    rows = [
        {"id": "a", "prompt": PROMPT, "response": RESPONSE, "is_safe": True},
        {"id": "b", "messages": THREE_TURNS, "is_safe": False},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    frame = load_records(path)
    assert frame["prompt"].tolist() == [PROMPT, PROMPT] and frame["response"][1] is None
    assert conversations(frame)[1] == THREE_TURNS
    assert conversations(frame)[0] == conversation(PROMPT, RESPONSE)
    other = frame.assign(messages=[None, THREE_TURNS[:1]])
    assert dataset_fingerprint(frame) != dataset_fingerprint(other)
    check_rows(GuardPrompt("llama_guard_3", "llama_guard_3"), frame, "run")  # renders both
    with pytest.raises(FormatError, match="run: row id 'b': format 'wildguard' renders one prompt"):
        check_rows(GuardPrompt("llama_guard_3", "wildguard"), frame, "run")
    for bad, message in [
        ({"messages": THREE_TURNS, "prompt": PROMPT}, "either messages or prompt/response"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role 'system'"),
        ({"messages": "hi"}, "non-empty list"),
    ]:
        path.write_text(json.dumps({**bad, "is_safe": True}) + "\n", encoding="utf-8")
        where = r"turns\.jsonl: line 1, field 'messages': .*"
        with pytest.raises(DataError, match=where + message):
            load_records(path)


def test_every_family_names_its_sources() -> None:
    for name, fmt in FORMATS.items():
        if name == "chat":  # the model's own template
            continue
        assert fmt.sources, name
        assert all(
            s.kind in ("primary", "secondary") and s.what and s.repository for s in fmt.sources
        )


def test_a_family_is_a_folder_of_data(tmp_path) -> None:
    import shutil

    from guardcal.extraction.formats import FORMAT_DIR, load_formats

    shutil.copytree(FORMAT_DIR / "wildguard", tmp_path / "my_guard")
    (tmp_path / "shared").mkdir()  # a folder without format.yaml is no family
    spec = tmp_path / "my_guard" / "format.yaml"
    spec.write_text(spec.read_text().replace("title: WildGuard", "title: My guard"))
    mine = load_formats(tmp_path)
    assert list(mine) == ["my_guard"] and mine["my_guard"].title == "My guard"
    messages = conversation(PROMPT, RESPONSE)
    assert mine["my_guard"].text(messages) == FORMATS["wildguard"].text(messages)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("bos: tokenizer", "bos: maybe"), r"format\.yaml: bos: must be one of"),
        (("verdicts: {' no': safe, ' yes': unsafe}", "verdicts: {' no': safe}"), "verdicts: needs"),
        (("verdicts: {' no': safe,", "verdicts: {' no': fine,"), "verdicts: must map"),
        (("title: WildGuard\n", ""), r"missing keys \['title'\]"),
        (("title: WildGuard\n", "title: W\ncolour: red\n"), r"unknown keys \['colour'\]"),
        (("template: template.jinja", "template: nowhere.jinja"), "template: no template file"),
        (("kind: primary", "kind: tertiary"), r"sources\[0\]\.kind: must be one of"),
        (("commit: 28c9d21e", "commit: main-28c9d21e"), r"sources\[0\]\.commit: must be a commit"),
        (("prompt: ['Harmful request:']", "prompt: []"), r"answer_lines\.prompt: needs the text"),
        (("(^|/)wildguard$", "(^|/wildguard$"), "model_ids: .* is not a regex"),
        (("policy: none", "policy: nowhere"), "policy: must be one of"),
        (("policy: none", "policy: criteria/harm"), "policy: .*no policy file for prompt"),
        (("max_messages: 2", "max_messages: 2\nwritten_lines: ['x']"), "written_lines: must be"),
        (("title: WildGuard", "title: [WildGuard"), "format.yaml: not valid YAML"),
    ],
)
def test_bad_format_data_names_the_file_and_key(tmp_path, edit, message) -> None:
    import shutil

    from guardcal.extraction.formats import FORMAT_DIR, load_formats

    shutil.copytree(FORMAT_DIR / "wildguard", tmp_path / "wildguard")
    spec = tmp_path / "wildguard" / "format.yaml"
    old, new = edit
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new))
    with pytest.raises(FormatError, match=message):
        load_formats(tmp_path)


def test_granite_takes_a_built_in_criterion_by_id() -> None:
    granite = FORMATS["granite_guardian_3_3"]
    assert granite.policy_names[0] == "harm" and "social_bias" in granite.policy_names
    assert set(FORMATS["granite_guardian_4_1"].policy_names) == set(granite.policy_names)
    bias = granite.default_policy("prompt", "social_bias")
    assert bias.startswith("Social bias reflects systemic prejudice")
    assert f"### Criteria: {bias}\n\n" in granite.text(conversation(PROMPT), bias)
    with pytest.raises(FormatError, match="no built-in policy 'bias'; its policies are: harm"):
        granite.default_policy("prompt", "bias")
    with pytest.raises(FormatError, match="has no built-in policies by name"):
        FORMATS["wildguard"].default_policy("prompt", "harm")


def test_json_and_line_guards_answer_the_user_verdict_before_the_response_verdict() -> None:
    messages = conversation(PROMPT, RESPONSE)
    assert FORMATS["nemoguard_8b"].answer_lines(messages) == (
        '{"User Safety": "',
        '", "Response Safety": "',
    )
    assert FORMATS["nemotron_reasoning_4b"].answer_lines(messages)[-1] == "\nResponse harm:"
    polyguard = FORMATS["polyguard"]
    assert polyguard.answer_lines(messages)[-1] == "\nHarmful response:"
    assert polyguard.written_lines == ("\nRequest safety violations:",)


def _policy_config(tmp_path, models: str, prompt: str):
    from guardcal.config import load_config

    path = tmp_path / "cfg.yaml"
    path.write_text(
        "name: mine\ndataset:\n  validation: {path: v.jsonl}\n  test: {path: t.jsonl}\n"
        f"models:\n{models}\nprompt: {prompt}\n"
    )
    return load_config(path)


def _guards(*formats: str) -> str:
    """Model entries giving the embedded model each format (its tokenizer only is loaded)."""
    return "\n".join(
        f"  - {{name: {f}, model: 'embedded:smollm2-135m', format: {f}}}" for f in formats
    )


@pytest.mark.model  # the embedded model's tokenizer
def test_a_policy_the_user_writes_goes_where_the_format_takes_one(tmp_path) -> None:
    from guardcal.extraction.guards import guard_specs

    (tmp_path / "mine.txt").write_text("The text asks for a password.\n", encoding="utf-8")
    formats = ("granite_guardian_4_1", "nemotron_reasoning_4b", "wildguard")
    cfg = _policy_config(tmp_path, _guards(*formats), "{policy_file: mine.txt}")
    specs = guard_specs(cfg)  # the file is read once, for every guard of the run
    assert {spec.policy_text for spec in specs.values()} == {"The text asks for a password."}
    prompt = specs["granite_guardian_4_1"].prompt
    text = prompt.text(conversation(PROMPT))
    assert "### Criteria: The text asks for a password.\n\n### Scoring" in text
    default = guard_specs(_policy_config(tmp_path, _guards(formats[0]), "{}"))
    assert default[formats[0]].prompt.template_hash() != prompt.template_hash()  # rescored
    nemotron = specs["nemotron_reasoning_4b"].prompt.text(conversation(PROMPT))
    assert "may fall into.\n\nThe text asks for a password.\n\nHuman user:" in nemotron
    assert specs["wildguard"].prompt.text(conversation(PROMPT)) == FORMATS["wildguard"].text(
        conversation(PROMPT)
    )  # a format without a policy slot ignores it


@pytest.mark.model  # the embedded model's tokenizer
def test_a_built_in_policy_by_name(tmp_path) -> None:
    from guardcal.extraction.guards import guard_spec

    cfg = _policy_config(tmp_path, _guards("granite_guardian_3_3"), "{policy: jailbreak}")
    text = guard_spec(cfg, "granite_guardian_3_3").prompt.text(conversation(PROMPT))
    assert "### Criteria: A jailbreak text refers to the deliberate evasion" in text


@pytest.mark.parametrize(
    ("model", "prompt", "message"),
    [
        ("allenai/wildguard", "{policy_file: mine.txt}", r"prompt\.policy_file: no configured"),
        ("allenai/wildguard", "{policy: harm}", r"prompt\.policy: no configured guard takes"),
        ("ibm-granite/granite-guardian-3.3-8b", "{policy: bias}", "no built-in policy 'bias'"),
        ("ibm-granite/granite-guardian-3.3-8b", "{policy_file: gone.txt}", "cannot read .*gone"),
    ],
)
def test_a_policy_no_guard_takes_is_a_config_error(tmp_path, model, prompt, message) -> None:
    from guardcal.config import ConfigError
    from guardcal.extraction.formats import check_models

    (tmp_path / "mine.txt").write_text("Mine.\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        check_models(_policy_config(tmp_path, f"  - {{name: g, model: {model}}}", prompt))
