"""The fast path (issues 7, 19): every precision and backend this machine offers against fp32 torch, side by side.

For one encoder (default all-MiniLM-L6-v2) and a few tasks (default STS-B, SICK-R test, SciFact), each variant
runs through the harness's own runner (no embedding cache, so every text is encoded) and the table shows, per
task: encode seconds, speed-up over fp32 torch, the main score and its change from fp32 torch, and the largest
cosine distance between a variant's vectors and fp32 torch's on a sample of the texts the task encodes.  The
variants on CPU: torch at fp32 (the reference), bf16 and int8 (``--precision``), then ONNX Runtime and OpenVINO
at fp32 and int8 (``--backend onnx|openvino``, sentence-transformers' own export and quantisation, made once into
``$HARNESS_HOME/exports``; the first run's export time shows as "prepare s").  On CUDA: torch fp32, bf16, fp16.
The backends need their own environment (``tox -e fast-path``, or ``pip install -r requirements/fast-path.txt``
in a fresh venv); where they do not import, their rows are left out with the reason.

    python benchmarks/fast_path.py                                     # minilm-l6, CPU, all seven variants
    python benchmarks/fast_path.py --encoder mpnet-base --tasks stsb
    python benchmarks/fast_path.py --variants fp32,onnx-int8,openvino-int8
    python benchmarks/fast_path.py --device cuda

Timings share the CPU with whatever else runs: pause other work for figures worth quoting.  Every engine runs
on torch's thread count (``OMP_NUM_THREADS``), so the rows compare engines, not thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness import Encoder, TextKind
from harness.catalog import Catalog, TaskRef
from harness.data.locate import DataLocator
from harness.environment import device_description
from harness.pluginhost import get_host
from harness.running.runner import RunOptions, run
from harness.running.session import EncodingSession

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
DEFAULT_TASKS = "stsb,sickr@test,scifact"
VARIANTS: dict[str, dict[str, str]] = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "fp16": {"precision": "fp16"},
    "int8": {"precision": "int8"},
    "onnx": {"backend": "onnx", "precision": "fp32"},
    "onnx-int8": {"backend": "onnx", "precision": "int8"},
    "openvino": {"backend": "openvino", "precision": "fp32"},
    "openvino-int8": {"backend": "openvino", "precision": "int8"},
}
"""Each variant's encoder options; its name is the suffix the harness files its results under."""
GOAL_SPEEDUP, GOAL_SCORE = 3.0, 0.005
"""Issue 19's goal: a variant at least this much faster overall, with every main score within this of fp32 torch."""


@dataclass
class TaskFigures:
    encode_seconds: float
    main_score: float
    main_metric: str
    max_cosine_distance: float = float("nan")


@dataclass
class PrecisionFigures:
    tasks: dict[str, TaskFigures] = field(default_factory=dict)
    prepare_seconds: float = 0.0
    """Building the encoder the first time: loading, and for a backend its export when none was made before."""


class _TextRecorder(Encoder):
    """Answers with fixed random vectors and remembers what it was asked: the texts a task really encodes."""

    def __init__(self) -> None:
        self.seen: dict[TextKind, list[str]] = {}
        self._random = np.random.default_rng(0)

    @property
    def dim(self) -> int:
        return 8

    def fingerprint(self) -> dict[str, str]:
        return {"kind": "text-recorder"}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        self.seen.setdefault(kind, []).extend(texts)
        return self._random.standard_normal((len(texts), self.dim)).astype(np.float32)


def task_texts(catalog: Catalog, ref: TaskRef, data_dir: Path | None) -> dict[TextKind, list[str]]:
    """The distinct texts ``ref`` encodes, by kind, found by running it once on a recorder (no model)."""
    task = catalog.build_task(ref)
    split = ref.split or task.default_split
    files = DataLocator.from_settings(data_dir).resolve(task.dataset_files(split))
    recorder = _TextRecorder()
    task.evaluate(EncodingSession(recorder, progress=False), files, split)
    return recorder.seen


def sample_texts(texts: dict[TextKind, list[str]], size: int) -> dict[TextKind, list[str]]:
    """Up to ``size`` texts in all, spread over the kinds in proportion, chosen with a fixed seed."""
    total = sum(len(v) for v in texts.values())
    picked: dict[TextKind, list[str]] = {}
    for kind, values in texts.items():
        share = max(1, round(size * len(values) / total)) if total else 0
        picked[kind] = random.Random(0).sample(values, min(share, len(values)))
    return picked


def encode_sample(encoder: Encoder, sample: dict[TextKind, list[str]]) -> np.ndarray:
    """Unit vectors of every sampled text, kinds in a fixed order."""
    parts = [np.asarray(encoder.encode(sample[kind], kind), dtype=np.float32) for kind in sorted(sample)]
    vectors = np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def variants_for(device: str) -> list[str]:
    """fp32 torch first (the reference), then what this device runs: reduced precisions, then the CPU backends."""
    if torch.device(device).type == "cuda":
        return ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    return ["fp32", "bf16", "int8", "onnx", "onnx-int8", "openvino", "openvino-int8"]


def unavailable(variant: str) -> str | None:
    """Why ``variant``'s backend cannot run in this environment (its libraries do not import), or None."""
    backend = VARIANTS[variant].get("backend")
    if backend is None:
        return None
    from harness.errors import HarnessError
    from harness.plugins.baselines.sbert_backends import require_libraries

    try:
        require_libraries(backend)
    except HarnessError as exc:
        return str(exc)
    return None


def measure(
    catalog: Catalog,
    args: argparse.Namespace,
    refs: list[TaskRef],
    samples: dict[str, dict[TextKind, list[str]]],
    reference: dict[str, np.ndarray],
    variant: str,
    scratch: Path,
) -> PrecisionFigures:
    """One variant: sample vectors first (which also warms the kernels up), then the timed runner pass."""
    options = {**VARIANTS[variant], "device": args.device, "batch_size": args.batch_size}
    started = time.perf_counter()
    encoder = catalog.build_encoder(args.encoder, options)
    prepare_seconds = time.perf_counter() - started
    distances: dict[str, float] = {}
    for name, sample in samples.items():
        vectors = encode_sample(encoder, sample)
        if variant == "fp32":
            reference[name], distances[name] = vectors, 0.0
            continue
        distances[name] = float(np.max(np.abs(1.0 - np.sum(vectors * reference[name], axis=1)), initial=0.0))
    del encoder
    out = scratch / variant
    report = run(
        catalog,
        args.encoder,
        refs,
        RunOptions(
            out_dir=out,
            force=True,
            data_dir=args.data_dir,
            progress=False,
            encoder_options=options,
            per_example=False,
            cache=False,
        ),
    )
    figures = PrecisionFigures(prepare_seconds=prepare_seconds)
    for outcome in report.outcomes:
        if outcome.status != "done" or outcome.path is None:
            sys.exit(f"fast_path: {variant} {outcome.ref}: {outcome.status}: {outcome.error}")
        record = json.loads(outcome.path.read_text(encoding="utf-8"))
        ran = record["encoder"]["metadata"]
        asked = VARIANTS[variant]
        if ran.get("precision") not in (None, asked["precision"]) or ran.get("backend", "torch") != asked.get(
            "backend", "torch"
        ):
            sys.exit(f"fast_path: {outcome.ref} ran as {ran.get('backend')} {ran.get('precision')}, not {variant}")
        figures.tasks[outcome.ref] = TaskFigures(
            encode_seconds=float(record["timings"]["encode_seconds"]),
            main_score=float(record["main_score"]),
            main_metric=str(record["task"]["main_metric"]),
            max_cosine_distance=distances[outcome.ref],
        )
    return figures


def overall(results: dict[str, PrecisionFigures], variant: str) -> tuple[float, float]:
    """``(speed-up over fp32 torch in total encode time, largest absolute main-score change)`` of ``variant``."""
    base, figures = results["fp32"], results[variant]
    total = sum(t.encode_seconds for t in figures.tasks.values())
    base_total = sum(t.encode_seconds for t in base.tasks.values())
    worst = max(abs(t.main_score - base.tasks[r].main_score) for r, t in figures.tasks.items())
    return base_total / total, worst


def render(results: dict[str, PrecisionFigures]) -> str:
    """The table: one row per (variant, task), then one total row per variant."""
    base = results["fp32"]
    header = (
        f"{'variant':<13} {'task':<14} {'metric':<16} {'encode s':>9} {'speed-up':>8} "
        f"{'score':>8} {'change':>9} {'max |1-cos|':>11} {'prepare s':>9}"
    )
    lines = [header, "-" * len(header)]
    for variant, figures in results.items():
        for ref, task in figures.tasks.items():
            ref_task = base.tasks[ref]
            lines.append(
                f"{variant:<13} {ref:<14} {task.main_metric:<16} {task.encode_seconds:9.1f} "
                f"{ref_task.encode_seconds / task.encode_seconds:7.2f}x {task.main_score:8.5f} "
                f"{task.main_score - ref_task.main_score:+9.5f} {task.max_cosine_distance:11.2e}"
            )
        total = sum(t.encode_seconds for t in figures.tasks.values())
        speedup, worst = overall(results, variant)
        lines.append(
            f"{variant:<13} {'all tasks':<14} {'':<16} {total:9.1f} {speedup:7.2f}x "
            f"{'':>8} {'max ' + format(worst, '.5f'):>9} {'':>11} {figures.prepare_seconds:9.1f}"
        )
    return "\n".join(lines)


def goal_line(results: dict[str, PrecisionFigures]) -> str:
    """Which variants meet issue 19's goal (>= 3x overall with every main score within 0.005 of fp32 torch)."""
    met = []
    for variant in results:
        speedup, worst = overall(results, variant)
        if variant != "fp32" and speedup >= GOAL_SPEEDUP and worst <= GOAL_SCORE:
            met.append(f"{variant} ({speedup:.2f}x, max change {worst:.5f})")
    goal = f"goal (>= {GOAL_SPEEDUP:g}x with every main score within {GOAL_SCORE:g})"
    return f"{goal}: met by {', '.join(met)}" if met else f"{goal}: not met by any variant"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm-l6", help="an encoder that takes --precision (default minilm-l6)")
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help=f"comma-separated task refs (default {DEFAULT_TASKS})")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="datasets (default ../shared/data)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--variants", help=f"comma-separated, of {', '.join(VARIANTS)} (default: all this device offers)"
    )
    parser.add_argument("--sample", type=int, default=256, help="texts per task for the cosine comparison")
    args = parser.parse_args(argv)
    if args.data_dir is not None and not args.data_dir.is_dir():
        args.data_dir = None  # the embedded copy serves the default tasks
    variants = args.variants.split(",") if args.variants else variants_for(args.device)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    if "fp32" in variants:
        variants.remove("fp32")
    variants.insert(0, "fp32")
    left_out = {v: why for v in variants if (why := unavailable(v)) is not None}
    for variant, why in left_out.items():
        print(f"fast_path: leaving out {variant}: {why}", file=sys.stderr)
    variants = [v for v in variants if v not in left_out]
    catalog = get_host().catalog
    refs = catalog.task_refs([t for t in args.tasks.split(",") if t], None)
    samples = {}
    for ref in refs:
        task = catalog.build_task(ref)
        samples[f"{ref.name}@{ref.split or task.default_split}"] = sample_texts(
            task_texts(catalog, ref, args.data_dir), args.sample
        )
    reference: dict[str, np.ndarray] = {}
    results: dict[str, PrecisionFigures] = {}
    with tempfile.TemporaryDirectory(prefix="fast-path-") as scratch:
        for variant in variants:
            print(f"fast_path: {args.encoder} as {variant} ...", file=sys.stderr, flush=True)
            results[variant] = measure(catalog, args, refs, samples, reference, variant, Path(scratch))
    device = device_description(args.device)
    print(
        f"{args.encoder} on {args.device} ({device.get('name', '?')}, {torch.get_num_threads()} threads), "
        f"batch {args.batch_size}, no embedding cache; max |1-cos| over {args.sample} sampled texts per task; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other work skews the timings)"
    )
    print(
        "variants: fp32/bf16/int8 are torch (--precision); onnx* and openvino* are --backend (sentence-transformers' "
        "export; int8: ONNX dynamic, OpenVINO static calibrated on STS-B dev)"
    )
    for variant, why in left_out.items():
        print(f"left out {variant}: {why}")
    print(render(results))
    print(goal_line(results))


if __name__ == "__main__":
    main()
