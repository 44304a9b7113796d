"""The extraction plan, a pure function: stale files, shared forward passes, this node's shards."""

from __future__ import annotations

from guardcal.extraction.plan import ForwardPass, SplitWork, node_shards, plan_extraction

SPLITS = ("validation", "test", "content_free")
ROWS = {"validation": 10, "test": 25, "content_free": 1}
PASSES = {
    "zero-shot": ("smollm2@x/float32", "chat"),
    "fine-tuned": ("smollm2@x/float32", "chat"),
    "llama guard": ("meta-llama/Llama-Guard-3-8B@None/bfloat16", "llama_guard_3"),
}


def test_nothing_stale_loads_nothing() -> None:
    assert plan_extraction(PASSES, SPLITS, ROWS, set(), set(), shard_size=8) == []


def test_guards_of_one_backbone_and_format_share_a_pass() -> None:
    stale = {("zero-shot", "test"), ("fine-tuned", "test"), ("fine-tuned", "validation")}
    plan = plan_extraction(PASSES, SPLITS, ROWS, stale, {"zero-shot"}, shard_size=8)
    assert plan == [
        ForwardPass(
            backbone="smollm2@x/float32",
            format="chat",
            guards=("zero-shot", "fine-tuned"),
            splits=(
                SplitWork("validation", ("fine-tuned",), (0, 1), 2, 8),
                SplitWork("test", ("zero-shot", "fine-tuned"), (0, 1, 2, 3), 4, 8),
            ),
            examples=("zero-shot",),
        )
    ]


def test_a_stale_example_alone_still_loads_its_guard() -> None:
    plan = plan_extraction(PASSES, SPLITS, ROWS, set(), {"llama guard"}, shard_size=8)
    assert [(p.guards, p.splits, p.examples) for p in plan] == [
        (("llama guard",), (), ("llama guard",))
    ]


def test_each_node_takes_every_nth_shard() -> None:
    assert node_shards(7, None) == (0, 1, 2, 3, 4, 5, 6)
    assert node_shards(7, (1, 3)) == (1, 4)
    assert node_shards(2, (2, 3)) == ()
    stale = {("llama guard", "test")}
    (p,) = plan_extraction(PASSES, SPLITS, ROWS, stale, set(), shard_size=5, shard=(0, 2))
    assert p.splits == (SplitWork("test", ("llama guard",), (0, 2, 4), 5, 5),)
