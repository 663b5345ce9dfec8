"""Code search tasks: the MRR against brute force, CodeSearchNet batching, the readers, bad input."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from harness import DataError, DatasetFile, TextKind
from harness.cli import main
from harness.data.locate import DataFiles, DataLocator, ResolvedFile
from harness.plugins.tasks.code_search.metrics import batch_ranks, codebase_ranks, unit_rows
from harness.plugins.tasks.code_search.readers import read_code_base, read_codesearchnet, read_cosqa_queries
from harness.plugins.tasks.code_search.tasks import CodeSearchNetTask, CosqaTask, csn_batches, csn_order, csn_ruby
from helpers import failure_line

# -- brute force -----------------------------------------------------------------------------


def brute_force_rank(scores: list[list[float]], query: int, correct: int) -> int:
    """CodeSearchNet's rank, one query at a time: candidates scoring at least the correct one."""
    return sum(1 for score in scores[query] if score >= scores[query][correct])


def test_batch_ranks_match_brute_force_with_ties() -> None:
    rng = np.random.default_rng(0)
    # Small integers: every inner product is exact, and repeated rows make real ties.
    queries = rng.integers(-3, 4, size=(60, 5)).astype(np.float64)
    codes = rng.integers(-3, 4, size=(60, 5)).astype(np.float64)
    codes[10:20] = codes[0]
    scores = [[float(q @ c) for c in codes] for q in queries]
    expected = [brute_force_rank(scores, i, i) for i in range(60)]
    ranks, tied = batch_ranks(queries, codes)
    assert ranks.tolist() == expected
    strict = [1 + sum(1 for s in scores[i] if s > scores[i][i]) for i in range(60)]
    assert tied == sum(1 for r, s in zip(expected, strict, strict=True) if r != s) > 0


def test_codesearchnet_mrr_matches_brute_force_on_random_embeddings() -> None:
    n, size, dim = 2600, 1000, 16
    rng = np.random.default_rng(1)
    query_vectors = {f"q{i}": rng.normal(size=dim) for i in range(n)}
    code_vectors = {f"c{i}": rng.normal(size=dim) for i in range(n)}
    files = jsonl_files([record(f"q{i}", f"c{i}") for i in range(n)])

    def encode(texts: Sequence[str], kind: TextKind) -> np.ndarray:
        table = query_vectors if kind is TextKind.QUERY else code_vectors
        return np.array([table[t] for t in texts], dtype=np.float32)

    for split, kept in (("test", 2000), ("test-keep-partial", 2600)):
        output = CodeSearchNetTask("data.jsonl").evaluate(encode, files, split)
        order = np.random.RandomState(0).permutation(n)
        reciprocal = []
        for start in range(0, kept, size):
            batch = order[start : start + size]
            q = np.array([query_vectors[f"q{i}"] for i in batch], dtype=np.float32).astype(np.float64)
            c = np.array([code_vectors[f"c{i}"] for i in batch], dtype=np.float32).astype(np.float64)
            c /= np.linalg.norm(c, axis=1, keepdims=True)
            for i in range(len(batch)):  # one query at a time
                row = c @ (q[i] / np.linalg.norm(q[i]))
                reciprocal.append(1.0 / np.count_nonzero(row >= row[i]))
        assert output.n_examples == kept
        assert output.main_score == pytest.approx(float(np.mean(reciprocal)), abs=1e-12)


def test_codebase_ranks_equal_a_stable_sort() -> None:
    rng = np.random.default_rng(2)
    queries = rng.integers(-2, 3, size=(40, 4)).astype(np.float64)
    codes = rng.integers(-2, 3, size=(300, 4)).astype(np.float64)
    answers = rng.integers(0, 300, size=40)
    ranks, tied = codebase_ranks(queries, codes, answers)
    scores = queries @ codes.T
    expected = [np.argsort(-scores[i], kind="stable").tolist().index(answers[i]) + 1 for i in range(40)]
    assert ranks.tolist() == expected
    assert tied == sum(1 for i in range(40) if np.count_nonzero(scores[i] == scores[i, answers[i]]) > 1)


def test_unit_rows_keep_zero_rows() -> None:
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert rows.dtype == np.float64 and rows.tolist() == [[0.6, 0.8], [0.0, 0.0]]


# -- CodeSearchNet batching ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "size", "keep", "expected"),
    [
        (2500, 1000, False, [(0, 1000), (1000, 2000)]),
        (2500, 1000, True, [(0, 1000), (1000, 2000), (2000, 2500)]),
        (2000, 1000, True, [(0, 1000), (1000, 2000)]),
        (1261, 1000, False, [(0, 1000)]),
        (1261, 1000, True, [(0, 1000), (1000, 1261)]),
        # Smaller than one batch: CodeSearchNet shrinks the batch to the whole set.
        (1261, 10000, False, [(0, 1261)]),
        (1261, 10000, True, [(0, 1261)]),
        (999, 1000, False, [(0, 999)]),
    ],
)
def test_csn_batches(n: int, size: int, keep: bool, expected: list[tuple[int, int]]) -> None:
    assert [(b.start, b.stop) for b in csn_batches(n, size, keep)] == expected


def test_csn_order_is_codesearchnets_seeded_shuffle() -> None:
    np.random.seed(0)
    shuffled = np.arange(1261)
    np.random.shuffle(shuffled)
    order = csn_order(1261, 0)
    assert order.tolist() == shuffled.tolist()
    assert order[:8].tolist() == [5, 432, 52, 989, 186, 18, 317, 762]  # frozen legacy stream
    assert csn_order(5, None).tolist() == [0, 1, 2, 3, 4]


def test_file_order_option_batches_consecutive_lines() -> None:
    # Pairs i and i + 1000 share one vector: in file order they never meet in a batch (MRR 1);
    # shuffled, many do, and each such tie costs both of them.
    files = jsonl_files([record(f"q{i}", f"c{i}") for i in range(2000)])

    def encode(texts: Sequence[str], kind: TextKind) -> np.ndarray:
        return np.eye(1000)[[int(t[1:]) % 1000 for t in texts]]

    in_file_order = CodeSearchNetTask("data.jsonl", shuffle_seed=None).evaluate(encode, files, "test")
    shuffled = CodeSearchNetTask("data.jsonl").evaluate(encode, files, "test")
    assert in_file_order.main_score == 1.0 and in_file_order.details["tied_queries"] == 0
    assert shuffled.main_score < 1.0 and shuffled.details["tied_queries"] > 0
    assert in_file_order.details["batches"] == shuffled.details["batches"] == 2


# -- readers on the real files ---------------------------------------------------------------


def test_csn_ruby_reader_on_the_shared_file(shared_data: Path) -> None:
    task = csn_ruby()
    files = DataLocator(data_dir=shared_data).resolve(task.dataset_files("test"))  # checks the pinned sha256
    pairs = read_codesearchnet(files, task.path)
    assert len(pairs.queries) == len(pairs.codes) == 1261
    first = json.loads(files.lines(task.path)[0])
    assert pairs.queries[0] == " ".join(first["docstring_tokens"])
    assert pairs.codes[0] == " ".join(first["code_tokens"])
    assert not any("\n" in code for code in pairs.codes)
    # The summary, not the raw docstring with its @param blocks.
    sixth = json.loads(files.lines(task.path)[5])
    assert "@param" in sixth["docstring"] and "param" not in pairs.queries[5]


def test_cosqa_readers_on_the_shared_files(shared_data: Path) -> None:
    task = CosqaTask()
    for split in task.splits:
        files = DataLocator(data_dir=shared_data).resolve(task.dataset_files(split))
        base_file, queries_file = (f.path for f in task.dataset_files(split))
        base = read_code_base(files, base_file)
        queries = read_cosqa_queries(files, queries_file, base)
        assert len(base.texts) == 6267 and sorted(base.position) == list(range(6267))
        assert len(queries.texts) == 500
        records = json.loads(files.text(queries_file))
        assert all(base.texts[a] == r["code"] for a, r in zip(queries.answers, records, strict=True))


def test_run_csn_ruby_and_cosqa(fake_plugin, shared_data: Path, tmp_path: Path) -> None:
    from fakes import FakePlugin

    out = tmp_path / "out"
    tasks = "csn-ruby,cosqa,csn-ruby@test-10k"
    code = main(["run", "--encoder", "hashing", "--tasks", tasks, "--data-dir", str(shared_data), "--out", str(out)])
    assert code == 0
    results = {p.name: json.loads(p.read_text()) for p in (out / "hashing").glob("*.json")}
    assert results["csn-ruby@test.json"]["n_examples"] == 1000
    assert results["csn-ruby@test-10k.json"]["n_examples"] == 1261
    assert results["cosqa@test.json"]["n_examples"] == 500
    for name in ("csn-ruby@test.json", "csn-ruby@test-10k.json", "cosqa@test.json"):
        record_ = results[name]
        assert record_["task"]["family"] == "code-search" and record_["task"]["main_metric"] == "mrr"
        assert 0.0 < record_["main_score"] < 1.0
    assert {kind for _, kind in FakePlugin.encoders["hashing"].calls} == {TextKind.QUERY, TextKind.DOCUMENT}


def test_unknown_split_lists_the_splits(capsys, fake_plugin, tmp_path: Path) -> None:
    code = main(["run", "--encoder", "hashing", "--tasks", "csn-ruby@test-5k", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "its splits: test, test-keep-partial, test-10k, test-10k-keep-partial" in err


# -- malformed input through codesearch: ------------------------------------------------------


def record(query: str, code: str, **extra: object) -> dict[str, object]:
    return {
        "repo": "r",
        "func_name": "f",
        "language": "python",
        "docstring_tokens": query.split(),
        "code_tokens": code.split(),
        **extra,
    }


def jsonl_files(records: list[dict[str, object]], name: str = "data.jsonl") -> DataFiles:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    return DataFiles({name: ResolvedFile(name, data, "")})


def run_codesearch(capsys, path: Path, tmp_path: Path) -> tuple[int, str]:
    code = main(["run", "--encoder", "hashing", "--tasks", f"codesearch:{path}", "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err


def test_a_well_formed_user_file_runs(capsys, fake_plugin, tmp_path: Path) -> None:
    path = tmp_path / "mini.jsonl"
    words = ["parse", "json", "file", "sort", "list", "open", "socket"]
    path.write_text("".join(json.dumps(record(f"{w} things", f"def {w}_things ( ) : {w}")) + "\n" for w in words))
    code, err = run_codesearch(capsys, path, tmp_path)
    assert code == 0, err
    result = json.loads(next((tmp_path / "out").rglob("*@test.json")).read_text())
    assert result["n_examples"] == 7 and result["main_score"] == 1.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"docstring_tokens": ["a"], "code_tokens": ["b"]}\n{"docstring_tokens": ["a"\n', ":2: invalid JSON"),
        ('{"code_tokens": ["b"]}\n', ":1: missing field 'docstring_tokens'"),
        ('{"docstring_tokens": ["a"]}\n', ":1: missing field 'code_tokens'"),
        (
            '{"docstring_tokens": "a b", "code_tokens": ["b"]}\n',
            ":1: field 'docstring_tokens' must be a list of strings, found str",
        ),
        (
            '{"docstring_tokens": ["a"], "code_tokens": ["b", 3]}\n',
            ":1: field 'code_tokens' must be a list of strings, item 1 is int",
        ),
        # No summary: skipped, as the corpus builder drops it; a file of nothing else has no pairs.
        (
            '{"docstring_tokens": [], "code_tokens": ["b"]}\n{"docstring_tokens": [" "], "code_tokens": ["c"]}\n',
            ": no (docstring, code) pairs: all 2 record(s) have an empty docstring_tokens (no summary)",
        ),
        ('{"docstring_tokens": ["a"], "code_tokens": []}\n', ":1: field 'code_tokens' is empty"),
        ('["docstring_tokens"]\n', ":1: expected a JSON object, found list"),
        ("", ": empty file: no (docstring, code) pairs"),
        ("\n\n", ": empty file: no (docstring, code) pairs"),
    ],
)
def test_malformed_codesearch_file(capsys, fake_plugin, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, err = run_codesearch(capsys, path, tmp_path)
    assert code == 1
    assert f"bad.jsonl{expected}" in failure_line(err)


def test_missing_codesearch_file(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_codesearch(capsys, tmp_path / "nope.jsonl", tmp_path)
    assert code == 1 and "nope.jsonl: no such file (codesearch:" in err and err.count("\n") == 1


# -- malformed CoSQA files (the real ones are pinned, so the readers are called directly) ------


def cosqa_files(base: str, queries: str) -> DataFiles:
    return DataFiles(
        {
            "map.txt": ResolvedFile("map.txt", base.encode(), ""),
            "q.json": ResolvedFile("q.json", queries.encode(), ""),
        }
    )


GOOD_BASE = '{\n "def a(): pass": 0,\n "def b(): pass": 1\n}'
GOOD_QUERIES = '[\n {"doc": "a", "retrieval_idx": 0},\n {"doc": "b", "retrieval_idx": 1}\n]'


def read_cosqa(base: str, queries: str) -> tuple[list[str], list[int]]:
    files = cosqa_files(base, queries)
    result = read_cosqa_queries(files, "q.json", read_code_base(files, "map.txt"))
    return result.texts, result.answers


def test_cosqa_readers_accept_good_files() -> None:
    assert read_cosqa(GOOD_BASE, GOOD_QUERIES) == (["a", "b"], [0, 1])
    # Ids are mapped to positions, whatever their order.
    assert read_cosqa('{"x": 7, "y": 3}', '[{"doc": "q", "retrieval_idx": 3}]') == (["q"], [1])


@pytest.mark.parametrize(
    ("base", "queries", "expected"),
    [
        ('{\n "def a(): pass": 0,\n "def b(): pass": "1"\n}', GOOD_QUERIES, "map.txt:3: the id of a code snippet"),
        ('{\n "def a(): pass": 0,\n "def a(): pass": 1\n}', GOOD_QUERIES, "map.txt:3: duplicate code snippet"),
        ('{\n "def a(): pass": 0,\n "def b(): pass": 0\n}', GOOD_QUERIES, "map.txt:3: duplicate code id 0"),
        ('{\n "def a(): pass": 0,\n "def b(): pass" 1\n}', GOOD_QUERIES, "map.txt:3: invalid JSON (expected ':'"),
        ("", GOOD_QUERIES, "map.txt: empty file"),
        ("[]", GOOD_QUERIES, "map.txt:1: expected a JSON object"),
        ("{}", GOOD_QUERIES, "map.txt: empty code base"),
        (GOOD_BASE, '[\n {"doc": "a", "retrieval_idx": 0},\n {"retrieval_idx": 1}\n]', "q.json:3: missing field 'doc'"),
        (
            GOOD_BASE,
            '[\n {"doc": "a", "retrieval_idx": 0},\n {"doc": "b", "retrieval_idx": "1"}\n]',
            "q.json:3: field 'retrieval_idx' must be an integer, found str",
        ),
        (GOOD_BASE, '[\n {"doc": "a", "retrieval_idx": 9}\n]', "q.json:2: field 'retrieval_idx' is 9, which is not"),
        (GOOD_BASE, '[\n {"doc": "a", "retrieval_idx": 0}\n {"doc": "b"}]', "q.json:3: invalid JSON (expected ','"),
        (GOOD_BASE, '[\n {"doc": "a", "retrieval_idx": 0},\n {"doc": "b", "retrieval_idx": 1\n]', "q.json:4: invalid"),
        (GOOD_BASE, "[]", "q.json: no queries"),
        (GOOD_BASE, "[1]", "q.json:1: expected a JSON object, found int"),
        (GOOD_BASE, "[]\n[]", "q.json:2: invalid JSON (extra data"),
    ],
)
def test_malformed_cosqa_files(base: str, queries: str, expected: str) -> None:
    with pytest.raises(DataError) as caught:
        read_cosqa(base, queries)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_cosqa_declares_pinned_files() -> None:
    files = DataLocator().pinned(CosqaTask().dataset_files("dev"))  # the registry's sha256
    assert [f.path for f in files] == ["cosqa/code_idx_map.txt", "cosqa/cosqa-retrieval-dev-500.json"]
    assert all(isinstance(f, DatasetFile) and f.dataset == "cosqa" and f.sha256 for f in files)
