"""The ``harness`` command: run, info, list, plugins, leaderboard, check, compare, cache, and plugins' commands.

Plugins add subcommands through ``harness_register_commands`` (:mod:`harness.commands`): ``data`` from the
core, ``train`` and ``mine-pairs`` from the cpt plugin.

Every failure ends in one line on stderr (``harness: error: ...``) and a non-zero
exit code; ``HARNESS_DEBUG=1`` adds the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness import __version__
from harness.check import DEFAULT_TOLERANCE
from harness.commands import CommandParser, add_plugin_commands, plugin_command_of, run_plugin_command
from harness.datafiles import DataLocator
from harness.errors import HarnessError, UsageError, one_line
from harness.options import PRECISIONS, describe, parse_assignments
from harness.pluginhost import PluginHost, get_host
from harness.registry import Catalog, TaskRef
from harness.results import write_text_atomic
from harness.runner import RunOptions, TaskOutcome, run


def build_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The ``harness`` parser: the core commands, then those of ``host``'s plugins (default: every plugin)."""
    parser = argparse.ArgumentParser(prog="harness", description="Benchmark text and code embedding models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)

    encoder_flags = encoder_options_parent()
    run_cmd = commands.add_parser("run", help="evaluate an encoder on tasks", parents=[encoder_flags])
    which = run_cmd.add_mutually_exclusive_group()
    which.add_argument("--tasks", type=_comma_list, help="comma-separated tasks, each NAME or NAME@SPLIT")
    which.add_argument("--suite", help="a named suite (default: 'default')")
    run_cmd.add_argument("--out", type=Path, default=Path("results"), help="results folder (default: ./results)")
    run_cmd.add_argument("--force", action="store_true", help="rerun tasks that already have results")
    run_cmd.add_argument("--data-dir", type=Path, help="folder with the datasets (also $HARNESS_DATA_DIR)")
    run_cmd.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="fetch missing datasets from the registry's canonical URLs or a mirror (also $HARNESS_DOWNLOAD=1)",
    )
    run_cmd.add_argument(
        "--no-per-example", action="store_true", help="leave per-example scores out of the result files"
    )
    caching = run_cmd.add_mutually_exclusive_group()
    caching.add_argument("--cache", type=Path, metavar="DIR", help="embedding cache folder (default: in $HARNESS_HOME)")
    caching.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    bars = run_cmd.add_mutually_exclusive_group()
    bars.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show progress bars"
    )
    bars.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")

    info_cmd = commands.add_parser("info", help="describe an encoder (its options) or a task (its splits and files)")
    info_cmd.add_argument("name", help="an encoder or task name, e.g. minilm-l6, hf:gpt2, bm25, scifact")

    list_cmd = commands.add_parser("list", help="list registered encoders, tasks or suites")
    list_cmd.add_argument("what", choices=("encoders", "tasks", "suites"))
    list_cmd.add_argument("--options", metavar="NAME", help="with 'encoders': the options of encoder NAME")

    commands.add_parser("plugins", help="list plugins with their versions and origins")

    board_cmd = commands.add_parser("leaderboard", help="aggregate a results folder and print the table")
    board_cmd.add_argument("folder", nargs="?", type=Path, default=Path("results"))
    board_cmd.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page")
    board_cmd.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown")

    check_cmd = commands.add_parser(
        "check",
        help="compare results with a committed baseline (CI regression check)",
        description="Exit codes: 0 pass, 1 regression, 2 usage or input error, 3 incomparable, 4 run error. "
        "With --run, the encoder option flags and -o KEY=VALUE are those of 'harness run'.",
        parents=[encoder_flags],
    )
    check_cmd.add_argument("--baseline", type=Path, required=True, help="baseline JSON (written by --update)")
    check_cmd.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: ./results)")
    check_cmd.add_argument("--run", action="store_true", help="run --encoder on the baseline's tasks first")
    check_cmd.add_argument("--tasks", type=_comma_list, help="with --run: these tasks instead of the baseline's")
    check_cmd.add_argument("--tolerance", type=float, help=f"absolute tolerance (default {DEFAULT_TOLERANCE})")
    check_cmd.add_argument("--config", type=Path, help="TOML/JSON with per-family and per-task tolerances")
    check_cmd.add_argument("--all-metrics", action="store_true", help="check every metric, not only main scores")
    check_cmd.add_argument("--update", action="store_true", help="write the baseline from the results and exit 0")
    check_cmd.add_argument(
        "--report", nargs=2, action="append", metavar=("md|json", "FILE"), default=[], help="also write a report"
    )
    check_cmd.add_argument("--data-dir", type=Path, help="with --run: datasets folder")

    compare_cmd = commands.add_parser(
        "compare", help="compare two encoders' results per task, with paired-bootstrap confidence intervals"
    )
    compare_cmd.add_argument("a", type=Path, help="results of encoder A (a folder of result files, or a leaderboard)")
    compare_cmd.add_argument("b", type=Path, help="results of encoder B")
    compare_cmd.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    compare_cmd.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    compare_cmd.add_argument("--seed", type=int, default=0)
    compare_cmd.add_argument(
        "--report", nargs=2, action="append", metavar=("md|json", "FILE"), default=[], help="also write a report"
    )

    cache_cmd = commands.add_parser("cache", help="the embedding cache: what it holds, or empty it")
    cache_cmd.add_argument("action", choices=("info", "clear"))
    cache_cmd.add_argument("--cache", type=Path, metavar="DIR", help="cache folder (default: in $HARNESS_HOME)")
    cache_cmd.add_argument("--encoder", help="clear: only this encoder's vectors")

    # Plugin commands (``harness data`` from the core, ``train`` and ``mine-pairs`` from the cpt plugin, any
    # third party's): their arguments are declared only when the command is used.
    add_plugin_commands(commands, (host or get_host()).commands(reserved=COMMANDS))
    return parser


def _comma_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected at least one name")
    return items


ENCODER_FLAGS: tuple[str, ...] = (
    "device",
    "batch_size",
    "batch_tokens",
    "precision",
    "checkpoint",
    "untrained",
    "backbone",
    "max_length",
    "pooling",
)
"""Flags that are spellings of ``-o NAME=VALUE``: one path to the encoder's option schema (:mod:`harness.options`)."""


def encoder_options_parent() -> argparse.ArgumentParser:
    """The encoder-option flags ``run`` and ``check --run`` share; each is ``-o NAME=VALUE`` by another name.

    Defaults are ``None`` (not given): only what the user asked for reaches the encoder, where its schema
    supplies the defaults and refuses options the encoder does not read.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("encoder options (see 'harness info ENCODER'; refused if the encoder lacks one)")
    group.add_argument("--encoder", help="encoder name (see 'harness list encoders')")
    group.add_argument(
        "-o", "--option", action="append", metavar="KEY=VALUE", dest="encoder_option", help="set an encoder option"
    )
    group.add_argument("--device", help="cpu, cuda or cuda:N (option device)")
    group.add_argument("--batch-size", type=int, help="texts per batch (option batch_size)")
    group.add_argument(
        "--batch-tokens", type=int, help="at most this many padded tokens per batch; --batch-size caps the rows"
    )
    group.add_argument("--precision", choices=PRECISIONS, help="auto, fp32, bf16, fp16 (CUDA), int8 (CPU)")
    group.add_argument("--checkpoint", type=Path, help="cpt encoders: trained weights (a model folder or a run)")
    group.add_argument(
        "--untrained", action="store_true", default=None, help="cpt encoders: the bare backbone, before training"
    )
    group.add_argument("--backbone", help="cpt encoders with --untrained: a local copy of the preset's backbone")
    group.add_argument("--max-length", type=int, help="tokens per input (option max_length)")
    group.add_argument("--pooling", choices=("mean", "last", "cls"), help="hf: encoders: how to pool")
    group.add_argument("--label", help="record results under this name instead of the derived one")
    return parent


def encoder_options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder options a command line asked for: its ``-o`` items and the flags that spell them."""
    options: dict[str, Any] = parse_assignments(args.encoder_option)
    for name in ENCODER_FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in options:
            raise UsageError(f"option {name} given twice (--{name.replace('_', '-')} and -o {name}=...)")
        options[name] = str(value) if isinstance(value, Path) else value
    return options


def main(argv: Sequence[str] | None = None) -> int:
    try:
        host = get_host()
        args = build_parser(host).parse_args(argv)
        plugin_command = plugin_command_of(args)
        if plugin_command is not None:
            return run_plugin_command(plugin_command, args)
        return COMMANDS[args.command](host, args)
    except HarnessError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted; finished tasks are saved, rerun to resume", 130)
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        return _fail(f"{type(exc).__name__}: {one_line(exc)} (set HARNESS_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return code


def _warn_plugin_problems(host: PluginHost) -> None:
    for line in host.problems():
        print(f"harness: warning: {line}", file=sys.stderr)


def cmd_run(host: PluginHost, args: argparse.Namespace) -> int:
    _warn_plugin_problems(host)
    if args.progress is False or (args.progress is None and not sys.stderr.isatty()):
        # Quiets the bars of libraries that plugins use (transformers, huggingface_hub) too.
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if not args.encoder:
        raise UsageError("run needs --encoder NAME (see 'harness list encoders')")
    catalog = host.catalog
    refs = catalog.task_refs(args.tasks, args.suite)
    _check_output_folder(args.out)
    options = RunOptions(
        out_dir=args.out,
        force=args.force,
        data_dir=args.data_dir,
        download=args.download,
        progress=args.progress,
        encoder_options=encoder_options_from(args),
        label=args.label,
        per_example=not args.no_per_example,
        cache=not args.no_cache,
        cache_dir=args.cache,
    )

    def show(outcome: TaskOutcome) -> None:
        # tqdm.write keeps these lines clear of the progress bars.
        if outcome.status == "failed":
            tqdm.write(f"{outcome.ref}: FAILED: {outcome.error}", file=sys.stderr)
            return
        if outcome.status == "not-applicable":
            tqdm.write(f"{outcome.ref}: not applicable: {outcome.error}", file=sys.stdout)
            return
        note = "skipped: already done, --force reruns it" if outcome.status == "skipped" else f"{outcome.seconds:.1f} s"
        tqdm.write(f"{outcome.ref}: {outcome.main_metric} = {outcome.main_score:.5f}  ({note})", file=sys.stdout)

    report = run(catalog, args.encoder, refs, options, on_outcome=show)
    print(f"results in {args.out}/ (leaderboard: harness leaderboard {args.out})")
    if report.failed:
        names = ", ".join(o.ref for o in report.failed)
        return _fail(f"{len(report.failed)} of {len(report.outcomes)} task(s) failed: {names}", 1)
    if report.outcomes and len(report.not_applicable) == len(report.outcomes):
        return _fail(f"encoder {args.encoder!r} applies to none of the tasks asked for", 1)
    return 0


def _check_output_folder(folder: Path) -> None:
    """Refuse an --out that cannot take results before any model loads or any text is encoded."""
    existing = folder
    try:
        while not existing.exists() and existing.parent != existing:  # the nearest existing folder
            existing = existing.parent
        if not existing.is_dir():
            raise UsageError(f"--out {folder}: {existing} is a file, not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise HarnessError(f"--out {folder}: cannot write in {existing} ({exc.strerror or exc})") from None


def cmd_list(host: PluginHost, args: argparse.Namespace) -> int:
    _warn_plugin_problems(host)
    catalog = host.catalog
    if args.options:
        if args.what != "encoders":
            raise UsageError("--options NAME goes with 'harness list encoders'")
        return _print_encoder(catalog, args.options)
    if args.what == "suites":
        for name, suite in sorted(catalog.suites.items()):
            print(f"{name:<24} {', '.join(suite.tasks)}  [{suite.plugin}]")
            if suite.description:
                print(f"{'':<24} {suite.description}")
        return 0
    table = catalog.encoders if args.what == "encoders" else catalog.tasks
    for name, registration in sorted(table.items()):
        shown = f"{name}<argument>" if registration.is_family else name
        print(f"{shown:<24} {registration.description}  [{registration.plugin}]")
    return 0


def cmd_info(host: PluginHost, args: argparse.Namespace) -> int:
    """An encoder's options with their types, defaults and help; or a task's family, splits and files."""
    _warn_plugin_problems(host)
    catalog = host.catalog
    try:
        return _print_encoder(catalog, args.name)
    except UsageError as as_encoder:
        try:
            task = catalog.build_task(TaskRef.parse(args.name))
        except UsageError:
            raise as_encoder from None
    print(f"task {task.name}: {task.family}, main metric {task.main_metric}")
    if task.description:
        print(f"  {task.description}")
    print(f"  splits: {', '.join(task.splits)} (default {task.default_split})")
    for f in DataLocator(datasets=catalog.datasets).pinned(task.dataset_files(task.default_split)):
        print(f"  reads {f.path}" + (f" (sha256 {f.sha256[:12]}...)" if f.sha256 else ""))
    return 0


def _print_encoder(catalog: Catalog, name: str) -> int:
    schema = catalog.encoder_options(name)
    registration = catalog.encoders.get(name) or catalog.encoders[name.partition(":")[0] + ":"]
    print(f"encoder {name}: {registration.description}  [{registration.plugin}]")
    rows = describe(schema)
    if not rows:
        print("  no options")
        return 0
    print("  options (harness run -o NAME=VALUE; flags such as --batch-size spell the same):")
    width = max(len(row[0]) for row in rows)
    for option_name, type_text, default, help_text in rows:
        print(f"  {option_name:<{width}}  {type_text} = {default}")
        print(f"  {'':<{width}}  {help_text}")
    return 0


def cmd_plugins(host: PluginHost, args: argparse.Namespace) -> int:
    _ = host.catalog  # runs the registration hooks, so hook failures show up below
    for info in host.infos.values():
        status = info.status if info.error is None else f"{info.status}: {info.error}"
        hooks = ", ".join(info.hooks) or "-"
        print(f"{info.name:<24} {info.version:<10} {info.source}")
        print(f"{'':<24} hooks: {hooks}; status: {status}")
    return 0


def cmd_leaderboard(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.leaderboard import print_leaderboard
    from harness.results import LEADERBOARD_FILE, build_leaderboard, write_json_atomic

    board = build_leaderboard(args.folder)
    write_json_atomic(args.folder / LEADERBOARD_FILE, board)
    order = host.catalog.leaderboard_order()
    print_leaderboard(board, order)
    if args.markdown:
        from harness.leaderboard import markdown_leaderboard

        write_text_atomic(args.markdown, markdown_leaderboard(board, order))
        print(f"markdown: {args.markdown}")
    if args.html:
        from harness.leaderboard_html import html_leaderboard

        write_text_atomic(args.html, html_leaderboard(board, order, args.folder))
        print(f"html: {args.html}")
    return 0


def cmd_check(host: PluginHost, args: argparse.Namespace) -> int:
    from harness import check as checking

    catalog = host.catalog
    asked = encoder_options_from(args)
    if (asked or args.label) and not args.run:
        raise UsageError("encoder options and --label need --run (they say how to run the encoder)")
    # Baseline entries are filed under result labels: with --run, the label this run's results get.
    who = args.encoder
    if args.run and args.encoder:
        who = args.label or catalog.result_label(args.encoder, asked)
    if args.update:
        tasks = {catalog.qualified(ref) for ref in catalog.task_refs(args.tasks, None)} if args.tasks else None
        written, total = checking.update_baseline(args.baseline, args.results, who, tasks)
        print(
            f"baseline {args.baseline}: {written} entr{'y' if written == 1 else 'ies'} from {args.results} ({total} in all)"
        )
        return 0
    formats = _report_targets(args.report)
    tolerances = checking.Tolerances.load(args.config, args.tolerance)
    entries = checking.read_baseline(args.baseline)
    if who:
        entries = [e for e in entries if e["encoder"] == who]
        if not entries and not args.run:
            raise UsageError(f"{args.baseline}: no entries for encoder {who!r}")
    run_errors: list[str] = []
    if args.run:
        if not args.encoder:
            raise UsageError("--run needs --encoder")
        refs = args.tasks or [f"{e['task']}@{e['split']}" for e in entries]
        if not refs:
            raise UsageError(f"{args.baseline}: no entries for encoder {who!r}; give --tasks or --update")
        run_errors = _run_for_check(host, args, refs)
    report = checking.check(entries, checking.current_results(args.results), tolerances,
                            all_metrics=args.all_metrics, run_errors=run_errors)  # fmt: skip
    _print_check(report)
    for kind, path in formats:
        text = checking.markdown_report(report) if kind == "md" else json.dumps(report.to_json(), indent=2) + "\n"
        write_text_atomic(path, text)
    return report.exit_code


def _report_targets(reports: list[list[str]]) -> list[tuple[str, Path]]:
    targets = []
    for kind, path in reports:
        if kind not in ("md", "json"):
            raise UsageError(f"--report {kind}: the format must be md or json")
        targets.append((kind, Path(path)))
    return targets


def _run_for_check(host: PluginHost, args: argparse.Namespace, refs: list[str]) -> list[str]:
    # A regression check recomputes: vectors cached before a code change would hide what it broke.
    options = RunOptions(out_dir=args.results, encoder_options=encoder_options_from(args), label=args.label,
                         data_dir=args.data_dir, progress=False, cache=False)  # fmt: skip
    try:
        report = run(host.catalog, args.encoder, host.catalog.task_refs(refs, None), options)
    except UsageError:
        raise
    except HarnessError as exc:
        return [str(exc)]
    return [f"{o.ref}: {o.error}" for o in report.failed]


def _print_check(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    styles = {"regression": "red", "missing": "red", "incomparable": "yellow", "improved": "green", "ok": ""}
    table = Table(title="harness check", title_justify="left")
    for column in ("status", "encoder", "task", "metric", "baseline", "current", "delta", "tolerance", "note"):
        table.add_column(column, justify="right" if column in ("baseline", "current", "delta", "tolerance") else "left")
    for f in report.findings:
        numbers = [_fmt(f.baseline), _fmt(f.current), _fmt(f.delta, True), _fmt(f.tolerance)]
        style = styles.get(f.status, "")
        table.add_row(f"[{style}]{f.status}[/]" if style else f.status, f.encoder, f.task, f.metric, *numbers,
                      f.reason or f.tolerance_source)  # fmt: skip
    Console(width=max(Console().width, 140)).print(table)
    for error in report.run_errors:
        print(f"run error: {error}", file=sys.stderr)
    print(f"harness check: {report.summary()}")


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def cmd_compare(host: PluginHost, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.compare import compare, markdown_comparison

    formats = _report_targets(args.report)
    name_a, name_b, rows = compare(args.a, args.b, resamples=args.resamples, confidence=args.confidence, seed=args.seed)
    level = f"{args.confidence:.0%}"
    table = Table(title=f"{name_b} - {name_a} (paired bootstrap, {args.resamples} resamples, {level} interval)",
                  title_justify="left")  # fmt: skip
    for column in ("task", "metric", name_a, name_b, "difference", f"{level} interval", "significant", "n"):
        table.add_column(column, justify="left" if column in ("task", "metric") else "right")
    for row in rows:
        interval = f"[{row.low:+.4f}, {row.high:+.4f}]" if row.low is not None else row.note
        significant = {True: "yes", False: "no", None: "-"}[row.significant]
        table.add_row(row.task, row.metric, f"{row.score_a:.4f}", f"{row.score_b:.4f}", f"{row.difference:+.4f}",
                      interval, significant, str(row.n_examples or ""))  # fmt: skip
    Console(width=max(Console().width, 140)).print(table)
    for kind, path in formats:
        if kind == "md":
            text = markdown_comparison(name_a, name_b, rows, args.confidence)
        else:
            text = json.dumps({"a": name_a, "b": name_b, "confidence": args.confidence, "resamples": args.resamples,
                               "tasks": [r.to_json() for r in rows]}, indent=2) + "\n"  # fmt: skip
        write_text_atomic(path, text)
    return 0


def cmd_cache(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.cache import EmbeddingCache

    cache = EmbeddingCache(args.cache)
    if args.action == "clear":
        removed = cache.clear(args.encoder)
        whose = f" of {args.encoder}" if args.encoder else ""
        print(f"removed {removed} shard(s){whose} from {cache.folder}")
        return 0
    stats = cache.stats()
    print(f"embedding cache: {stats.folder}")
    print(f"  {stats.vectors} vectors in {stats.shards} shards, {_size(stats.bytes)} of {_size(stats.max_bytes)}")
    for encoder, (vectors, size) in stats.by_encoder.items():
        print(f"  {encoder}: {vectors} vectors, {_size(size)}")
    return 0


def _size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while n >= 1024 and step < len(units) - 1:
        n, step = n / 1024, step + 1
    return f"{n:.0f} {units[step]}" if step == 0 else f"{n:.1f} {units[step]}"


COMMANDS = {
    "run": cmd_run,
    "list": cmd_list,
    "plugins": cmd_plugins,
    "info": cmd_info,
    "leaderboard": cmd_leaderboard,
    "check": cmd_check,
    "compare": cmd_compare,
    "cache": cmd_cache,
}


if __name__ == "__main__":
    sys.exit(main())
