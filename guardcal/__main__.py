"""guardcal's one command line: `guardcal score | report | bundle | render | formats | benchmarks |
predict | datasheet`
and the maintainers' `guardcal assets | rows`.

Heavy imports (torch, transformers, papermill) happen inside the commands that need them, after
the config and data have been validated, so `--help` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guardcal.atomic import unwritable, write_text
from guardcal.calibration.defaults import PRIORS
from guardcal.calibration.methods import method_names
from guardcal.config import (
    RAY_LOCAL,
    SPLITS,
    Config,
    InputError,
    check_reachable,
    check_run_folder,
    load_config,
    with_overrides,
)
from guardcal.extraction.formats import FormatError, check_models
from guardcal.locks import RunBusy

if TYPE_CHECKING:
    import pandas as pd

SCORE_EPILOG = """examples:
  guardcal score                         # the embedded demo: every model, every split
  guardcal score --config guardcal/configs/beavertails.yaml \\
      --model Llama-Guard-3-8B --split test --batch-size 32
  guardcal score --config my.yaml --shard 0/4   # node 0 of 4 (then 1/4, 2/4, 3/4)
  guardcal score --ray                   # shards on Ray workers on this machine
  guardcal score --config my.yaml --ray auto    # ... on the cluster `ray start` made

Scores go to reports/<run>/scores/<model>/<split>.parquet. A finished file whose fingerprint
matches is kept as is; an interrupted run resumes from its shards. With --shard I/N a node
computes shards I, I+N, I+2N, ...; whichever node finds all shards present assembles the file.
With --ray (or the config's scoring.ray) Ray workers score the missing shards, one per GPU or
per scoring.ray_cpus CPUs, writing the same files (pip install 'guardcal[ray]').
"""


class UsageError(Exception):
    """A command-line value that is valid syntax but names nothing (an index past the split)."""


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` → (I, N): this node computes the shards whose index ≡ I (mod N), I in 0..N-1."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like I/N (e.g. 0/4), got {text!r}") from None
    if not (count >= 1 and 0 <= index < count):
        raise argparse.ArgumentTypeError(f"I/N needs 0 <= I < N, got {text!r}")
    return index, count


def positive_int(text: str) -> int:
    """A positive integer argument."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="CONFIG", help="experiment YAML (default: the shipped embedded demo)"
    )


def _load_checked(
    args: argparse.Namespace, splits: Sequence[str] | None = None, models: Sequence[str] = ()
) -> tuple[Config, dict[str, pd.DataFrame]]:
    """The step every command that reads a config starts with: the YAML read and validated, the
    command line's overrides (--run-name, --limit, --reports-dir) applied and checked like the
    file, every guard's format, each named model and a suite's benchmark entries checked, then
    each split's rows (default: every split of the run, a suite's benchmarks included) loaded and
    checked (a DataError names file, row and field) — all before torch, transformers or
    papermill load. Returns the config and the splits' rows."""
    from guardcal.benchmarks.suite import check_suite, load_split  # pandas: after the config
    from guardcal.records import check_validation

    cfg = load_config(args.config)
    overrides = {key: getattr(args, key, None) for key in ("run_name", "limit", "reports_dir")}
    if any(value is not None for value in overrides.values()):
        cfg = with_overrides(cfg, **overrides)
    check_models(cfg)
    for name in models:
        cfg.model(name)  # an unknown name is an UnknownModelError naming the config
    check_suite(cfg)
    for split in splits or ():
        if split not in cfg.splits:
            raise UsageError(f"--split {split!r} is no split of this run (have {list(cfg.splits)})")
    frames = {split: load_split(cfg, split) for split in splits or cfg.splits}
    if "validation" in frames:
        check_validation(cfg, frames["validation"])
    return cfg, frames


def _score(args: argparse.Namespace) -> int:
    """`guardcal score`: extract the label logits into the run's scores files."""
    cfg, _ = _load_checked(args, args.split, args.model or ())
    if args.ray:
        cfg = dataclasses.replace(cfg, scoring=dataclasses.replace(cfg.scoring, ray=args.ray))
    check_run_folder(cfg)
    if cfg.scoring.ray:
        check_reachable(cfg.scoring.ray)  # seconds, before any guard is planned or loaded
    from guardcal.extraction import run_extraction  # torch and transformers: after validation
    from guardcal.extraction.cluster import RayMissing

    try:
        run_extraction(
            cfg, splits=args.split, models=args.model, batch_size=args.batch_size, shard=args.shard
        )
    except RayMissing as exc:
        raise UsageError(str(exc)) from None
    return 0


def _report(args: argparse.Namespace) -> int:
    """`guardcal report`: run the notebooks and render report.html, slides.html, report.pdf."""
    # a bad config or data file fails here, before papermill (and torch in its kernel) starts
    cfg, _ = _load_checked(args)
    check_run_folder(cfg)
    if cfg.scoring.ray:
        check_reachable(cfg.scoring.ray)
    from guardcal.extraction import run_extraction
    from guardcal.reporting.provenance import timed
    from guardcal.reporting.render import RenderError, build_report

    start = time.perf_counter()
    # scoring runs here, where the user watches its progress bars and one-time steps (the
    # extraction notebook then finds every scores file up to date and reuses it)
    print("scoring the guards (a matching scores cache is reused)", flush=True)
    steps: list[dict[str, object]] = []
    with timed(steps, "scoring"):
        run_extraction(cfg)
    try:
        outputs = build_report(cfg, pdf=not args.no_pdf, steps=steps)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in outputs.values():
        print(path)
    print(f"report: {time.perf_counter() - start:.1f} s")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    """`guardcal bundle`: zip what a grader reads into reports/<run>.zip."""
    cfg = load_config(args.config)  # no model or data is read: only the run folder's files
    if args.run_name is not None or args.reports_dir is not None:
        cfg = with_overrides(cfg, run_name=args.run_name, reports_dir=args.reports_dir)
    from guardcal.reporting.bundle import BundleError, bundle, members

    try:
        path = bundle(cfg)
    except BundleError as exc:
        raise UsageError(str(exc)) from None
    for member in members(cfg):
        print(f"  {member.relative_to(cfg.layout.root)}")
    print(path)
    return 0


def _render(args: argparse.Namespace) -> int:
    """`guardcal render`: print the exact guard input of one example (or its token ids)."""
    cfg, frames = _load_checked(args, [args.split], [args.model] if args.model else ())
    name = args.model or cfg.models[0].name
    frame = frames[args.split]
    if not 0 <= args.index < len(frame):
        last = len(frame) - 1
        raise UsageError(f"--index {args.index} is outside split {args.split!r} (0..{last})")
    from guardcal.extraction.guards import guard_spec
    from guardcal.extraction.scoring import render_input

    spec = guard_spec(cfg, name)
    text, ids = render_input(spec, frame.iloc[args.index].to_dict())
    if not args.ids:
        print(text)
        return 0
    for token in ids:
        print(f"{token}\t{spec.tokenizer.decode([token])!r}")
    return 0


def _formats(args: argparse.Namespace) -> int:
    """`guardcal formats`: the guard families guardcal can score, with their verdict words."""
    from guardcal.extraction.formats import listing

    print(listing())
    return 0


def _benchmarks(args: argparse.Namespace) -> int:
    """`guardcal benchmarks`: the named public benchmarks a suite can load; with `--config`, the
    config's benchmarks loaded (no model): one line each with its mode, rows and unsafe rows."""
    if args.config is None:
        from guardcal.benchmarks import listing

        print(listing())
        return 0
    cfg = with_overrides(load_config(args.config), limit=args.limit)
    if not cfg.benchmarks:
        raise UsageError(f"{cfg.source_file}: no `benchmarks:` to load (a single-dataset run)")
    from guardcal.benchmarks.suite import check_suite, suite_benchmark

    check_suite(cfg)
    print(f"{'benchmark':32s} {'mode':8s} {'convention':11s} {'rows':>7s} {'unsafe':>7s}  source")
    for entry in cfg.benchmarks:
        b = suite_benchmark(cfg, entry.key)
        counts = f"{len(b.frame):7d} {int(b.frame['label'].sum()):7d}"
        print(f"{entry.key:32s} {b.mode:8s} {b.convention:11s} {counts}  {b.source}")
    return 0


PREDICT_EPILOG = """examples:
  guardcal predict --run reports/demo --model "SmolLM2-135M fine-tuned" --method ts new.jsonl
  guardcal predict --run reports/demo --model "SmolLM2-135M zero-shot" --method bc \\
      --prior validation -o scored.jsonl new.jsonl

Input: records in the run's schema (BeaverTails by default: prompt, optional response, id, label
and category), as .jsonl, .csv or .parquet; the label is not needed. Output: one JSON object per
record with id, logit_safe, logit_unsafe, p_unsafe (calibrated by --method) and verdict (unsafe
iff p_unsafe >= 0.5). Batch calibration removes the prior p(y|C): with --prior batch (the default,
as BC defines it) the prior of the records given, so pass a whole batch at once; with
--prior validation the run's validation prior that gamma was tuned with (for a small or skewed
batch, or one record at a time).
"""


def check_output(output: Path, records: Path) -> None:
    """Refuse `-o` before anything is read or scored: a folder, a folder that does not exist
    or takes no file, or the input records themselves (under another spelling, or a link)."""
    where = f"-o {output}"
    if output.is_dir():
        raise UsageError(f"{where}: is a folder; give the file to write")
    folder = output.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"{where}: no such folder {folder}")
    why = unwritable(folder)
    if why:
        raise UsageError(f"{where}: {why}")
    same = output.resolve() == records.resolve() or (
        output.exists() and records.exists() and output.samefile(records)
    )
    if same:
        raise UsageError(f"{where}: is the input {records} itself; write the scores elsewhere")


def _predict(args: argparse.Namespace) -> int:
    """`guardcal predict`: score new records with a run's calibrated guard."""
    from guardcal.guard import CalibratedGuard, predictions_jsonl

    if args.output:
        check_output(args.output, args.input)
    guard = CalibratedGuard.from_run(args.run_dir, args.model)
    if guard.fitted_in is not None:
        print(
            f"note: {guard.path} was fitted in run {guard.fitted_in!r} and copied into "
            f"{guard.path.parent.parent}; its calibrators are that run's",
            file=sys.stderr,
        )
    guard.check_method(args.method, args.prior)
    frame = guard.read_records(args.input)  # bad input fails here, before any model loads
    text = predictions_jsonl(
        guard.predict(frame, args.method, args.prior, args.batch_size, str(args.input))
    )
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _datasheet(args: argparse.Namespace) -> int:
    """`guardcal datasheet`: the statistics a dataset's datasheet quotes."""
    from guardcal.reporting.datasheet import DEMO_FILES, datasheet

    print(datasheet(args.paths or DEMO_FILES))
    return 0


def _assets(args: argparse.Namespace) -> int:
    """`guardcal assets`: install MathJax and reveal.js from the npm registry (once)."""
    from guardcal.reporting.render import ensure_assets

    print(ensure_assets())
    return 0


def _rows(args: argparse.Namespace) -> int:
    """`guardcal rows`: refit the embedded guards' rows into guardcal/data/rows/ (`make rows`)."""
    from guardcal.extraction.guards import ship_label_rows

    for path in ship_label_rows():
        print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    top = argparse.ArgumentParser(
        prog="guardcal",
        description="guardcal: measure and repair the calibration of LLM guardrail models.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score = commands.add_parser(
        "score",
        help="extract label-token logits of guard models into reports/<run>/scores/",
        description="Score guard models on a run's splits: one forward pass per example, the "
        "logits of the two label tokens at the verdict position, and their softmax mass.",
        epilog=SCORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(score)
    score.add_argument(
        "--model", metavar="NAME", action="append", help="a model's name (repeatable; default all)"
    )
    score.add_argument(
        "--split",
        action="append",
        help=f"a split: {', '.join(SPLITS)} or a suite's benchmark (repeatable; default all)",
    )
    score.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="inputs per forward pass (default: the config's, else 8 on CPU and 16 on GPU)",
    )
    score.add_argument(
        "--shard", type=parse_shard, metavar="I/N", help="compute only node I's share of shards"
    )
    score.add_argument(
        "--ray",
        nargs="?",
        const=RAY_LOCAL,
        metavar="ADDRESS",
        help="score the shards on Ray: a new local instance, or the cluster at ADDRESS "
        "(auto, HOST:6379, ray://HOST:10001)",
    )
    score.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    score.set_defaults(run=_score)

    report = commands.add_parser(
        "report", help="run the notebooks and render reports/<run>/ (HTML, slides, PDF)"
    )
    _config_argument(report)
    report.add_argument("--run-name", help="override the config's name (reports/<name>/)")
    report.add_argument("--limit", type=positive_int, help="only the first N rows of each split")
    report.add_argument("--reports-dir", help="where reports/<name>/ goes (default: ./reports)")
    report.add_argument("--no-pdf", action="store_true", help="skip report.pdf")
    report.set_defaults(run=_report)

    bundle = commands.add_parser(
        "bundle",
        help="zip the run's PDFs, HTML, notebooks, tables, config and provenance into "
        "reports/<run>.zip",
    )
    _config_argument(bundle)
    bundle.add_argument("--run-name", help="the run's name, if `guardcal report` overrode it")
    bundle.add_argument("--reports-dir", help="where reports/<name>/ is (default: ./reports)")
    bundle.set_defaults(run=_bundle)

    render = commands.add_parser(
        "render", help="print the exact guard input of one example (--ids: its token ids)"
    )
    _config_argument(render)
    render.add_argument("--model", metavar="NAME", help="a model's name (default: the first)")
    render.add_argument(
        "--split", default="test", help="a split or a suite's benchmark (default: test)"
    )
    render.add_argument("--index", type=int, default=0, help="0-based row of the split")
    render.add_argument(
        "--ids", action="store_true", help="one token id per line with the decoded token"
    )
    render.set_defaults(run=_render)

    formats = commands.add_parser(
        "formats",
        help="list the guard families (verdict words, text before the verdict, model ids)",
    )
    formats.set_defaults(run=_formats)

    benchmarks = commands.add_parser(
        "benchmarks",
        help="list the named public benchmarks (modes, label-rule conventions, hub id, licence); "
        "with --config, load a suite's benchmarks and count their rows",
    )
    benchmarks.add_argument(
        "--config", metavar="CONFIG", help="a suite config: load its benchmarks (no model)"
    )
    benchmarks.add_argument("--limit", type=positive_int, help="only the first N rows of each")
    benchmarks.set_defaults(run=_benchmarks)

    predict = commands.add_parser(
        "predict",
        help="score new records with a run's calibrated guard (calibrators/<model>.json)",
        description="Score records with one guard of a finished run and calibrate its "
        "p(unsafe) with the run's fitted calibrators.",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument(
        "--run", dest="run_dir", required=True, metavar="DIR", help="the run folder reports/<run>"
    )
    predict.add_argument("--model", required=True, metavar="NAME", help="a guard's name in the run")
    predict.add_argument(
        "--method",
        default="ts",
        metavar="METHOD",
        help=f"{', '.join(method_names()[:-1])} or {method_names()[-1]} (default %(default)s)",
    )
    predict.add_argument(
        "--prior",
        choices=PRIORS,
        default="batch",
        help="BC's p(y|C): the records' own (batch, default) or the run's validation prior",
    )
    predict.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="default: the run's batch size"
    )
    predict.add_argument("-o", "--output", type=Path, help="write JSONL here (default: stdout)")
    predict.add_argument("input", type=Path, help="records to score (.jsonl, .csv or .parquet)")
    predict.set_defaults(run=_predict)

    sheet = commands.add_parser("datasheet", help="a dataset's datasheet statistics")
    sheet.add_argument("paths", nargs="*", type=Path, help="data files (default: the demo)")
    sheet.set_defaults(run=_datasheet)

    assets = commands.add_parser("assets", help="install MathJax and reveal.js from npm (once)")
    assets.set_defaults(run=_assets)

    rows = commands.add_parser(
        "rows", help="refit the embedded guards' verdict rows into the package (maintainers)"
    )
    rows.set_defaults(run=_rows)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with one error line)."""
    args = parser().parse_args(argv)
    verbose = args.command in ("report", "rows") or (args.command == "score" and not args.quiet)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("guardcal").setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        return args.run(args)
    except (InputError, FormatError, UsageError, RunBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are written whole or not at all; a report notes the rest
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
