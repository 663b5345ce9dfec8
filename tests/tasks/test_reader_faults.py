"""Rows that would score silently wrong are refused in one line naming file, line and cause.

A row longer than its header, a quoted field split at a tab, a fractional or TREC-shaped
qrels line, labels of different types in train and test: each used to give a score (or a
misleading message) instead of an error saying what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import CliResult, failure_line

QUOTED_TAB = (
    "a quoted field holds a tab (field 1 opens a quote); TSV is split at every tab and quotes are not parsed: "
    "use .csv for quoted fields"
)


def run_task(cli: Callable[..., CliResult], ref: str, out: Path) -> CliResult:
    return cli("run", "--encoder", "hashing", "--tasks", ref, "--out", str(out))


def fails_with(cli: Callable[..., CliResult], ref: str, out: Path) -> str:
    """The one FAILED line of a run of ``ref`` that must fail (exit 1, no result written)."""
    result = run_task(cli, ref, out)
    assert result.code == 1, result.err
    assert not list(out.rglob("*@*.json"))
    return failure_line(result.err)


def record(cli: Callable[..., CliResult], ref: str, out: Path) -> dict[str, Any]:
    """The result of a run of ``ref`` that must succeed."""
    result = run_task(cli, ref, out)
    assert result.code == 0, result.err
    (path,) = out.rglob("*@test.json")
    return json.loads(path.read_text())


# -- sts: user files ------------------------------------------------------------------------------

STS_HEADER = "sentence1\tsentence2\tscore\n"
STS_ROWS = "a cat sits\ta cat sat\t4.5\na dog runs\tthe stock fell\t0.5\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param(
            "extra.tsv",
            STS_HEADER + STS_ROWS + "rain\tit rains\t3\tfrom the news\n",
            ":4: expected 3 tab-separated fields (the header's), found 4",
            id="tsv-row-longer-than-header",
        ),
        pytest.param(
            "extra.csv",
            "sentence1,sentence2,score\na cat,a dog,1\nrain, today,it rains,3\n",
            ":3: expected 3 comma-separated fields (the header's), found 4: quote a field that holds a comma",
            id="csv-row-longer-than-header",
        ),
        pytest.param(
            "quoted.tsv",
            STS_HEADER + STS_ROWS + '"rain\ttoday"\tit rains\t3\n',
            f":4: expected 3 tab-separated fields (the header's), found 4: {QUOTED_TAB}",
            id="tsv-quoted-tab-too-many-fields",
        ),
        pytest.param(
            "quoted.tsv",
            "sentence1\tsentence2\tscore\tsource\na\tb\t1\tnews\n" + '"rain\ttoday"\tit rains\t3\n',
            f":3: field 'score' is not a number: 'it rains': {QUOTED_TAB}",
            id="tsv-quoted-tab-score-not-a-number",
        ),
    ],
)
def test_sts_row_that_does_not_fit_its_header(
    cli, fake_plugin, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    line = fails_with(cli, f"sts:{path}", tmp_path / "out")
    assert line.endswith(f"{path}{expected}"), line  # and no quoting hint without a quoted field


def test_sts_tsv_keeps_unbalanced_quotes_and_csv_takes_quoted_tabs(cli, fake_plugin, tmp_path: Path) -> None:
    """TSV quotes are text (STS-B's own rows hold unbalanced ones); a quoted tab needs .csv, which reads it."""
    tsv = tmp_path / "quotes.tsv"
    tsv.write_text(STS_HEADER + STS_ROWS + '"so it goes,\tsaid "he"\t3\n')
    assert record(cli, f"sts:{tsv}", tmp_path / "tsv")["n_examples"] == 3
    csv = tmp_path / "quoted.csv"
    csv.write_text('sentence1,sentence2,score\na cat sits,a cat sat,4.5\n"rain\ttoday",it rains,3\n')
    assert record(cli, f"sts:{csv}", tmp_path / "csv")["n_examples"] == 2


# -- beir: qrels ----------------------------------------------------------------------------------


def jsonl(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def beir_folder(root: Path, qrels: str) -> Path:
    """A three-document BEIR folder whose ``qrels/test.tsv`` holds ``qrels``."""
    texts = ["alpha beta", "gamma delta", "eta zeta"]
    folder = root / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(jsonl([{"_id": f"d{i}", "text": t} for i, t in enumerate(texts)]))
    (folder / "queries.jsonl").write_text(jsonl([{"_id": f"q{i}", "text": t} for i, t in enumerate(texts)]))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


TREC_HINT = "TREC qrels have 4 columns (query, iteration, doc, relevance), BEIR's have 3"


@pytest.mark.parametrize(
    ("qrels", "expected"),
    [
        pytest.param(
            "q0\td0\t1\nq1\td1\t0.5\n",
            ":2: field 'score' is 0.5, not an integer grade (pytrec_eval, BEIR and MTEB take integer relevance)",
            id="fractional-relevance",
        ),
        pytest.param(
            "q0\t0\td0\t1\n",
            f":1: expected 3 tab-separated fields (query-id, corpus-id, score), found 4: {TREC_HINT}",
            id="trec-four-columns-tab-separated",
        ),
        pytest.param(
            "q0 0 d0 1\n",
            f":1: expected 3 tab-separated fields (query-id, corpus-id, score), found 1: {TREC_HINT}",
            id="trec-four-columns-space-separated",
        ),
        pytest.param(
            "query-id\tcorpus-id\tscore\nq0 d0 1\n",
            ":2: expected 3 tab-separated fields (query-id, corpus-id, score), found 1: "
            "the fields are separated by spaces, BEIR's by tabs",
            id="space-separated",
        ),
    ],
)
def test_qrels_line_that_would_score_wrong(cli, fake_plugin, tmp_path: Path, qrels: str, expected: str) -> None:
    folder = beir_folder(tmp_path, qrels)
    line = fails_with(cli, f"beir:{folder}", tmp_path / "out")
    assert line.endswith(f"{folder / 'qrels' / 'test.tsv'}{expected}"), line


def test_qrels_integer_written_as_float_is_that_integer(cli, fake_plugin, tmp_path: Path) -> None:
    """ "1.0" is grade 1 (BEIR's ``int()`` would refuse it, but it is no fraction): the same score as "1"."""
    integers = beir_folder(tmp_path / "i", "q0\td0\t1\nq1\td1\t2\nq2\td0\t1\n")
    floats = beir_folder(tmp_path / "f", "q0\td0\t1.0\nq1\td1\t2.0\nq2\td0\t1\n")
    as_int = record(cli, f"beir:{integers}", tmp_path / "a")
    as_float = record(cli, f"beir:{floats}", tmp_path / "b")
    assert as_float["metrics"] == as_int["metrics"] and 0 < as_int["main_score"] < 1


# -- classification: user folders -----------------------------------------------------------------


def classification_folder(root: Path, train_labels: tuple[Any, Any], test_label: Any) -> Path:
    folder = root / "cls"
    folder.mkdir(parents=True)
    train = [{"text": f"{w} match goal", "label": train_labels[0]} for w in "abc"]
    train += [{"text": f"{w} bread soup", "label": train_labels[1]} for w in "abc"]
    (folder / "train.jsonl").write_text(jsonl(train))
    (folder / "test.jsonl").write_text(jsonl([{"text": "d match goal", "label": test_label}]))
    return folder


@pytest.mark.parametrize(
    ("train_labels", "test_label", "expected"),
    [
        pytest.param(
            ("1", "2"),
            1,
            ":1: field 'label': 1 (an integer) does not occur in train.jsonl, whose labels are strings "
            "('1' is there): labels must have the same type in both files",
            id="integer-in-test-string-in-train",
        ),
        pytest.param(
            (0, 1),
            "sport",
            ":1: field 'label': 'sport' (a string) does not occur in train.jsonl, whose labels are integers: "
            "labels must have the same type in both files",
            id="string-in-test-integers-in-train",
        ),
    ],
)
def test_labels_of_another_type_in_test(
    cli, fake_plugin, tmp_path: Path, train_labels: tuple[Any, Any], test_label: Any, expected: str
) -> None:
    folder = classification_folder(tmp_path, train_labels, test_label)
    line = fails_with(cli, f"classification:{folder}", tmp_path / "out")
    assert line.endswith(f"{folder / 'test.jsonl'}{expected}"), line
