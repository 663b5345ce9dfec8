"""SemEval STS 2012-2016 and ``sts:`` user files: readers, a run with the fake encoder, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.data.locate import DataFiles, DataLocator, ResolvedFile
from harness.errors import DataError
from harness.plugins.tasks.sts.readers import read_semeval
from harness.plugins.tasks.sts.semeval import SUBSETS, SemevalTask
from helpers import failure_line

# Pairs per subset of the public release, empty-gold pairs skipped (MTEB: 3108, 1500, 3750, 3000, 1186).
EXPECTED_PAIRS = {
    "sts12": {"MSRpar": 750, "MSRvid": 750, "SMTeuroparl": 459, "OnWN": 750, "SMTnews": 399},
    "sts13": {"FNWN": 189, "headlines": 750, "OnWN": 561},
    "sts14": {"deft-forum": 450, "deft-news": 300, "headlines": 750, "images": 750, "OnWN": 750, "tweet-news": 750},
    "sts15": {"answers-forums": 375, "answers-students": 750, "belief": 375, "headlines": 750, "images": 750},
    "sts16": {"answer-answer": 254, "headlines": 249, "plagiarism": 230, "postediting": 244, "question-question": 209},
}
YEARS = tuple(EXPECTED_PAIRS)


def memory_files(**contents: str) -> DataFiles:
    return DataFiles({name: ResolvedFile(name, text.encode(), "") for name, text in contents.items()})


@pytest.mark.parametrize("year", YEARS)
def test_readers_count_the_release_pairs(shared_data: Path, year: str) -> None:
    task = SemevalTask(year)
    files = DataLocator.from_settings(shared_data).resolve(task.dataset_files("test"))  # checks every sha256
    pairs = task.read(files)
    assert {name: len(p) for name, p in pairs.items()} == EXPECTED_PAIRS[year]
    # SentEval's text, as MTEB's datasets hold it: tokenised and lower-cased.
    first = next(iter(pairs.values()))[0]
    assert first.sentence1 == first.sentence1.lower() and 0 <= first.score <= 5


def test_every_file_is_pinned() -> None:
    for year in YEARS:
        files = DataLocator().pinned(SemevalTask(year).dataset_files("test"))  # the registry's sha256
        assert len(files) == 2 * len(EXPECTED_PAIRS[year])
        assert all(f.dataset == f"{year}-senteval" and f.path.startswith(f"{year}/senteval/") for f in files)
        assert all(f.sha256 and len(f.sha256) == 64 for f in files)
    assert set(SUBSETS) == set(YEARS)


def test_run_all_years_with_the_fake_encoder(capsys, fake_plugin, shared_data: Path, tmp_path: Path) -> None:
    args = ["run", "--encoder", "hashing", "--tasks", ",".join(YEARS), "--data-dir", str(shared_data)]
    code = main([*args, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    for year in YEARS:
        assert f"{year}@test: cosine_spearman = " in out
        record = json.loads((tmp_path / "hashing" / f"{year}@test.json").read_text())
        assert record["n_examples"] == sum(EXPECTED_PAIRS[year].values())
        assert record["task"]["family"] == "sts" and record["main_score"] == record["metrics"]["cosine_spearman"]
        per_subset = [record["metrics"][f"cosine_spearman_{name}"] for name in EXPECTED_PAIRS[year]]
        assert record["metrics"]["cosine_spearman_subset_mean"] == pytest.approx(sum(per_subset) / len(per_subset))
        assert record["details"]["pairs_per_subset"] == EXPECTED_PAIRS[year]
        assert len(record["task"]["dataset"]["files"]) == 2 * len(EXPECTED_PAIRS[year])
        # Each text is encoded once for the pool and all subsets.
        timings = record["timings"]  # a sentence in both columns is embedded once, then read from the cache
        assert timings["texts_requested"] == timings["texts_encoded"] + timings["texts_from_cache"]


def test_missing_release_file(capsys, fake_plugin, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    code = main(["run", "--encoder", "hashing", "--tasks", "sts13", "--data-dir", str(tmp_path / "data")])
    line = failure_line(capsys.readouterr().err)
    assert code == 1 and "sts13/senteval/STS.input.FNWN.txt: dataset file not found" in line


def test_semeval_reader_skips_unscored_pairs_and_checks_lines() -> None:
    files = memory_files(inp="a\tb\tsrc\tsrc\nc\td\ne\tf\n", gs="4.0\n\n1\n")
    pairs = read_semeval(files, "inp", "gs")
    assert [(p.sentence1, p.sentence2, p.score) for p in pairs] == [("a", "b", 4.0), ("e", "f", 1.0)]
    with pytest.raises(DataError, match=r"^gs: has 2 lines but inp has 3"):
        read_semeval(memory_files(inp="a\tb\nc\td\ne\tf\n", gs="1\n2\n"), "inp", "gs")
    with pytest.raises(DataError, match=r"^inp:2: expected sentence1<TAB>sentence2, found 1 field"):
        read_semeval(memory_files(inp="a\tb\nc d\n", gs="1\n2\n"), "inp", "gs")
    with pytest.raises(DataError, match=r"^gs:1: field 'score' is not a number: 'high'"):
        read_semeval(memory_files(inp="a\tb\n", gs="high\n"), "inp", "gs")


# -- sts:/path user files ----------------------------------------------------------------------

GOOD = {
    "pairs.tsv": "sentence1\tsentence2\tscore\na cat sits\ta cat sat\t4.5\na dog runs\tthe stock fell\t0.5\n"
    'he said "hi\tshe left\t1\n',
    "pairs.csv": 'score,sentence1,sentence2\n4.5,a cat sits,a cat sat\n0.5,"a dog, running",the stock fell\n1,x,y\n',
    "pairs.jsonl": "".join(
        json.dumps({"sentence1": a, "sentence2": b, "score": s}) + "\n"
        for a, b, s in [("a cat sits", "a cat sat", 4.5), ("a dog runs", "the stock fell", 0.5), ("x", "y", 1)]
    ),
}


def run_user_file(capsys, tmp_path: Path, name: str, content: str) -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(content)
    code = main(["run", "--encoder", "hashing", "--tasks", f"sts:{path}", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(GOOD))
def test_user_file_runs(capsys, fake_plugin, tmp_path: Path, name: str) -> None:
    code, out, err = run_user_file(capsys, tmp_path, name, GOOD[name])
    assert code == 0, err
    record = json.loads(next((tmp_path / "out").rglob("*@test.json")).read_text())
    assert record["n_examples"] == 3 and record["task"]["family"] == "sts"
    # No sha256 is pinned for a user file; the one read is recorded under its name, never where it lies.
    assert list(record["task"]["dataset"]["files"]) == [name]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("e.tsv", "", "e.tsv:1: empty file"),
        ("e.jsonl", "\n\n", "e.jsonl:1: empty file"),
        ("h.csv", "sentence1,sentence2,score\n", "h.csv:1: no sentence pairs after the header"),
        ("c.tsv", "sentence1\tsentence2\n", "c.tsv:1: header lacks column(s) score"),
        ("f.tsv", "sentence1\tsentence2\tscore\na\tb\t1\nc\td\n", "f.tsv:3: missing field 'score'"),
        ("f.csv", "sentence1,sentence2,score\na,b,1\nc\n", "f.csv:3: missing field 'sentence2'"),
        ("n.csv", "sentence1,sentence2,score\na,b,1\nc,d,high\n", "n.csv:3: field 'score' is not a number: 'high'"),
        ("u.csv", 'sentence1,sentence2,score\na,"b,1\nc,d,2\n', "u.csv:2: malformed CSV (unexpected end of data)"),
        (
            "m.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "c", "score": 2}\n',
            "m.jsonl:2: missing field 'sentence2'",
        ),
        (
            "n.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": "x"}\n',
            "n.jsonl:1: field 'score' is not a number: 'x'",
        ),
        (
            "b.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "c",\n',
            "b.jsonl:2: invalid JSON",
        ),
        ("t.jsonl", '["a", "b", 1]\n', "t.jsonl:1: expected a JSON object, found list"),
        (
            "s.jsonl",
            '{"sentence1": 5, "sentence2": "b", "score": 1}\n',
            "s.jsonl:1: field 'sentence1' must be a string",
        ),
        (
            "i.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": NaN}\n',
            "i.jsonl:1: field 'score' is not a finite number",
        ),
        ("q.csv", "sentence1,sentence2,score\na,b,1\nc,d,1\n", "q.csv: every pair has the same score"),
    ],
)
def test_malformed_user_file(capsys, fake_plugin, tmp_path: Path, name: str, content: str, expected: str) -> None:
    code, _, err = run_user_file(capsys, tmp_path, name, content)
    line = failure_line(err)
    assert code == 1 and expected in line, line
    assert str(tmp_path / name) in line


def test_user_file_missing_or_unknown_format(capsys, fake_plugin, tmp_path: Path) -> None:
    code = main(["run", "--encoder", "hashing", "--tasks", f"sts:{tmp_path / 'nope.tsv'}"])
    err = capsys.readouterr().err
    assert code == 1 and "nope.tsv: no such file" in err and err.count("\n") == 1
    (tmp_path / "pairs.txt").write_text("a\tb\t1\n")
    code = main(["run", "--encoder", "hashing", "--tasks", f"sts:{tmp_path / 'pairs.txt'}"])
    err = capsys.readouterr().err
    assert code == 1 and "pairs.txt: unknown STS file format '.txt'" in err and err.count("\n") == 1
