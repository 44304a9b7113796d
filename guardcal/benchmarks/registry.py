"""The named public benchmarks: one entry each — where it lives, the modes it serves, the
conventions its evaluators differ on (the first is the default), its licence and source. Hub
ids, splits and licences are the datasets' own cards and repositories; the loaders quote the
evaluating code's lines (Liu et al.'s eval.py, GuardBench's loaders)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from guardcal.benchmarks import (
    aegis,
    harmbench,
    jailbreakbench,
    openai_moderation,
    pku_alignment,
    simple_safety_tests,
    toxic_chat,
    wildguardmix,
    xstest,
)
from guardcal.benchmarks.rows import Hub, Sources
from guardcal.benchmarks.schema import Example

MODES = ("prompt", "response")
"""Prompt classification (is the user's request unsafe?) or response classification (is the
model's answer unsafe?)."""

AI2_GATE = (
    "it is gated: accept AI2's Responsible Use terms on the dataset's hub page, then log in "
    "(`hf auth login`) or set HF_TOKEN"
)

Loader = Callable[[Sources, str, str], Iterable[Example]]
"""(sources, mode, convention) → the benchmark's examples in file order."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: how to load it and what a user must know to cite and compare it."""

    name: str
    title: str
    load: Loader
    modes: tuple[str, ...]
    conventions: dict[str, str]
    """Convention → what it does and who uses it; the first is the default."""
    files: str
    """The original file(s) `path:` takes, and where they are published."""
    licence: str
    source: str
    hub: dict[str, Hub] = field(default_factory=dict)
    """The hub copy per mode; empty where there is no official one (then `path:` or `hf:`)."""
    second_files: tuple[str, ...] = ()
    """Entry keys for a second file (`behaviors`, `benign`)."""

    @property
    def default_convention(self) -> str:
        return next(iter(self.conventions))


def _same_hub(hub: Hub, modes: tuple[str, ...]) -> dict[str, Hub]:
    return dict.fromkeys(modes, hub)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            name="openai_moderation",
            title="OpenAI Moderation",
            load=openai_moderation.load,
            modes=("prompt",),
            conventions={
                "liu": "unsafe iff any of the 8 keys is 1; absent keys count 0 (also GuardBench)"
            },
            files="samples-1680.jsonl.gz (GitHub openai/moderation-api-release, data/)",
            licence="MIT",
            source="Markov et al. 2023; GitHub openai/moderation-api-release @ f4ab51b",
            hub=_same_hub(
                Hub("mmathys/openai-moderation-api-evaluation", None, "train"), ("prompt",)
            ),
        ),
        Benchmark(
            name="toxic_chat",
            title="ToxicChat",
            load=toxic_chat.load,
            modes=("prompt",),
            conventions={
                "liu": "only rows with human_annotation == True",
                "guardbench": "every test row",
            },
            files="the toxicchat0124 test file of the hub dataset lmsys/toxic-chat (CSV)",
            licence="CC-BY-NC-4.0",
            source="Lin et al. 2023; hub lmsys/toxic-chat",
            hub=_same_hub(Hub("lmsys/toxic-chat", "toxicchat0124", "test"), ("prompt",)),
        ),
        Benchmark(
            name="aegis_1",
            title="Aegis 1.0",
            load=aegis.load_1,
            modes=("prompt",),
            conventions={
                "liu": "user messages; unsafe iff fewer than 2 of labels_0..2 are 'Safe'",
                "unanimous": "user messages; unsafe iff none of labels_0..2 is 'Safe'",
            },
            files="the test file of the hub dataset nvidia/Aegis-AI-Content-Safety-Dataset-1.0",
            licence="CC-BY-4.0",
            source="Ghosh et al. 2024; hub nvidia/Aegis-AI-Content-Safety-Dataset-1.0",
            hub=_same_hub(
                Hub("nvidia/Aegis-AI-Content-Safety-Dataset-1.0", None, "test"), ("prompt",)
            ),
        ),
        Benchmark(
            name="aegis_2",
            title="Aegis 2.0",
            load=aegis.load_2,
            modes=("prompt", "response"),
            conventions={
                "all": "every label source (human, LLM jury, refusal augmentation)",
                "human": "only human-labelled rows",
            },
            files="the test file of the hub dataset nvidia/Aegis-AI-Content-Safety-Dataset-2.0",
            licence="CC-BY-4.0",
            source="Ghosh et al. 2025; hub nvidia/Aegis-AI-Content-Safety-Dataset-2.0",
            hub=_same_hub(Hub("nvidia/Aegis-AI-Content-Safety-Dataset-2.0", None, "test"), MODES),
        ),
        Benchmark(
            name="simple_safety_tests",
            title="SimpleSafetyTests",
            load=simple_safety_tests.load,
            modes=("prompt",),
            conventions={"liu": "every prompt unsafe"},
            files="sst_test_cases.csv (hub dataset Bertievidgen/SimpleSafetyTests)",
            licence="CC-BY-2.0 on the hub (earlier Apache-2.0)",
            source="Vidgen et al. 2023; hub Bertievidgen/SimpleSafetyTests",
            hub=_same_hub(Hub("Bertievidgen/SimpleSafetyTests", None, "test"), ("prompt",)),
        ),
        Benchmark(
            name="xstest",
            title="XSTest",
            load=xstest.load_prompts,
            modes=("prompt",),
            conventions={"liu": "unsafe iff 'contrast' is in the type (also GuardBench)"},
            files="xstest_prompts.csv or xstest_v2_prompts.csv "
            "(GitHub paul-rottger/exaggerated-safety)",
            licence="CC-BY-4.0",
            source="Röttger et al. 2024; GitHub paul-rottger/exaggerated-safety @ d7bb5bd; "
            "hub copy natolambert/xstest-v2-copy (secondary)",
            hub=_same_hub(Hub("natolambert/xstest-v2-copy", None, "prompts"), ("prompt",)),
        ),
        Benchmark(
            name="xstest_response",
            title="XSTest-Response",
            load=xstest.load_responses,
            modes=("response",),
            conventions={"standard": "unsafe iff label == 'harmful'"},
            files="the response_harmfulness file of the hub dataset allenai/xstest-response",
            licence="see the hub page (prompts CC-BY-4.0)",
            source="Han et al. 2024; hub allenai/xstest-response",
            hub=_same_hub(
                Hub("allenai/xstest-response", None, "response_harmfulness", AI2_GATE),
                ("response",),
            ),
        ),
        Benchmark(
            name="harmbench_prompts",
            title="HarmBench Prompt",
            load=harmbench.load_prompts,
            modes=("prompt",),
            conventions={
                "liu": "standard and copyright behaviours",
                "guardbench": "every behaviour, contextual ones with their context",
            },
            files="harmbench_behaviors_text_test.csv (GitHub centerforaisafety/HarmBench, "
            "data/behavior_datasets/)",
            licence="MIT",
            source="Mazeika et al. 2024; GitHub centerforaisafety/HarmBench",
        ),
        Benchmark(
            name="harmbench_classifier",
            title="HarmBench Response",
            load=harmbench.load_classifier,
            modes=("response", "prompt"),
            conventions={
                "liu": "prompt = the behaviour's text; records of behaviours not in "
                "`behaviors` skipped",
                "liu_adv": "prompt = the attack's test_case; every record",
            },
            files="text_behaviors_val_set.json (GitHub centerforaisafety/HarmBench, "
            "data/classifier_val_sets/) with behaviors: harmbench_behaviors_text_all.csv",
            licence="MIT",
            source="Mazeika et al. 2024; GitHub centerforaisafety/HarmBench",
            second_files=("behaviors",),
        ),
        Benchmark(
            name="wildguardmix",
            title="WildGuardMix Test",
            load=wildguardmix.load,
            modes=("prompt", "response"),
            conventions={
                "liu": "a null label counts safe",
                "drop": "rows with a null label dropped",
            },
            files="the wildguardtest file of the hub dataset allenai/wildguardmix (parquet)",
            licence="ODC-BY",
            source="Han et al. 2024; hub allenai/wildguardmix",
            hub=_same_hub(Hub("allenai/wildguardmix", "wildguardtest", "test", AI2_GATE), MODES),
        ),
        Benchmark(
            name="beavertails",
            title="BeaverTails",
            load=pku_alignment.load_beavertails,
            modes=("response",),
            conventions={
                "liu": "the first 2,000 rows of 330k_test",
                "all": "every row",
                "guardbench": "one row per (prompt, response), safe iff ≥ half say safe",
            },
            files="the 330k_test file of the hub dataset PKU-Alignment/BeaverTails (JSONL.gz)",
            licence="CC-BY-NC-4.0",
            source="Ji et al. 2023; hub PKU-Alignment/BeaverTails",
            hub=_same_hub(Hub("PKU-Alignment/BeaverTails", None, "330k_test"), ("response",)),
        ),
        Benchmark(
            name="pku_saferlhf",
            title="PKU-SafeRLHF",
            load=pku_alignment.load_saferlhf,
            modes=("response",),
            conventions={
                "liu": "pairs whose responses disagree on safety, the first 1,000",
                "all": "both responses of every pair",
            },
            files="the test file of the hub dataset PKU-Alignment/PKU-SafeRLHF",
            licence="CC-BY-NC-4.0",
            source="Ji et al. 2024; hub PKU-Alignment/PKU-SafeRLHF (default config)",
            hub=_same_hub(Hub("PKU-Alignment/PKU-SafeRLHF", None, "test"), ("response",)),
        ),
        Benchmark(
            name="jailbreakbench",
            title="JailbreakBench",
            load=jailbreakbench.load,
            modes=("prompt", "response"),
            conventions={
                "jailbreak": "response mode: the guard sees the attack prompt",
                "goal": "response mode: the guard sees the plain goal",
            },
            files="prompt: harmful-behaviors.csv, benign: benign-behaviors.csv; response: "
            "judge-comparison.csv (hub dataset JailbreakBench/JBB-Behaviors, data/)",
            licence="MIT",
            source="Chao et al. 2024; hub JailbreakBench/JBB-Behaviors",
            hub={
                "prompt": Hub("JailbreakBench/JBB-Behaviors", "behaviors", "harmful"),
                "response": Hub("JailbreakBench/JBB-Behaviors", "judge_comparison", "test"),
            },
            second_files=("benign",),
        ),
    )
}
"""Every benchmark by name; adding one is a loader and one entry here."""
