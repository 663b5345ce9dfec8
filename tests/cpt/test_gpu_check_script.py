"""benchmarks/gpu_check.py, the one prepared GPU check (issue 20), runs its steps on the CPU and keeps going.

GPU time is scarce, so the script must work the first time it meets a GPU: these tests run it in its ``--cpu``
mode (the same steps on small shapes) and check that a failing step is recorded while the others still run.
The whole four-step CPU run takes a few minutes and compiling the training step one more, so those are marked
slow; the fast suite runs the steps that take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")


def gpu_check(out: Path, *args: str, timeout: float = 600) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu", "--out", str(out), *args],
        capture_output=True, text=True, env=ENV, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.slow  # torch.compile on the CPU alone takes a minute
def test_training_step_measures_eager_compiled_and_fsdp_and_records_the_machine(tmp_path: Path) -> None:
    report = gpu_check(tmp_path / "figures.json", "--steps", "train", "--budget-s", "400")
    assert report["environment"]["torch"] and report["environment"]["cpu_count"]
    train = report["steps"]["train"]
    assert set(train) >= {"eager", "compile", "fsdp-1gpu"}
    for variant in ("eager", "fsdp-1gpu"):
        assert train[variant]["returncode"] == 0, train[variant]["output_tail"]
        assert "tokens/s" in train[variant]["output_tail"]
    assert "sharding fsdp" in train["fsdp-1gpu"]["output_tail"]


def test_a_failing_step_is_recorded_and_the_next_step_still_runs(tmp_path: Path) -> None:
    report = gpu_check(
        tmp_path / "figures.json",
        "--steps",
        "sharded,encode",
        "--budget-s",
        "300",
        "--data-dir",
        str(tmp_path / "none"),
    )
    sharded = report["steps"]["sharded"]
    assert sharded["returncode"] != 0 and sharded["scores"] == {}  # no data there: the run fails, and says why
    figures = report["steps"]["encode"]["figures"]
    measured = [f for f in figures if "texts_per_s" in f]
    assert {f["model"] for f in measured} == {"minilm-l6-fp32", "minilm-l6-bf16", "cpt-micro-random-fp32"}
    assert {f["batching"] for f in measured} == {"fixed-32", "tokens-16384"}
    assert all(f["texts_per_s"] > 0 for f in measured)


def test_unknown_step_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu", "--steps", "correctnes", "--out", str(tmp_path / "x.json")],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown step correctnes" in done.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_every_step_on_the_cpu_matches_the_reference(tmp_path: Path, shared_data: Path) -> None:
    report = gpu_check(tmp_path / "figures.json", "--data-dir", str(shared_data), "--budget-s", "1200", timeout=1300)
    fp32 = report["steps"]["correctness"]["runs"]["fp32"]["scores"]["stsb@test"]
    assert abs(fp32["difference"]) < 1e-4
    assert report["steps"]["sharded"]["equal_to_single_process"] == {"stsb@test": True}
