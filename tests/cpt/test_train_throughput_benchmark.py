"""benchmarks/train_throughput.py runs sharded under torchrun and prints its memory plan, so that neither rots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"
ENV = dict(os.environ, OMP_NUM_THREADS="1", HARNESS_LOAD_PLUGINS="")


def benchmark(*args: str, processes: int = 1) -> subprocess.CompletedProcess[str]:
    launch = [sys.executable]
    if processes > 1:
        launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return subprocess.run([*launch, str(SCRIPT), *args], capture_output=True, text=True, env=ENV, timeout=180)


def test_two_fsdp_ranks_train_and_rank_0_prints_each_ranks_peak_memory() -> None:
    done = benchmark(
        "--sharding", "fsdp", "--batches", "8", "--seq-len", "16", "--steps", "1", "--chunk-size", "2",
        "--activation-checkpointing", processes=2,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ranks 2, sharding fsdp, activation checkpointing True" in out, out
    assert "measured matmul" in out and "(sum over 2 ranks)" in out, out
    # pairs 8 (4 per rank, in chunks of 2), then tokens/s, TFLOP/s, MFUs, peak RSS of r0/r1 and the plan.
    rows = re.findall(r"^ +8 +2 +[\d.]+ +\d+ +[\d.]+ +n/a +[\d.]+% +(\d+\.\d\d)/(\d+\.\d\d) +[\d.]+$", out, re.M)
    assert len(rows) == 1, out
    assert all(float(peak) > 0 for peak in rows[0]), out
    assert out.count("shape cpt-micro") == 1, out  # rank 1 prints nothing


def test_fsdp_in_one_process_is_refused_in_one_line() -> None:
    done = benchmark("--sharding", "fsdp")
    assert done.returncode == 2
    assert "--sharding fsdp shards over torchrun's processes" in done.stderr
    assert "Traceback" not in done.stderr


def plan_rows(out: str) -> dict[tuple[str, str], list[str]]:
    """``(shape, act.ckpt)``: the row's fields, for each row of the printed plan."""
    rows = [line.split() for line in out.splitlines() if line.startswith("cpt-text-")]
    return {(row[0], row[5]): row for row in rows}


def test_the_plan_is_computed_for_the_papers_text_models_on_8_gpus_of_80_gib() -> None:
    done = benchmark("--plan")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "== computed on paper, not measured" in out and "8 GPUs x 80 GiB, FSDP, bf16" in out, out
    rows = plan_rows(out)
    assert set(rows) == {
        (shape, ckpt) for shape in ("cpt-text-s", "cpt-text-m", "cpt-text-l") for ckpt in ("no", "yes")
    }
    # The paper's batch sizes, split over 8 ranks; the preset's 512 tokens.
    for shape, batch in {"cpt-text-s": 12288, "cpt-text-m": 6912, "cpt-text-l": 5896}.items():
        assert rows[shape, "no"][2:5] == [str(batch), str(batch // 8), "512"], out
    for row in rows.values():
        chunk, power, total = int(row[6].rstrip("*")), int(row[7]), float(row[-1])
        assert total <= 80 and power <= chunk < 2 * power, row
        # The components add up to the total (each rounded to 0.01 GiB).
        assert abs(sum(map(float, row[8:14])) - total) < 0.06, row
    for shape in ("cpt-text-s", "cpt-text-m", "cpt-text-l"):
        assert int(rows[shape, "yes"][6].rstrip("*")) > int(rows[shape, "no"][6]), out
    # 6.65B parameters: 4 bytes of float32 weights each, an eighth per rank.
    assert rows["cpt-text-l", "no"][1] == "6.65B" and rows["cpt-text-l", "no"][8] == "3.10", out


def test_a_plan_that_cannot_fit_says_none() -> None:
    done = benchmark("--plan", "--plan-ranks", "1")
    assert done.returncode == 0, done.stderr
    rows = plan_rows(done.stdout)
    # 16 bytes per parameter on one GPU: 99 GiB before any activation.
    assert rows["cpt-text-l", "no"][6] == "none" and rows["cpt-text-l", "yes"][6] == "none", done.stdout
    assert float(rows["cpt-text-l", "no"][-1]) > 80
    assert rows["cpt-text-s", "yes"][6] != "none"
