"""The leaderboard as a terminal table: encoders as rows, tasks and family averages as columns."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table


def leaderboard_table(board: dict[str, Any]) -> Table:
    rows = board["results"]
    columns = sorted({(r["family"], f"{r['task']}@{r['split']}") for r in rows})
    families = sorted({family for family, _ in columns})
    table = Table(title="cpt-harness leaderboard (main score x 100)")
    table.add_column("encoder", style="bold")
    for _family, ref in columns:
        table.add_column(ref, justify="right")
    for family in families:
        table.add_column(f"{family} avg", justify="right", style="cyan")
    for name, entry in sorted(board["encoders"].items()):
        cells = [name]
        for _family, ref in columns:
            score = entry["scores"].get(ref)
            cells.append("" if score is None else f"{100 * score:.2f}")
        for family in families:
            mean = entry["families"].get(family)
            cells.append("" if mean is None else f"{100 * mean:.2f}")
        table.add_row(*cells)
    return table


def print_leaderboard(board: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        # A pipe or file gets the whole table, not one squeezed to 80 columns.
        console = Console() if sys.stdout.isatty() else Console(width=400)
    if not board["results"]:
        console.print("no results yet")
        return
    console.print(leaderboard_table(board))
