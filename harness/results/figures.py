"""matplotlib plumbing shared by the harness's pictures: a figure on the Agg canvas, as PNG bytes or an ``<img>``.

The pages the harness writes (the leaderboard, ``harness compare --html``, the train report) are single files
that open from disk or a CI artifact with no network, so figures go in as base64 ``data:`` URIs.  Only
matplotlib's object API is used (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``: no global state, no
display, no backend chosen by the environment (``MPLBACKEND``) and nothing left open between figures.
matplotlib ships its DejaVu fonts, so nothing is downloaded; the PNG metadata leaves out the software version so
that the same data gives the same bytes on the same matplotlib.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")
"""Observable's categorical palette (the leaderboard's SVG bars use it too), so an encoder keeps its colour."""

STYLE: dict[Any, Any] = {  # rc_context wants its literal key names; these are among them
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e7",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "svg.hashsalt": "cpt-harness",
}


def new_figure(width_px: int, height_px: int, draw: Callable[[Figure], None]) -> Figure:
    """A white figure of the given size in pixels on an Agg canvas, drawn by ``draw`` in the harness's style.

    The style applies only while ``draw`` runs (``rc_context``): a library caller's own rcParams are left alone.
    """
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        draw(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG (8-bit RGBA from Agg), without the version stamp matplotlib would write."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def img_tag(png: bytes, alt: str, css_class: str = "figure") -> str:
    """An ``<img>`` carrying ``png`` inline (a ``data:`` URI): the page needs no file beside it."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
