"""A cold run of a suite, then a warm rerun into a fresh results folder sharing the embedding cache.

Both runs are the real command (``harness run`` in a subprocess: imports, model
load, data reading, evaluation and result writing all count), with a fresh cache
folder for the cold one.  The warm run recomputes every task (a new ``--out``),
so the difference is what the cache saves.  Goal (issue 7): warm <= 5% of cold on
the default suite.

    python benchmarks/cache_rerun.py                          # minilm-l6 on the default suite
    python benchmarks/cache_rerun.py --encoder hash-bow --suite paper --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 0.05


def run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"harness {' '.join(args)} failed:\n{done.stderr}")
    return seconds


def counts(folder: Path) -> tuple[int, int, float]:
    encoded = cached = 0
    encode_seconds = 0.0
    for path in folder.rglob("*@*.json"):
        timings = json.loads(path.read_text())["timings"]
        encoded += timings["texts_encoded"]
        cached += timings.get("texts_from_cache", 0)
        encode_seconds += timings["encode_seconds"]
    return encoded, cached, encode_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--suite", default="default")
    parser.add_argument("--data-dir", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cache-rerun-") as scratch:
        root = Path(scratch)
        common = ["run", "--encoder", options.encoder, "--suite", options.suite, "--no-progress"]
        common += ["--cache", str(root / "cache")]
        if options.data_dir:
            common += ["--data-dir", str(options.data_dir.resolve())]
        cold = run([*common, "--out", str(root / "cold")])
        warm = run([*common, "--out", str(root / "warm")])
        cold_counts, warm_counts = counts(root / "cold"), counts(root / "warm")
        cache_bytes = sum(p.stat().st_size for p in (root / "cache").rglob("*") if p.is_file())
    ratio = warm / cold
    print(f"{options.encoder} on suite {options.suite!r}")
    print(f"  cold run: {cold:8.1f} s  (texts encoded {cold_counts[0]}, from cache {cold_counts[1]}, "
          f"encode {cold_counts[2]:.1f} s)")  # fmt: skip
    print(f"  warm run: {warm:8.1f} s  (texts encoded {warm_counts[0]}, from cache {warm_counts[1]}, "
          f"encode {warm_counts[2]:.1f} s)")  # fmt: skip
    print(f"  cache size: {cache_bytes / 2**20:.1f} MiB")
    print(f"  warm / cold = {ratio:.1%}  (goal <= {GOAL:.0%}: {'PASS' if ratio <= GOAL else 'MISS'})")


if __name__ == "__main__":
    main()
