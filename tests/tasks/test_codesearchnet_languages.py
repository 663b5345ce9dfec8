"""CodeSearchNet in six languages (the paper's Table 7, and 10K candidates): ``csn-<language>``, data, suites, average.

Small files in CodeXGLUE's real Code-Text format (repo, path, func_name, original_string, language, code,
code_tokens, docstring, docstring_tokens, sha, url, partition) are written where the registry places each
language's test.jsonl, and ``harness run`` scores them.  An encoder that looks each text up in a table fixes every
score, so each MRR below is computed by hand.  The registry pins the real files' sha256; the tests swap in the
real entries with the fixtures' pins (URLs and places unchanged), as the BEIR download test does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataserver import DataServer

from harness import Encoder, EncoderOptions, TextKind, hookimpl
from harness.data.registry import Dataset, load_registry_file
from harness.pluginhost import get_host
from harness.plugins.datasets import REGISTRY_FILES
from harness.plugins.suites import CODESEARCHNET_SUITE, FAMILY_SUITES
from harness.plugins.tasks.code_search.tasks import CSN_LANGUAGES
from helpers import CliResult, read_results

CSN_REGISTRY = next(p for p in REGISTRY_FILES if p.name == "codesearchnet.toml")
SHA = "0123456789abcdef0123456789abcdef01234567"


def csn_file(language: str) -> str:
    return f"codesearchnet_{language}_codexglue/test.jsonl"


def record(language: str, func: str, docstring_tokens: list[str], code_tokens: list[str], docstring: str = "") -> str:
    """One line as CodeXGLUE's preprocess.py writes it (``json.dumps`` of the CodeSearchNet record)."""
    code = " ".join(code_tokens)
    path = f"pkg/{func.lower()}.{language}"
    return json.dumps(
        {
            "repo": "owner/project",
            "path": path,
            "func_name": func,
            "original_string": code,
            "language": language,
            "code": code,
            "code_tokens": code_tokens,
            "docstring": docstring or " ".join(docstring_tokens),
            "docstring_tokens": docstring_tokens,
            "sha": SHA,
            "url": f"https://github.com/owner/project/blob/{SHA}/{path}#L1-L9",
            "partition": "test",
        }
    )


# Go: a record without a docstring summary, a duplicated function and a very long one.
LONG_GO = ["func", "ReadAll", "(", "r", "io.Reader", ")", "{", *(f"x{i} ++" for i in range(3000)), "}"]
GO_LINES = [
    record("go", "Open", ["opens", "a", "file"], ["func", "Open", "(", "name", ")", "`multi\nline`"]),
    record("go", "noDoc", [], ["func", "noDoc", "(", ")"], docstring="@param x the input"),
    record("go", "Close", ["closes", "the", "file"], ["func", "Close", "(", ")", "error"]),
    record("go", "Close", ["closes", "a", "file", "handle"], ["func", "Close", "(", ")", "error"]),  # same code
    record("go", "ReadAll", ["reads", "everything"], LONG_GO),
]
GO_TABLE = {
    "opens a file": [1, 0, 0, 0],
    "func Open ( name ) `multi line`": [1, 0, 0, 0],  # CodeBERT's format_str: the newline is a space
    "closes the file": [0, 1, 0, 0],
    "closes a file handle": [0, 1, 0, 0],
    "func Close ( ) error": [0, 1, 0, 0],
    "reads everything": [0.8, 0, 0, 0.6],
    " ".join(LONG_GO): [0, 0, 0, 1],  # the whole function, untruncated, or the lookup fails
}
# Record 1 is skipped; 2 and 3 share one code, so each ties with the other (ties count against): rank 2 each;
# record 4 scores 0.8 with Open's code and 0.6 with its own: rank 2.
GO_RECIPROCAL_RANKS = {"0": 1.0, "2": 1 / 2, "3": 1 / 2, "4": 1 / 2}

# Python: the code field holds the docstring (as CodeSearchNet's Python records do); code_tokens do not.
PY_LINES = [
    record("python", "load", ["load", "a", "model"], ["def", "load", "(", ")", ":", "pass"]),
    record("python", "save", ["save", "a", "model"], ["def", "save", "(", ")", ":", "pass"]),
    record("python", "fit", ["fit", "the", "model"], ["def", "fit", "(", ")", ":", "pass"]),
]
PY_TABLE = {
    "load a model": [1, 0, 0, 0],
    "def load ( ) : pass": [1, 0, 0, 0],
    "save a model": [0, 1, 0, 0],
    "def save ( ) : pass": [0, -1, 0, 0],  # scores -1 for its own query, below both others: rank 3
    "fit the model": [0.8, 0, 0.6, 0],  # 0.8 with load's code, 0.48 with its own: rank 2
    "def fit ( ) : pass": [0, 0.6, 0.8, 0],
}
PY_MRR = (1 + 1 / 3 + 1 / 2) / 3


class TableEncoder(Encoder):
    """Each text's vector from a table: a text missing from it (say, a truncated function) fails the run."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.seen: list[tuple[str, TextKind]] = []

    @property
    def dim(self) -> int:
        return len(next(iter(self.table.values())))

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "table", "sha256": hashlib.sha256(json.dumps(self.table, sort_keys=True).encode()).hexdigest()}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        self.seen += [(text, kind) for text in texts]
        return np.array([self.table[text] for text in texts], dtype=np.float32)


class Fixtures:
    """The test plugin: the table encoder, and the real CodeSearchNet registry entries pinned to the fixtures."""

    def __init__(self, table: dict[str, list[float]], files: dict[str, bytes]) -> None:
        self.encoder = TableEncoder(table)
        self.datasets = [repinned(dataset, files) for dataset in load_registry_file(CSN_REGISTRY)]

    @hookimpl
    def harness_register_encoders(self, register: Any) -> None:
        register("table", lambda settings: self.encoder, "vectors from a table (tests)", options=EncoderOptions)

    @hookimpl
    def harness_register_datasets(self, register: Any) -> None:
        for dataset in self.datasets:
            register(dataset)


def repinned(dataset: Dataset, files: dict[str, bytes]) -> Dataset:
    """``dataset`` with the fixture's sha256 and size wherever it pins a file the fixtures replace."""

    def pin(path: str, sha256: str | None) -> tuple[str | None, int | None] | None:
        if path not in files or sha256 is None:
            return None  # unpinned stays unpinned (codexglue-python), other files keep their real pins
        return hashlib.sha256(files[path]).hexdigest(), len(files[path])

    sources = []
    for source in dataset.sources:
        new = pin(next(iter(source.place.values())), source.sha256)
        sources.append(source if new is None else dataclasses.replace(source, sha256=new[0], size=new[1]))
    data_files = []
    for file in dataset.files:
        new = pin(file.path, file.sha256)
        data_files.append(file if new is None else dataclasses.replace(file, sha256=new[0], size=new[1]))
    return dataclasses.replace(dataset, sources=tuple(sources), files=tuple(data_files))


def install(files: dict[str, bytes], table: dict[str, list[float]] | None = None) -> Fixtures:
    plugin = Fixtures(table or {"unused": [1.0]}, files)
    host = get_host()
    host.unregister("harness.plugins.datasets")  # the real entries pin the real files
    host.register(plugin, name="csn-fixtures")
    return plugin


def write_data(root: Path, files: dict[str, bytes]) -> Path:
    for path, body in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(body)
    return root


def lines(records: list[str]) -> bytes:
    return "".join(line + "\n" for line in records).encode()


def run(cli: Callable[..., CliResult], out: Path, encoder: str, *args: str | Path) -> CliResult:
    return cli("run", "--encoder", encoder, "--out", out, "--no-cache", "--no-progress", *args)


# -- hand-computed MRR in two languages ------------------------------------------------------------------------


def test_go_and_python_files_score_their_hand_computed_mrr(cli, tmp_path: Path) -> None:
    files = {csn_file("go"): lines(GO_LINES), csn_file("python"): lines(PY_LINES)}
    plugin = install(files, {**GO_TABLE, **PY_TABLE})
    data = write_data(tmp_path / "data", files)
    result = run(cli, tmp_path / "out", "table", "--tasks", "csn-go,csn-python,csn-go@test-10k", "--data-dir", data)
    assert result.code == 0, result.err
    results = read_results(tmp_path / "out")
    for split in ("test", "test-10k"):  # 4 pairs: one batch of everything, whatever the batch size
        go = results[f"table/csn-go@{split}"]
        assert go["main_score"] == pytest.approx(sum(GO_RECIPROCAL_RANKS.values()) / 4) == pytest.approx(0.625)
        assert go["metrics"]["recall_at_1"] == pytest.approx(0.25) and go["metrics"]["recall_at_5"] == 1.0
        assert go["n_examples"] == 4 and go["details"]["pairs_in_file"] == 4
        assert go["details"]["skipped_no_docstring_summary"] == 1 and go["details"]["duplicate_codes"] == 1
        assert go["details"]["tied_queries"] == 2
        ids, scores = go["per_example"]["ids"], go["per_example"]["values"]["score"]
        assert dict(zip(ids, scores, strict=True)) == pytest.approx(GO_RECIPROCAL_RANKS)  # ids: record positions
        assert go["task"]["dataset"]["files"] == {csn_file("go"): hashlib.sha256(files[csn_file("go")]).hexdigest()}
    python = results["table/csn-python@test"]
    assert python["main_score"] == pytest.approx(PY_MRR) and python["n_examples"] == 3
    assert python["details"]["skipped_no_docstring_summary"] == 0 and python["details"]["duplicate_codes"] == 0
    assert python["task"]["description"].startswith("CodeSearchNet Python, CodeXGLUE-filtered test set (14918 pairs)")
    documents = {text for text, kind in plugin.encoder.seen if kind is TextKind.DOCUMENT}
    assert " ".join(LONG_GO) in documents  # every one of its 3008 tokens reached the encoder
    assert "func noDoc ( )" not in documents  # the record without a summary was never encoded


def test_a_file_that_is_not_the_pinned_one_is_refused(cli, tmp_path: Path) -> None:
    files = {csn_file("go"): lines(GO_LINES)}
    install(files, GO_TABLE)
    data = write_data(tmp_path / "data", {csn_file("go"): lines(GO_LINES[:-1])})
    result = run(cli, tmp_path / "out", "table", "--tasks", "csn-go", "--data-dir", data)
    assert result.code == 1
    assert re.search(r"codesearchnet_go_codexglue/test\.jsonl: sha256 mismatch", result.failure), result.err


# -- --download ------------------------------------------------------------------------------------------------


@pytest.fixture
def server():
    running = DataServer().start()
    yield running
    running.stop()


def serve_at_registry_url(server: DataServer, dataset: str, body: bytes, folder: str) -> str:
    """Serve ``body`` under the local server at the path of ``dataset``'s real URL; the mirror prefix for it."""
    (source,) = get_host().catalog.datasets.get(dataset).sources
    host, path = source.url.split("://", 1)[1].split("/", 1)
    server.serve(f"{folder}/{path}", body)
    return f"https://{host}/={server.url(folder + '/')}"


def test_download_fetches_each_languages_file_from_its_registry_url(cli, server, tmp_path, monkeypatch) -> None:
    files = {csn_file("go"): lines(GO_LINES), csn_file("python"): lines(PY_LINES)}
    install(files, {**GO_TABLE, **PY_TABLE})
    mirrors = [
        serve_at_registry_url(server, "codexglue-go", files[csn_file("go")], "lfs"),
        serve_at_registry_url(server, "codexglue-python", files[csn_file("python")], "hf"),
    ]
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", ";".join(mirrors))
    out = tmp_path / "out"
    offline = run(cli, out, "table", "--tasks", "csn-go")
    assert offline.code == 1 and not server.log
    assert "dataset 'codexglue-go'" in offline.failure and "harness data fetch codexglue-go" in offline.failure
    fetched = run(cli, out, "table", "--tasks", "csn-go,csn-python", "--download")
    assert fetched.code == 0, fetched.err
    results = read_results(out)
    assert results["table/csn-go@test"]["main_score"] == pytest.approx(0.625)
    assert results["table/csn-python@test"]["main_score"] == pytest.approx(PY_MRR)
    assert len(server.log) == 2
    installed = tmp_path / "home" / "data" / "codexglue-go" / csn_file("go")
    assert installed.read_bytes() == files[csn_file("go")]
    assert cli("data", "verify", "codexglue-go", "codexglue-python").code == 0


def test_a_download_that_is_not_the_pinned_file_installs_nothing(cli, server, tmp_path, monkeypatch) -> None:
    install({csn_file("go"): lines(GO_LINES)}, GO_TABLE)
    mirror = serve_at_registry_url(server, "codexglue-go", lines(GO_LINES[:2]), "lfs")  # other bytes
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", mirror)
    result = run(cli, tmp_path / "out", "table", "--tasks", "csn-go", "--download")
    assert result.code == 1 and "failed verification" in result.failure
    assert not (tmp_path / "home" / "data" / "codexglue-go").exists()


# -- suites and the paper's average ----------------------------------------------------------------------------


def test_suites_follow_table_7_and_paper_runs_on_the_data_we_hold() -> None:
    suites = get_host().catalog.suites
    table_7 = tuple(f"csn-{lang.name}" for lang in CSN_LANGUAGES)
    assert (
        table_7 == CODESEARCHNET_SUITE == ("csn-ruby", "csn-javascript", "csn-go", "csn-python", "csn-java", "csn-php")
    )
    assert suites["code-search"].tasks == (*table_7, "cosqa") == FAMILY_SUITES["code-search"][0]
    assert suites["codesearchnet"].tasks == table_7 and suites["codesearchnet"].average
    assert suites["codesearchnet-10k"].tasks == tuple(f"{t}@test-10k" for t in table_7)
    paper = set(suites["paper"].tasks)
    assert {"csn-ruby", "cosqa"} <= paper and not paper & set(table_7[1:])  # the five others need --download


def language_file(language: str) -> bytes:
    """Five functions; in the k-th language of Table 7 the first k docstrings describe the next function's code,
    so bag-of-words and BM25 scores fall from language to language."""
    words = ["parse json", "open socket", "sort list", "read file", "hash password"]
    k = [lang.name for lang in CSN_LANGUAGES].index(language)
    return lines(
        [
            record(
                language,
                f"f{i}",
                f"{words[(i + 1) % 5] if i < k else w} quickly".split(),
                ["def", w.replace(" ", "_"), "(", *w.split(), ")"],
            )
            for i, w in enumerate(words)
        ]
    )


def code_search_table(markdown: str) -> tuple[list[str], dict[str, list[str]]]:
    section = markdown.split("### Code search (MRR), x 100", 1)[1].split("\n### ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")
    ]
    return rows[0], {row[0]: row[1:] for row in rows[1:]}


def test_leaderboard_averages_the_six_languages_only_for_a_complete_row(cli, tmp_path: Path) -> None:
    files = {csn_file(lang.name): language_file(lang.name) for lang in CSN_LANGUAGES}
    install(files)
    data = write_data(tmp_path / "data", files)
    out = tmp_path / "out"
    assert run(cli, out, "hash-bow", "--suite", "codesearchnet", "--data-dir", data).code == 0
    five = ",".join(CODESEARCHNET_SUITE[:-1])
    assert run(cli, out, "bm25", "--tasks", five, "--data-dir", data).code == 0
    assert cli("leaderboard", out, "--markdown", tmp_path / "board.md", "--html", tmp_path / "board.html").code == 0
    header, rows = code_search_table((tmp_path / "board.md").read_text())
    assert header == ["encoder", *CODESEARCHNET_SUITE, "codesearchnet avg", "avg"]
    assert "<th>csn-php</th><th>codesearchnet avg</th><th>avg</th>" in (tmp_path / "board.html").read_text()
    scores = {name: r["main_score"] for name, r in read_results(out).items()}
    mean = sum(scores[f"hash-bow/{task}@test"] for task in CODESEARCHNET_SUITE) / 6
    assert 0 < mean < 1 and len(set(scores.values())) > 2  # the languages' scores differ: a real average
    assert rows["hash-bow"][6] == f"{100 * mean:.2f}"
    assert rows["bm25"][5] == "" and rows["bm25"][6] == ""  # five languages: no average over part of the row
    assert rows["bm25"][0] == f"{100 * scores['bm25/csn-ruby@test']:.2f}"
    # Every language has a column, but nobody has all six: no such column at all.
    (out / "hash-bow" / "csn-ruby@test.json").unlink()
    assert cli("leaderboard", out, "--markdown", tmp_path / "board.md").code == 0
    header, _rows = code_search_table((tmp_path / "board.md").read_text())
    assert header == ["encoder", *CODESEARCHNET_SUITE, "avg"]
