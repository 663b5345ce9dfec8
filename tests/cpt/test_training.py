"""``harness train`` end to end on the micro model: it learns, it checkpoints, it resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.cli import main
from harness.encoders.checkpoint import latest_checkpoint, load_model
from harness.encoders.training.pairs import write_pairs
from harness.encoders.training.schedule import PairOrder, learning_rate
from harness.encoders.training.trainer import TrainSettings, train
from harness.errors import HarnessError
from helpers import read_results

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    """Pairs a model can learn: y repeats x's key words in another order with filler."""
    pairs = []
    for i in range(64):
        key = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(3)]
        pairs.append({"x": f"{key[0]} {key[1]} {key[2]}", "y": f"about {key[2]}, {key[0]} and {key[1]}"})
    path = tmp_path / "pairs.jsonl"
    write_pairs(pairs, path)
    return path


def settings_for(pairs: Path, out: Path, **overrides: object) -> TrainSettings:
    values: dict[str, object] = dict(
        pairs=str(pairs), out=str(out), preset="cpt-micro", steps=6, batch_size=16, lr=3e-3, save_every=2,
        log_every=1, max_length=32, seed=3,
    )  # fmt: skip
    values.update(overrides)
    return TrainSettings(**values)  # type: ignore[arg-type]


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_learning_rate_warms_up_then_decays() -> None:
    rates = [learning_rate(s, peak=1.0, warmup_steps=10, total_steps=100, final_ratio=0.1) for s in range(101)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[100] == pytest.approx(0.1)


def test_pair_order_is_a_function_of_the_step() -> None:
    order = PairOrder(10, 4, seed=0)
    epoch = [order.batch(0), order.batch(1)]
    assert len(set(epoch[0] + epoch[1])) == 8  # no pair twice within an epoch
    assert PairOrder(10, 4, seed=0).batch(3) == order.batch(3)
    assert order.batch(2) != order.batch(0) or order.batch(3) != order.batch(1)


def test_training_lowers_the_loss_and_writes_a_usable_model(pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    final = train(settings_for(pairs_file, run, steps=30, save_every=10, chunk_size=4), on_log=lambda r: None)
    steps = [r for r in read_log(run) if "loss" in r]
    assert len(steps) == 30
    first, last = sum(r["loss"] for r in steps[:5]) / 5, sum(r["loss"] for r in steps[-5:]) / 5
    assert last < first * 0.8, (first, last)
    assert all(r["tokens_per_second"] > 0 and r["tflops"] > 0 for r in steps)
    model = load_model(final)
    assert model.config.preset == "cpt-micro" and model.config.max_length == 32
    assert float(model.log_scale.detach()) != pytest.approx(torch.log(torch.tensor(1 / 0.07)).item())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000020", "step-0000030"]


def test_resume_continues_exactly(pairs_file: Path, tmp_path: Path) -> None:
    straight = train(settings_for(pairs_file, tmp_path / "straight"), on_log=lambda r: None)

    interrupted = tmp_path / "interrupted"
    first_part = settings_for(pairs_file, interrupted)

    class Stop(Exception):
        pass

    def stop_at_step_4(record: dict) -> None:
        if record.get("event") == "checkpoint" and record["step"] == 4:
            raise Stop

    with pytest.raises(Stop):
        train(first_part, on_log=stop_at_step_4)
    assert latest_checkpoint(interrupted).name == "step-0000004"
    resumed = train(settings_for(pairs_file, interrupted), on_log=lambda r: None)

    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = read_log(interrupted)
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert any(r.get("event") == "resumed" and r["step"] == 4 for r in log)
    assert [r["loss"] for r in log if "loss" in r] == [
        r["loss"] for r in read_log(tmp_path / "straight") if "loss" in r
    ]


def test_resume_refuses_changed_settings(pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(settings_for(pairs_file, run, steps=2), on_log=lambda r: None)
    with pytest.raises(HarnessError, match="batch_size: 16 -> 8"):
        train(settings_for(pairs_file, run, steps=4, batch_size=8), on_log=lambda r: None)


def test_kill_during_training_then_rerun_resumes_exactly(pairs_file: Path, tmp_path: Path) -> None:
    """SIGKILL the real command after its first checkpoint; the rerun ends with the uninterrupted run's weights."""
    base = [
        sys.executable, "-m", "harness", "train", "--preset", "cpt-micro", "--pairs", str(pairs_file),
        "--steps", "120", "--batch-size", "16", "--lr", "3e-3", "--save-every", "5", "--max-length", "32",
        "--seed", "3",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    process = subprocess.Popen([*base, "--out", str(killed)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while latest_checkpoint(killed) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = latest_checkpoint(killed)
    assert stopped_at is not None and stopped_at.name != "step-0000120", "the kill came too late to test resuming"

    for out in (killed, tmp_path / "straight"):
        done = subprocess.run([*base, "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    a = load_file(str(killed / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "straight" / "final" / "model.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not list(killed.rglob("*.tmp")), "no half-written checkpoint may stay behind"


def test_run_cpt_without_weights_fails_with_the_training_hint(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    code = main(["run", "--encoder", "cpt-text-l", "--tasks", "stsb", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "cpt-text-l: no trained checkpoint" in err and "harness train --preset cpt-text-l" in err
    assert err.count("\n") == 1


def test_trained_checkpoint_evaluates_through_harness_run(pairs_file: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    train(settings_for(pairs_file, run, steps=2), on_log=lambda r: None)
    out = tmp_path / "results"
    code = main(["run", "--encoder", "cpt-micro", "--checkpoint", str(run), "--tasks", "stsb", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "cpt-micro" / "stsb@test.json").read_text())
    assert record["encoder"]["fingerprint"]["kind"] == "cpt"
    assert record["encoder"]["fingerprint"]["delimiters"] == {"query": ["[", "]"], "document": ["{", "}"]}
    assert -1 <= record["main_score"] <= 1
    untrained = main(["run", "--encoder", "cpt-micro", "--untrained", "--tasks", "stsb", "--out", str(out)])
    assert untrained == 0
    assert (out / "cpt-micro-untrained" / "stsb@test.json").is_file()
    # cpt:PATH takes the same checkpoint by name, and its options (a shorter read-out here) name the results
    by_path = ["run", "--encoder", f"cpt:{run}", "--tasks", "stsb", "--out", str(out), "--max-length", "16"]
    assert main([*by_path, "--batch-size", "5", "--batch-tokens", "80", "--precision", "bf16", "--device", "cpu"]) == 0
    (short,) = [r for r in read_results(out).values() if r["encoder"]["name"].endswith("-bf16-max-length-16")]
    assert (
        short["encoder"]["fingerprint"]["max_length"] == 16 and short["encoder"]["fingerprint"]["precision"] == "bf16"
    )
    assert short["encoder"]["options"]["batch_tokens"] == 80 and short["environment"]["batch_size"] == 5
    assert short["encoder"]["fingerprint"]["weights"] == record["encoder"]["fingerprint"]["weights"]
    refused = main(["run", "--encoder", f"cpt:{run}", "--tasks", "stsb", "--out", str(out), "--untrained"])
    assert refused == 2 and "has no option untrained" in capsys.readouterr().err


def test_train_command_reports_bad_pairs_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"x": "a", "y": "b"}\n{"x": "a"}\n')
    code = main(["train", "--preset", "cpt-micro", "--pairs", str(bad), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code != 0 and f"{bad}:2" in err and err.count("\n") == 1


def test_periodic_evaluation_on_a_harness_task(pairs_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(settings_for(pairs_file, run, steps=4, eval_task="stsb", eval_every=2), on_log=lambda r: None)
    evaluations = [r for r in read_log(run) if r.get("event") == "eval"]
    assert [r["step"] for r in evaluations] == [2, 4]
    assert all(r["task"] == "stsb@test" and r["metric"] == "cosine_spearman" for r in evaluations)
    assert all(-1 <= r["score"] <= 1 for r in evaluations)


def test_pairs_and_checkpoints_get_the_modes_the_umask_gives(tmp_path: Path, capsys) -> None:
    """``tempfile`` makes 0600 files and 0700 folders; what ``mine-pairs`` and ``train`` leave is shared as usual."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(12))
        (corpus / f"doc{i}.md").write_text(f"# Part {i}\n\n{words}\n\n{words[::-1]}\n")
    before = os.umask(0o022)
    try:
        pairs, run = tmp_path / "pairs.jsonl", tmp_path / "run"
        assert main(["mine-pairs", "text", str(corpus), "--out", str(pairs), "--min-words", "3"]) == 0
        train_args = ["--preset", "cpt-micro", "--max-length", "16", "--batch-size", "4", "--steps", "1"]
        assert main(["train", *train_args, "--pairs", str(pairs), "--out", str(run)]) == 0, capsys.readouterr().err
    finally:
        os.umask(before)
    assert pairs.stat().st_mode & 0o777 == 0o644
    model = run / "final"
    assert model.is_dir(), sorted(p.name for p in run.iterdir())
    assert model.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in model.iterdir()} == {p.name: 0o644 for p in model.iterdir()}
