"""``harness compare A B --html FILE``: the comparison as a forest plot above its table, in one self-contained page.

A forest plot (one row per task: the difference B - A as a point, its paired-bootstrap percentile interval as a
whisker, a line at zero) is how meta-analyses and model-comparison papers show many effects with their
uncertainty at once; a task whose whisker clears zero is significant (``TaskComparison.significant``), drawn
filled and coloured by sign; one without an interval (no per-example scores) is a hollow point, its reason in
the table.  The rows are exactly :func:`harness.checks.bootstrap.compare`'s, in its order.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.checks.bootstrap import TaskComparison
from harness.results.figures import img_tag, new_figure, png_bytes

BETTER, WORSE, UNSURE = "#3ca951", "#ff725c", "#8a8a8e"
"""Significant in B's favour, significant against B, interval spanning zero (and no interval: hollow)."""

ROW_HEIGHT = 26

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .meta { color: #666; }
table.comparison { border-collapse: collapse; margin: 1rem 0; }
table.comparison th, table.comparison td { padding: .3rem .7rem; border-bottom: 1px solid #e4e4e7; text-align: right; }
table.comparison th { background: #f6f6f7; }
table.comparison td:nth-child(-n+2), table.comparison th:nth-child(-n+2) { text-align: left; }
table.comparison th, table.comparison td { white-space: nowrap; }
td.better { color: #1f7a34; font-weight: 600; } td.worse { color: #c2341f; font-weight: 600; }
table.comparison td.note { color: #666; white-space: normal; text-align: left; max-width: 26rem; }
img.figure { max-width: 100%; height: auto; display: block; }
"""


def row_colour(row: TaskComparison) -> str:
    """The colour of a task's point: by the sign of a significant difference, grey otherwise."""
    if not row.significant:
        return UNSURE
    return BETTER if row.difference > 0 else WORSE


def forest_figure(name_a: str, name_b: str, rows: Sequence[TaskComparison], confidence: float) -> Figure:
    """The forest plot: tasks top to bottom in ``rows``' order, differences (B - A) along x, zero marked."""

    def draw(figure: Figure) -> None:
        ax = figure.subplots()
        positions = list(range(len(rows)))[::-1]  # the first row at the top
        for y, row in zip(positions, rows, strict=True):
            colour = row_colour(row)
            if row.low is not None and row.high is not None:
                ax.errorbar([row.difference], [y], xerr=[[row.difference - row.low], [row.high - row.difference]],
                            fmt="o", color=colour, ecolor=colour, elinewidth=2.2, capsize=4, markersize=6,
                            zorder=3)  # fmt: skip
            else:
                ax.plot([row.difference], [y], "o", markerfacecolor="white", markeredgecolor=colour, markersize=7,
                        zorder=3)  # fmt: skip
        ax.axvline(0.0, color="#1d1d1f", linewidth=1, zorder=2)
        keys = _legend_keys(rows, name_b)
        if keys:
            ax.legend(handles=keys, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(keys), frameon=False,
                      handletextpad=0.3, columnspacing=1.0)  # fmt: skip
        ax.set_yticks(positions, [f"{row.task} ({row.metric})" for row in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"{name_b} - {name_a} (main score; whiskers: {confidence:.0%} paired-bootstrap interval)")
        ax.set_title(f"{name_b} minus {name_a}, per task", loc="left", pad=22)
        top = 1 - 58 / figure.bbox.height
        figure.subplots_adjust(left=0.3, right=0.97, top=top, bottom=52 / figure.bbox.height)

    return new_figure(900, 120 + ROW_HEIGHT * max(len(rows), 1), draw)


def _legend_keys(rows: Sequence[TaskComparison], name_b: str) -> list[Line2D]:
    """A key for each kind of point the plot has: significant either way, not significant, no interval."""
    kinds = [
        (f"{name_b} better", BETTER, True, any(r.significant and r.difference > 0 for r in rows)),
        (f"{name_b} worse", WORSE, True, any(r.significant and r.difference <= 0 for r in rows)),
        ("not significant", UNSURE, True, any(r.significant is False for r in rows)),
        ("no interval", UNSURE, False, any(r.significant is None for r in rows)),
    ]
    return [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            color=colour,
            markerfacecolor=colour if filled else "white",
            label=label,
        )  # fmt: skip
        for label, colour, filled, present in kinds
        if present
    ]


def html_comparison(
    name_a: str, name_b: str, rows: Sequence[TaskComparison], *, confidence: float, resamples: int
) -> str:
    """The page: the forest plot, then the table ``harness compare`` prints (same rows, same numbers)."""
    level = f"{confidence:.0%}"
    figure = img_tag(png_bytes(forest_figure(name_a, name_b, rows, confidence)), f"{name_b} minus {name_a} per task",
                     "figure forest")  # fmt: skip
    header = "".join(f"<th>{html.escape(c)}</th>" for c in
                     ("task", "metric", name_a, name_b, "difference", f"{level} interval", "significant", "n"))  # fmt: skip
    body = []
    for row in rows:
        mark = {True: "better" if row.difference > 0 else "worse", False: "", None: ""}[row.significant]
        interval = (f"<td>[{row.low:+.4f}, {row.high:+.4f}]</td>" if row.low is not None and row.high is not None
                    else f'<td class="note">{html.escape(row.note)}</td>')  # fmt: skip
        significant = {True: "yes", False: "no", None: "-"}[row.significant]
        body.append(
            f'<tr data-task="{html.escape(row.task)}"><td>{html.escape(row.task)}</td><td>{html.escape(row.metric)}</td>'
            f"<td>{row.score_a:.4f}</td><td>{row.score_b:.4f}</td>"
            f'<td class="{mark}">{row.difference:+.4f}</td>{interval}<td>{significant}</td>'
            f"<td>{row.n_examples or ''}</td></tr>"
        )
    significant_count = sum(1 for row in rows if row.significant)
    title = f"{name_b} vs {name_a}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Differences {html.escape(name_b)} - {html.escape(name_a)} in each task's main score, with paired-bootstrap
{level} percentile intervals ({resamples} resamples of the same test examples for both); {significant_count} of
{len(rows)} task(s) differ significantly (interval clear of zero).</p>
{figure}
<table class="comparison"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>
</body>
</html>
"""
