"""``harness compare``: two encoders' results per task, with paired-bootstrap confidence intervals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import report_targets
from harness.pluginhost import PluginHost
from harness.results.files import write_text_atomic


def add_parser(commands: Any) -> None:
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


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.checks.bootstrap import compare, markdown_comparison

    formats = report_targets(args.report)
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
