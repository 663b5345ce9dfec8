"""One prepared GPU check (issue 20): every figure the project lacks from a GPU, written to one JSON file.

GPU time comes in short loans (about 15 minutes, at most 10 per command), so this script is made to be run
once, unattended, with a time budget: each step runs in its own subprocess with its own timeout, and a step
that fails, times out or runs out of memory is recorded (exit code, the tail of its output) while the next
one still runs.  The JSON is rewritten atomically after every step, so a command killed at its time limit
still leaves the figures measured so far.  Steps:

1. ``correctness``: ``harness run --encoder minilm-l6 --device D`` on STS-B and SICK-R (test) at fp32, bf16
   and fp16 (fp16 only on CUDA), each score beside the committed CPU reference
   (``results/reference/minilm-l6``) and its difference; fp32 should agree within 1e-4.
2. ``encode``: texts/s of MiniLM (fp32/bf16/fp16) and of the cpt-text-s shape (random weights, the real
   architecture) at sequence lengths 128 and 512, with token-budget batching on and off.
3. ``train``: ``benchmarks/train_throughput.py`` for the cpt-text-s shape at batches 256 and 12288 (the
   paper's), gradient caching, eager and ``--compile``, without and with FSDP on one GPU (torchrun, one
   process): tokens/s, useful TFLOP/s, MFU and peak memory, as that script prints them.
4. ``sharded``: the STS-B run of step 1 under ``torchrun --nproc-per-node 1``; its score must equal step 1's.

It also records the GPU model, driver, torch and CUDA versions.  ``--cpu`` runs the same steps on this
machine's CPU with small shapes (cpt-micro, short sequences, small batches), which is how the script is tested
before a GPU is spent on it (``tests/benchmarks/test_gpu_check.py``)::

    python benchmarks/gpu_check.py --out benchmarks/results/gpu-h200-2026-12-07.json --budget-s 540
    python benchmarks/gpu_check.py --cpu --out /tmp/gpu-check-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "results" / "reference" / "minilm-l6"
STEPS = ("correctness", "encode", "train", "sharded")


@dataclass
class Plan:
    """What each step runs: the GPU plan, or the small CPU one that tests the script."""

    device: str
    encoder: str = "minilm-l6"
    tasks: tuple[str, ...] = ("stsb@test", "sickr@test")
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")
    encode_shape: str = "cpt-text-s"
    seq_lens: tuple[int, ...] = (128, 512)
    encode_texts: int = 4096
    train_shape: str = "cpt-text-s"
    train_batches: tuple[int, ...] = (256, 12288)
    train_seq_len: int = 128
    chunk_size: int = 256
    train_steps: int = 2  # after one warm-up step: batch 12288 takes tens of seconds a step on one GPU
    data_dir: str | None = None
    step_timeouts: dict[str, float] = field(default_factory=dict)

    @classmethod
    def for_cpu(cls, data_dir: str | None) -> Plan:
        return cls(
            device="cpu",
            tasks=("stsb@test",),
            precisions=("fp32", "bf16"),
            encode_shape="cpt-micro",
            seq_lens=(32,),
            encode_texts=64,
            train_shape="cpt-micro",
            train_batches=(16,),
            train_seq_len=16,
            chunk_size=8,
            train_steps=1,
            data_dir=data_dir,
        )


def environment() -> dict[str, Any]:
    """The machine: GPU model and driver (nvidia-smi), torch and CUDA versions, Python, CPU count."""
    import torch

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        facts["cudnn"] = torch.backends.cudnn.version()
        try:
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            facts["driver"] = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            facts["driver"] = f"unknown ({exc})"
    return facts


def run_command(command: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one guarded command: its exit code, seconds and output tail; a timeout is an outcome, not a crash."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})}
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = 124
        output = _text(exc.stdout) + _text(exc.stderr) + f"\n(timed out after {timeout:.0f} s)"
    return {
        "command": " ".join(command),
        "returncode": code,
        "seconds": round(time.perf_counter() - started, 1),
        "output_tail": output[-3000:],
    }


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def harness_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def read_scores(folder: Path) -> dict[str, float]:
    """``{task@split: main_score}`` of the result files under ``folder``."""
    scores: dict[str, float] = {}
    for path in sorted(folder.rglob("*@*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        scores[f"{record['task']['name']}@{record['task']['split']}"] = float(record["main_score"])
    return scores


def reference_scores() -> dict[str, float]:
    return read_scores(REFERENCE) if REFERENCE.is_dir() else {}


def step_correctness(plan: Plan, scratch: Path, timeout: float) -> dict[str, Any]:
    reference = reference_scores()
    runs: dict[str, Any] = {}
    for precision in plan.precisions:
        out = scratch / f"correctness-{precision}"
        args = ["run", "--encoder", plan.encoder, "--device", plan.device, "--precision", precision,
                "--tasks", ",".join(plan.tasks), "--out", str(out), "--no-cache", "--no-progress"]  # fmt: skip
        if plan.data_dir:
            args += ["--data-dir", plan.data_dir]
        outcome = run_command(harness_command(*args), timeout / len(plan.precisions))
        scores = read_scores(out) if out.is_dir() else {}
        outcome["scores"] = {
            task: {"score": score, "cpu_reference": reference.get(task),
                   "difference": None if task not in reference else score - reference[task]}
            for task, score in scores.items()
        }  # fmt: skip
        runs[precision] = outcome
    return {"runs": runs}


def step_encode(plan: Plan, scratch: Path, timeout: float) -> dict[str, Any]:
    """Texts/s, measured in a child process (``--measure-encode``) so an out-of-memory error stays contained."""
    out = scratch / "encode.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--measure-encode", str(out), "--device", plan.device,
               "--encoder", plan.encoder, "--encode-shape", plan.encode_shape,
               "--seq-lens", ",".join(map(str, plan.seq_lens)), "--encode-texts", str(plan.encode_texts),
               "--precisions", ",".join(plan.precisions)]  # fmt: skip
    outcome = run_command(command, timeout)
    if out.is_file():
        outcome["figures"] = json.loads(out.read_text(encoding="utf-8"))
    return outcome


def step_train(plan: Plan, scratch: Path, timeout: float) -> dict[str, Any]:
    script = str(REPO / "benchmarks" / "train_throughput.py")
    common = ["--shape", plan.train_shape, "--device", plan.device, "--seq-len", str(plan.train_seq_len),
              "--batches", ",".join(map(str, plan.train_batches)), "--chunk-size", str(plan.chunk_size),
              "--steps", str(plan.train_steps)]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    variants: dict[str, list[str]] = {
        "eager": [sys.executable, script, *common],
        "compile": [sys.executable, script, *common, "--compile"],
        "fsdp-1gpu": [*torchrun, script, *common, "--sharding", "fsdp"],
    }
    env = {"OMP_NUM_THREADS": "1"} if plan.device == "cpu" else None
    return {name: run_command(command, timeout / len(variants), env) for name, command in variants.items()}


def step_sharded(plan: Plan, scratch: Path, timeout: float) -> dict[str, Any]:
    out = scratch / "sharded"
    task = plan.tasks[0]
    args = ["run", "--encoder", plan.encoder, "--device", plan.device, "--tasks", task, "--out", str(out),
            "--no-cache", "--no-progress"]  # fmt: skip
    if plan.data_dir:
        args += ["--data-dir", plan.data_dir]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
               "-m", "harness", *args]  # fmt: skip
    outcome = run_command(command, timeout)
    scores = read_scores(out) if out.is_dir() else {}
    single = read_scores(scratch / "correctness-fp32") if (scratch / "correctness-fp32").is_dir() else {}
    outcome["scores"] = scores
    outcome["equal_to_single_process"] = {t: single.get(t) == s for t, s in scores.items()} if single else None
    return outcome


STEP_FUNCTIONS: dict[str, Callable[[Plan, Path, float], dict[str, Any]]] = {
    "correctness": step_correctness,
    "encode": step_encode,
    "train": step_train,
    "sharded": step_sharded,
}
STEP_SHARES = {"correctness": 0.25, "encode": 0.2, "train": 0.45, "sharded": 0.1}
"""Each step's share of the time budget (training is the slowest, and the figure most wanted)."""


def measure_encode(args: argparse.Namespace) -> None:
    """Child process of step 2: texts/s for the encoder at each precision and the cpt shape, batching on/off."""
    import functools
    import importlib.util

    import numpy as np
    import torch

    sys.path.insert(1, str(REPO))  # this checkout's harness, as the other benchmarks do
    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "benchmarks" / "train_throughput.py")
    assert spec is not None and spec.loader is not None
    train_throughput = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_throughput)
    build = train_throughput.build
    from harness import TextKind
    from harness.pluginhost import get_host

    device = torch.device(args.device)
    lengths = [int(v) for v in args.seq_lens.split(",")]
    rng = np.random.default_rng(0)
    figures: list[dict[str, Any]] = []

    words = "the of and to in is was for on as with by at from that this are were be an".split()

    def texts_of(max_tokens: int, tokens_per_word: float) -> list[str]:
        # Mixed lengths up to about max_tokens tokens (common words are one WordPiece token, about four bytes of
        # a byte-level tokenizer), so token-budget batching has work to do.
        most = max(2, int(max_tokens / tokens_per_word))
        counts = rng.integers(max(1, most // 8), most, size=args.encode_texts, endpoint=True)
        return [" ".join(words[(i + j) % len(words)] for j in range(int(n))) for i, n in enumerate(counts)]

    def timed(label: str, length: int, batching: str, call: Callable[[], Any]) -> None:
        try:
            call()  # warm-up (kernels, compilation caches)
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            call()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            figures.append({"model": label, "seq_len": length, "batching": batching,
                            "texts_per_s": round(args.encode_texts / seconds, 1)})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a figure that failed is recorded, the rest still measured
            figures.append({"model": label, "seq_len": length, "batching": batching, "error": str(exc)[:500]})

    texts_by_length = {length: texts_of(length, 1.0) for length in lengths}  # the same texts at every precision
    catalog = get_host().catalog
    for precision in args.precisions.split(","):
        for batching, budget in (("fixed-32", None), ("tokens-16384", 16384)):
            options = {"device": args.device, "precision": precision, "batch_size": 32, "batch_tokens": budget}
            try:
                encoder = catalog.build_encoder(args.encoder, options)
            except Exception as exc:  # noqa: BLE001
                figures.append({"model": f"{args.encoder}-{precision}", "batching": batching, "error": str(exc)})
                continue
            for length in lengths:
                call = functools.partial(encoder.encode, texts_by_length[length], TextKind.TEXT)
                timed(f"{args.encoder}-{precision}", length, batching, call)
            del encoder
    model = build(args.encode_shape, device, "sdpa").eval()
    precision = "bf16" if device.type == "cuda" else "fp32"
    texts_by_length = {length: texts_of(length, 4.0) for length in lengths}  # byte-level tokens
    for length in lengths:
        for batching, budget in (("fixed-32", None), ("tokens-16384", 16384)):
            call = functools.partial(model.embed, texts_by_length[length], TextKind.TEXT, 32, precision, budget)
            timed(f"{args.encode_shape}-random-{precision}", length, batching, call)
    Path(args.measure_encode).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, help="the JSON of figures (default: benchmarks/results/gpu-<gpu>-<date>.json)"
    )
    parser.add_argument("--cpu", action="store_true", help="the same steps on this CPU with small shapes (a test run)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument(
        "--budget-s", type=float, help="seconds for all steps together (default: 540 on a GPU, 900 with --cpu)"
    )
    parser.add_argument("--data-dir", help="where the datasets are (default: the harness's own lookup)")
    # The child process of the encode step (not for users).
    parser.add_argument("--measure-encode", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--encoder", default="minilm-l6", help=argparse.SUPPRESS)
    parser.add_argument("--encode-shape", default="cpt-text-s", help=argparse.SUPPRESS)
    parser.add_argument("--seq-lens", default="128,512", help=argparse.SUPPRESS)
    parser.add_argument("--encode-texts", type=int, default=4096, help=argparse.SUPPRESS)
    parser.add_argument("--precisions", default="fp32,bf16,fp16", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_encode:
        measure_encode(args)
        return 0
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"--steps: unknown step {', '.join(unknown)} (choose from {', '.join(STEPS)})")
    plan = Plan.for_cpu(args.data_dir) if args.cpu else Plan(device="cuda", data_dir=args.data_dir)
    facts = environment()
    if plan.device == "cuda" and "gpu" not in facts:
        print("gpu_check: no CUDA device here; use --cpu for the CPU test run", file=sys.stderr)
        return 2
    gpu = str(facts.get("gpu", "cpu")).lower().replace("nvidia ", "").split()[0]
    out = args.out or REPO / "benchmarks" / "results" / f"gpu-{gpu}-{time.strftime('%Y-%m-%d')}.json"
    report: dict[str, Any] = {"environment": facts, "plan": plan.__dict__, "steps": {}}
    budget = args.budget_s or (900.0 if args.cpu else 540.0)
    share_total = sum(STEP_SHARES[s] for s in steps)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        for step in steps:
            timeout = budget * STEP_SHARES[step] / share_total
            print(f"gpu_check: {step} (up to {timeout:.0f} s)", flush=True)
            started = time.perf_counter()
            try:
                report["steps"][step] = STEP_FUNCTIONS[step](plan, Path(scratch), timeout)
            except Exception as exc:  # noqa: BLE001 - one failed step never loses the others' figures
                report["steps"][step] = {"error": f"{type(exc).__name__}: {exc}"}
            report["steps"][step]["step_seconds"] = round(time.perf_counter() - started, 1)
            write_atomic(out, report)
    print(f"gpu_check: figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
