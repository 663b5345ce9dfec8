"""FSDP2 training on two CPU processes (gloo) is the one-process training of the same global batch.

Each test runs ``harness train`` itself, once as one process (``--sharding none``) and once under
``torchrun --nproc-per-node 2`` (``--sharding fsdp``, the default there), and compares the logged losses and the
exported weights; a sharded checkpoint resumed after the processes were killed continues exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from harness.encoders.training.pairs import write_pairs
from helpers import TESTS, read_results

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()

KILLED_HARNESS = """
import os, sys
import harness.encoders.training.sharding as sharding
import harness.encoders.training.trainer as trainer
from harness.cli.main import main

saved = sharding.save_sharded_checkpoint


def save_then_die(model, optimizer, run_dir, state, world, keep):
    folder = saved(model, optimizer, run_dir, state, world, keep)
    if state["step"] == int(os.environ["KILL_AFTER_STEP"]):
        os._exit(9)  # as kill -9: no cleanup, no final model
    return folder


trainer.save_sharded_checkpoint = save_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pairs with a hard negative each: the loss sees queries, documents and negatives of the global batch."""
    rows = []
    for i in range(64):
        key = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(3)]
        rows.append({"x": " ".join(key), "y": f"about {key[2]}, {key[0]} and {key[1]}", "negatives": [f"no {key[1]}"]})
    path = tmp_path_factory.mktemp("fsdp") / "pairs.jsonl"
    write_pairs(rows, path)
    return path


def train(args: list[Any], *, processes: int = 1, script: Path | None = None, env: dict[str, str] | None = None):
    program = [str(script)] if script else ["-m", "harness"]
    launch = [sys.executable]
    if processes > 1:
        launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", HARNESS_LOAD_PLUGINS="", PYTHONPATH=str(TESTS), **(env or {}))
    return subprocess.run(
        [*launch, *program, "train", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=Path.home(),
        timeout=600,
    )


def settings(pairs: Path, out: Path, *extra: Any) -> list[Any]:
    return [
        "--preset", "cpt-micro", "--pairs", pairs, "--out", out, "--steps", 4, "--batch-size", 8, "--lr", "3e-3",
        "--max-length", 32, "--seed", 3, "--save-every", 2, *extra,
    ]  # fmt: skip


def losses(run: Path) -> list[float]:
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [record["loss"] for record in map(json.loads, lines) if "loss" in record]


def weights(run: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run / "final" / "model.safetensors"))
    tensors["log_scale"] = torch.tensor(json.loads((run / "final" / "cpt_config.json").read_text())["log_scale"])
    return tensors


@pytest.mark.parametrize("chunks", [[], ["--chunk-size", "2"]], ids=["whole-batch", "gradient-caching"])
def test_two_sharded_processes_train_as_one(tmp_path: Path, pairs: Path, chunks: list[str]) -> None:
    one = train(settings(pairs, tmp_path / "one", "--sharding", "none", *chunks))
    assert one.returncode == 0, one.stderr
    two = train(settings(pairs, tmp_path / "two", *chunks), processes=2)
    assert two.returncode == 0, two.stderr
    assert "sharded" in {p.name for p in (tmp_path / "two" / "checkpoints" / "step-0000002").iterdir()}
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), abs=2e-6)
    expected, found = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert expected.keys() == found.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(found[name], tensor, rtol=0, atol=2e-5, msg=name)


def test_a_sharded_run_killed_after_a_checkpoint_resumes_exactly(tmp_path: Path, pairs: Path) -> None:
    script = tmp_path / "killed_harness.py"
    script.write_text(KILLED_HARNESS)
    whole = train(settings(pairs, tmp_path / "whole"), processes=2)
    assert whole.returncode == 0, whole.stderr
    killed = train(settings(pairs, tmp_path / "cut"), processes=2, script=script, env={"KILL_AFTER_STEP": "2"})
    assert killed.returncode != 0 and not (tmp_path / "cut" / "final").exists()
    resumed = train(settings(pairs, tmp_path / "cut"), processes=2)
    assert resumed.returncode == 0, resumed.stderr
    assert '"event": "resumed", "step": 2' in (tmp_path / "cut" / "train_log.jsonl").read_text()
    assert losses(tmp_path / "cut") == losses(tmp_path / "whole")
    expected, found = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    for name, tensor in expected.items():
        assert torch.equal(found[name], tensor), name  # bit for bit


def test_the_exported_model_scores_as_the_model_in_training(tmp_path: Path, pairs: Path) -> None:
    run = tmp_path / "run"
    trained = train(
        settings(pairs, run, "--eval-task", "stsb", "--eval-every", 4, "--eval-batch-size", 32), processes=2
    )
    assert trained.returncode == 0, trained.stderr
    (logged,) = [
        r for r in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if r.get("event") == "eval"
    ]
    out = tmp_path / "results"
    scored = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--encoder", "cpt-micro", "--checkpoint", run, "--tasks", "stsb",
         "--out", out, "--no-cache"],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=Path.home(), timeout=600,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    (record,) = read_results(out).values()
    assert record["main_score"] == pytest.approx(logged["score"], abs=1e-6)


def test_the_memory_plan_is_logged_and_a_run_that_cannot_fit_stops_in_one_line(tmp_path: Path, pairs: Path) -> None:
    fits = train(settings(pairs, tmp_path / "fits", "--steps", 1))
    assert fits.returncode == 0, fits.stderr
    (plan,) = [
        r
        for r in map(json.loads, (tmp_path / "fits" / "train_log.jsonl").read_text().splitlines())
        if r.get("event") == "memory_plan"
    ]
    assert plan["sharding"] == "none" and plan["parameters"] > 0 and plan["total_gib"] <= plan["device_gib"]
    # 64 rows of 200,000 tokens: the attention scores alone are far beyond this machine's memory.
    huge = train(["--preset", "cpt-micro", "--pairs", pairs, "--out", tmp_path / "huge", "--batch-size", 64,
                  "--max-length", 200_000, "--steps", 1])  # fmt: skip
    assert huge.returncode == 2
    (line,) = huge.stderr.strip().splitlines()[-1:]
    assert line.startswith("harness: error: harness train: the plan needs ") and "GiB per rank" in line
    assert "--activation-checkpointing" in line and not (tmp_path / "huge" / "final").exists()


COUNTING_HARNESS = """
import atexit, json, os, sys
import torch.distributed.fsdp._fully_shard._fsdp_param_group as group  # where FSDP2 reduces a unit's gradients
from harness.cli.main import main

calls = []
real = group.foreach_reduce


def counted(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)


group.foreach_reduce = counted
atexit.register(lambda: open(os.environ["COUNT_FILE"] + os.environ["RANK"], "w").write(json.dumps(len(calls))))
sys.exit(main(sys.argv[1:]))
"""


def test_gradient_caching_reduces_gradients_once_per_step(tmp_path: Path, pairs: Path) -> None:
    """8 pairs on 2 ranks in chunks of 2: 6 backward passes a step (3 sides x 2 chunks), one reduce-scatter per unit."""
    from harness.encoders.backbones import load_backbone
    from harness.encoders.training.sharding import transformer_blocks

    units = len(transformer_blocks(load_backbone("micro").model)) + 1  # each block, and the rest of the backbone
    script = tmp_path / "counting_harness.py"
    script.write_text(COUNTING_HARNESS)
    args = settings(pairs, tmp_path / "run", "--chunk-size", 2, "--steps", 1, "--save-every", 100)
    done = train(args, processes=2, script=script, env={"COUNT_FILE": str(tmp_path / "count-")})
    assert done.returncode == 0, done.stderr
    for rank in (0, 1):
        assert json.loads((tmp_path / f"count-{rank}").read_text()) == units  # not 6 x units
