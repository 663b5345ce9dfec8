"""benchmarks/sharded_eval.py runs end to end on a tiny corpus, so that it does not rot as the harness changes."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

from helpers import TINY_WORDS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sharded_eval.py"


def tiny_beir(root: Path, documents: int = 2500) -> Path:
    """Distinct documents, 30 queries: 1024-document chunks, 1024 on rank 0 and 1476 on rank 1."""
    (root / "qrels").mkdir(parents=True)
    rng = random.Random(0)
    texts: dict[str, None] = {}
    while len(texts) < documents:
        texts.setdefault(" ".join(rng.choices(TINY_WORDS, k=rng.randint(3, 12))))
    corpus = "".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(texts))
    (root / "corpus.jsonl").write_text(corpus)
    queries = "".join(
        json.dumps({"_id": f"q{q}", "text": " ".join(rng.sample(TINY_WORDS, 3))}) + "\n" for q in range(30)
    )
    (root / "queries.jsonl").write_text(queries)
    qrels = "".join(f"q{q}\td{(q * 37) % documents}\t1\n" for q in range(30))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return root


def test_the_sharded_benchmark_measures_two_ranks_and_prints_the_plan(tmp_path: Path) -> None:
    folder = tiny_beir(tmp_path / "tiny")
    plan = ["--plan-passages", "2048", "--plan-dims", "256", "--plan-gpus", "2", "--gpu-rate", "1024"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tasks", f"beir:{folder}", *plan],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2 processes vs 1: identical" in out, out
    # Each rank's peak RSS came back from the wrapper, in the 2-process row.
    assert re.search(r"2 processes, float32 .* r0 \d+ MiB, r1 \d+ MiB", out), out
    assert re.search(r"1 process, float16 .* r0 \d+ MiB", out), out
    assert re.search(r"tiny@test main score +\d\.\d{6} +\d\.\d{6} +[+-]\d\.\d{6}", out), out
    # The plan: 1024 passages per rank x 256 x 4 B = 1 MiB (float16 half), encoded at 1024 texts/s in 1 s.
    assert re.search(r"^256 +2 +1,024 +1\.0 MiB +512 KiB .* 1\.0 s$", out, re.MULTILINE), out
    assert "(--gpu-rate, per GPU)" in out and "== computed: plan for 2,048 passages" in out
