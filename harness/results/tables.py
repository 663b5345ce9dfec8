"""The leaderboard in the terminal, laid out like the cpt paper's tables.

One table per task family (classification, STS, retrieval, code search): encoders
as rows, the family's tasks and their average as columns.  The average is shown
only for an encoder that has every task of the family (each task once, at its
test split), so averages in one column are over the same tasks.  Columns follow the
order in which suites list the tasks (so the paper's order when the ``paper``
suite is registered), then alphabetical order for the rest.

A suite registered with ``average=True`` adds a ``NAME avg`` column after the last
of its tasks, as the paper's tables add "Avg" after a group of columns (Table 7's six
CodeSearchNet languages): the mean of the suite's tasks, blank for an encoder that
lacks any of them (an average over part of the group is not the paper's number),
and left out of a table where no encoder has them all.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

FAMILY_TITLES = {
    "classification": "Linear-probe classification (accuracy)",
    "zero-shot": "Zero-shot and k-NN classification (accuracy)",
    "sts": "Sentence similarity (Spearman of cosine)",
    "retrieval": "Retrieval (nDCG@10)",
    "code-search": "Code search (MRR)",
}


def column_label(task: str, split: str, default_split: str = "test") -> str:
    """A task's column: its name at its default split (``beir-msmarco`` is MS MARCO dev), ``name@split`` otherwise."""
    return task if split == default_split else f"{task}@{split}"


def _ordered(labels: set[str], order: Sequence[str]) -> list[str]:
    position: dict[str, int] = {}
    for name in order:
        position.setdefault(name, len(position))
    return sorted(labels, key=lambda label: (position.get(label, len(position)), label))


@dataclass
class FamilyGrid:
    """One family's table as data: what the terminal, Markdown and HTML renderings all show."""

    family: str
    title: str
    columns: list[str]
    rows: list[tuple[str, list[float | None], float | None]]
    """(encoder, main score per column, family average); scores as fractions, not x 100."""
    published: dict[str, list[str]] = field(default_factory=dict)
    """The rows that are published numbers, not runs (after the runs): row label -> where each cell is from."""


def registered_averages() -> dict[str, tuple[str, ...]]:
    """The averaged suites the loaded plugins registered (imported late: the plugin host imports the harness)."""
    from harness.pluginhost import get_host

    return get_host().catalog.leaderboard_averages()


def _ref_label(ref: str, defaults: dict[str, str]) -> str:
    task, _, split = ref.rpartition("@") if "@" in ref else (ref, "", "")
    return column_label(task, split or defaults.get(task, "test"), defaults.get(task, "test"))


def _with_averages(
    labels: list[str], rows: list[tuple[str, list[float | None], float | None]], groups: dict[str, list[str]]
) -> tuple[list[str], list[tuple[str, list[float | None], float | None]]]:
    """``labels`` and ``rows`` with each group's mean as a column after its last member, where any row has them all."""
    for name, members in groups.items():
        if not members or not set(members) <= set(labels):
            continue
        where = [labels.index(m) for m in members]
        means = [_mean([scores[i] for i in where]) for _, scores, _ in rows]
        if all(mean is None for mean in means):
            continue
        at = max(where) + 1
        labels = [*labels[:at], name, *labels[at:]]
        rows = [(e, [*s[:at], mean, *s[at:]], a) for (e, s, a), mean in zip(rows, means, strict=True)]
    return labels, rows


def _mean(scores: list[float | None]) -> float | None:
    present = [s for s in scores if s is not None]
    return sum(present) / len(present) if len(present) == len(scores) else None


def family_grids(
    board: dict[str, Any], order: Sequence[str] = (), averages: dict[str, tuple[str, ...]] | None = None
) -> list[FamilyGrid]:
    """The board's tables; ``averages`` (``NAME avg`` -> task references) defaults to the registered suites'."""
    if averages is None:
        averages = registered_averages()
    columns: dict[str, set[str]] = {}
    defaults = {row["task"]: row.get("default_split", "test") for row in board["results"]}
    for row in board["results"]:
        columns.setdefault(row["family"], set()).add(column_label(row["task"], row["split"], defaults[row["task"]]))
    family_order = [f for f in FAMILY_TITLES if f in columns] + sorted(set(columns) - set(FAMILY_TITLES))
    grids = []
    for family in family_order:
        labels = _ordered(columns[family], order)
        tasks = {row["task"] for row in board["results"] if row["family"] == family}
        rows = []
        for name, entry in sorted(board["encoders"].items()):
            scores = {}
            for ref, score in entry["scores"].items():
                task, split = ref.rsplit("@", 1)
                scores[column_label(task, split, defaults.get(task, "test"))] = score
            if not any(label in scores for label in labels):
                continue
            # An average over fewer tasks than the others is not comparable: left blank, as MTEB does.
            complete = tasks <= {ref.rsplit("@", 1)[0] for ref in entry["scores"]}
            average = entry["families"].get(family) if complete else None
            rows.append((name, [scores.get(label) for label in labels], average))
        published = _published_rows(board, family, labels, tasks, defaults)
        rows += [(name, scores, average) for name, (scores, average, _) in published.items()]
        groups = {name: [_ref_label(ref, defaults) for ref in refs] for name, refs in averages.items()}
        labels, rows = _with_averages(labels, rows, groups)
        notes = {name: sources for name, (_, _, sources) in published.items()}
        grids.append(FamilyGrid(family, FAMILY_TITLES.get(family, family), labels, rows, notes))
    return grids


PUBLISHED_MARK = "published"


def _published_rows(
    board: dict[str, Any], family: str, labels: list[str], tasks: set[str], defaults: dict[str, str]
) -> dict[str, tuple[list[float | None], float | None, list[str]]]:
    """The board's published rows (``harness leaderboard --published``) for one family's columns.

    Only the columns the runs have: a published row stands beside the runs, never adds a column (which would
    leave every run's average blank).  A row's average, like a run's, needs every task of the family, each at
    its default split (MTEB's SICK-R is sickr@full, not the sickr@test the runs' average counts).  Its label
    says it is published, and from where (MTEB's version and the model's revision, or the paper's table).
    """
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in board.get("published", []):
        if entry["family"] != family:
            continue
        label = column_label(entry["task"], entry["split"], defaults.get(entry["task"], entry["default_split"]))
        if label in labels:
            by_row.setdefault(entry["row"], {})[label] = entry
    rows: dict[str, tuple[list[float | None], float | None, list[str]]] = {}
    for row, cells in by_row.items():
        shown = [cells[label] for label in labels if label in cells]
        scores: list[float | None] = [cells[label]["main_score"] if label in cells else None for label in labels]
        at_default = {e["task"]: e["main_score"] for e in shown if e["split"] == e["default_split"]}
        average = sum(at_default[t] for t in sorted(tasks)) / len(tasks) if tasks <= set(at_default) else None
        rows[f"{row} ({PUBLISHED_MARK}: {_origin(shown)})"] = (scores, average, _sources(shown))
    return rows


def _sources(entries: list[dict[str, Any]]) -> list[str]:
    """Where the cells are from: MTEB's files by folder, or each distinct citation."""
    folders: dict[str, list[str]] = {}
    others: list[str] = []
    for entry in entries:
        if entry.get("mteb"):
            folder, _, name = str(entry["mteb"]["file"]).rpartition("/")
            folders.setdefault(folder, []).append(name)
        elif entry["source"] not in others:
            others.append(entry["source"])
    return [f"{folder}/ ({', '.join(names)})" for folder, names in folders.items()] + others


def _origin(entries: list[dict[str, Any]]) -> str:
    """Where a row's shown cells are from, in short: MTEB's versions and the model's revision, or the sources."""
    mteb = [entry["mteb"] for entry in entries if entry.get("mteb")]
    revisions = {m["revision"] for m in mteb}
    if len(mteb) == len(entries) and len(revisions) == 1:
        versions = sorted({str(m["mteb_version"]) for m in mteb}, key=_version_key)
        return f"MTEB {'/'.join(versions)}, revision {next(iter(revisions))[:8]}"
    return "; ".join(dict.fromkeys(str(entry["origin"]) for entry in entries))


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in text.split("-")[0].split("."))


def family_tables(board: dict[str, Any], order: Sequence[str] = ()) -> list[Table]:
    """One rich table per family present in the board, with main scores x 100."""
    tables = []
    for grid in family_grids(board, order):
        table = Table(title=f"{grid.title}, x 100", title_justify="left")
        table.add_column("encoder", style="bold")
        for label in grid.columns:
            table.add_column(label, justify="right")
        table.add_column("avg", justify="right", style="cyan")
        for name, scores, average in grid.rows:
            style = "italic" if name in grid.published else None
            table.add_row(name, *[_cell(score) for score in scores], _cell(average), style=style)
        if grid.published:
            table.caption = "Rows marked published are published numbers, not runs (harness leaderboard --published)."
            table.caption_justify = "left"
        tables.append(table)
    return tables


def markdown_leaderboard(board: dict[str, Any], order: Sequence[str] = ()) -> str:
    """The same tables as Markdown (GitHub-flavoured), scores x 100."""
    parts = []
    for grid in family_grids(board, order):
        header = ["encoder", *grid.columns, "avg"]
        lines = [f"### {grid.title}, x 100", "", "| " + " | ".join(header) + " |",
                 "|---|" + "---:|" * (len(header) - 1)]  # fmt: skip
        for name, scores, average in grid.rows:
            lines.append("| " + " | ".join([name, *[_cell(s) for s in scores], _cell(average)]) + " |")
        if grid.published:
            lines += ["", "Rows marked published are published numbers, not runs of this harness:"]
            lines += [f"- {name}: {'; '.join(sources)}" for name, sources in grid.published.items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else "no results yet\n"


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
