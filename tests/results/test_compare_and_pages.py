"""``harness compare`` (paired bootstrap) and the Markdown / HTML leaderboards."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness.checks.bootstrap import _spearman_rows, align, compare, paired_bootstrap
from harness.cli import main
from harness.results.charts import (
    embedding_widths,
    encoder_colours,
    per_task_figure,
    published_rows,
    width_scatter_data,
)
from harness.results.compare_page import forest_figure, row_colour
from harness.results.tables import family_grids
from harness.task import PerExample
from helpers import REPO, chromium, read_results, render_in_chromium

REFERENCE = REPO / "results" / "reference"


def test_identical_encoders_have_an_interval_around_zero() -> None:
    scores = PerExample.scores(np.random.default_rng(0).random(300))
    low, high = paired_bootstrap(scores, scores)
    assert low == high == 0.0


def test_a_clear_difference_is_significant_and_a_tiny_one_is_not() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(400)
    improved = np.clip(base + 0.1, 0, 1)
    low, high = paired_bootstrap(PerExample.scores(base), PerExample.scores(improved))
    assert 0 < low < float(np.mean(improved - base)) < high
    noisy = PerExample.scores(np.clip(base + rng.normal(0, 0.2, 400), 0, 1))
    low, high = paired_bootstrap(PerExample.scores(base), noisy)
    assert low < 0 < high


def test_spearman_rows_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=(3, 50)).astype(float)
    y = rng.random((3, 50))
    expected = [spearmanr(x[i], y[i]).statistic for i in range(3)]
    np.testing.assert_allclose(_spearman_rows(x, y), expected, rtol=1e-12)


def test_named_examples_are_aligned_by_id() -> None:
    a = PerExample.scores([0.1, 0.2, 0.3], ["q1", "q2", "q3"])
    b = PerExample.scores([0.3, 0.1, 0.2], ["q3", "q1", "q2"])
    _, aligned = align(a, b)
    assert aligned.ids == ["q1", "q2", "q3"] and aligned.values["score"] == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="ids differ"):
        align(a, PerExample.scores([0.1, 0.2, 0.3], ["q1", "q2", "q4"]))


def run_two_encoders(tmp_path: Path) -> Path:
    out = tmp_path / "results"
    for encoder in ("hash-bow", "cpt-micro"):
        extra = ["--untrained"] if encoder == "cpt-micro" else []
        assert main(["run", "--encoder", encoder, *extra, "--tasks", "stsb,scifact", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_two_encoders(tmp_path_factory.mktemp("compare"))


def test_compare_prints_intervals_for_two_encoders(two_runs: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "compare.json"
    code = main(["compare", str(two_runs / "hash-bow"), str(two_runs / "cpt-micro-untrained"),
                 "--report", "json", str(report), "--report", "md", str(tmp_path / "compare.md")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "stsb@test" in out and "scifact@test" in out and "95% interval" in out
    data = json.loads(report.read_text())
    by_task = {row["task"]: row for row in data["tasks"]}
    stsb = by_task["stsb@test"]
    assert stsb["low"] <= stsb["difference"] <= stsb["high"] and stsb["n_examples"] == 1379
    assert by_task["scifact@test"]["n_examples"] == 300
    assert "| stsb@test | cosine_spearman |" in (tmp_path / "compare.md").read_text()


def test_compare_refuses_a_folder_of_several_encoders(two_runs: Path, capsys) -> None:
    assert main(["compare", str(two_runs), str(two_runs / "hash-bow")]) == 2
    assert "give one folder" in capsys.readouterr().err


def test_markdown_and_html_leaderboards(two_runs: Path, tmp_path: Path) -> None:
    page, table = tmp_path / "board.html", tmp_path / "board.md"
    assert main(["leaderboard", str(two_runs), "--html", str(page), "--markdown", str(table)]) == 0
    board = json.loads((two_runs / "leaderboard.json").read_text())
    stsb = next(r for r in board["results"] if r["encoder"] == "hash-bow" and r["task"] == "stsb")
    shown = f"{100 * stsb['main_score']:.2f}"
    assert f"| hash-bow | {shown} |" in table.read_text()
    text = page.read_text()
    assert shown in text and "<svg" in text and "cpt-micro-untrained" in text
    assert not re.search(r'(src|href)="(https?:)?//', text), "the page must need no network"


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_html_leaderboard_renders_in_headless_chromium(two_runs: Path, tmp_path: Path) -> None:
    page, shot = tmp_path / "board.html", tmp_path / "board.png"
    assert main(["leaderboard", str(two_runs), "--html", str(page)]) == 0
    rendered = render_in_chromium(page, shot)
    board = json.loads((two_runs / "leaderboard.json").read_text())
    for row in board["results"]:
        assert f"{100 * row['main_score']:.2f}" in rendered.dom
    assert rendered.dom.count('<table class="scores"') == 2  # sts and retrieval
    assert not rendered.script_errors, "the page's script raised"
    # The charts: the per-task bars and the width scatter, decoded by Chromium at their drawn size, and painted
    colours = encoder_colours(board["encoders"])
    per_task = per_task_figure(family_grids(board), colours).bbox.size
    assert rendered.images == {"figure per-task": tuple(per_task.astype(int)), "figure width-scatter": (760, 380)}
    assert all(rendered.pixels_near(colour) > 300 for colour in colours.values()), colours
    assert shot.stat().st_size > 10_000


def test_compare_html_is_a_forest_plot_of_compares_rows(two_runs: Path, tmp_path: Path, cli) -> None:
    a, b = two_runs / "hash-bow", two_runs / "cpt-micro-untrained"
    page, report = tmp_path / "compare.html", tmp_path / "compare.json"
    result = cli("compare", a, b, "--html", page, "--report", "json", report)
    assert result.code == 0, result.err
    assert f"html: {page}" in result.out
    rows = json.loads(report.read_text())["tasks"]
    text = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text), "the page must need no network"
    # The page's table is compare's rows, in compare's order, with compare's numbers
    shown = re.findall(r'<tr data-task="([^"]+)">(.*?)</tr>', text)
    assert [task for task, _ in shown] == [row["task"] for row in rows] == ["scifact@test", "stsb@test"]
    for (_, cells), row in zip(shown, rows, strict=True):
        assert f"{row['difference']:+.4f}" in cells and f"[{row['low']:+.4f}, {row['high']:+.4f}]" in cells
    # The forest plot draws the same rows: a point at each difference, a whisker from low to high, a zero line
    name_a, name_b, comparisons = compare(a, b)
    ax = forest_figure(name_a, name_b, comparisons, 0.95).axes[0]
    by_y = {round(y): label.get_text() for y, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
    drawn = {}
    for container in ax.containers:
        point, _caps, (whisker,) = container.lines
        (y,) = point.get_ydata()
        ((low, _), (high, _)) = whisker.get_segments()[0]
        drawn[by_y[round(y)]] = (float(point.get_xdata()[0]), float(low), float(high))
    expected = {f"{r['task']} ({r['metric']})": (r["difference"], r["low"], r["high"]) for r in rows}
    assert drawn.keys() == expected.keys()
    for label, values in expected.items():
        assert drawn[label] == pytest.approx(values)
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "-"][-1] == 0  # the zero line


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_compare_page_renders_in_headless_chromium(two_runs: Path, tmp_path: Path, cli) -> None:
    page, shot = tmp_path / "compare.html", tmp_path / "compare.png"
    assert cli("compare", two_runs / "hash-bow", two_runs / "cpt-micro-untrained", "--html", page).code == 0
    rendered = render_in_chromium(page, shot)
    assert rendered.images == {"figure forest": (900, 120 + 26 * 2)}
    assert not rendered.script_errors
    assert rendered.dom.count("<tr data-task=") == 2
    _, _, rows = compare(two_runs / "hash-bow", two_runs / "cpt-micro-untrained")
    for colour in {row_colour(row) for row in rows}:  # each row's point and whisker, painted
        assert rendered.pixels_near(colour) > 40, colour
    assert shot.stat().st_size > 10_000


def test_leaderboard_charts_show_every_score_and_the_width_of_each_vector(tmp_path: Path, cli) -> None:
    """The committed reference results: six encoders, five families, BM25 without vectors."""
    folder = shutil.copytree(REFERENCE, tmp_path / "reference")
    page = tmp_path / "board.html"
    assert cli("leaderboard", folder, "--html", page).code == 0
    board = json.loads((folder / "leaderboard.json").read_text())
    text = page.read_text()
    assert text.count('<img class="figure per-task"') == 1 and text.count('<img class="figure width-scatter"') == 1
    assert "Left out: bm25 (no embedding width recorded (no vectors))." in text
    # Widths as the result files record them
    recorded = {r["encoder"]["name"]: r["encoder"]["dim"] for r in read_results(folder).values()}
    widths = embedding_widths(board, folder)
    assert widths == {name: dim for name, dim in recorded.items() if dim} and "bm25" not in widths
    # The scatter: each encoder's mean over the families that every plotted encoder has complete
    grids = family_grids(board)
    scatter = width_scatter_data(grids, widths)
    tasks: dict[str, set[str]] = {}
    for row in board["results"]:
        tasks.setdefault(row["family"], set()).add(row["task"])
    has_all = {e: {f for f, ts in tasks.items() if ts <= {k.rsplit("@", 1)[0] for k in board["encoders"][e]["scores"]}}
               for e in widths}  # fmt: skip
    common = set.intersection(*has_all.values())
    assert common and len(scatter.points) == len(widths) == 5
    for point in scatter.points:
        families = board["encoders"][point.encoder]["families"]
        assert point.dim == widths[point.encoder]
        assert point.score == pytest.approx(np.mean([families[f] for f in common]))
    # The per-task chart: one panel per family, one bar per encoder and task at its score x 100
    figure = per_task_figure(grids, encoder_colours(board["encoders"]))
    panels = {ax.get_title(loc="left"): ax for ax in figure.axes}
    assert set(panels) == {grid.title for grid in grids}
    for grid in grids:
        ax = panels[grid.title]
        assert [t.get_text() for t in ax.get_xticklabels()] == grid.columns
        bars = {container.get_label(): [bar.get_height() for bar in container] for container in ax.containers}
        for name, scores, _average in grid.rows:
            assert bars[name] == pytest.approx([100 * s for s in scores if s is not None])


def test_published_rows_are_hatched_bars_and_stay_out_of_the_width_scatter(tmp_path: Path, cli) -> None:
    folder = shutil.copytree(REFERENCE, tmp_path / "reference")
    page = tmp_path / "board.html"
    assert cli("leaderboard", folder, "--published", REPO / "results/published/mteb", "--html", page).code == 0
    board = json.loads((folder / "leaderboard.json").read_text())
    grids = family_grids(board)
    published = published_rows(grids)
    assert published and not published & set(board["encoders"])
    colours = encoder_colours(board["encoders"], grids)
    assert len(set(colours.values())) == len(colours)  # a published row does not borrow a run's colour
    drawn = set()
    for ax in per_task_figure(grids, colours).axes:
        for container in ax.containers:
            drawn.add(container.get_label())
            assert (container.patches[0].get_hatch() == "////") == (container.get_label() in published)
    assert published <= drawn
    text = page.read_text()
    for name in published:
        assert f"{name} (published numbers, no embedding width recorded)" in text


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_the_chromium_check_sees_a_script_error_and_a_figure_that_does_not_decode(tmp_path: Path) -> None:
    """What the page tests rely on: a page whose script throws, or whose inline PNG is broken, is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img class="figure" src="data:image/png;base64,iVBORAAA">'
                    '<script>throw new Error("boom")</script></body></html>')  # fmt: skip
    rendered = render_in_chromium(page, tmp_path / "broken.png")
    assert rendered.images == {"figure": (0, 0)}
    assert any("Uncaught Error: boom" in line for line in rendered.script_errors), rendered.console
