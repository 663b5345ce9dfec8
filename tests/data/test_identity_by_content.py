"""A result is the same work only on the same bytes: edited files rerun, moved files do not, and every file reads.

Each test drives ``harness run`` (or ``harness check``) and looks at what it did: the score it printed, the
result file it wrote, whether it said "skipped".
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from harness.data.file_hashes import hashes_db
from helpers import read_results

SEPARATORS = {
    "NEL U+0085": "\x85",
    "LS U+2028": "\u2028",
    "PS U+2029": "\u2029",
    "form feed": "\x0c",
    "vertical tab": "\x0b",
    "FS \\x1c": "\x1c",
    "GS \\x1d": "\x1d",
    "RS \\x1e": "\x1e",
}
"""Characters ``str.splitlines()`` breaks lines at, which JSON-lines and TSV readers must not."""


def beir_folder(root: Path, documents: list[str], *, line_end: str = "\n", bom: bool = False) -> Path:
    folder = root / "mini"
    (folder / "qrels").mkdir(parents=True)
    corpus = "".join(
        json.dumps({"_id": f"d{i}", "title": "", "text": text}, ensure_ascii=False) + line_end
        for i, text in enumerate(documents)
    )
    queries = "".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + line_end for i in range(3))
    qrels = "query-id\tcorpus-id\tscore" + line_end + "".join(f"q{i}\td{i}\t1" + line_end for i in range(3))
    prefix = "\ufeff" if bom else ""
    (folder / "corpus.jsonl").write_text(prefix + corpus, encoding="utf-8", newline="")
    (folder / "queries.jsonl").write_text(prefix + queries, encoding="utf-8", newline="")
    (folder / "qrels" / "test.tsv").write_text(prefix + qrels, encoding="utf-8", newline="")
    return folder


def documents() -> list[str]:
    return [f"passage {i} about topic {i}" for i in range(6)]


def only_record(out: Path) -> dict:
    (record,) = read_results(out).values()
    return record


def test_jsonl_lines_break_at_newline_only(cli, fake_plugin, tmp_path: Path) -> None:
    """MS MARCO's passages hold raw U+0085 in JSON strings: each such passage is one document, read whole."""
    texts = [f"passage {i} about topic {i}{char}continued" for i, char in enumerate(SEPARATORS.values())]
    folder = beir_folder(tmp_path, texts)
    result = cli("run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert only_record(tmp_path / "out")["details"]["corpus_size"] == len(SEPARATORS)


def test_crlf_line_ends_and_a_byte_order_mark_read_as_plain_files(cli, fake_plugin, tmp_path: Path) -> None:
    plain = beir_folder(tmp_path / "plain", documents())
    windows = beir_folder(tmp_path / "windows", documents(), line_end="\r\n", bom=True)
    scores = []
    for folder in (plain, windows):
        out = tmp_path / f"out-{folder.parent.name}"
        result = cli("run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", out)
        assert result.code == 0, result.err
        scores.append(only_record(out)["metrics"])
    assert scores[0] == scores[1]


def test_gzipped_corpus_and_queries_are_read_as_their_content(cli, fake_plugin, tmp_path: Path) -> None:
    """``corpus.jsonl.gz`` (as BEIR downloads and HF datasets ship it) is the same data as ``corpus.jsonl``."""
    plain = beir_folder(tmp_path / "plain", documents())
    packed = beir_folder(tmp_path / "packed", documents())
    for name in ("corpus.jsonl", "queries.jsonl"):
        source = packed / name
        (packed / f"{name}.gz").write_bytes(gzip.compress(source.read_bytes()))
        source.unlink()
    records = []
    for folder in (plain, packed):
        out = tmp_path / f"out-{folder.parent.name}"
        result = cli("run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", out)
        assert result.code == 0, result.err
        records.append(only_record(out))
    assert records[0]["metrics"] == records[1]["metrics"]
    assert records[0]["task"]["dataset"] == records[1]["task"]["dataset"]  # the content is the identity
    (packed / "corpus.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    broken = cli("run", "--encoder", "hashing", "--tasks", f"beir:{packed}", "--out", tmp_path / "broken")
    assert broken.code == 1 and f"{packed / 'corpus.jsonl.gz'}: gzip file is corrupt" in broken.err


def _sts_file(path: Path, scores: list[float]) -> Path:
    rows = [f"a sentence about topic {i}\tanother one about topic {i % 3}\t{s}" for i, s in enumerate(scores)]
    path.write_text("sentence1\tsentence2\tscore\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("edited", ["sts-tsv", "beir-qrels"])
def test_an_edited_unpinned_file_is_rerun_never_skipped(cli, fake_plugin, tmp_path: Path, edited: str) -> None:
    """The regression: a user's file edited after a run reran as "already done" with the old score."""
    if edited == "sts-tsv":
        target = _sts_file(tmp_path / "mine.tsv", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        task = f"sts:{target}"
    else:
        folder = beir_folder(tmp_path, documents())
        target = folder / "qrels" / "test.tsv"
        task = f"beir:{folder}"
    out = tmp_path / "out"
    first = cli("run", "--encoder", "hashing", "--tasks", task, "--out", out)
    assert first.code == 0, first.err
    before = only_record(out)
    again = cli("run", "--encoder", "hashing", "--tasks", task, "--out", out)
    assert "skipped: already done" in again.out  # untouched: reused

    if edited == "sts-tsv":
        _sts_file(target, [5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    else:
        target.write_text("query-id\tcorpus-id\tscore\nq0\td5\t1\nq1\td4\t1\nq2\td3\t1\n")
    os.utime(target, ns=(time.time_ns(), before_mtime := target.stat().st_mtime_ns))  # even an edit keeping mtime
    assert target.stat().st_mtime_ns == before_mtime
    rerun = cli("run", "--encoder", "hashing", "--tasks", task, "--out", out)
    assert rerun.code == 0, rerun.err
    assert "skipped" not in rerun.out
    after = only_record(out)
    assert after["task"]["dataset"]["sha256"] != before["task"]["dataset"]["sha256"]
    assert after["main_score"] != before["main_score"]


def test_an_unchanged_file_is_hashed_once_and_remembered(cli, fake_plugin, tmp_path: Path) -> None:
    target = _sts_file(tmp_path / "mine.tsv", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    an_hour_ago = time.time() - 3600
    os.utime(target, (an_hour_ago, an_hour_ago))  # older than the racy window: its hash may be kept
    out = tmp_path / "out"
    assert cli("run", "--encoder", "hashing", "--tasks", f"sts:{target}", "--out", out).code == 0
    assert "skipped: already done" in cli("run", "--encoder", "hashing", "--tasks", f"sts:{target}", "--out", out).out
    with sqlite3.connect(hashes_db()) as db:
        rows = db.execute("SELECT path, size, sha256 FROM file_hashes").fetchall()
    recorded = only_record(out)["task"]["dataset"]["files"]
    assert rows == [(str(target), target.stat().st_size, recorded["mine.tsv"])]
    hashes_db().write_bytes(b"not a database")  # a damaged cache costs time, never a wrong answer
    assert "skipped: already done" in cli("run", "--encoder", "hashing", "--tasks", f"sts:{target}", "--out", out).out


def test_dataset_identity_names_files_relative_to_their_folder(
    cli, fake_plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bytes in another checkout are the same dataset: a baseline made there passes here."""
    first, second = tmp_path / "checkout-a", tmp_path / "checkout-b"
    beir_folder(first / "sets", documents())
    shutil.copytree(first / "sets", second / "sets")
    _sts_file(first / "sets" / "pairs.tsv", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    shutil.copy(first / "sets" / "pairs.tsv", second / "sets" / "pairs.tsv")
    tasks = ["--tasks", "beir:sets/mini,sts:sets/pairs.tsv"]
    baseline = tmp_path / "baseline.json"
    monkeypatch.chdir(first)
    assert cli("run", "--encoder", "hashing", *tasks, "--out", first / "results").code == 0
    assert cli("check", "--baseline", baseline, "--results", first / "results", "--update").code == 0
    records = read_results(first / "results")
    assert records["hashing/beir:sets/mini@test"]["task"]["dataset"]["files"].keys() == {
        "corpus.jsonl",
        "queries.jsonl",
        "qrels/test.tsv",
    }
    assert records["hashing/sts:sets/pairs.tsv@test"]["task"]["dataset"]["files"].keys() == {"pairs.tsv"}
    for record in records.values():
        assert str(tmp_path) not in json.dumps(record["task"]["dataset"])
    monkeypatch.chdir(second)
    checked = cli("check", "--baseline", baseline, "--run", "--encoder", "hashing", "--results", second / "results")
    assert checked.code == 0, checked.out + checked.err
    assert "incomparable" not in checked.out
