"""Malformed data gives one line naming the file and line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from helpers import failure_line


def beir_folder(root: Path, *, corpus: str | None = None, queries: str | None = None, qrels: str | None = None) -> Path:
    folder = root / "mini"
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": f"d{i}", "title": f"title {i}", "text": f"document number {i} about topic {i % 3}"} for i in range(6)
    ]
    (folder / "corpus.jsonl").write_text(corpus if corpus is not None else "".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text(
        queries
        if queries is not None
        else "".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + "\n" for i in range(3))
    )
    if qrels != "absent":
        (folder / "qrels" / "test.tsv").write_text(
            qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n"
        )
    return folder


def run_beir(capsys, folder: Path, tmp_path: Path) -> tuple[int, str]:
    code = main(["run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err


def test_a_well_formed_user_folder_runs(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_beir(capsys, beir_folder(tmp_path), tmp_path)
    assert code == 0, err
    record = next((tmp_path / "out").rglob("*@test.json"))
    assert json.loads(record.read_text())["n_examples"] == 3


def test_bad_json_line(capsys, fake_plugin, tmp_path: Path) -> None:
    corpus = '{"_id": "d0", "text": "fine"}\n{"_id": "d1", "text": "broken\n'
    code, err = run_beir(capsys, beir_folder(tmp_path, corpus=corpus), tmp_path)
    line = failure_line(err)
    assert code == 1 and "corpus.jsonl:2: invalid JSON" in line


def test_missing_field_and_wrong_type(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_beir(capsys, beir_folder(tmp_path, queries='{"_id": "q0"}\n'), tmp_path)
    assert "queries.jsonl:1: missing field 'text'" in failure_line(err)
    other = tmp_path / "other"
    code, err = run_beir(capsys, beir_folder(other, corpus='{"_id": "d0", "text": 5}\n'), tmp_path)
    assert "corpus.jsonl:1: field 'text' must be a string, found int" in failure_line(err)


def test_empty_corpus(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_beir(capsys, beir_folder(tmp_path, corpus=""), tmp_path)
    assert code == 1 and "corpus.jsonl: empty corpus: no documents" in failure_line(err)


def test_missing_qrels_file(capsys, fake_plugin, tmp_path: Path) -> None:
    folder = beir_folder(tmp_path, qrels="absent")
    code = main(["run", "--encoder", "hashing", "--tasks", f"beir:{folder}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "qrels: no qrels files (expected qrels/<split>.tsv" in err
    (folder / "qrels" / "train.tsv").write_text("q0\td0\t1\n")
    code = main(["run", "--encoder", "hashing", "--tasks", f"beir:{folder}@test", "--out", str(tmp_path / "o")])
    assert code == 2 and "has no split 'test'; its splits: train" in capsys.readouterr().err


def test_bad_qrels_line(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_beir(capsys, beir_folder(tmp_path, qrels="q0\td0\t1\nq1 d1 1\n"), tmp_path)
    assert "test.tsv:2: expected 3 tab-separated fields" in failure_line(err)


def test_qrels_naming_an_unknown_query(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_beir(capsys, beir_folder(tmp_path, qrels="q0\td0\t1\nq9\td1\t1\n"), tmp_path)
    assert "query id 'q9' is not in queries.jsonl" in failure_line(err)


def test_duplicate_document_id(capsys, fake_plugin, tmp_path: Path) -> None:
    corpus = '{"_id": "d0", "text": "a"}\n{"_id": "d0", "text": "b"}\n'
    code, err = run_beir(capsys, beir_folder(tmp_path, corpus=corpus), tmp_path)
    assert "corpus.jsonl:2: duplicate document id 'd0'" in failure_line(err)


def test_non_utf8_bytes(capsys, fake_plugin, tmp_path: Path) -> None:
    folder = beir_folder(tmp_path)
    (folder / "queries.jsonl").write_bytes(b'{"_id": "q0", "text": "ok"}\n{"_id": "q1", "text": "\xff"}\n')
    code, err = run_beir(capsys, folder, tmp_path)
    assert "queries.jsonl:2: not valid UTF-8" in failure_line(err)


def test_missing_folder(capsys, fake_plugin, tmp_path: Path) -> None:
    code = main(["run", "--encoder", "hashing", "--tasks", f"beir:{tmp_path / 'nope'}"])
    err = capsys.readouterr().err
    assert code == 1 and "nope: no such folder" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "sts-test.csv",
            "genre\tfile\tyear\tid\t2.5\tonly one sentence\n",
            "sts-test.csv:1: expected at least 7 tab-separated fields, found 6",
        ),
        ("sts-test.csv", "g\tf\ty\ti\tfive\ta\tb\n", "sts-test.csv:1: field 'score' is not a number: 'five'"),
    ],
)
def test_sts_benchmark_reader_errors(
    capsys, fake_plugin, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    data = tmp_path / "data" / "stsb" / "original"
    data.mkdir(parents=True)
    (data / name).write_text(content)
    code = main(
        [
            "run",
            "--encoder",
            "hashing",
            "--tasks",
            "stsb",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    # A copy that differs from the pinned release is refused before it is parsed.
    assert code == 1 and "sha256 mismatch" in failure_line(err)
    from harness.data.locate import DataFiles, ResolvedFile
    from harness.errors import DataError
    from harness.plugins.tasks.sts.readers import read_stsbenchmark

    files = DataFiles({name: ResolvedFile(str(data / name), content.encode(), "")})
    with pytest.raises(DataError) as caught:
        read_stsbenchmark(files, name)
    assert str(caught.value).endswith(expected)


def test_beir_folder_relative_to_the_data_dir(capsys, fake_plugin, tmp_path: Path) -> None:
    beir_folder(tmp_path / "data")
    args = ["run", "--encoder", "hashing", "--tasks", "beir:mini", "--out", str(tmp_path / "o")]
    assert main([*args, "--data-dir", str(tmp_path / "data")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "without-data-dir")]) == 1
    line = failure_line(capsys.readouterr().err)
    assert "mini/corpus.jsonl: dataset file not found (looked in: the embedded data, the datasets installed in" in line
    assert line.endswith("; point --data-dir or $HARNESS_DATA_DIR at a copy")
