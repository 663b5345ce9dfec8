"""Contrastive pre-training turns a language model into an embedding model: a CPU demonstration.

The paper's two claims at the smallest scale this machine affords:

1. an LM's hidden state at a closing delimiter is a poor embedding until contrastive
   training (SciFact nDCG@10 of cpt-text-tiny before and after training);
2. larger batches train better embeddings at equal steps (the trend of the paper's
   Table 9), here with the larger batch made by gradient caching in chunks of the
   smaller one, so both runs need the same memory.

Training pairs are mined from text already on the machine (Python's documentation
strings, /usr/share/doc, CMake's help; never evaluation data) as neighbouring
spans.  Everything goes through the real commands (``harness mine-pairs``-style
mining, ``harness train``, ``harness run``); results land in ``--out`` like any run,
and ``summary.json`` there records the settings, timings and training curves.
SciFact documents are cut to ``--max-length`` tokens to bound CPU time; the cut
applies equally before and after training.

Run: ``python benchmarks/cpt_train_demo.py`` (about an hour on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness.cli import main as harness
from harness.encoders.training.mining import MiningReport, demo_text_corpus, mine_text_pairs
from harness.encoders.training.pairs import write_pairs
from harness.results.files import write_json_atomic


def run_harness(*args: str) -> None:
    code = harness(list(args))
    if code != 0:
        raise SystemExit(f"harness {' '.join(args)} failed with exit code {code}")


def score(out: Path, label: str, task: str) -> dict:
    record = json.loads((out / label / f"{task}.json").read_text(encoding="utf-8"))
    return {"main_score": record["main_score"], "metrics": record["metrics"]}


def train_log(run: Path) -> list[dict]:
    lines = (run / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if '"loss"' in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(".demo"), help="corpus, pairs and training runs")
    parser.add_argument("--out", type=Path, default=Path("results/demo"), help="result files")
    parser.add_argument("--preset", default="cpt-text-tiny")
    parser.add_argument("--task", default="scifact")
    parser.add_argument("--pairs", type=int, default=4000, help="mined pairs to sample")
    parser.add_argument("--max-words", type=int, default=40, help="words per mined span")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--small-batch", type=int, default=8)
    parser.add_argument("--large-batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=64, help="tokens per input in training and evaluation")
    parser.add_argument("--precision", default="bf16", help="bf16 autocast is ~3x faster than fp32 on AVX-512 CPUs")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()

    started = time.perf_counter()
    timings: dict[str, float] = {}
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = demo_text_corpus(args.work / "corpus")
    report = MiningReport()
    pairs = list(mine_text_pairs(corpus, max_words=args.max_words, max_pairs=args.pairs, seed=0, report=report))
    pairs_file = args.work / "pairs.jsonl"
    write_pairs(pairs, pairs_file)
    print(report.summary(pairs_file), flush=True)

    data = ["--data-dir", str(args.data_dir)] if args.data_dir else []
    common_eval = ["--tasks", args.task, "--out", str(args.out), "--max-length", str(args.max_length),
                   "--precision", args.precision, "--no-progress", *data]  # fmt: skip
    rows = []

    label = f"{args.preset}-untrained"
    clock = time.perf_counter()
    run_harness("run", "--encoder", args.preset, "--untrained", "--label", label, *common_eval)
    timings[f"evaluate {label}"] = time.perf_counter() - clock
    rows.append({"label": label, "batch": None, "steps": 0})

    for batch in (args.small_batch, args.large_batch):
        run = args.work / f"run-b{batch}-s{args.steps}"
        clock = time.perf_counter()
        chunk = ["--chunk-size", str(args.small_batch)] if batch > args.small_batch else []
        run_harness(
            "train", "--preset", args.preset, "--pairs", str(pairs_file), "--out", str(run),
            "--steps", str(args.steps), "--batch-size", str(batch), *chunk, "--lr", str(args.lr),
            "--max-length", str(args.max_length), "--precision", args.precision, "--save-every", "10", "--seed", "0",
        )  # fmt: skip
        timings[f"train batch {batch}"] = time.perf_counter() - clock
        label = f"{args.preset}-b{batch}-s{args.steps}"
        clock = time.perf_counter()
        run_harness("run", "--encoder", args.preset, "--checkpoint", str(run), "--label", label, *common_eval)
        timings[f"evaluate {label}"] = time.perf_counter() - clock
        log = train_log(run)
        rows.append({"label": label, "batch": batch, "steps": args.steps, "chunk": args.small_batch if chunk else None,
                     "loss_first_5": sum(r["loss"] for r in log[:5]) / 5,
                     "loss_last_5": sum(r["loss"] for r in log[-5:]) / 5,
                     "train_log": log})  # fmt: skip

    task_file = f"{args.task}@test"
    for row in rows:
        row.update(score(args.out, row["label"], task_file))
    summary = {
        "what": "cpt-text-tiny before/after contrastive training on mined neighbouring-text pairs (CPU demo)",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "mining": {"pairs": len(pairs), "files": report.files_seen, "skipped": dict(report.skipped)},
        "runs": rows,
        "timings_seconds": {k: round(v, 1) for k, v in timings.items()},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomic(args.out / "summary.json", summary)
    print(f"\n{'run':<34} {'batch':>5} {'steps':>5} {'score':>8}")
    for row in rows:
        print(f"{row['label']:<34} {row['batch'] or '-'!s:>5} {row['steps']:>5} {row['main_score']:>8.4f}")
    print(f"summary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
