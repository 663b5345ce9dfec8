"""``harness report --paper RESULTS --html FILE``: the paper-layout report as one self-contained page.

It is the leaderboard page's kind (:mod:`harness.results.page`): the same inline style and the same few lines
of JavaScript that sort a table by a clicked header, no network.  Published cells carry their citation as a
numbered note under their table and as the cell's tooltip.
"""

from __future__ import annotations

import html
from pathlib import Path

from harness.results.page import SCRIPT, STYLE
from harness.results.paper_tables import (
    Cell,
    PaperGrid,
    PaperReport,
    PaperTable,
    citations,
    row_label,
    score_text,
)

EXTRA_STYLE = """
table.scores tr.published td:first-child { font-style: italic; }
table.scores sup a { text-decoration: none; }
ol.sources { font-size: 12px; color: #444; } ul.notes { color: #8a4b00; }
"""


def html_report(report: PaperReport, folder: Path | str) -> str:
    """The page for :func:`~harness.results.paper_tables.paper_report`'s tables of the results in ``folder``."""
    sections = "\n".join(_section(grid) for grid in report.grids)
    notes = ""
    if report.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
        notes = f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'
    where = html.escape(str(folder))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cpt paper tables: {where}</title>
<style>{STYLE}{EXTRA_STYLE}</style>
</head>
<body>
<h1>The cpt paper's tables, from {where}</h1>
<p class="meta">Neelakantan et al. 2022, "Text and Code Embeddings by Contrastive Pre-Training" (arXiv 2201.10005),
Tables 2-7: encoders as rows, scores x 100 with one decimal as the paper prints them. A blank cell has no result
(or see the notes); an average is printed only over a complete row. Rows marked "(published)" are published
numbers (the paper's, or another --published source's), each cell with its source. Click a header to sort.</p>
{sections}
{notes}
<script>{SCRIPT}</script>
</body>
</html>
"""


def _section(grid: PaperGrid) -> str:
    table = grid.table
    anchor = f"table-{table.number}"
    title = f"<h2>Table {table.number}. {html.escape(table.title)}, x 100</h2>"
    notes = f'<p class="meta">{_column_note(table)} {html.escape(table.note)}</p>'
    if not grid.rows:
        return f'<section id="{anchor}">{title}{notes}<p>No results for these tasks, and no verified published row.</p></section>'
    numbers = {citation: n for n, citation in enumerate(citations(grid), start=1)}
    labels = ["model", *[c.label for c in table.columns], *(["Avg."] if table.average else [])]
    header = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    body = []
    for row in grid.rows:
        name = html.escape(row_label(row))
        cells = [f'<td data-value="{name}">{name}</td>']
        cells += [_cell(cell, numbers, anchor) for cell in row.cells]
        if table.average:
            cells.append(_cell(row.average, numbers, anchor, "avg"))
        css = ' class="published"' if row.published else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    sources = "".join(f'<li id="{anchor}-source-{n}">{html.escape(citation)}</li>' for citation, n in numbers.items())
    listed = f'<ol class="sources">{sources}</ol>' if sources else ""
    return (
        f'<section id="{anchor}">{title}{notes}<table class="scores" data-table="{table.number}"><thead><tr>{header}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>{listed}</section>"
    )


def _cell(cell: Cell, numbers: dict[str, int], anchor: str, css: str = "") -> str:
    value = "" if cell.value is None else repr(cell.value)
    classes = f' class="{css}"' if css else ""
    text = score_text(cell.value)
    if cell.citation is None or not text:
        return f'<td{classes} data-value="{value}">{text}</td>'
    n = numbers[cell.citation]
    tip = html.escape(cell.citation, quote=True)
    return (
        f'<td{classes} data-value="{value}" title="{tip}">{text}<sup><a href="#{anchor}-source-{n}">{n}</a></sup></td>'
    )


def _column_note(table: PaperTable) -> str:
    """Which harness task and metric fill each column (the Markdown's note, with HTML's code spans)."""
    parts = [
        f"{html.escape(c.label)} = <code>{html.escape(c.task)}</code> {html.escape(c.metric)}"
        + (f" at {html.escape(c.split)}" if c.split else "")
        for c in table.columns
    ]
    return "Columns: " + "; ".join(parts) + (". Avg. = their mean." if table.average else ".")
