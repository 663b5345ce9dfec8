"""How much does the harness add to encoding?  Prints figures; asserts nothing.

For every text list that the default suite's tasks hand to the encoder (recorded by
running each task with a stand-in encode function), time:

* ``direct``: ``SentenceTransformer.encode`` called on the list as it is;
* ``direct-unique``: the same call on the list's unique texts (the floor for any
  harness that deduplicates);
* ``harness``: the harness's :class:`EncodingSession` (dedup, length sort,
  chunking, output checks) around the same model.

Overhead is ``harness / direct-unique`` (goal <= 1.05); the speed-up over a plain
direct call is ``direct / harness``.

    python benchmarks/encode_overhead.py                 # whole default suite (~15 min on 2 cores)
    python benchmarks/encode_overhead.py --tasks stsb,sickr --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from harness import TextKind  # noqa: E402
from harness.data.locate import DataLocator  # noqa: E402
from harness.pluginhost import get_host  # noqa: E402
from harness.running.session import EncodingSession  # noqa: E402


def recorded_text_lists(task_names: list[str] | None) -> list[tuple[str, TextKind, list[str]]]:
    catalog = get_host().catalog
    refs = catalog.task_refs(task_names, None)
    lists: list[tuple[str, TextKind, list[str]]] = []
    rng = np.random.default_rng(0)
    for ref in refs:
        task = catalog.build_task(ref)
        split = ref.split or task.default_split

        def record(texts, kind, _ref=str(ref)):
            lists.append((_ref, TextKind(kind), list(texts)))
            return rng.normal(size=(len(texts), 8)).astype(np.float32)

        task.evaluate(record, DataLocator.from_settings(None).resolve(task.dataset_files(split)), split)
    return lists


def best_of(repeat: int, call) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated tasks (default: the default suite)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="take the best of N timings")
    args = parser.parse_args()

    encoder = get_host().catalog.build_encoder("minilm-l6", {"batch_size": args.batch_size})
    model = encoder.model
    lists = recorded_text_lists(args.tasks.split(",") if args.tasks else None)
    model.encode(["warm up"] * 64, batch_size=args.batch_size)

    header = f"{'task':<14}{'kind':<10}{'texts':>7}{'unique':>8}{'direct s':>10}{'uniq s':>9}{'harness s':>11}{'overhead':>10}{'speed-up':>10}"
    print(header)
    totals = np.zeros(3)
    for ref, kind, texts in lists:
        unique = list(dict.fromkeys(texts))

        def direct_call(batch: list[str] = texts) -> None:
            model.encode(batch, batch_size=args.batch_size, show_progress_bar=False)

        def harness_call(batch: list[str] = texts, kind: TextKind = kind) -> None:
            EncodingSession(encoder, progress=False)(batch, kind)

        direct = best_of(args.repeat, direct_call)
        direct_unique = best_of(args.repeat, lambda batch=unique: direct_call(batch))
        harness = best_of(args.repeat, harness_call)
        totals += (direct, direct_unique, harness)
        print(
            f"{ref:<14}{kind.value:<10}{len(texts):>7}{len(unique):>8}{direct:>10.2f}{direct_unique:>9.2f}"
            f"{harness:>11.2f}{harness / direct_unique:>10.3f}{direct / harness:>10.2f}"
        )
    direct, direct_unique, harness = totals
    print(
        f"{'total':<24}{'':>15}{direct:>10.2f}{direct_unique:>9.2f}{harness:>11.2f}"
        f"{harness / direct_unique:>10.3f}{direct / harness:>10.2f}"
    )
    print(f"overhead ratio (harness / direct on unique texts): {harness / direct_unique:.3f}  (goal <= 1.05)")
    print(f"speed-up over direct encode of every text: {direct / harness:.2f}x")


if __name__ == "__main__":
    main()
