"""The catalogue of faults and bad input (README, "Faults and bad input"): one test per row.

Every fault must end in one line that says where it is (file and line, field,
plugin or folder), never a traceback; results finished before the fault must
stay whole and unchanged, and no temporary or half-written file may stay in the
output folder.  Rows already covered elsewhere (``test_bad_input.py``,
``test_sts_semeval.py``, ``test_classification.py``, ``test_code_search.py``,
``test_cli.py``, ``test_encoding.py``, ``test_results.py``,
``test_thirdparty_plugin.py``) are not repeated here; the README table names
their tests too.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakes import FakePlugin, HashingEncoder
from harness import TextKind, hookimpl
from harness.data.locate import DataFiles, ResolvedFile
from harness.errors import DataError
from harness.pluginhost import get_host
from harness.plugins.tasks.sts.readers import read_sick
from helpers import TESTS, harness_cli, run_harness

# -- helpers -----------------------------------------------------------------------------------


run = run_harness


def one_failure(err: str) -> str:
    """A failed task prints its FAILED line and the run's one summary line: nothing else, no traceback."""
    lines = err.splitlines()
    failed = [line for line in lines if ": FAILED: " in line]
    assert len(failed) == 1 and len(lines) == 2, err
    assert lines[1].startswith("harness: error: 1 of ") and "task(s) failed" in lines[1], err
    return failed[0]


def one_error(err: str) -> str:
    """A fault that stops the command prints exactly one line, ``harness: error: ...``."""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    return lines[0]


def results(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.json") if p.name != "leaderboard.json")


def snapshot(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def assert_clean(out: Path) -> None:
    """Every file in the output folder is whole JSON, and no temporary file is left."""
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for path in out.rglob("*.json"):
        json.loads(path.read_text())


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def sts_file(folder: Path, name: str, words: str = "") -> Path:
    """A small valid ``sts:`` file; ``words`` makes its texts differ from other files'."""
    rows = [
        {"sentence1": f"a cat sits {words}", "sentence2": f"a cat sat {words}", "score": 4.5},
        {"sentence1": f"a dog runs {words}", "sentence2": "the stock fell", "score": 0.5},
        {"sentence1": f"rain today {words}", "sentence2": "it rains", "score": 3.0},
    ]
    return write(folder / name, jsonl(rows))


BEIR_DEFAULTS = {
    "corpus.jsonl": jsonl(
        [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(["alpha beta", "gamma delta", "eta zeta"])]
    ),
    "queries.jsonl": jsonl(
        [{"_id": f"q{i}", "text": t} for i, t in enumerate(["alpha beta", "gamma delta", "eta zeta"])]
    ),
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n",
}
CLASSIFICATION_DEFAULTS = {
    "train.jsonl": jsonl(
        [{"text": f"{w} match goal", "label": "sport"} for w in "abc"]
        + [{"text": f"{w} bread soup", "label": "food"} for w in "abc"]
    ),
    "test.jsonl": jsonl([{"text": "d match goal", "label": "sport"}, {"text": "d bread soup", "label": "food"}]),
}


def task_with(tmp_path: Path, family: str, name: str, content: str | bytes) -> tuple[str, Path]:
    """A valid input of ``family`` whose file ``name`` holds ``content``: the task ref and that file."""
    if family in ("beir", "classification"):
        folder = tmp_path / family
        for default_name, default in (BEIR_DEFAULTS if family == "beir" else CLASSIFICATION_DEFAULTS).items():
            write(folder / default_name, default)
        return f"{family}:{folder}", write(folder / name, content)
    return f"{family}:{tmp_path / name}", write(tmp_path / name, content)


# -- data: malformed lines, missing fields, wrong types, non-UTF-8, empty files ------------------

BAD_INPUT = [
    # family, file, content, what the FAILED line says right after the file's path
    pytest.param(
        "beir", "corpus.jsonl", '{"_id": "d0", "text": "a"}\n["d1", "b"]\n', ":2: expected a JSON object, found list",
        id="beir-corpus-line-not-an-object",
    ),
    pytest.param("beir", "corpus.jsonl", '{"text": "a"}\n', ":1: missing field '_id'", id="beir-corpus-missing-id"),
    pytest.param(
        "beir", "corpus.jsonl", '{"_id": ["d0"], "text": "a"}\n', ":1: field '_id' must be a string, found list",
        id="beir-corpus-id-wrong-type",
    ),
    pytest.param(
        "beir", "corpus.jsonl", '{"_id": "d0", "title": 3, "text": "a"}\n', ":1: field 'title' must be a string, found int",
        id="beir-corpus-title-wrong-type",
    ),
    pytest.param(
        "beir", "corpus.jsonl", b'{"_id": "d0", "text": "a"}\n{"_id": "d1", "text": "caf\xe9"}\n', ":2: not valid UTF-8",
        id="beir-corpus-non-utf8",
    ),
    pytest.param("beir", "corpus.jsonl", "\n  \n", ": empty corpus: no documents", id="beir-corpus-blank-lines-only"),
    pytest.param(
        "beir", "queries.jsonl", '{"_id": "q0", "text": "a"}\n{"_id": "q0", "text": "b"}\n', ":2: duplicate query id 'q0'",
        id="beir-duplicate-query-id",
    ),
    pytest.param("beir", "queries.jsonl", "", ": no queries", id="beir-queries-empty"),
    pytest.param(
        "beir", "qrels/test.tsv", "q0\td0\t1\nq1\td1\thigh\n", ":2: field 'score' is not a number: 'high'",
        id="beir-qrels-score-not-a-number",
    ),
    pytest.param(
        "beir", "qrels/test.tsv", "query-id\tcorpus-id\tscore\n", ": no relevance judgements", id="beir-qrels-header-only"
    ),
    pytest.param(
        "sts", "pairs.csv", b"sentence1,sentence2,score\na,b,1\nna\xefve,c,2\n", ":3: not valid UTF-8", id="sts-csv-non-utf8"
    ),
    pytest.param(
        "sts", "pairs.tsv", "sentence1\tsentence2\tscore\na\tb\t1\nc\td\tNaN\n", ":3: field 'score' is not a finite number",
        id="sts-tsv-score-nan",
    ),
    pytest.param(
        "sts", "pairs.jsonl", '{"sentence1": "a", "sentence2": "b", "score": [1]}\n',
        ":1: field 'score' must be a number, found list", id="sts-jsonl-score-wrong-type",
    ),
    pytest.param(
        "classification", "train.jsonl", b'{"text": "a", "label": "x"}\n{"text": "\xff", "label": "y"}\n',
        ":2: not valid UTF-8", id="classification-train-non-utf8",
    ),
    pytest.param(
        "classification", "test.jsonl", '{"text": "d match goal", "label": "sport"}\n{"text": "d bread soup"}\n',
        ":2: missing field 'label'", id="classification-test-missing-label",
    ),
    pytest.param(
        "codesearch", "code.jsonl", b'{"docstring_tokens": ["caf\xe9"], "code_tokens": ["x"]}\n', ":1: not valid UTF-8",
        id="codesearch-non-utf8",
    ),
    pytest.param(
        "codesearch", "code.jsonl", '{"docstring_tokens": ["x"], "code_tokens": ["  ", "\\t"]}\n',
        ":1: field 'code_tokens' is empty", id="codesearch-whitespace-only-code",
    ),
    pytest.param(  # a query without a summary is skipped, as CodeSearchNet's corpus has none: then nothing is left
        "codesearch", "code.jsonl", '{"docstring_tokens": ["  ", "\\t"], "code_tokens": ["x"]}\n',
        ": no (docstring, code) pairs: all 1 record(s) have an empty docstring_tokens (no summary)",
        id="codesearch-whitespace-only-query",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("family", "name", "content", "where"), BAD_INPUT)
def test_bad_input_fails_its_task_in_one_line(
    capsys, fake_plugin, tmp_path: Path, family: str, name: str, content: str | bytes, where: str
) -> None:
    """The bad file's task fails naming file, line and field; the task before it keeps its result."""
    good = sts_file(tmp_path / "good", "good.jsonl")
    ref, path = task_with(tmp_path / "input", family, name, content)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "run", "--encoder", "hashing", "--tasks", f"sts:{good},{ref}", "--out", str(out))
    assert code == 1
    assert f"{path}{where}" in one_failure(err)
    assert [json.loads(p.read_text())["task"]["name"] for p in results(out)] == [f"sts:{good}"]
    assert_clean(out)


def test_sick_header_and_short_rows_name_file_line_and_column() -> None:
    """SICK's reader (built-in sickr) names the missing column, and the line of a short row."""

    def read(content: str) -> str:
        with pytest.raises(DataError) as caught:
            read_sick(DataFiles({"SICK.txt": ResolvedFile("SICK.txt", content.encode(), "")}), "SICK.txt")
        return str(caught.value)

    assert read("pair_ID\tsentence_A\tsentence_B\n1\ta\tb\n") == "SICK.txt:1: header lacks column(s) relatedness_score"
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\n"
    assert read(header + "1\ta\tb\t4.5\n2\tc\n") == "SICK.txt:3: expected 4 tab-separated fields, found 2"


# -- data: inputs that are valid, and what happens to them --------------------------------------


def beir_run(capsys, tmp_path: Path, files: dict[str, str]) -> dict[str, Any]:
    """Run the hashing encoder on a BEIR folder (defaults, with ``files`` replaced); return the result."""
    folder = tmp_path / "beir"
    for name, content in {**BEIR_DEFAULTS, **files}.items():
        write(folder / name, content)
    out = tmp_path / "out"
    code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", str(out))
    assert code == 0 and err == "", err
    (path,) = results(out)
    return json.loads(path.read_text())


def test_whitespace_only_texts_are_embedded_as_given(capsys, fake_plugin, tmp_path: Path) -> None:
    """As in MTEB and SentEval, an empty document or query is a text like any other (code search refuses one)."""
    corpus = jsonl(
        [{"_id": "d0", "text": "alpha beta"}, {"_id": "d1", "text": "  \t "}, {"_id": "d2", "text": "eta zeta"}]
    )
    queries = jsonl(
        [{"_id": "q0", "text": "alpha beta"}, {"_id": "q1", "text": "   "}, {"_id": "q2", "text": "eta zeta"}]
    )
    record = beir_run(capsys, tmp_path, {"corpus.jsonl": corpus, "queries.jsonl": queries})
    assert record["n_examples"] == 3 and record["details"]["corpus_size"] == 3
    pairs = sts_file(tmp_path, "blank.jsonl")
    pairs.write_text(pairs.read_text() + json.dumps({"sentence1": " ", "sentence2": "", "score": 1.0}) + "\n")
    code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", f"sts:{pairs}", "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert json.loads(results(tmp_path / "o")[0].read_text())["n_examples"] == 4


def test_qrels_naming_an_unknown_document_count_as_never_retrieved(capsys, fake_plugin, tmp_path: Path) -> None:
    """As BEIR and MTEB score them (ArguAna's qrels name a missing document): relevant, never retrievable.

    Refusing them would make such datasets unusable and the scores differ from MTEB's.
    """
    qrels = "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\nq2\td9\t1\n"
    record = beir_run(capsys, tmp_path, {"qrels/test.tsv": qrels})
    # q2 retrieves d2 first and can never retrieve d9: recall 1/2, nDCG@10 = 1 / (1 + 1/log2(3)).
    assert record["metrics"]["recall_at_1000"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert record["main_score"] == pytest.approx((1 + 1 + 1 / (1 + 1 / np.log2(3))) / 3)
    assert record["details"]["qrels_unknown_documents"] == 1


def test_query_with_no_relevant_document_scores_zero(capsys, fake_plugin, tmp_path: Path) -> None:
    """A query judged only with relevance 0 is kept and scores 0, as pytrec_eval, BEIR and MTEB count it."""
    qrels = "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t0\nq2\td2\t1\n"
    record = beir_run(capsys, tmp_path, {"qrels/test.tsv": qrels})
    assert record["n_examples"] == 3
    assert record["main_score"] == pytest.approx(2 / 3)
    per_query = dict(zip(record["per_example"]["ids"], record["per_example"]["values"]["score"], strict=True))
    assert per_query == {"q0": 1.0, "q1": 0.0, "q2": 1.0}
    assert record["details"]["queries_without_relevant"] == 1


def test_huge_single_text_is_encoded(capsys, fake_plugin, tmp_path: Path) -> None:
    """A 5 MB document is read, deduplicated, sorted and handed to the encoder like any other, quickly."""
    huge = "alpha " + "x" * 5_000_000
    corpus = jsonl(
        [{"_id": "d0", "text": "alpha beta"}, {"_id": "d1", "text": huge}, {"_id": "d2", "text": "eta zeta"}]
    )
    started = time.monotonic()
    record = beir_run(capsys, tmp_path, {"corpus.jsonl": corpus})
    assert time.monotonic() - started < 60
    assert record["details"]["corpus_size"] == 3 and 0 < record["main_score"] <= 1


# -- encoders: bad output, exceptions, factories ---------------------------------------------------

POISON = "POISON"


class FaultyEncoder(HashingEncoder):
    """The fake hashing encoder, except for a chunk holding the word POISON: it answers ``fault(n, dim)``."""

    def __init__(self, fault: Callable[[int, int], Any]) -> None:
        super().__init__()
        self.fault = fault

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "faulty"}

    def encode(self, texts, kind: TextKind):
        if any(POISON in text for text in texts):
            return self.fault(len(texts), self.dim)
        return super().encode(texts, kind)


def install(factory: Callable[[Any], Any]) -> None:
    """Register the encoder ``faulty`` from the plugin ``faulty-plugin`` in this test's plugin host."""

    class FaultyPlugin:
        @hookimpl
        def harness_register_encoders(self, register: Any) -> None:
            register("faulty", factory, "misbehaves (tests)")

    get_host().register(FaultyPlugin(), name="faulty-plugin")


def raise_(error: BaseException) -> Any:
    raise error


def run_poisoned(capsys, tmp_path: Path, fault: Callable[[int, int], Any]) -> tuple[int, str, Path]:
    """A clean task, then one whose texts trigger ``fault``; the clean result must be whole whatever happens.

    Returns the exit code, stderr and the poisoned file.
    """
    install(lambda settings: FaultyEncoder(fault))
    clean = sts_file(tmp_path, "clean.jsonl")
    poisoned = sts_file(tmp_path, "poisoned.jsonl", POISON)
    out = tmp_path / "out"
    code, _, err = run(
        # --no-cache: every text of the poisoned task reaches the encoder, so the counts below are fixed.
        capsys,
        "run",
        "--encoder",
        "faulty",
        "--tasks",
        f"sts:{clean},sts:{poisoned}",
        "--out",
        str(out),
        "--no-cache",
    )
    assert [json.loads(p.read_text())["task"]["name"] for p in results(out)] == [f"sts:{clean}"]
    assert_clean(out)
    return code, err, poisoned


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(lambda n, d: np.full((n, d), np.nan), "returned NaN or infinite values (6 of 6 rows", id="nan"),
        pytest.param(lambda n, d: np.full((n, d), -np.inf), "returned NaN or infinite values", id="inf"),
        pytest.param(lambda n, d: np.zeros((n, d - 1)), "returned shape (6, 63) for 6 texts; expected (6, 64)", id="too-few-columns"),
        pytest.param(lambda n, d: np.zeros((n - 1, d)), "returned shape (5, 64) for 6 texts; expected (6, 64)", id="too-few-rows"),
        pytest.param(lambda n, d: np.zeros(n), "returned shape (6,) for 6 texts", id="one-dimensional"),
        pytest.param(lambda n, d: None, "returned shape () for 6 texts", id="returns-none"),
        pytest.param(lambda n, d: np.full((n, d), "x"), "returned ndarray, not numbers", id="dtype-strings"),
        pytest.param(lambda n, d: [[0.0] * d] * (n - 1) + [[0.0]], "returned list, not numbers", id="ragged-lists"),
        pytest.param(lambda n, d: np.full((n, d), None, dtype=object), "returned NaN or infinite values", id="dtype-object-none"),
        pytest.param(lambda n, d: raise_(RuntimeError("CUDA out of memory\nwith details")), "RuntimeError: CUDA out of memory", id="raises"),
    ],
)  # fmt: skip
def test_encoder_fault_fails_its_task_in_one_line(capsys, tmp_path: Path, fault, message: str) -> None:
    """The task whose texts meet the fault fails in one line; the task finished before keeps its result."""
    code, err, poisoned = run_poisoned(capsys, tmp_path, fault)
    line = one_failure(err)
    assert code == 1 and line.startswith(f"sts:{poisoned}@test: FAILED: ") and message in line, line


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda n, d: np.ones((n, d)) * (1 + 1j), id="dtype-complex"),
        pytest.param(lambda n, d: np.full((n, d), "0.5"), id="dtype-numeric-strings"),
    ],
)
def test_encoder_output_of_a_non_real_dtype_is_refused(capsys, tmp_path: Path, fault) -> None:
    """Complex vectors or strings of digits are not embeddings, even where numpy can cast them."""
    code, err, _ = run_poisoned(capsys, tmp_path, fault)
    assert code == 1 and "encoder 'faulty' returned" in one_failure(err)


def test_encoder_exception_names_the_encoder(capsys, tmp_path: Path) -> None:
    """An exception inside ``encode`` should say which encoder raised, as its bad output does."""
    code, err, _ = run_poisoned(capsys, tmp_path, lambda n, d: raise_(RuntimeError("CUDA out of memory")))
    assert "encoder 'faulty' raised RuntimeError: CUDA out of memory" in one_failure(err)


def test_encoder_that_cannot_be_built_names_its_plugin(capsys, tmp_path: Path) -> None:
    """A factory that raises (weights missing) stops the run before any task, naming plugin and encoder."""
    install(lambda settings: raise_(FileNotFoundError("weights.bin is missing")))
    out = tmp_path / "out"
    code, _, err = run(capsys, "run", "--encoder", "faulty", "--tasks", "stsb", "--out", str(out))
    assert code == 1
    assert one_error(err) == (
        "harness: error: plugin 'faulty-plugin' could not build encoder 'faulty': FileNotFoundError: weights.bin is missing"
    )
    assert not results(out)


def test_encoder_that_cannot_describe_itself(capsys, tmp_path: Path) -> None:
    """A fingerprint that raises stops the run before any task: results could not say what made them."""

    class NoFingerprint(HashingEncoder):
        def fingerprint(self) -> dict[str, Any]:
            raise KeyError("model_id")

    install(lambda settings: NoFingerprint())
    code, _, err = run(capsys, "run", "--encoder", "faulty", "--tasks", "stsb", "--out", str(tmp_path / "out"))
    assert code == 1
    assert one_error(err) == "harness: error: encoder 'faulty' failed to describe itself: KeyError: 'model_id'"


def test_plugin_failing_at_import_is_one_warning_and_the_run_goes_on(thirdparty_site: Path, tmp_path: Path) -> None:
    """A broken third-party plugin costs its own encoders only; the warning names it and the error."""
    out = tmp_path / "out"
    done = harness_cli(
        ["run", "--encoder", "demo-hash", "--tasks", "demo-sts", "--out", str(out)],
        site=thirdparty_site,
        env={"HARNESS_LOAD_PLUGINS": "demo,demo_broken_import"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "harness: warning: plugin 'demo_broken_import' (entry point harness_thirdparty_demo.broken_import in "
        "harness-thirdparty-demo) failed to load: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"
    ]
    assert len(results(out)) == 1


# -- the output folder: read-only, a file in the way, full disk, leftovers --------------------------


def test_out_that_is_a_file_is_refused_before_encoding(capsys, fake_plugin, tmp_path: Path) -> None:
    """``--out`` under a regular file: one line naming it, and no text encoded for nothing."""
    FakePlugin.encoders.clear()
    blocker = write(tmp_path / "results", "not a folder")
    code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(blocker / "run1"))
    assert code == 2
    assert one_error(err) == f"harness: error: --out {blocker / 'run1'}: {blocker} is a file, not a folder"
    assert "hashing" not in FakePlugin.encoders  # not even built
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused_before_encoding(capsys, fake_plugin, tmp_path: Path) -> None:
    """A folder without write permission: one line naming it, nothing written or encoded."""
    FakePlugin.encoders.clear()
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(out))
    finally:
        out.chmod(0o755)
    assert code == 1
    assert one_error(err) == f"harness: error: --out {out}: cannot write in {out} (Permission denied)"
    assert list(out.iterdir()) == [] and "hashing" not in FakePlugin.encoders


def test_unwritable_output_folder_is_refused_before_encoding(capsys, fake_plugin, tmp_path: Path, monkeypatch) -> None:
    """The same refusal where permissions cannot be tested (root): the folder's first file cannot be created."""
    FakePlugin.encoders.clear()
    out = tmp_path / "out"
    out.mkdir()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(out))
    assert code == 1
    assert one_error(err) == f"harness: error: --out {out}: cannot write in {out} (Permission denied)"
    assert list(out.iterdir()) == [] and "hashing" not in FakePlugin.encoders


class FilledDisk:
    """A temporary file on a disk that is full: the first write fails with ENOSPC."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.name = handle.name

    def __enter__(self) -> FilledDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param(lambda open_file: FilledDisk(open_file()), "No space left on device", id="full-disk"),
        pytest.param(
            lambda open_file: raise_(PermissionError(errno.EACCES, os.strerror(errno.EACCES))),
            "Permission denied",
            id="read-only-mid-run",
        ),
    ],
)
def test_write_failing_mid_run_keeps_every_earlier_file(
    capsys, fake_plugin, tmp_path: Path, monkeypatch, fault, reason: str
) -> None:
    """A rerun with --force whose second result cannot be written: one line naming the folder;
    the first task's new result is whole, the second's old result is untouched, no temporary file stays."""
    first, second = sts_file(tmp_path, "first.jsonl"), sts_file(tmp_path, "second.jsonl", "other")
    out = tmp_path / "out"
    args = ["run", "--encoder", "hashing", "--tasks", f"sts:{first},sts:{second}", "--out", str(out)]
    assert run(capsys, *args)[0] == 0
    before = snapshot(out)
    (first_result, second_result) = sorted(
        results(out), key=lambda p: "second" in json.loads(p.read_text())["task"]["name"]
    )
    real = tempfile.NamedTemporaryFile

    def named_temporary_file(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("prefix", "").startswith(f".{second_result.name}."):
            return fault(lambda: real(*args, **kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", named_temporary_file)
    code, stdout, err = run(capsys, *args, "--force")
    assert code == 1
    assert one_error(err) == (
        f"harness: error: {second_result.parent}: cannot write {second_result.name} ({reason}); "
        "files already there are unchanged"
    )
    assert f"sts:{first}@test: cosine_spearman" in stdout
    assert second_result.read_bytes() == before[second_result]
    assert json.loads(first_result.read_text())["date"] >= json.loads(before[first_result])["date"]
    assert_clean(out)


def test_temporary_files_left_by_a_killed_run_are_removed(capsys, fake_plugin, tmp_path: Path) -> None:
    """A torn temporary file from a killed run is never read as a result, and the next run deletes it."""
    out = tmp_path / "out"
    stale = write(out / "hashing" / ".stsb@test.json.k2j3h4.tmp", '{"schema_version": 1, "main_sc')
    code, _, err = run(capsys, "run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(out))
    assert code == 0, err
    assert not stale.exists()
    assert_clean(out)


# -- interrupting a run: Ctrl-C, kill -9 ----------------------------------------------------------

SLOW_HARNESS = """\
import os, sys, time
from fakes import HashingEncoder
from harness import hookimpl
from harness.cli import main
from harness.pluginhost import get_host


class SlowEncoder(HashingEncoder):
    def fingerprint(self):
        return {"kind": "slow-hashing"}

    def encode(self, texts, kind):
        time.sleep(float(os.environ["SLOW_SECONDS"]))
        return super().encode(texts, kind)


class SlowPlugin:
    @hookimpl
    def harness_register_encoders(self, register):
        register("slow", lambda settings: SlowEncoder(), "sleeps before each call (tests)")


get_host().register(SlowPlugin(), name="slow-plugin")
sys.exit(main(sys.argv[1:]))
"""


def slow_harness(tmp_path: Path, args: list[str], seconds: float) -> subprocess.Popen[str]:
    """The real command line in a subprocess, with an encoder that sleeps ``seconds`` per call."""
    script = write(tmp_path / "slow_harness.py", SLOW_HARNESS)
    env = dict(os.environ, PYTHONPATH=str(TESTS), SLOW_SECONDS=str(seconds), HARNESS_LOAD_PLUGINS="")
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_run_keeps_finished_results_and_a_rerun_resumes(tmp_path: Path, signum: int) -> None:
    """Interrupted in its second task, a run keeps the first task's result as it was; the rerun skips it.

    Ctrl-C ends with one line and exit code 130, having removed its temporary files; after kill -9 a
    temporary file may stay, and the rerun removes it.
    """
    files = [sts_file(tmp_path / "data", f"t{i}.jsonl", f"words{i}") for i in range(3)]
    out = tmp_path / "out"
    args = ["run", "--encoder", "slow", "--tasks", ",".join(f"sts:{f}" for f in files), "--out", str(out)]
    proc = slow_harness(tmp_path, args, seconds=1.5)
    deadline = time.monotonic() + 180
    while not results(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    (first,) = results(out)
    kept = first.read_bytes()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if signum == signal.SIGINT:
        assert proc.returncode == 130
        assert one_error(err) == "harness: error: interrupted; finished tasks are saved, rerun to resume"
        assert_clean(out)
    else:
        assert proc.returncode == -signal.SIGKILL
    assert results(out) == [first] and first.read_bytes() == kept
    for path in out.rglob("*.json"):
        json.loads(path.read_text())

    rerun = slow_harness(tmp_path, args, seconds=0)
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert stdout.splitlines()[0].endswith("(skipped: already done, --force reruns it)")
    assert first.read_bytes() == kept and len(results(out)) == 3
    assert_clean(out)
