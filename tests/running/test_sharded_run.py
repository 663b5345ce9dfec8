"""One evaluation across two processes (torchrun, gloo) scores exactly as one process does.

Every test runs the real command under ``torchrun --standalone --nproc-per-node 2`` and compares the result
files with those of a plain ``harness run`` on the same data: the metrics, the per-example scores and the
search details are equal to the last bit, and only rank 0 reports and writes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import TESTS, TINY_WORDS, build_tiny_bert, read_results

CHUNK = {"HARNESS_CORPUS_CHUNK": "1024"}
"""Documents per call and per shard unit: small, so that a corpus of a few thousand documents splits."""

DYING_HARNESS = """
import os, sqlite3, sys, time
from fakes import HashingEncoder
from harness import hookimpl
from harness.cli.main import main
from harness.pluginhost import get_host


def wait_for_cached(vectors):
    index = os.path.join(os.environ["CACHE_DIR"], "index.sqlite")
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with sqlite3.connect(index, timeout=5) as db:
                if db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] >= vectors:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    raise SystemExit("rank 0's vectors never reached the cache")


class DyingEncoder(HashingEncoder):
    '''The hashing encoder, except that rank 1 dies (as a node does) when asked for documents with DIE set, once
    DIE vectors are in the cache (so what rank 0 finished is known exactly).'''

    def fingerprint(self):
        return {"kind": "dying-hashing"}

    def encode(self, texts, kind):
        if os.environ.get("RANK") == "1" and kind == "document":
            if os.environ.get("DIE"):
                wait_for_cached(int(os.environ["DIE"]))  # rank 0's shard (and the queries) are in the cache
                os._exit(17)  # a code of its own: the planned death, not a fault on the way
            if os.environ.get("NAN"):
                return super().encode(texts, kind) * float("nan")
        return super().encode(texts, kind)


class DyingPlugin:
    @hookimpl
    def harness_register_encoders(self, register):
        register("dying", lambda settings: DyingEncoder(), "rank 1 dies mid-corpus (tests)")


get_host().register(DyingPlugin(), name="dying-plugin")
sys.exit(main(sys.argv[1:]))
"""


def harness(
    args: list[Any], *, processes: int = 1, env: dict[str, str] | None = None, script: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` as one process, or under torchrun as ``processes`` ranks on this machine (gloo)."""
    program = [str(script)] if script else ["-m", "harness"]
    launch = [sys.executable, *program]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
        launch += [str(script)] if script else ["-m", "harness"]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", HARNESS_LOAD_PLUGINS="", PYTHONPATH=str(TESTS), **(env or {}))
    full_env.pop("WORLD_SIZE", None)
    return subprocess.run(
        [*launch, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=Path.home(), timeout=600
    )


def scores(folder: Path) -> dict[str, dict[str, Any]]:
    """What must agree between runs: every metric, per-example score and detail of every result."""
    return {
        ref.split("/", 1)[1]: {key: record[key] for key in ("metrics", "main_score", "n_examples", "details")}
        | {"per_example": record.get("per_example")}
        for ref, record in read_results(folder).items()
    }


def beir_folder(root: Path, documents: int) -> Path:
    """A corpus of distinct texts in the tiny models' vocabulary: no two documents tie on any query."""
    folder = root / f"corpus-{documents}"
    (folder / "qrels").mkdir(parents=True)
    rng = random.Random(documents)
    texts: dict[str, None] = {}
    while len(texts) < documents:
        texts.setdefault(" ".join(rng.choices(TINY_WORDS, k=rng.randint(3, 12))))
    with (folder / "corpus.jsonl").open("w") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    queries: dict[str, None] = {}
    while len(queries) < 40:
        queries.setdefault(" ".join(rng.sample(TINY_WORDS, k=3)))
    lines = "".join(json.dumps({"_id": f"q{q}", "text": t}) + "\n" for q, t in enumerate(queries))  # 40 distinct
    (folder / "queries.jsonl").write_text(lines)
    qrels = "".join(f"q{q}\td{(q * 37) % documents}\t1\n" for q in range(40))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def assert_same_scores(tmp_path: Path, encoder: str, tasks: str, env: dict[str, str] | None = None) -> str:
    """Run once in one process and once in two; the results must agree exactly.  Returns the sharded stdout."""
    one = harness(["run", "--encoder", encoder, "--tasks", tasks, "--out", tmp_path / "one", "--no-cache"], env=env)
    assert one.returncode == 0, one.stderr
    two = harness(
        ["run", "--encoder", encoder, "--tasks", tasks, "--out", tmp_path / "two", "--no-cache"], processes=2, env=env
    )
    assert two.returncode == 0, two.stderr
    assert scores(tmp_path / "one") == scores(tmp_path / "two")
    assert len(scores(tmp_path / "two")) == len(tasks.split(","))
    return two.stdout


def test_two_processes_score_exactly_as_one(tmp_path: Path) -> None:
    """SciFact (5183 documents: shards of 3 and 3 chunks, the second shorter) and STS-B, with hash-bow."""
    stdout = assert_same_scores(tmp_path, "hash-bow", "scifact,stsb", CHUNK)
    # Rank 0 alone reports: one line per task, one summary.
    assert stdout.count("scifact@test: ndcg_at_10 = ") == 1 and stdout.count("results in ") == 1, stdout


def test_two_processes_score_exactly_as_one_with_a_model(tmp_path: Path, tiny_model: Path) -> None:
    assert_same_scores(tmp_path, f"hf:{tiny_model}", "scifact,stsb", CHUNK)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("sharded") / "bert")


@pytest.mark.parametrize("documents", [2500, 300], ids=["uneven-shards", "empty-shard"])
def test_uneven_and_empty_shards(tmp_path: Path, tiny_model: Path, documents: int) -> None:
    """2500 documents: 2048 and 452 (an uneven cut); 300: everything on rank 0, nothing on rank 1."""
    folder = beir_folder(tmp_path, documents)
    assert_same_scores(tmp_path, f"hf:{tiny_model}", f"beir:{folder}", CHUNK)


def test_a_rank_that_dies_fails_the_run_and_a_rerun_encodes_only_what_was_missing(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path, 3000)
    script = tmp_path / "dying_harness.py"
    script.write_text(DYING_HARNESS)
    cache = tmp_path / "cache"
    args = ["run", "--encoder", "dying", "--tasks", f"beir:{folder}", "--cache", cache]
    # Rank 1 dies once the 40 queries (rank 1's: all of a task under one chunk go to one rank) and rank 0's
    # 1024 documents are cached.
    env = {**CHUNK, "DIE": str(40 + 1024), "CACHE_DIR": str(cache)}
    died = harness([*args, "--out", tmp_path / "died"], processes=2, env=env, script=script)
    assert died.returncode != 0
    assert "rank      : 1 (local_rank: 1)\n  exitcode  : 17" in died.stderr, died.stderr  # the planned death
    assert not list((tmp_path / "died").rglob("*@*.json"))  # nothing half-done was filed
    rerun = harness([*args, "--out", tmp_path / "died"], processes=2, env=CHUNK, script=script)
    assert rerun.returncode == 0, rerun.stderr
    (record,) = read_results(tmp_path / "died").values()
    timings = record["timings"]
    # The 40 queries and rank 0's shard (the first 1024 documents: about half the characters, cut at a chunk) came
    # from the cache; only rank 1's 1976 documents were encoded again.
    assert timings["texts_from_cache"] == 40 + 1024 and timings["texts_encoded"] == 3000 - 1024, timings
    alone = harness(
        ["run", "--encoder", "dying", "--tasks", f"beir:{folder}", "--out", tmp_path / "one", "--no-cache"],
        env=CHUNK,
        script=script,
    )
    assert alone.returncode == 0, alone.stderr
    assert scores(tmp_path / "died") == scores(tmp_path / "one")


def test_a_rank_whose_encoder_fails_fails_the_task_on_every_rank_in_one_line(tmp_path: Path) -> None:
    """Rank 1's encoder returns NaN for its corpus shard: the task fails everywhere, the run goes on."""
    folder = beir_folder(tmp_path, 3000)
    script = tmp_path / "dying_harness.py"
    script.write_text(DYING_HARNESS)
    args = ["run", "--encoder", "dying", "--tasks", f"beir:{folder},stsb", "--out", tmp_path / "out", "--no-cache"]
    result = harness(args, processes=2, env={**CHUNK, "NAN": "1"}, script=script)
    assert result.returncode != 0
    failed = [line for line in result.stderr.splitlines() if ": FAILED: " in line]
    assert len(failed) == 1, result.stderr  # said once, by rank 0
    assert f"beir:{folder}@test: FAILED: rank 1 of 2: encoder 'dying' returned NaN or infinite values" in failed[0]
    assert result.stdout.count("stsb@test: ") == 1  # the next task ran on both ranks
    assert set(read_results(tmp_path / "out")) == {"dying/stsb@test"}


def test_bad_sharding_settings_are_one_line_errors(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path, 300)
    args = ["run", "--encoder", "hash-bow", "--tasks", f"beir:{folder}", "--out", tmp_path / "out", "--no-cache"]
    chunk = harness(args, processes=2, env={"HARNESS_CORPUS_CHUNK": "1000"})
    assert "FAILED: HARNESS_CORPUS_CHUNK='1000': expected a positive multiple of 1024" in chunk.stderr
    timeout = harness(args, processes=2, env={"HARNESS_DIST_TIMEOUT": "soon"})
    assert timeout.returncode != 0 and "HARNESS_DIST_TIMEOUT must be a number of seconds" in timeout.stderr
    dtype = harness(args, env={"HARNESS_CORPUS_DTYPE": "float8"})
    assert dtype.returncode == 1 and "HARNESS_CORPUS_DTYPE='float8': expected float32 or float16" in dtype.stderr
    gpu = harness(args, env={"HARNESS_FAISS_GPU": "1"})  # this machine's faiss is faiss-cpu
    assert gpu.returncode == 1 and "HARNESS_FAISS_GPU=1: this faiss build has no GPU support" in gpu.stderr


def test_float16_corpus_vectors_are_another_measurement(tmp_path: Path, tiny_model: Path) -> None:
    """Half-precision corpus vectors change scores a little; the result says so and is never taken for float32."""
    folder = beir_folder(tmp_path, 2500)
    args = ["run", "--encoder", f"hf:{tiny_model}", "--tasks", f"beir:{folder}", "--out", tmp_path / "out"]
    assert harness(args).returncode == 0
    (full,) = read_results(tmp_path / "out").values()
    half_run = harness(args, env={"HARNESS_CORPUS_DTYPE": "float16"})
    assert half_run.returncode == 0 and "skipped" not in half_run.stdout  # not the float32 result
    (half,) = read_results(tmp_path / "out").values()
    assert half["task"]["dataset"]["identity"] == {"corpus_dtype": "float16"}
    assert half["details"]["search"]["corpus_dtype"] == "float16"
    assert abs(half["main_score"] - full["main_score"]) < 0.01
    again = harness(args, env={"HARNESS_CORPUS_DTYPE": "float16"})
    assert "skipped: already done" in again.stdout
