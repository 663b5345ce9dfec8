"""``harness compare`` (paired bootstrap) and the Markdown / HTML leaderboards."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness.checks.bootstrap import _spearman_rows, align, paired_bootstrap
from harness.cli import main
from harness.task import PerExample


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


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_html_leaderboard_renders_in_headless_chromium(two_runs: Path, tmp_path: Path) -> None:
    page, shot = tmp_path / "board.html", tmp_path / "board.png"
    assert main(["leaderboard", str(two_runs), "--html", str(page)]) == 0
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    board = json.loads((two_runs / "leaderboard.json").read_text())
    for row in board["results"]:
        assert f"{100 * row['main_score']:.2f}" in dom.stdout
    assert dom.stdout.count('<table class="scores"') == 2  # sts and retrieval
    assert "Uncaught" not in dom.stderr, "the page's script raised"
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
