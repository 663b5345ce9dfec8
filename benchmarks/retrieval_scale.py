"""Retrieval over a corpus larger than is comfortable in memory.  Prints figures; asserts nothing.

Synthetic unit vectors from a Gaussian mixture (clustered, as embeddings are, so
an approximate index's recall means something) are written chunk by chunk to the
scratch ``.npy`` file the retrieval task uses, then searched with the task's own
functions (:mod:`harness.plugins.tasks.retrieval.dense_search`) in each mode.  Each phase
runs in a fresh process, so its peak memory is its own:

* ``ru_maxrss``: the kernel's high-water mark of the process's resident memory.
  It counts file-backed pages while they are mapped (a block of the corpus during
  a search), not the page cache that holds the file otherwise;
* ``anon`` / ``file``: peaks of anonymous and file-backed resident memory, sampled
  every 20 ms from ``/proc/self/status`` (a sample may miss a short spike).

Memory is reported relative to the embedding matrix (goal <= 1.5x); recall of an
approximate index is measured on every query against the exact run's top 100, and
as the task does it, on a seeded sample of 200 queries.

    python benchmarks/retrieval_scale.py                          # 1M x 384, 10k queries, exact,ivf,hnsw
    python benchmarks/retrieval_scale.py --docs 50000 --queries 1000 --modes exact,ivf:nprobe=8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness.plugins.tasks.retrieval.dense_search import (
    SCRATCH_ENV,
    SearchMode,
    VectorFile,
    normalized,
    recall_vs_exact,
    search,
)

CHUNK = 100_000
GiB = 2**30


class MemoryWatch:
    """Peaks of anonymous and file-backed resident memory, sampled from /proc/self/status."""

    def __init__(self, interval: float = 0.02) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in self.peak:
                self.peak[name] = max(self.peak[name], int(value.split()[0]) * 1024)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._sample()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {"anon": self.peak["RssAnon"], "file": self.peak["RssFile"], "maxrss": max_rss()}


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def mixture(rng: np.random.Generator, centers: np.ndarray, n: int, spread: float) -> np.ndarray:
    """``n`` unit vectors: a random centre plus isotropic noise of ``spread`` times the centres' scale."""
    labels = rng.integers(len(centers), size=n)
    noise = rng.standard_normal((n, centers.shape[1]), dtype=np.float32)
    return normalized(centers[labels] + spread * noise)


def write_phase(args: argparse.Namespace, folder: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    centers = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    np.save(folder / "queries.npy", mixture(rng, centers, args.queries, args.spread))
    started = time.perf_counter()
    vectors = VectorFile(folder / "corpus.npy", args.docs, args.dim)
    for start in range(0, args.docs, CHUNK):
        vectors.append(mixture(rng, centers, min(CHUNK, args.docs - start), args.spread))
    vectors.close()
    return {"seconds": {"write": time.perf_counter() - started}}


def search_phase(args: argparse.Namespace, folder: Path) -> dict:
    corpus = VectorFile.open(folder / "corpus.npy")
    queries = np.load(folder / "queries.npy")
    mode = SearchMode.parse(args.mode, source="--modes")
    outcome = search(queries, corpus, args.k, mode)
    figures: dict = {"seconds": outcome.seconds, "details": outcome.details}
    if mode.kind == "exact":
        np.save(folder / "exact_top100.npy", outcome.rows[:, :100])
    elif (folder / "exact_top100.npy").exists():
        exact = np.load(folder / "exact_top100.npy")
        figures["recall_all"] = recall_vs_exact(outcome.rows[:, :100], exact, (10, 100))
    return figures


def worker(args: argparse.Namespace) -> None:
    folder = Path(args.worker_folder)
    watch = MemoryWatch()
    baseline = max_rss()
    figures = write_phase(args, folder) if args.mode == "write" else search_phase(args, folder)
    figures["memory"] = {**watch.stop(), "baseline": baseline}
    print(json.dumps(figures))


def run_phase(args: argparse.Namespace, folder: Path, mode: str) -> dict:
    command = [sys.executable, __file__, "--worker-folder", str(folder), "--mode", mode]
    for name in ("docs", "queries", "dim", "k", "clusters", "spread", "seed"):
        command += [f"--{name}", str(getattr(args, name))]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(name: str, figures: dict, matrix: int, args: argparse.Namespace) -> None:
    memory, seconds = figures["memory"], figures["seconds"]
    ratio = memory["maxrss"] / matrix
    verdict = "meets" if ratio <= 1.5 else "misses"
    times = ", ".join(f"{phase} {value:.1f} s" for phase, value in seconds.items())
    print(f"\n[{name}] {times}")
    if name == "write":
        print(
            f"  throughput: {args.docs / seconds['write']:,.0f} documents/s ({matrix / GiB / seconds['write']:.2f} GiB/s)"
        )
    elif "search" in seconds:
        print(f"  search throughput: {args.queries / seconds['search']:,.0f} queries/s at k={args.k}")
    print(
        f"  peak RSS (ru_maxrss) {memory['maxrss'] / GiB:.2f} GiB = {ratio:.2f}x the matrix ({verdict} <= 1.5x); "
        f"sampled peaks: anon {memory['anon'] / GiB:.2f} GiB, file-backed {memory['file'] / GiB:.2f} GiB; "
        f"process after imports {memory['baseline'] / GiB:.2f} GiB"
    )
    details = figures.get("details", {})
    if details.get("mode", "exact") != "exact":
        sampled = {key: round(value, 4) for key, value in details.items() if key.startswith("recall_at")}
        print(f"  parameters {details['parameters']}")
        if "recall_all" in figures:
            full = {key: round(value, 4) for key, value in figures["recall_all"].items()}
            print(f"  recall vs exact, all {args.queries} queries: {full}")
        print(f"  recall vs exact, the task's sample of {details['recall_queries']} queries: {sampled}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=1000, help="results per query (the retrieval protocol's 1000)")
    parser.add_argument("--modes", default="exact,ivf,hnsw", help="HARNESS_RETRIEVAL_INDEX values, comma-separated")
    parser.add_argument("--clusters", type=int, default=1000, help="mixture components")
    parser.add_argument("--spread", type=float, default=1.0, help="noise scale relative to the centres")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker-folder", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_folder:
        worker(args)
        return

    # "ivf:nlist=1024,nprobe=32" holds commas: a new mode starts at a known name.
    modes: list[str] = []
    for part in args.modes.split(","):
        if (
            part.split(":")[0].split("=")[0].strip().lower() in ("exact", "ivf", "hnsw")
            and "=" not in part.split(":")[0]
        ):
            modes.append(part)
        else:
            modes[-1] += "," + part
    for mode in modes:
        SearchMode.parse(mode, source="--modes")
    matrix = args.docs * args.dim * 4
    print(
        f"corpus {args.docs:,} x {args.dim} float32 = {matrix / GiB:.2f} GiB; {args.queries:,} queries; k={args.k}; "
        f"{args.clusters} clusters, spread {args.spread}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="retrieval-scale-", dir=os.environ.get(SCRATCH_ENV) or None) as scratch:
        folder = Path(scratch)
        report("write", run_phase(args, folder, "write"), matrix, args)
        for mode in modes:
            report(mode, run_phase(args, folder, mode), matrix, args)


if __name__ == "__main__":
    main()
