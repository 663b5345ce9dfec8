"""One evaluation in 1 and in N processes (torchrun, gloo), float16 corpus vectors, and a plan for 21M passages.

Prints figures; asserts nothing.  Three parts, each labelled *measured* or *computed*:

1. Measured: ``harness run`` of the same encoder and tasks, once per process count in
   ``--processes`` (torchrun for more than one), each in fresh processes with
   ``--no-cache``, a fresh results folder and ``OMP_NUM_THREADS=1`` per process.
   Per run: wall time of the whole command (interpreter start, imports and
   torchrun's rendezvous included), the task times the result files record, the
   encode rate (``texts_encoded / encode_seconds``: every rank's texts over rank 0's
   encode time), and each rank's peak RSS (``ru_maxrss``, written at exit by this
   script, which runs each rank as ``sharded_eval.py --harness ARGS``).  Then
   whether each N-process result equals the 1-process one (metrics, main score,
   details, per-example scores): ``identical`` or the differences.
2. Measured: the 1-process run again with ``HARNESS_CORPUS_DTYPE=float16`` and its
   score changes against float32.
3. Computed: for ``--plan-passages`` (21,015,324: DPR's Wikipedia) on 1, 8 and 64
   GPUs, per rank: corpus vectors on disk (and in the page cache) in float32 and
   float16, exact search's memory, an IVF or HNSW index's, the merge's gather, and
   the corpus's encode time at ``--gpu-rate`` texts/s per GPU (without it: the CPU
   rate measured in part 1, labelled as such).

``HARNESS_CORPUS_CHUNK`` is set to ``--corpus-chunk`` (default 1024) for every run:
at the harness's default of 102,400 documents a chunk, SciFact's 5,183 documents
are one chunk, so rank 0 would encode the whole corpus and rank 1 nothing.

    python benchmarks/sharded_eval.py                                  # hash-bow on SciFact, 1 and 2 processes
    python benchmarks/sharded_eval.py --encoder hf:PATH --tasks scifact,nfcorpus --gpu-rate 3000
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# This checkout's harness and plugins, even where another copy is installed (see harness/source_checkout.py).
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(REPO))

RSS_DIR_ENV = "SHARDED_EVAL_RSS_DIR"
"""Folder where each rank run through ``--harness`` writes ``rank-R.json`` with its peak RSS at exit."""

DPR_PASSAGES = 21_015_324
TOP_K = 1000
SCORE_ROW_BYTES = 12
"""One top-k entry in a search's heap: a float32 score and an int64 corpus row."""
MERGE_ENTRY_BYTES = 16
"""One top-k entry in the merge's gather: score and row, both float64 (see ``merge_top_k``)."""
MERGE_PEAK_BYTES = 68
"""Bytes per gathered entry at the merge's peak, from reading ``merge_top_k``: the gather (16) and its
concatenation by query (16), scores as float32 and rows as int64 (12), and ``canonical_top_k``'s sort keys
and order (8 + 8 + 8).  tracemalloc over a simulated gather of 8 and 32 ranks saw 4.4-4.5x the gather."""
HNSW_M = 32
SHOWN_METRICS = ("ndcg_at_10", "map_at_10", "mrr_at_10", "recall_at_100", "recall_at_1000")
MiB = 2**20


# --- the rank wrapper -------------------------------------------------------------------------------


def run_harness_rank(argv: list[str]) -> int:
    """``harness ARGV`` in this process; at exit, this rank's peak RSS goes to ``$SHARDED_EVAL_RSS_DIR``.

    Written by ``atexit`` so that it is the peak of the whole process, the final result files included.
    """
    folder = os.environ.get(RSS_DIR_ENV)
    if folder:
        atexit.register(_write_peak_rss, Path(folder))
    from harness.cli.main import main

    return main(argv)


def _write_peak_rss(folder: Path) -> None:
    rank = int(os.environ.get("RANK", "0"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    (folder / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "max_rss_bytes": peak}))


# --- measured runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One ``harness run``: its label, processes, wall time, each rank's peak RSS and its result records."""

    label: str
    processes: int
    dtype: str
    wall_seconds: float
    rss_by_rank: dict[int, int]
    results: dict[str, dict[str, Any]]

    def timing(self, name: str) -> float:
        """A timing summed over the run's result files (one per task)."""
        return sum(float(record["timings"][name]) for record in self.results.values())

    @property
    def encode_rate(self) -> float:
        seconds = self.timing("encode_seconds")
        return self.timing("texts_encoded") / seconds if seconds else math.nan


def evaluate(args: argparse.Namespace, processes: int, dtype: str, scratch: Path) -> Run:
    """Run the evaluation in ``processes`` fresh processes; fail with the harness's own stderr if it fails."""
    label = f"{processes}p-{dtype}"
    out, rss_dir = scratch / label / "results", scratch / label / "rss"
    rss_dir.mkdir(parents=True)
    harness_args = ["run", "--encoder", args.encoder, "--tasks", args.tasks, "--out", str(out)]
    harness_args += ["--no-cache", "--no-progress"] + (["--data-dir", str(args.data_dir)] if args.data_dir else [])
    launch = [sys.executable]
    if processes > 1:
        launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = [*launch, str(Path(__file__).resolve()), "--harness", *harness_args]
    env = dict(os.environ, OMP_NUM_THREADS="1", HARNESS_CORPUS_CHUNK=str(args.corpus_chunk))
    env.update({"HARNESS_CORPUS_DTYPE": dtype, RSS_DIR_ENV: str(rss_dir)})
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):  # a benchmark started inside torchrun still starts its own
        env.pop(name, None)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"sharded_eval: the {label} run failed (exit {done.returncode}):\n{done.stderr.strip()}")
    rss = {}
    for path in rss_dir.glob("rank-*.json"):
        record = json.loads(path.read_text())
        rss[int(record["rank"])] = int(record["max_rss_bytes"])
    return Run(label, processes, dtype, wall, dict(sorted(rss.items())), read_results(out))


def read_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Every result file under ``folder`` as ``{"TASK@SPLIT": record}``."""
    found = {}
    for path in sorted(folder.rglob("*@*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[f"{record['task']['name']}@{record['task']['split']}"] = record
    return found


def differences(one: Run, other: Run) -> list[str]:
    """What differs between two runs' results (metrics, main score, details, per-example scores); empty if none."""
    found = []
    for task in sorted(set(one.results) | set(other.results)):
        a, b = one.results.get(task), other.results.get(task)
        if a is None or b is None:
            found.append(f"{task}: only in the {(one if a else other).label} run")
            continue
        metrics = [
            name
            for name in sorted(set(a["metrics"]) | set(b["metrics"]))
            if a["metrics"].get(name) != b["metrics"].get(name)
        ]
        if metrics:
            worst = max(metrics, key=lambda name: abs(_delta(a["metrics"].get(name), b["metrics"].get(name))))
            delta = _delta(a["metrics"].get(worst), b["metrics"].get(worst))
            found.append(f"{task}: {len(metrics)} metrics differ, most {worst} by {delta:+.3g}")
        for key in ("main_score", "n_examples", "details", "per_example"):
            if a.get(key) != b.get(key):
                found.append(f"{task}: {key} differs")
    return found


def _delta(a: Any, b: Any) -> float:
    return float(b) - float(a) if isinstance(a, int | float) and isinstance(b, int | float) else math.inf


# --- computed plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """Per-rank figures for one dimension and GPU count (bytes, and seconds of corpus encoding)."""

    dim: int
    gpus: int
    rows: int
    vectors_f32: int
    vectors_f16: int
    exact_f32: int
    exact_f16: int
    ivf: int
    hnsw: int
    merge_gather: int
    merge_peak: int
    encode_seconds: float


def plan_row(passages: int, dim: int, gpus: int, queries: int, rate: float) -> PlanRow:
    """One row of the plan, from the constants the search uses (:mod:`plugins.tasks.retrieval.dense_search`).

    Exact search holds one block (``block_rows(dim)`` rows of float32; a float16 file's block is mapped and
    also converted, so half a block more), the query vectors, the top-k heap and one block's top-k results
    (:func:`_heap_search`'s docstring).  IVFFlat keeps every vector in float32 plus an int64 id; HNSW every
    vector plus level 0's ``2 * M`` int32 links.  The merge gathers ``min(queries, merge_queries(k, ranks))`` queries'
    top-k lists from every rank at a time (``merge_queries``), and holds :data:`MERGE_PEAK_BYTES` per gathered entry at its peak.
    """
    from plugins.tasks.retrieval.dense_search import block_rows, merge_queries

    rows = math.ceil(passages / gpus)  # shards are cut by characters: about equal, not exactly
    block = block_rows(dim) * dim * 4
    top_k = 2 * queries * TOP_K * SCORE_ROW_BYTES + queries * dim * 4
    vectors = rows * dim * 4
    entries = min(queries, merge_queries(TOP_K, gpus)) * TOP_K * gpus
    return PlanRow(
        dim=dim,
        gpus=gpus,
        rows=rows,
        vectors_f32=vectors,
        vectors_f16=vectors // 2,
        exact_f32=block + top_k,
        exact_f16=block + block // 2 + top_k,
        ivf=vectors + rows * 8,
        hnsw=vectors + rows * HNSW_M * 2 * 4,
        merge_gather=entries * MERGE_ENTRY_BYTES,
        merge_peak=entries * MERGE_PEAK_BYTES,
        encode_seconds=rows / rate if rate > 0 else math.nan,
    )


# --- printing ---------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def size(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.0f} KiB"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def print_runs(runs: list[Run]) -> None:
    print(
        table(
            ["run", "wall", "task total", "encode", "texts encoded", "texts/s", "peak RSS per rank"],
            [
                [
                    f"{run.processes} process{'es' if run.processes > 1 else ''}, {run.dtype}",
                    f"{run.wall_seconds:.1f} s",
                    f"{run.timing('total_seconds'):.1f} s",
                    f"{run.timing('encode_seconds'):.1f} s",
                    f"{int(run.timing('texts_encoded')):,}",
                    f"{run.encode_rate:,.0f}",
                    ", ".join(f"r{rank} {rss / MiB:.0f} MiB" for rank, rss in run.rss_by_rank.items()) or "-",
                ]
                for run in runs
            ],
        )
    )


def print_agreement(single: Run, sharded: list[Run]) -> None:
    for run in sharded:
        found = differences(single, run)
        verdict = "identical" if not found else "DIFFERENT: " + "; ".join(found)
        speedup = single.wall_seconds / run.wall_seconds
        encode = single.timing("encode_seconds") / max(run.timing("encode_seconds"), 1e-9)
        print(f"{run.processes} processes vs 1: {verdict} (wall {speedup:.2f}x, encode {encode:.2f}x faster)")


def print_float16(f32: Run, f16: Run) -> None:
    rows = []
    for task in sorted(f32.results):
        a, b = f32.results[task], f16.results.get(task)
        if b is None:
            continue
        names = [n for n in SHOWN_METRICS if n in a["metrics"]] or sorted(a["metrics"])[:5]
        main = ["main score", a["main_score"], b["main_score"]]
        for name, x, y in [main, *([n, a["metrics"][n], b["metrics"].get(n, math.nan)] for n in names)]:
            rows.append([f"{task} {name}", f"{x:.6f}", f"{y:.6f}", f"{y - x:+.6f}"])
        worst = max((abs(_delta(v, b["metrics"].get(n))) for n, v in a["metrics"].items()), default=0.0)
        rows.append([f"{task} largest |change| of {len(a['metrics'])} metrics", "", "", f"{worst:.6f}"])
    print(table(["", "float32", "float16", "change"], rows))


def print_plan(args: argparse.Namespace, rate: float, rate_label: str) -> None:
    from plugins.tasks.retrieval.dense_search import BLOCK_BYTES, MERGE_ENTRIES

    rows = [
        plan_row(args.plan_passages, dim, gpus, args.plan_queries, rate)
        for dim in args.plan_dims
        for gpus in args.plan_gpus
    ]
    print(
        table(
            [
                "dim",
                "GPUs",
                "passages/rank",
                "vectors f32",
                "f16",
                "exact f32",
                "exact f16",
                "IVF",
                "HNSW",
                "merge gather",
                "merge peak",
                "encode",
            ],
            [
                [
                    str(r.dim),
                    str(r.gpus),
                    f"{r.rows:,}",
                    size(r.vectors_f32),
                    size(r.vectors_f16),
                    size(r.exact_f32),
                    size(r.exact_f16),
                    size(r.ivf),
                    size(r.hnsw),
                    size(r.merge_gather),
                    size(r.merge_peak),
                    duration(r.encode_seconds),
                ]
                for r in rows
            ],
        )
    )
    print(
        f"vectors: passages/rank x dim x 4 (float32) or 2 (float16) bytes, on disk and in the page cache "
        f"(reclaimable, not the process's memory).\n"
        f"exact: one block (BLOCK_BYTES = {BLOCK_BYTES // MiB} MiB of float32 rows; float16 adds half a block, the "
        f"mapped rows before conversion) + {args.plan_queries:,} query vectors + 2 x queries x {TOP_K} x "
        f"{SCORE_ROW_BYTES} B (the top-k heap and one block's results).\n"
        f"IVF: every vector in float32 + an 8 B id; HNSW: every vector + M x 2 x 4 B links (M = {HNSW_M}); both in "
        f"memory, in float32 whatever the corpus dtype.\n"
        f"merge gather: at most MERGE_ENTRIES = {MERGE_ENTRIES:,} entries (queries x {TOP_K} x ranks) of "
        f"{MERGE_ENTRY_BYTES} B at a time, on every rank; merge peak: {MERGE_PEAK_BYTES} B per gathered entry (the "
        f"gather, its concatenation, the split scores and rows, the sort keys).\n"
        f"encode: passages/rank / {rate:,.0f} texts/s ({rate_label}); corpus only, search and model load excluded."
    )


# --- main -------------------------------------------------------------------------------------------


def integers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    shared = REPO.parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="hash-bow")
    parser.add_argument("--tasks", default="scifact")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=shared if shared.is_dir() else None,
        help="datasets folder (default: ../shared/data next to the repository if present, else the embedded data)",
    )
    parser.add_argument("--processes", type=integers, default=[1, 2], help="process counts to run (1 is always run)")
    parser.add_argument("--corpus-chunk", type=int, default=1024, help="HARNESS_CORPUS_CHUNK for every run")
    parser.add_argument("--plan-passages", type=int, default=DPR_PASSAGES)
    parser.add_argument("--plan-dims", type=integers, default=[768, 4096])
    parser.add_argument("--plan-gpus", type=integers, default=[1, 8, 64])
    parser.add_argument("--plan-queries", type=int, default=3610, help="queries searched at once (default: NQ test)")
    parser.add_argument("--gpu-rate", type=float, help="texts/s per GPU for the plan (default: the measured CPU rate)")
    return parser.parse_args(argv)


def main() -> None:
    if sys.argv[1:2] == ["--harness"]:
        sys.exit(run_harness_rank(sys.argv[2:]))
    args = parse_args()
    processes = sorted(set(args.processes) | {1})
    data = args.data_dir or "the embedded data"
    print(
        f"{args.encoder} on {args.tasks} ({data}); processes {processes}; HARNESS_CORPUS_CHUNK={args.corpus_chunk}; "
        f"OMP_NUM_THREADS=1 per process; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="sharded-eval-") as scratch:
        runs = [evaluate(args, n, "float32", Path(scratch)) for n in processes]
        f16 = evaluate(args, 1, "float16", Path(scratch))
    single = runs[0]
    print("\n== measured on this machine: one evaluation, fresh processes, no embedding cache ==")
    print_runs([*runs, f16])
    print_agreement(single, runs[1:])
    print("\n== measured: float16 corpus vectors (HARNESS_CORPUS_DTYPE=float16), 1 process ==")
    print_float16(single, f16)
    if args.gpu_rate:
        rate, rate_label = args.gpu_rate, "--gpu-rate, per GPU"
    else:
        rate, rate_label = single.encode_rate, f"MEASURED here: {args.encoder}, 1 CPU process, not a GPU"
    print(
        f"\n== computed: plan for {args.plan_passages:,} passages, {args.plan_queries:,} queries, k={TOP_K}, per rank =="
    )
    print_plan(args, rate, rate_label)


if __name__ == "__main__":
    main()
