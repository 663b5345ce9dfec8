"""``harness report --paper RESULTS``: a results folder laid out as the cpt paper's Tables 2-7, as Markdown.

The Markdown goes to stdout (``--markdown FILE`` also writes it, ``--html FILE`` writes the page); the paper's
verified published rows stand beside the folder's encoders (``--published PATH``, repeatable, reads other
sources instead: a data file of the same form, or a folder of published MTEB results, whose scores fill the
columns that are the same task, split and metric; ``cpt-paper`` names the paper's rows beside them; see
:mod:`harness.results.published_sources`).  The layouts and rules are :mod:`harness.results.paper_tables`'s.
An unreadable result file is one warning line and left out, as for the leaderboard; a cell left blank for another reason (a missing
metric, two results for one cell) is a warning line and a note in the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.pluginhost import PluginHost
from harness.results.published_rows import CPT_PAPER_ROWS


def add_parser(commands: Any) -> None:
    report_cmd = commands.add_parser("report", help="lay a results folder out as the cpt paper's tables")
    report_cmd.add_argument(
        "--paper", type=Path, metavar="RESULTS", required=True,
        help="the results folder to lay out as the cpt paper's Tables 2-7 (as harness leaderboard reads it)",
    )  # fmt: skip
    report_cmd.add_argument("--markdown", type=Path, metavar="FILE", help="also write the Markdown to FILE")
    report_cmd.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page")
    report_cmd.add_argument(
        "--published", action="append", metavar="PATH",
        help="the published rows to print beside the results (repeatable): a TOML of published rows or an MTEB "
        "results folder (embeddings-benchmark/results layout); default: the cpt paper's verified rows, "
        "which 'cpt-paper' names beside another source",
    )  # fmt: skip


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.results.files import iter_results, warn_unreadable, write_text_atomic
    from harness.results.paper_tables import markdown_report, paper_report, table_columns
    from harness.results.published_sources import report_cells

    published = report_cells(host, args.published or [CPT_PAPER_ROWS], table_columns())
    results = iter_results(args.paper, lambda error: warn_unreadable(error, "left out of the report"))
    report = paper_report(results, published)
    for note in report.notes:
        print(f"harness: warning: {note}", file=sys.stderr)
    text = markdown_report(report, args.paper)
    sys.stdout.write(text)
    # Stdout is the Markdown alone (it can be piped to a file); where the other copies went is said on stderr.
    if args.markdown:
        write_text_atomic(args.markdown, text)
        print(f"markdown: {args.markdown}", file=sys.stderr)
    if args.html:
        from harness.results.paper_page import html_report

        write_text_atomic(args.html, html_report(report, args.paper))
        print(f"html: {args.html}", file=sys.stderr)
    return 0
