"""guardcal's command line: `python -m guardcal score ...` extracts a run's scores (e.g. on
cluster nodes), writing exactly the files the pipeline and the notebooks read."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from guardcal.config import ConfigError, load_config
from guardcal.data import SPLITS, DataError

EPILOG = """examples:
  python -m guardcal score                         # the embedded demo: every model, every split
  python -m guardcal score --config guardcal/configs/beavertails.yaml \\
      --model Llama-Guard-3-8B --split test --batch-size 32
  python -m guardcal score --config my.yaml --shard 0/4   # node 0 of 4 (then 1/4, 2/4, 3/4)

Scores go to reports/<run>/scores/<model>/<split>.parquet. A finished file whose fingerprint
matches is kept as is; an interrupted run resumes from its shards. With --shard I/N a node
computes shards I, I+N, I+2N, ...; whichever node finds all shards present assembles the file.
"""


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` → (I, N): this node computes the shards whose index ≡ I (mod N), I in 0..N-1."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like I/N (e.g. 0/4), got {text!r}") from None
    if not (count >= 1 and 0 <= index < count):
        raise argparse.ArgumentTypeError(f"I/N needs 0 <= I < N, got {text!r}")
    return index, count


def _parser() -> argparse.ArgumentParser:
    """The argument parser: one `score` command for now."""
    parser = argparse.ArgumentParser(
        prog="python -m guardcal",
        description="guardcal: measure and repair the calibration of LLM guardrail models.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score = commands.add_parser(
        "score",
        help="extract label-token logits of guard models into reports/<run>/scores/",
        description="Score guard models on a run's splits: one forward pass per example, the "
        "logits of the two label tokens at the verdict position, and their softmax mass.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument(
        "--config", metavar="CONFIG", help="experiment YAML (default: the shipped embedded demo)"
    )
    score.add_argument(
        "--model",
        metavar="NAME",
        action="append",
        help="a model's name in the config (repeatable; default: all models)",
    )
    score.add_argument(
        "--split",
        choices=SPLITS,
        action="append",
        help="a split to score (repeatable; default: all three)",
    )
    score.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="inputs per forward pass (default: the config's, else 8 on CPU and 16 on GPU)",
    )
    score.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="compute only node I's share of the shards, I in 0..N-1",
    )
    score.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be a positive integer, got {args.batch_size}")
    from guardcal.scoring import run_extraction  # torch and transformers: not for --help

    try:
        cfg = load_config(args.config)
        run_extraction(
            cfg,
            splits=args.split or SPLITS,
            models=args.model,
            batch_size=args.batch_size,
            shard=args.shard,
        )
    except (ConfigError, DataError, KeyError, NotImplementedError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
