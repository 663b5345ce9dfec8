"""``harness check``: compare results (or a fresh run, with the encoder's options) with a committed baseline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.checks.baseline import DEFAULT_TOLERANCE
from harness.cli.common import comma_list, report_targets
from harness.cli.encoder_flags import encoder_options_from
from harness.errors import HarnessError, UsageError
from harness.pluginhost import PluginHost
from harness.results.files import write_text_atomic
from harness.running.runner import RunOptions
from harness.running.runner import run as run_tasks


def add_parser(commands: Any, encoder_flags: argparse.ArgumentParser) -> None:
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
    check_cmd.add_argument("--tasks", type=comma_list, help="with --run: these tasks instead of the baseline's")
    check_cmd.add_argument("--tolerance", type=float, help=f"absolute tolerance (default {DEFAULT_TOLERANCE})")
    check_cmd.add_argument("--config", type=Path, help="TOML/JSON with per-family and per-task tolerances")
    check_cmd.add_argument("--all-metrics", action="store_true", help="check every metric, not only main scores")
    check_cmd.add_argument("--update", action="store_true", help="write the baseline from the results and exit 0")
    check_cmd.add_argument(
        "--report", nargs=2, action="append", metavar=("md|json", "FILE"), default=[], help="also write a report"
    )
    check_cmd.add_argument("--data-dir", type=Path, help="with --run: datasets folder")


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.checks import baseline as checking

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
    formats = report_targets(args.report)
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


def _run_for_check(host: PluginHost, args: argparse.Namespace, refs: list[str]) -> list[str]:
    # A regression check recomputes: vectors cached before a code change would hide what it broke.
    # The folder exists even when every task fails, so the check reports those run errors (exit 4), not a
    # missing folder.
    args.results.mkdir(parents=True, exist_ok=True)
    options = RunOptions(out_dir=args.results, encoder_options=encoder_options_from(args), label=args.label,
                         data_dir=args.data_dir, progress=False, cache=False)  # fmt: skip
    try:
        report = run_tasks(host.catalog, args.encoder, host.catalog.task_refs(refs, None), options)
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
