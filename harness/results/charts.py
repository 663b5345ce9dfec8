"""The leaderboard page's figures: every encoder's score on every task, and score against embedding width.

Two questions a table of numbers answers slowly: *where* does one encoder beat another (the per-task chart:
one panel per task family, one bar per encoder and task, like the per-task bars of MTEB's leaderboard), and
does a wider vector buy a better score (the scatter: the paper's Table 1 and Figure 3 set score against model
size; the vector's width is what a user pays for in index memory).  Both are drawn with matplotlib
(:mod:`harness.results.figures`) and sit in the page as inline PNGs.

The scatter's y value is the mean of the encoder's family averages over the families that *every* plotted
encoder has complete, so every point averages the same tasks (an average over other tasks is not comparable;
``tables.family_grids`` leaves such averages blank for the same reason).  Encoders without a recorded width
(``dim``: BM25 has no vectors) are left out and named under the figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from harness.results.figures import PALETTE, img_tag, new_figure, png_bytes
from harness.results.files import iter_results
from harness.results.tables import FamilyGrid

PANEL_HEIGHT = 200
WIDTH = 1100
MIN_SPAN = 2
MIN_SLOTS = 10
LEGEND_ROW = 20
CHARS_PER_SLOT = 16
"""Characters of 9-point DejaVu Sans that fit in one of the ten grid columns of a row (110 pixels)."""


def encoder_colours(names: Iterable[str], grids: Sequence[FamilyGrid] = ()) -> dict[str, str]:
    """The page's colour of each encoder (sorted names round the palette, as ``page.html_leaderboard`` does).

    Rows of ``grids`` that are not among ``names`` (published numbers) continue round the palette after them.
    """
    ordered = sorted(names)
    ordered += sorted({name for grid in grids for name, _s, _a in grid.rows} - set(ordered))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(ordered)}


def published_rows(grids: Sequence[FamilyGrid]) -> set[str]:
    """The rows that are published numbers (``harness leaderboard --published``), not runs of this harness."""
    return {name for grid in grids for name in getattr(grid, "published", {})}


def embedding_widths(board: dict[str, Any], folder: Path | None) -> dict[str, int]:
    """Each encoder's vector width: ``dim`` of its result files in ``folder``, or of its board row when it has one.

    A leaderboard row made elsewhere (published scores) may carry ``dim`` itself; result files record the
    encoder's ``dim`` (``schemas/result.schema.json``), ``None`` for an encoder without vectors (BM25).
    """
    widths: dict[str, int] = {}
    for name, entry in board.get("encoders", {}).items():
        dim = entry.get("dim") if isinstance(entry, dict) else None
        if isinstance(dim, int) and dim > 0:
            widths[name] = dim
    if folder is not None and folder.is_dir():
        for _path, record in iter_results(folder, on_unreadable=lambda _error: None):
            dim = record["encoder"].get("dim")
            if isinstance(dim, int) and dim > 0:
                widths.setdefault(record["encoder"]["name"], dim)
    return widths


@dataclass
class WidthPoint:
    encoder: str
    dim: int
    score: float
    """Mean of the encoder's family averages over :attr:`WidthScatter.families`, a fraction (not x 100)."""


@dataclass
class WidthScatter:
    points: list[WidthPoint]
    families: list[str]
    """The family titles averaged: those every plotted encoder has complete."""
    left_out: dict[str, str]
    """Encoder -> why it is not in the scatter."""


def width_scatter_data(grids: Sequence[FamilyGrid], widths: dict[str, int]) -> WidthScatter:
    """The scatter's points: encoders with a width, averaged over the families all of them have complete."""
    published = published_rows(grids)
    names = sorted({name for grid in grids for name, _scores, _average in grid.rows})
    left_out = {name: "published numbers, no embedding width recorded" if name in published
                else "no embedding width recorded (no vectors)" for name in names if name not in widths}  # fmt: skip
    plotted = [name for name in names if name in widths]
    averages = {grid.title: {name: average for name, _s, average in grid.rows if average is not None} for grid in grids}
    common = [title for title, by_name in averages.items() if plotted and all(n in by_name for n in plotted)]
    if not common:
        # No family that all have: drop the encoders with the fewest complete families until one appears.
        complete = {name: sum(name in by_name for by_name in averages.values()) for name in plotted}
        for name in sorted(plotted, key=lambda n: (complete[n], n)):
            plotted.remove(name)
            left_out[name] = "lacks a family the others have complete"
            common = [title for title, by_name in averages.items() if plotted and all(n in by_name for n in plotted)]
            if common:
                break
    points = [
        WidthPoint(name, widths[name], sum(averages[title][name] for title in common) / len(common))
        for name in plotted
        if common
    ]
    return WidthScatter(points, common, left_out)


def pack_panels(sizes: Sequence[int], slots: int) -> list[list[int]]:
    """Panels (by index, each ``sizes[i]`` grid columns wide) into rows of at most ``slots`` columns, first fit.

    Families with one or two tasks share a row with a wider one instead of taking a row of mostly blank axes.
    """
    rows: list[list[int]] = []
    used: list[int] = []
    for index, size in enumerate(sizes):
        for row, taken in enumerate(used):
            if taken + size <= slots:
                rows[row].append(index)
                used[row] += size
                break
        else:
            rows.append([index])
            used.append(size)
    return rows


def per_task_figure(grids: Sequence[FamilyGrid], colours: dict[str, str], skip_columns: Iterable[str] = ()) -> Figure:
    """One panel per family: a group of bars per task (main score x 100), one bar per encoder, a shared legend."""
    skip = set(skip_columns)
    panels = [(grid, [i for i, c in enumerate(grid.columns) if c not in skip]) for grid in grids]
    panels = [(grid, kept) for grid, kept in panels if kept and grid.rows]
    spans = [_span(grid, kept) for grid, kept in panels]
    slots = max([MIN_SLOTS, *spans])
    layout = pack_panels(spans, slots)
    published = published_rows(grids)
    # Runs first, then published rows (hatched): the order of the tables' rows
    encoders = sorted({name for grid, _kept in panels for name, _s, _a in grid.rows}, key=lambda n: (n in published, n))
    columns = 3 if any(len(name) > 24 for name in encoders) else 6
    legend_height = LEGEND_ROW * math.ceil(len(encoders) / columns) + 12

    def draw(figure: Figure) -> None:
        grid_spec = figure.add_gridspec(max(len(layout), 1), slots, wspace=0.9, hspace=0.6)
        axes = []
        for row, members in enumerate(layout):
            column = 0
            for index in members:
                axes.append(figure.add_subplot(grid_spec[row, column : column + spans[index]]))
                _draw_family(axes[-1], *panels[index], encoders, colours, published)
                column += spans[index]
        if axes:
            legend = _legend_entries(axes, encoders)
            figure.legend(*legend, loc="upper center", ncols=min(len(legend[1]), columns), frameon=False)
        height = figure.bbox.height
        figure.subplots_adjust(left=0.04, right=0.99, top=1 - (legend_height + 24) / height, bottom=30 / height)

    return new_figure(WIDTH, legend_height + 24 + PANEL_HEIGHT * max(len(layout), 1), draw)


def _span(grid: FamilyGrid, kept: Sequence[int]) -> int:
    """Grid columns for a family's panel: a column per task, and room for its title and its tasks' names."""
    labels = sum(len(grid.columns[i]) + 3 for i in kept)
    return max(len(kept), MIN_SPAN, math.ceil(len(grid.title) / CHARS_PER_SLOT), math.ceil(labels / CHARS_PER_SLOT))


def _draw_family(
    ax: Any,
    grid: FamilyGrid,
    kept: Sequence[int],
    encoders: Sequence[str],
    colours: dict[str, str],
    published: Collection[str] = (),
) -> None:
    """One family's grouped bars: tasks along x, encoders side by side within a task; a missing score, no bar.

    A published row's bars are hatched: numbers from elsewhere, beside this harness's runs.
    """
    width = 0.8 / max(len(encoders), 1)
    for rank, name in enumerate(encoders):
        row = next((scores for n, scores, _a in grid.rows if n == name), None)
        if row is None:
            continue
        bars = [(k + (rank - (len(encoders) - 1) / 2) * width, 100 * s) for k, i in enumerate(kept)
                if (s := row[i]) is not None]  # fmt: skip
        if bars:
            xs, heights = zip(*bars, strict=True)
            colour = colours.get(name, PALETTE[0])
            style = {"color": "white", "edgecolor": colour, "hatch": "////"} if name in published else {"color": colour}
            ax.bar(xs, heights, width=width * 0.92, label=name, **style)
    ax.set_xticks(range(len(kept)), [grid.columns[i] for i in kept])
    ax.set_xlim(-0.6, len(kept) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_title(grid.title, loc="left")
    ax.grid(axis="x", visible=False)


def _legend_entries(axes: Sequence[Any], encoders: Sequence[str]) -> tuple[list[Any], list[str]]:
    """One legend entry per encoder, from whichever panel drew it first."""
    found: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    names = [name for name in encoders if name in found]
    return [found[name] for name in names], names


def width_scatter_figure(data: WidthScatter, colours: dict[str, str]) -> Figure:
    """Score (x 100) against embedding width on a log2 axis, each point named."""

    def draw(figure: Figure) -> None:
        ax = figure.subplots()
        for point in data.points:
            ax.scatter([point.dim], [100 * point.score], s=60, color=colours.get(point.encoder, PALETTE[0]), zorder=3)
            ax.annotate(point.encoder, (point.dim, 100 * point.score), xytext=(6, 4), textcoords="offset points")
        ax.set_xscale("log", base=2)
        dims = sorted({p.dim for p in data.points})
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        if dims:
            ax.set_xlim(dims[0] / 1.4, dims[-1] * 1.8)
        ax.set_xlabel("embedding width (dimensions, log scale)")
        ax.set_ylabel("mean of family averages (x 100)")
        ax.set_title("Score against embedding width", loc="left")
        figure.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.14)

    return new_figure(760, 380, draw)


def leaderboard_charts(
    board: dict[str, Any], grids: Sequence[FamilyGrid], folder: Path | None, skip_columns: Iterable[str] = ()
) -> str:
    """The page's "Charts" section: the per-task chart and the width scatter (with what it left out), as HTML."""
    if not grids:
        return ""
    colours = encoder_colours(board.get("encoders", {}), grids)
    per_task = img_tag(png_bytes(per_task_figure(grids, colours, skip_columns)), "main score per task and encoder",
                       "figure per-task")  # fmt: skip
    scatter = width_scatter_data(grids, embedding_widths(board, folder))
    if scatter.points:
        families = ", ".join(scatter.families)
        figure = img_tag(png_bytes(width_scatter_figure(scatter, colours)), "score against embedding width",
                         "figure width-scatter")  # fmt: skip
        caption = f"Each point: the mean of the encoder's family averages over {html.escape(families)}."
    else:
        figure, caption = "", "No encoder with a recorded embedding width has a family average to plot."
    if scatter.left_out:
        names = "; ".join(f"{html.escape(name)} ({html.escape(why)})" for name, why in sorted(scatter.left_out.items()))
        caption += f" Left out: {names}."
    return (
        '<section id="charts"><h2>Charts</h2>'
        f"{per_task}"
        f'<figure class="width-scatter">{figure}<figcaption class="meta">{caption}</figcaption></figure>'
        "</section>"
    )
