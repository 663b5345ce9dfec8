"""``harness leaderboard``: aggregate a results folder, print the tables, and write the Markdown and HTML pages."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.pluginhost import PluginHost
from harness.results.files import write_text_atomic


def add_parser(commands: Any) -> None:
    board_cmd = commands.add_parser("leaderboard", help="aggregate a results folder and print the table")
    board_cmd.add_argument("folder", nargs="?", type=Path, default=Path("results"))
    board_cmd.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page")
    board_cmd.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown")
    board_cmd.add_argument(
        "--published", action="append", default=[], metavar="PATH",
        help="also show published rows beside the runs (repeatable): an MTEB results folder "
        "(embeddings-benchmark/results layout) or a TOML of published rows ('cpt-paper': the cpt paper's)",
    )  # fmt: skip


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.results.files import LEADERBOARD_FILE, build_leaderboard, write_json_atomic
    from harness.results.tables import print_leaderboard

    board = build_leaderboard(args.folder)
    if args.published:
        from harness.results.published_sources import leaderboard_rows, rows_json

        # Kept apart from the runs ('results', 'encoders'): published numbers are not results of this folder.
        board["published"] = rows_json(leaderboard_rows(host, args.published, args.folder))
    write_json_atomic(args.folder / LEADERBOARD_FILE, board)
    order = host.catalog.leaderboard_order()
    print_leaderboard(board, order)
    if args.markdown:
        from harness.results.tables import markdown_leaderboard

        write_text_atomic(args.markdown, markdown_leaderboard(board, order))
        print(f"markdown: {args.markdown}")
    if args.html:
        from harness.results.page import html_leaderboard

        write_text_atomic(args.html, html_leaderboard(board, order, args.folder))
        print(f"html: {args.html}")
    return 0
