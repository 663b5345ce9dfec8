"""The result folders committed under ``results/`` are what the harness would write now.

A reference run that someone edited by hand, a result file from an older schema, or a leaderboard page that was
not regenerated after the last run would mislead every reader of the repository; this catches all three.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.pluginhost import get_host
from harness.results.files import LEADERBOARD_FILE, build_leaderboard
from harness.results.page import html_leaderboard
from harness.results.published_sources import leaderboard_rows, rows_json
from harness.results.tables import markdown_leaderboard
from helpers import REPO, schema_validator

RESULTS = REPO / "results"
RUN_FOLDERS = [p for p in (RESULTS / "reference", RESULTS / "demo") if (p / LEADERBOARD_FILE).is_file()]
PUBLISHED = RESULTS / "published" / "mteb"
"""The published MTEB results the reference leaderboard shows beside its runs (``--published``)."""
REGENERATE = (
    "harness leaderboard results/reference --published results/published/mteb "
    "--markdown results/reference/leaderboard.md --html results/reference/leaderboard.html"
)


def without_generation_time(board: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in board.items() if key != "generated"}


def without_figures(page: str) -> str:
    """A page with each inline PNG replaced by a placeholder."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,...", page)


def rebuilt_board(folder: Path, committed: dict[str, Any]) -> dict[str, Any]:
    """The board 'harness leaderboard' would write now: with the published rows when the committed one has them."""
    board = build_leaderboard(folder)
    if "published" in committed:
        board["published"] = rows_json(leaderboard_rows(get_host(), [PUBLISHED], folder))
    return board


@pytest.fixture(params=RUN_FOLDERS, ids=lambda p: p.name)
def run_folder(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_there_are_committed_runs() -> None:
    if not RESULTS.is_dir():
        pytest.skip("no results folder in this installation")
    assert RUN_FOLDERS, f"{RESULTS}: no committed run folder with a {LEADERBOARD_FILE}"


def test_every_result_file_follows_the_schema(run_folder: Path) -> None:
    check = schema_validator("result.schema.json")
    files = sorted(p for p in run_folder.glob("*/*.json"))
    assert files, f"{run_folder}: no result files"
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        errors = [e.message for e in check.iter_errors(record)]
        assert not errors, f"{path}: {errors[0]}"
        assert record["main_score"] == record["metrics"][record["task"]["main_metric"]], path
        assert path.parent.name == record["encoder"]["name"], f"{path}: filed under the wrong encoder"


def test_the_leaderboard_json_is_current(run_folder: Path) -> None:
    committed = json.loads((run_folder / LEADERBOARD_FILE).read_text(encoding="utf-8"))
    schema_validator("leaderboard.schema.json").validate(committed)
    rebuilt = rebuilt_board(run_folder, committed)
    command = (
        REGENERATE
        if run_folder.name == "reference"
        else f"harness leaderboard {run_folder.relative_to(RESULTS.parent)}"
    )
    assert without_generation_time(committed) == without_generation_time(rebuilt), (
        f"{run_folder / LEADERBOARD_FILE} is stale: run '{command}'"
    )


def test_the_reference_pages_are_current() -> None:
    folder = RESULTS / "reference"
    if not (folder / "leaderboard.md").is_file():
        pytest.skip("no reference leaderboard pages in this checkout")
    order = get_host().catalog.leaderboard_order()
    # 'harness leaderboard' writes the JSON and the pages from one board, so the page carries the JSON's time.
    committed = json.loads((folder / LEADERBOARD_FILE).read_text(encoding="utf-8"))
    board = rebuilt_board(folder, committed)
    board["generated"] = committed["generated"]
    regenerate = REGENERATE
    assert (folder / "leaderboard.md").read_text(encoding="utf-8") == markdown_leaderboard(board, order), (
        f"{folder / 'leaderboard.md'} is stale: run '{regenerate}'"
    )
    # The figures' PNG bytes depend on the matplotlib and FreeType that drew them, so they are compared as present;
    # what they show is checked by tests/results/test_compare_and_pages.py.
    committed_page = without_figures((folder / "leaderboard.html").read_text(encoding="utf-8"))
    assert committed_page == without_figures(html_leaderboard(board, order, folder)), (
        f"{folder / 'leaderboard.html'} is stale: run '{regenerate}'"
    )


def test_the_reference_leaderboard_shows_the_published_mteb_rows() -> None:
    """The reference runs of all-MiniLM-L6-v2 and all-mpnet-base-v2 stand beside MTEB's published numbers."""
    folder = RESULTS / "reference"
    if not PUBLISHED.is_dir() or not (folder / "leaderboard.md").is_file():
        pytest.skip("no published MTEB results or reference pages in this checkout")
    committed = json.loads((folder / LEADERBOARD_FILE).read_text(encoding="utf-8"))
    assert committed.get("published"), f"{folder / LEADERBOARD_FILE} has no published rows: run '{REGENERATE}'"
    page = (folder / "leaderboard.md").read_text(encoding="utf-8")
    for model, revision in (("all-MiniLM-L6-v2", "8b3219a9"), ("all-mpnet-base-v2", "84f2bcc0")):
        assert f"| sentence-transformers/{model} (published: MTEB 1.12.75, revision {revision}) |" in page
