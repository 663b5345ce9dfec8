"""The command line: names, suggestions, exit codes, one-line errors, listings, leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from helpers import run_harness

run_cli = run_harness


def test_unknown_encoder_suggests_closest(capsys, fake_plugin) -> None:
    code, _, err = run_cli(capsys, "run", "--encoder", "minilm-l7", "--tasks", "stsb")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "unknown encoder 'minilm-l7'" in err and "'minilm-l6'" in err


def test_unknown_task_and_suite_suggest_closest(capsys, fake_plugin) -> None:
    code, _, err = run_cli(capsys, "run", "--encoder", "hashing", "--tasks", "stbs")
    assert code == 2 and "unknown task 'stbs'" in err and "'stsb'" in err
    code, _, err = run_cli(capsys, "run", "--encoder", "hashing", "--suite", "defualt")
    assert code == 2 and "'default'" in err


def test_unknown_split_names_the_known_ones(capsys, fake_plugin) -> None:
    code, _, err = run_cli(capsys, "run", "--encoder", "hashing", "--tasks", "sickr@dev")
    assert code == 2 and "splits: test, full" in err


def test_run_writes_results_and_leaderboard(capsys, fake_plugin, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "run", "--encoder", "hashing", "--tasks", "stsb,sickr", "--out", str(tmp_path))
    assert code == 0, err
    assert "stsb@test: cosine_spearman = " in out and "sickr@test: cosine_spearman = " in out
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert {(r["task"], r["split"]) for r in board["results"]} == {("stsb", "test"), ("sickr", "test")}
    code, out, _ = run_cli(capsys, "leaderboard", str(tmp_path))
    assert code == 0 and "hashing" in out and "stsb" in out and "Sentence similarity" in out and "avg" in out


def test_encoder_output_errors_fail_the_task_in_one_line(capsys, fake_plugin, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "run", "--encoder", "broken", "--tasks", "stsb", "--out", str(tmp_path))
    assert code == 1
    assert "stsb@test: FAILED: encoder 'broken' returned NaN" in err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("stsb@test.json"))


def test_cuda_without_gpu_is_a_clear_error(capsys, fake_plugin, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_cli(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--device", "cuda")
    assert code == 2 and "no CUDA device" in err


def test_list_commands(capsys, fake_plugin) -> None:
    _, out, _ = run_cli(capsys, "list", "encoders")
    assert "minilm-l6" in out and "sbert:<argument>" in out and "hashing" in out
    _, out, _ = run_cli(capsys, "list", "tasks")
    assert all(name in out for name in ("stsb", "sickr", "scifact", "beir:<argument>"))
    _, out, _ = run_cli(capsys, "list", "suites")
    assert "default" in out and "sickr@full" in out


def test_leaderboard_of_missing_folder(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "leaderboard", str(tmp_path / "nope"))
    assert code == 1 and "results folder does not exist" in err


def test_progress_bars_are_quiet_when_not_a_terminal(capsys, fake_plugin, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(tmp_path))
    assert code == 0 and "encoding" not in err and "%|" not in err


def test_leaderboard_columns_follow_suite_order(capsys, fake_plugin, tmp_path: Path) -> None:
    assert main(["run", "--encoder", "hashing", "--tasks", "sickr@full,sickr,stsb", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", str(tmp_path)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "encoder" in line)
    assert header.index("stsb") < header.index("sickr ") < header.index("sickr@full")
