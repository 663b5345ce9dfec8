"""``harness compare``: two encoders' results per task, with paired-bootstrap confidence intervals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import report_targets
from harness.errors import UsageError
from harness.pluginhost import PluginHost
from harness.results.files import write_text_atomic


def add_parser(commands: Any) -> None:
    compare_cmd = commands.add_parser(
        "compare", help="compare two encoders' results per task, with paired-bootstrap confidence intervals"
    )
    compare_cmd.add_argument("a", type=Path, help="results of encoder A (a folder of result files, or a leaderboard)")
    compare_cmd.add_argument(
        "b", type=Path, nargs="?", help="results of encoder B (or, with --published, none: A against published scores)"
    )
    compare_cmd.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    compare_cmd.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    compare_cmd.add_argument("--seed", type=int, default=0)
    compare_cmd.add_argument(
        "--published", action="append", default=[], metavar="PATH",
        help="compare A with a model's published MTEB scores instead (an embeddings-benchmark/results folder; "
        "repeatable): per task, ours, published, ours - published",
    )  # fmt: skip
    compare_cmd.add_argument(
        "--model", metavar="NAME",
        help="with --published: the published model (org/name, its folder name org__name, or name; default: the "
        "only one, or the run's model)",
    )  # fmt: skip
    compare_cmd.add_argument(
        "--report", nargs=2, action="append", metavar=("md|json", "FILE"), default=[], help="also write a report"
    )
    compare_cmd.add_argument(
        "--html", type=Path, metavar="FILE", help="also write a self-contained page: a forest plot and the table"
    )


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.checks.bootstrap import compare, markdown_comparison

    formats = report_targets(args.report)
    if args.published or args.model:
        return _run_published(args, formats)
    if args.b is None:
        raise UsageError("compare needs two results (A B), or one and --published PATH [--model NAME]")
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
    if args.html:
        from harness.results.compare_page import html_comparison

        write_text_atomic(args.html, html_comparison(name_a, name_b, rows, confidence=args.confidence,
                                                     resamples=args.resamples))  # fmt: skip
        print(f"html: {args.html}")
    return 0


def _run_published(args: argparse.Namespace, formats: list[tuple[str, Path]]) -> int:
    """``harness compare RUN --published PATH --model NAME``: ours minus published, per task."""
    from rich.console import Console
    from rich.table import Table

    from harness.checks.bootstrap import read_result_folder
    from harness.results.published_compare import compare_published, markdown_published

    if not args.published:
        raise UsageError("--model names a published model: give the published results with --published PATH")
    if args.b is not None:
        raise UsageError(f"compare takes one results folder with --published (got {args.a} and {args.b})")
    if getattr(args, "html", None):
        raise UsageError("--html draws two runs' intervals; with --published use --report md|json FILE")
    name, records = read_result_folder(args.a)
    revision, rows = compare_published(records, args.published, args.model)
    title = f"{name} - published MTEB scores of {revision.model} (revision {revision.revision[:8]})"
    table = Table(title=title, title_justify="left")
    for column in ("task", "metric", name, "published", "difference", "MTEB task", "mteb"):
        table.add_column(column, justify="right" if column in (name, "published", "difference") else "left")
    # Six decimals: MTEB rounds retrieval scores to five, and agreement to 1e-4 is what a reader checks.
    for row in (r for r in rows if r.published is not None and r.difference is not None):
        table.add_row(row.task, row.metric, f"{row.ours:.6f}", f"{row.published:.6f}", f"{row.difference:+.6f}",
                      f"{row.mteb_task} ({row.mteb_split})", row.mteb_version or "")  # fmt: skip
    console = Console(width=max(Console().width, 140))
    console.print(table)
    unpaired = [row for row in rows if row.published is None]
    if unpaired:
        console.print(f"{len(unpaired)} task(s) without a published counterpart:")
        for row in unpaired:
            console.print(f"  {row.task}: {row.note}", highlight=False, soft_wrap=True)
    for kind, path in formats:
        if kind == "md":
            text = markdown_published(name, revision.model, revision.revision, rows)
        else:
            text = json.dumps({"run": name, "model": revision.model, "revision": revision.revision,
                               "tasks": [r.to_json() for r in rows]}, indent=2) + "\n"  # fmt: skip
        write_text_atomic(path, text)
    return 0
