"""``harness leaderboard DIR --html FILE``: one self-contained page people would rather look at than read.

Everything is inline (CSS, a few lines of JavaScript for sorting, SVG bar charts),
so the file opens from disk or a CI artifact with no network.  The page shows
the paper-style tables (encoders by tasks, family averages; click a header to
sort), a bar chart of family averages per family, and per run its metadata
(fingerprint, model facts, software, device, date).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.results.charts import leaderboard_charts
from harness.results.files import iter_results
from harness.results.tables import FamilyGrid, family_grids, registered_averages

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #666; }
table.scores { border-collapse: collapse; margin: .5rem 0 1rem; }
table.scores th, table.scores td { padding: .3rem .7rem; border-bottom: 1px solid #e4e4e7; text-align: right; }
table.scores th:first-child, table.scores td:first-child { text-align: left; }
table.scores th { cursor: pointer; user-select: none; background: #f6f6f7; }
table.scores th.sorted-desc::after { content: " \\25BC"; } table.scores th.sorted-asc::after { content: " \\25B2"; }
table.scores td.avg { font-weight: 600; } td.best { background: #e8f3ea; }
table.scores tr.published td { font-style: italic; color: #555; }
details { margin: .3rem 0; } summary { cursor: pointer; }
pre { background: #f6f6f7; padding: .6rem; overflow-x: auto; font-size: 12px; }
img.figure { max-width: 100%; height: auto; display: block; margin: .5rem 0; } figure { margin: 0; }
"""

SCRIPT = """
document.querySelectorAll("table.scores").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var descending = !th.classList.contains("sorted-desc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(descending ? "sorted-desc" : "sorted-asc");
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        var nx = x === "" ? -Infinity : parseFloat(x), ny = y === "" ? -Infinity : parseFloat(y);
        var order = isNaN(nx) || isNaN(ny) ? String(x).localeCompare(String(y)) : nx - ny;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def html_leaderboard(board: dict[str, Any], order: Sequence[str] = (), folder: Path | None = None) -> str:
    """The page for an aggregated board (``build_leaderboard``); ``folder`` adds each run's metadata."""
    grids = family_grids(board, order)
    encoders = sorted(board["encoders"])
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(encoders)}
    sections = [_family_section(grid, colours) for grid in grids]
    runs = _runs_section(folder) if folder is not None else ""
    charts = leaderboard_charts(board, grids, folder, registered_averages())
    generated = html.escape(str(board.get("generated", "")))
    version = html.escape(str(board.get("harness_version", "")))
    body = "\n".join(sections) if sections else "<p>no results yet</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cpt-harness leaderboard</title>
<style>{STYLE}</style>
</head>
<body>
<h1>cpt-harness leaderboard</h1>
<p class="meta">{len(encoders)} encoder(s), {len(board["results"])} result(s); generated {generated} by harness
{version}. Scores are main metrics x 100; family averages count each task once (its test split).</p>
{charts}
{body}
{runs}
<script>{SCRIPT}</script>
</body>
</html>
"""


def _family_section(grid: FamilyGrid, colours: dict[str, str]) -> str:
    header = "".join(f"<th>{html.escape(label)}</th>" for label in ["encoder", *grid.columns, "avg"])
    # The best run is marked; a published row (harness leaderboard --published) is beside the runs, not among them.
    best = [max((s for name, scores, _ in grid.rows if (s := scores[i]) is not None and name not in grid.published),
                default=None) for i in range(len(grid.columns))]  # fmt: skip
    body = []
    for name, scores, average in grid.rows:
        cells = [f'<td data-value="{html.escape(name)}">{html.escape(name)}</td>']
        published = name in grid.published
        for index, score in enumerate(scores):
            is_best = not published and score is not None and score == best[index] and len(grid.rows) > 1
            mark = ' class="best"' if is_best else ""
            cells.append(f'<td{mark} data-value="{"" if score is None else score}">{_cell(score)}</td>')
        cells.append(f'<td class="avg" data-value="{"" if average is None else average}">{_cell(average)}</td>')
        row = f'<tr class="published" title="{html.escape("; ".join(grid.published[name]))}">' if published else "<tr>"
        body.append(f"{row}{''.join(cells)}</tr>")
    table = (
        f'<table class="scores" data-family="{html.escape(grid.family)}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if grid.published:
        items = "".join(f"<li>{html.escape(name)}: {html.escape('; '.join(sources))}</li>"
                        for name, sources in grid.published.items())  # fmt: skip
        table += f'<p class="meta">Rows marked published are published numbers, not runs of this harness:</p><ul class="meta">{items}</ul>'
    chart = _bar_chart(grid, colours)
    return f'<section id="{html.escape(grid.family)}"><h2>{html.escape(grid.title)}</h2>{table}{chart}</section>'


def _bar_chart(grid: FamilyGrid, colours: dict[str, str]) -> str:
    """Horizontal bars of the family average per encoder, as inline SVG."""
    rows = [(name, average) for name, _scores, average in grid.rows if average is not None]
    if not rows:
        return ""
    rows.sort(key=lambda item: -item[1])
    label_width, bar_width, height = 260, 520, 22
    top = max(max(a for _, a in rows), 1e-9)
    parts = []
    for index, (name, average) in enumerate(rows):
        y = index * height
        width = max(bar_width * average / top, 1) if average > 0 else 1
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" font-size="12">{html.escape(name)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{height - 6}" '
            f'fill="{colours.get(name, PALETTE[0])}"><title>{html.escape(name)}: {_cell(average)}</title></rect>'
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}" font-size="12">{_cell(average)}</text>'
        )
    total = len(rows) * height
    return (
        f'<svg class="chart" role="img" aria-label="{html.escape(grid.title)} family average" '
        f'width="{label_width + bar_width + 60}" height="{total}" viewBox="0 0 {label_width + bar_width + 60} {total}">'
        f"{''.join(parts)}</svg>"
    )


def _runs_section(folder: Path) -> str:
    blocks = []
    # The board built from this folder has already said which files are unreadable and left out.
    for path, record in iter_results(folder, on_unreadable=lambda _error: None):
        encoder, task = record["encoder"], record["task"]
        facts = {
            "fingerprint": encoder.get("fingerprint"),
            "fingerprint_sha256": encoder.get("fingerprint_sha256"),
            "metadata": encoder.get("metadata"),
            "dataset_sha256": task.get("dataset", {}).get("sha256"),
            "metrics": record.get("metrics"),
            "timings": record.get("timings"),
            "environment": record.get("environment"),
            "date": record.get("date"),
            "file": path.relative_to(folder).as_posix(),
        }
        title = (
            f"{encoder['name']} on {task['name']}@{task['split']}: {task['main_metric']} {_cell(record['main_score'])}"
        )
        blocks.append(
            f"<details><summary>{html.escape(title)}</summary>"
            f"<pre>{html.escape(json.dumps(facts, indent=2, ensure_ascii=False))}</pre></details>"
        )
    return f'<section id="runs"><h2>Runs</h2>{"".join(blocks)}</section>' if blocks else ""


def _cell(score: float | None) -> str:
    return "" if score is None else f"{100 * score:.2f}"
