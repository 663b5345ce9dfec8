"""Retrieval over corpora on disk: block search equals one flat index, scratch files go, approximate modes report recall."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from fakes import HashingEncoder
from harness import TextKind
from harness.cli import main
from harness.data.locate import DataLocator
from harness.errors import HarnessError
from harness.plugins.tasks.retrieval import dense_search
from harness.plugins.tasks.retrieval import tasks as retrieval
from harness.plugins.tasks.retrieval.dense_search import (
    SearchMode,
    VectorFile,
    canonical_top_k,
    exact_search,
    normalized,
)


def flat_search(queries: np.ndarray, documents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The search retrieval used before block search: one IndexFlatIP over the whole corpus, its ties in row order.

    faiss orders documents of exactly equal score as its heap leaves them (random float32 data has a few such
    pairs); block search orders them by row, so the reference is put in that order too.
    """
    index = faiss.IndexFlatIP(documents.shape[1])
    index.add(documents)
    k = min(k, index.ntotal)
    return canonical_top_k(*index.search(queries, k), k)


def on_disk(folder: Path, documents: np.ndarray) -> VectorFile:
    vectors = VectorFile(folder / "corpus.npy", *documents.shape)
    for start in range(0, len(documents), 1000):  # chunks that are not blocks
        vectors.append(documents[start : start + 1000])
    vectors.close()
    return vectors


@pytest.mark.parametrize(
    ("n_docs", "n_queries", "dim", "k", "per_block"),
    [
        (2500, 30, 16, 1500, 1024),  # corpus not a multiple of the block, k larger than a block
        (700, 5, 16, 1000, 1024),  # fewer documents than k
        (5000, 5000, 64, 300, 2048),  # enough queries for faiss's BLAS path, two query tiles
    ],
)
def test_block_search_equals_flat_search(tmp_path: Path, n_docs, n_queries, dim, k, per_block) -> None:
    rng = np.random.default_rng(n_docs)
    documents, queries = normalized(rng.normal(size=(n_docs, dim))), normalized(rng.normal(size=(n_queries, dim)))
    expected_scores, expected_rows = flat_search(queries, documents, k)
    for corpus in (documents, on_disk(tmp_path, documents)):
        scores, rows = exact_search(queries, corpus, k, rows_per_block=per_block)
        assert scores.shape == rows.shape == (n_queries, min(k, n_docs))
        np.testing.assert_array_equal(scores, expected_scores)  # bit for bit
        np.testing.assert_array_equal(rows, expected_rows)


def test_fewer_queries_than_threads_agree_to_the_last_bit() -> None:
    # With fewer queries than threads and a large corpus faiss splits the corpus between its threads
    # and uses BLAS, so the flat search's own last bit depends on the thread count; blocks agree to it.
    rng = np.random.default_rng(1)
    documents, queries = normalized(rng.normal(size=(12_000, 16))), normalized(rng.normal(size=(1, 16)))
    expected_scores, expected_rows = flat_search(queries, documents, 50)
    scores, rows = exact_search(queries, documents, 50, rows_per_block=2048)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=2.5e-7)
    np.testing.assert_array_equal(rows, expected_rows)


@pytest.mark.parametrize("n_queries", [4096 + 10, 8192 + 3000])
def test_query_batches_keep_faiss_tiles(monkeypatch: pytest.MonkeyPatch, n_queries: int) -> None:
    # A 10-query tail would take faiss's sequential path on its own: it joins the previous batch.
    monkeypatch.setattr(dense_search, "QUERY_BATCH", 4096)
    rng = np.random.default_rng(0)
    documents, queries = normalized(rng.normal(size=(3000, 64))), normalized(rng.normal(size=(n_queries, 64)))
    expected_scores, expected_rows = flat_search(queries, documents, 20)
    scores, rows = exact_search(queries, documents, 20, rows_per_block=1024)
    np.testing.assert_array_equal(scores, expected_scores)
    np.testing.assert_array_equal(rows, expected_rows)


def test_exact_ties_keep_their_scores() -> None:
    rng = np.random.default_rng(3)
    documents = normalized(np.repeat(rng.normal(size=(600, 8)), 3, axis=0))  # every document three times
    queries = normalized(rng.normal(size=(4, 8)))
    expected_scores, expected_rows = flat_search(queries, documents, 1200)
    scores, rows = exact_search(queries, documents, 1200, rows_per_block=1024)
    np.testing.assert_array_equal(scores, expected_scores)
    np.testing.assert_array_equal(rows // 3, expected_rows // 3)  # copies of a document may swap places


def test_block_size_must_follow_faiss_tiles() -> None:
    with pytest.raises(ValueError, match="multiple of 1024"):
        exact_search(np.ones((1, 4), np.float32), np.ones((10, 4), np.float32), 3, rows_per_block=1000)


def test_search_modes_parse() -> None:
    assert SearchMode.parse("exact") == SearchMode("exact", {})
    assert SearchMode.parse("ivf:nlist=64,nprobe=4").params == {"nlist": 64, "nprobe": 4}
    assert SearchMode.parse("HNSW:M=16").resolved(10_000) == {"M": 16, "efConstruction": 40, "efSearch": 128}
    assert SearchMode.parse("ivf").resolved(1_000_000) == {"nlist": 1000, "nprobe": 32}
    assert SearchMode.parse("ivf").resolved(100) == {"nlist": 2, "nprobe": 2}
    for bad, message in [
        ("flat", "unknown search mode 'flat'"),
        ("ivf:nlist=0", "nlist must be a positive integer"),
        ("hnsw:ef=3", "hnsw has no parameter 'ef'"),
        ("exact:nprobe=3", "exact has no parameter 'nprobe'"),
    ]:
        with pytest.raises(HarnessError, match=message):
            SearchMode.parse(bad)


# --- the task ---------------------------------------------------------------------------------------


def beir_folder(root: Path, n_docs: int = 300, n_queries: int = 12) -> Path:
    folder = root / "mini"
    (folder / "qrels").mkdir(parents=True)
    topics = ["apple orchard", "river delta", "quantum spin", "violin sonata", "glacier ice", "tax policy"]
    docs = [
        {"_id": f"d{i}", "title": topics[i % 6], "text": f"note {i} on {topics[i % 6]} and item {i % 17}"}
        for i in range(n_docs)
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"{topics[i % 6]} item {i}"} for i in range(n_queries)]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    qrels = "".join(f"q{i}\td{i}\t1\n" for i in range(n_queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def run_cli(folder: Path, out: Path) -> tuple[int, dict | None]:
    code = main(["run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", str(out)])
    records = list(out.rglob("*@test.json"))
    return code, json.loads(records[0].read_text()) if records else None


@pytest.mark.parametrize(
    "spec", ["ivf:nlist=8,nprobe=2", "ivfpq:nlist=4,nprobe=2,m=8,nbits=4", "hnsw:M=8,efConstruction=16"]
)
def test_approximate_modes_record_recall(fake_plugin, monkeypatch, tmp_path: Path, spec: str) -> None:
    monkeypatch.setenv("HARNESS_RETRIEVAL_INDEX", spec)
    code, record = run_cli(beir_folder(tmp_path), tmp_path / "out")
    assert code == 0 and record is not None
    search = record["details"]["search"]
    assert search["mode"] == spec.split(":")[0] and search["recall_queries"] == 12
    assert set(search) >= {"parameters", "recall_at_10_vs_exact", "recall_at_100_vs_exact", "recall_at_300_vs_exact"}
    assert 0.0 < search["recall_at_10_vs_exact"] <= 1.0
    if search["mode"] == "ivf":
        assert search["parameters"] == {"nlist": 8, "nprobe": 2}
    if search["mode"] == "ivfpq":
        assert search["parameters"] == {"nlist": 4, "nprobe": 2, "m": 8, "nbits": 4}
        assert record["task"]["dataset"]["identity"] == {"search": "ivfpq:m=8,nbits=4,nlist=4,nprobe=2"}


def test_exact_mode_is_recorded(fake_plugin, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HARNESS_RETRIEVAL_INDEX", raising=False)
    code, record = run_cli(beir_folder(tmp_path), tmp_path / "out")
    assert code == 0 and record is not None and record["details"]["search"] == {"mode": "exact"}


def test_a_result_of_another_search_mode_is_not_reused(fake_plugin, monkeypatch, capsys, tmp_path: Path) -> None:
    folder, out = beir_folder(tmp_path), tmp_path / "out"
    monkeypatch.delenv("HARNESS_RETRIEVAL_INDEX", raising=False)
    assert run_cli(folder, out)[0] == 0
    assert run_cli(folder, out)[0] == 0
    assert "skipped" in capsys.readouterr().out
    monkeypatch.setenv("HARNESS_RETRIEVAL_INDEX", "ivf:nlist=8")
    code, record = run_cli(folder, out)
    assert code == 0 and "skipped" not in capsys.readouterr().out
    assert record is not None and record["details"]["search"]["mode"] == "ivf"
    assert record["task"]["dataset"]["identity"] == {"search": "ivf:nlist=8"}


def test_bad_index_setting_is_one_line(fake_plugin, monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_RETRIEVAL_INDEX", "annoy")
    code, record = run_cli(beir_folder(tmp_path), tmp_path / "out")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "FAILED" in line]
    assert code == 1 and record is None and len(lines) == 1 and "Traceback" not in err
    assert "HARNESS_RETRIEVAL_INDEX='annoy': unknown search mode 'annoy'" in lines[0]


def evaluate(folder: Path, encode) -> retrieval.TaskOutput:
    task = retrieval.beir_folder(str(folder))
    return task.evaluate(encode, DataLocator.from_settings(None).resolve(task.dataset_files("test")), "test")


@pytest.mark.parametrize("spec", ["exact", "ivf"])
def test_scratch_file_is_removed(monkeypatch, tmp_path: Path, spec: str) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("HARNESS_SCRATCH", str(scratch))
    monkeypatch.setenv("HARNESS_RETRIEVAL_INDEX", spec)
    monkeypatch.setattr(retrieval, "CORPUS_CHUNK", 64)
    encoder, seen = HashingEncoder(), []

    def encode(texts, kind):
        seen.extend(p.name for p in scratch.rglob("*.npy"))
        return encoder.encode(texts, kind)

    output = evaluate(beir_folder(tmp_path), encode)
    assert output.details["search"]["mode"] == spec and output.main_score > 0
    assert "corpus.npy" in seen  # the corpus went to disk while it was encoded
    assert list(scratch.iterdir()) == []


def test_scratch_file_is_removed_when_the_encoder_fails(monkeypatch, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("HARNESS_SCRATCH", str(scratch))
    monkeypatch.setattr(retrieval, "CORPUS_CHUNK", 64)
    encoder, documents = HashingEncoder(), []

    def encode(texts, kind):
        if kind == TextKind.DOCUMENT:
            documents.append(len(texts))
            if len(documents) == 3:
                assert [p.name for p in scratch.rglob("*")] == [next(scratch.iterdir()).name, "corpus.npy"]
                raise RuntimeError("encoder died mid-corpus")
        return encoder.encode(texts, kind)

    with pytest.raises(RuntimeError, match="mid-corpus"):
        evaluate(beir_folder(tmp_path), encode)
    assert list(scratch.iterdir()) == []


def test_missing_scratch_folder_is_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_SCRATCH", str(tmp_path / "nope"))
    with pytest.raises(HarnessError, match="HARNESS_SCRATCH=.*no such folder"):
        evaluate(beir_folder(tmp_path), lambda texts, kind: HashingEncoder().encode(texts, kind))


def test_ties_at_the_kth_score_go_to_the_lowest_rows_in_the_whole_corpus_and_its_shards() -> None:
    """A bag-of-words encoder gives thousands of equal scores: which of them make the top k is decided by row.

    So the top k of a corpus is the top k of its shards' top-k lists, the property sharded search relies on.
    """
    rng = np.random.default_rng(5)
    documents = normalized(rng.normal(size=(6, 8)))[rng.integers(0, 6, size=5000)]  # 6 distinct vectors
    queries = normalized(rng.normal(size=(40, 8)))
    k = 1000
    every_scores, every_rows = faiss.knn(queries, documents, len(documents), faiss.METRIC_INNER_PRODUCT)
    expected = canonical_top_k(every_scores, every_rows, k)
    scores, rows = exact_search(queries, documents, k, rows_per_block=1024)
    np.testing.assert_array_equal(scores, expected[0])
    np.testing.assert_array_equal(rows, expected[1])
    shards = [(0, 2048), (2048, 3072), (3072, 5000)]
    parts = [exact_search(queries, documents[a:b], k, rows_per_block=1024) for a, b in shards]
    merged = canonical_top_k(
        np.concatenate([s for s, _ in parts], axis=1),
        np.concatenate([r + a for (_, r), (a, _) in zip(parts, shards, strict=True)], axis=1),
        k,
    )
    np.testing.assert_array_equal(merged[1], rows)
