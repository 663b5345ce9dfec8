"""The leaderboard in the terminal, laid out like the cpt paper's tables.

One table per task family (classification, STS, retrieval, code search): encoders
as rows, the family's tasks and their average as columns.  Columns follow the
order in which suites list the tasks (so the paper's order when the ``paper``
suite is registered), then alphabetical order for the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

FAMILY_TITLES = {
    "classification": "Linear-probe classification (accuracy)",
    "sts": "Sentence similarity (Spearman of cosine)",
    "retrieval": "Retrieval (nDCG@10)",
    "code-search": "Code search (MRR)",
}


def column_label(task: str, split: str) -> str:
    return task if split == "test" else f"{task}@{split}"


def _ordered(labels: set[str], order: Sequence[str]) -> list[str]:
    position: dict[str, int] = {}
    for name in order:
        position.setdefault(name, len(position))
    return sorted(labels, key=lambda label: (position.get(label, len(position)), label))


def family_tables(board: dict[str, Any], order: Sequence[str] = ()) -> list[Table]:
    """One rich table per family present in the board, with main scores x 100."""
    columns: dict[str, set[str]] = {}
    for row in board["results"]:
        columns.setdefault(row["family"], set()).add(column_label(row["task"], row["split"]))
    family_order = [f for f in FAMILY_TITLES if f in columns] + sorted(set(columns) - set(FAMILY_TITLES))
    tables = []
    for family in family_order:
        labels = _ordered(columns[family], order)
        table = Table(title=f"{FAMILY_TITLES.get(family, family)}, x 100", title_justify="left")
        table.add_column("encoder", style="bold")
        for label in labels:
            table.add_column(label, justify="right")
        table.add_column("avg", justify="right", style="cyan")
        for name, entry in sorted(board["encoders"].items()):
            scores = {column_label(*ref.rsplit("@", 1)): s for ref, s in entry["scores"].items()}
            if not any(label in scores for label in labels):
                continue
            cells = [name] + [_cell(scores.get(label)) for label in labels]
            table.add_row(*cells, _cell(entry["families"].get(family)))
        tables.append(table)
    return tables


def _cell(score: float | None) -> str:
    return "" if score is None else f"{100 * score:.2f}"


def print_leaderboard(board: dict[str, Any], order: Sequence[str] = (), console: Console | None = None) -> None:
    if console is None:
        # A pipe or file gets whole tables, not ones squeezed to 80 columns.
        console = Console() if sys.stdout.isatty() else Console(width=400)
    if not board["results"]:
        console.print("no results yet")
        return
    for table in family_tables(board, order):
        console.print(table)
