"""``harness train``'s report (``RUN/report.png``, ``RUN/report.html``) and ``harness train report RUN``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.encoders.checkpoint import CPT_CONFIG_FILE
from harness.encoders.training import run_report, trainer
from harness.encoders.training.pairs import write_pairs
from harness.encoders.training.run_report import read_run_log, report_figure
from harness.encoders.training.trainer import TrainSettings, train
from harness.results.figures import PALETTE
from helpers import chromium, render_in_chromium

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    pairs = []
    for i in range(32):
        key = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(3)]
        pairs.append({"x": " ".join(key), "y": f"about {key[2]}, {key[0]} and {key[1]}"})
    path = tmp_path / "pairs.jsonl"
    write_pairs(pairs, path)
    return path


def train_args(pairs: Path, run: Path, *extra: str) -> list[str | Path]:
    return ["train", "--preset", "cpt-micro", "--pairs", pairs, "--out", run, "--steps", "4", "--batch-size", "8",
            "--max-length", "16", "--lr", "3e-3", "--save-every", "2", "--seed", "1", *extra]  # fmt: skip


def log_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def panel(figure, title: str):
    (ax,) = [ax for ax in figure.axes if ax.get_title(loc="left") == title]
    return ax


def test_the_report_reader_knows_the_trainers_file_names() -> None:
    assert (run_report.LOG_FILE, run_report.SETTINGS_FILE) == (trainer.LOG_FILE, trainer.SETTINGS_FILE)
    assert run_report.FINAL_CONFIG == f"final/{CPT_CONFIG_FILE}"


def test_train_draws_its_curves_and_evaluations(cli, pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = cli(*train_args(pairs_file, run, "--eval-task", "stsb", "--eval-every", "2"))
    assert result.code == 0, result.err
    assert f"report: {run / 'report.html'}" in result.out
    assert (run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = log_records(run)
    steps = [r for r in records if "loss" in r]
    evaluations = [r for r in records if r.get("event") == "eval"]
    assert len(steps) == 4 and [r["step"] for r in evaluations] == [2, 4]

    logged = read_run_log(run)
    assert logged.finished and logged.steps == steps and logged.evaluations == evaluations
    figure = report_figure(logged)
    (loss,) = panel(figure, "contrastive loss").lines
    assert list(loss.get_xdata()) == [1, 2, 3, 4] and list(loss.get_ydata()) == [r["loss"] for r in steps]
    (scale,) = panel(figure, "temperature scale exp(tau)").lines
    assert list(scale.get_ydata()) == [r["temperature_scale"] for r in steps]
    (rate,) = panel(figure, "learning rate").lines
    assert list(rate.get_ydata()) == [r["lr"] for r in steps]
    # MFU on a CPU: no peak known, so no line at all (not one at zero), and the panel says why
    mfu = panel(figure, "MFU (%)")
    assert all(r["mfu"] is None for r in steps) and not mfu.lines
    assert "not measured" in " ".join(text.get_text() for text in mfu.texts)
    (scores,) = panel(figure, "evaluation (main score)").lines
    assert list(scores.get_xdata()) == [2, 4] and list(scores.get_ydata()) == [r["score"] for r in evaluations]

    page = (run / "report.html").read_text()
    assert "Step 4 of 4; finished" in page
    for record in evaluations:
        assert f"<td class='num'>{record['score']:.4f}</td>" in page
    assert f"<td class='num'>{steps[-1]['loss']:.4g}</td>" in page


def test_a_running_run_has_a_report_and_train_report_redraws_it(cli, pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    settings = TrainSettings(pairs=str(pairs_file), out=str(run), preset="cpt-micro", steps=6, batch_size=8,
                             lr=3e-3, save_every=2, max_length=16, seed=1)  # fmt: skip

    class Stop(Exception):
        pass

    def stop_at_step_4(record: dict) -> None:
        if record.get("event") == "checkpoint" and record["step"] == 4:
            raise Stop

    with pytest.raises(Stop):
        train(settings, on_log=stop_at_step_4)
    # Drawn at the step-2 checkpoint, while the run was going
    assert "Step 2 of 6; in progress or interrupted" in (run / "report.html").read_text()
    # The run is still writing: a half-written last line is passed over
    with (run / "train_log.jsonl").open("a") as log:
        log.write('{"step": 5, "loss": 0.9')
    redrawn = cli("train", "report", run)
    assert redrawn.code == 0, redrawn.err
    assert f"report: {run / 'report.html'}" in redrawn.out
    page = (run / "report.html").read_text()
    assert "Step 4 of 6; in progress or interrupted" in page and "last line was being written" in page
    # Resumed to the end (the resume drops the torn line), the report says finished
    train(settings, on_log=lambda record: None)
    assert "Step 6 of 6; finished" in (run / "report.html").read_text()
    resumed = read_run_log(run)
    assert [r["step"] for r in resumed.steps] == [1, 2, 3, 4, 5, 6] and not resumed.torn_last_line


def test_train_report_refuses_what_is_not_a_run_in_one_line(cli, pairs_file: Path, tmp_path: Path) -> None:
    not_a_run = tmp_path / "results"
    not_a_run.mkdir()
    result = cli("train", "report", not_a_run)
    assert result.code == 1
    assert (
        result.error
        == f"{not_a_run}: not a 'harness train' run folder (no train_log.jsonl or train_settings.json in it)"
    )
    assert cli("train", "report", tmp_path / "missing").error == f"{tmp_path / 'missing'}: no such run folder"

    run = tmp_path / "run"
    assert cli(*train_args(pairs_file, run, "--steps", "2")).code == 0
    log = run / "train_log.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:20]  # a line torn in the middle of the file is damage, not a write in progress
    log.write_text("\n".join(lines) + "\n")
    assert cli("train", "report", run).error.startswith(f"{log}:2: not a JSON record")
    step = next(i for i, line in enumerate(lines) if '"loss"' in line and i != 1)
    lines[1] = lines[0]
    lines[step] = json.dumps({**json.loads(lines[step]), "loss": "low"})
    log.write_text("\n".join(lines) + "\n")
    assert cli("train", "report", run).error == f"{log}:{step + 1}: field 'loss' is \"low\", not a number"
    # `train report` did not take training's required flags away: training without them is still refused
    missing = cli("train", "--preset", "cpt-micro")
    assert missing.code == 2 and missing.error == "harness train: the following arguments are required: --pairs, --out"


def test_a_report_that_cannot_be_drawn_does_not_stop_training(
    pairs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def broken(folder: Path) -> None:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(run_report, "write_report", broken)
    run = tmp_path / "run"
    settings = TrainSettings(pairs=str(pairs_file), out=str(run), preset="cpt-micro", steps=2, batch_size=8,
                             save_every=2, max_length=16)  # fmt: skip
    final = train(settings, on_log=lambda record: None)
    assert (final / CPT_CONFIG_FILE).is_file() and not (run / "report.html").exists()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "training report not drawn" in line]
    assert warnings and all("RuntimeError: no fonts" in line for line in warnings)


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_train_report_renders_in_headless_chromium(cli, pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert cli(*train_args(pairs_file, run)).code == 0
    rendered = render_in_chromium(run / "report.html", tmp_path / "report-shot.png")
    assert rendered.images == {"figure train-report": (1000, 960)}
    assert not rendered.script_errors
    assert rendered.pixels_near(PALETTE[0]) > 500  # the curves, painted
    assert '<table class="settings">' in rendered.dom
