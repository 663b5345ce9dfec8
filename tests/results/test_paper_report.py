"""``harness report --paper RESULTS``: result folders laid out as the cpt paper's Tables 2-7.

Result files are written by hand here (valid under ``result.schema.json``) so that every cell can be checked
by hand: ours x 100 with one decimal, a partial row without its average, the column's metric rather than the
file's main score, the task's default split, published cells with their citation, and bad input as one line.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.results.files import canonical_sha256, result_path
from harness.results.paper_tables import CPT_TABLES
from harness.results.published_rows import CPT_PAPER_ROWS
from helpers import REPO, chromium, render_in_chromium, schema_validator

VALIDATE = schema_validator("result.schema.json")
TABLE_7 = next(table for table in CPT_TABLES if table.number == 7)

FAMILIES = {"mr": "classification", "cr": "classification", "subj": "classification", "mpqa": "classification",
            "sst2": "classification", "trec": "classification", "mrpc": "classification",
            "sst2-zeroshot": "zero-shot", "sickr": "sts", "nq-open": "retrieval",
            "msmarco-passage": "retrieval", "beir-fiqa": "retrieval", "csn-ruby": "code-search"}  # fmt: skip


def record(encoder: str, task: str, split: str, metrics: dict[str, float], main: str, default: str = "test") -> dict:
    """A finished result as ``harness run`` writes it, with made-up provenance (checked against the schema)."""
    files = {f"{task}/{split}.jsonl": hashlib.sha256(task.encode()).hexdigest()}
    fingerprint = {"model": encoder}
    result = {
        "schema_version": 1,
        "harness_version": "0.1.0",
        "encoder": {
            "name": encoder,
            "dim": 8,
            "fingerprint": fingerprint,
            "fingerprint_sha256": canonical_sha256(fingerprint),
            "metadata": {},
        },  # fmt: skip
        "task": {
            "name": task,
            "family": FAMILIES[task],
            "split": split,
            "default_split": default,
            "main_metric": main,
            "description": f"{task} for the test",
            "dataset": {"files": files, "sha256": canonical_sha256(files)},
        },  # fmt: skip
        "main_score": metrics[main],
        "metrics": metrics,
        "n_examples": 10,
        "timings": {
            "encode_seconds": 0.1,
            "evaluate_seconds": 0.1,
            "total_seconds": 0.2,
            "texts_requested": 20,
            "texts_encoded": 20,
        },  # fmt: skip
        "environment": {"software": {"python": "3.11"}, "device": {"requested": "cpu"}},
        "date": "2026-01-01T00:00:00+00:00",
    }
    VALIDATE.validate(result)
    return result


def write(folder: Path, result: dict) -> Path:
    path = result_path(folder, result["encoder"]["name"], result["task"]["name"], result["task"]["split"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


def accuracy(encoder: str, task: str, value: float) -> dict:
    return record(encoder, task, "test", {"accuracy": value, "dev_accuracy": value - 0.01}, "accuracy")


PROBES = {"mr": 0.8012, "cr": 0.8127, "subj": 0.9034, "mpqa": 0.8841, "sst2": 0.8563, "trec": 0.9218, "mrpc": 0.7456}
"""enc-a's linear-probe accuracies: by hand, 80.1 81.3 90.3 88.4 85.6 92.2 74.6, mean 592.51 / 7 = 84.64."""


def tables(markdown: str) -> dict[int, dict[str, list[str]]]:
    """Each ``## Table N.`` section's rows: ``{N: {row label: [cell, ...]}}``, the label column left out."""
    found: dict[int, dict[str, list[str]]] = {}
    for section in markdown.split("\n## Table ")[1:]:
        number = int(section.split(".", 1)[0])
        rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| model |")]
        found[number] = {
            cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip().strip("|").split("|")] for row in rows)
        }
    return found


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("harness: warning: ")]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Four encoders: one with Table 2 whole and a cell in Tables 4, 5 and 7, one with a partial Table 2 row, one
    with a zero-shot result and a BEIR result lacking nDCG@10, one whose only result is there twice."""
    folder = tmp_path / "results"
    for task, value in PROBES.items():
        write(folder, accuracy("enc-a", task, value))
    write(folder, record("enc-a", "sickr", "test", {"cosine_spearman": 0.7012}, "cosine_spearman"))
    write(folder, record("enc-a", "sickr", "full", {"cosine_spearman": 0.9}, "cosine_spearman"))  # not the paper's
    nq = {"top_1_accuracy": 0.3, "top_20_accuracy": 0.6789, "top_100_accuracy": 0.8123}
    write(folder, record("enc-a", "nq-open", "test", nq, "top_20_accuracy"))
    write(folder, record("enc-a", "msmarco-passage", "dev", {"mrr_at_10": 0.2012}, "mrr_at_10", default="dev"))
    write(folder, record("enc-a", "csn-ruby", "test", {"mrr": 0.6543, "recall_at_1": 0.5}, "mrr"))
    write(folder, record("enc-a", "csn-ruby", "test-10k", {"mrr": 0.4}, "mrr"))  # 10K candidates: not Table 7's
    write(folder, accuracy("enc-b", "mr", 0.7))
    write(folder, accuracy("enc-b", "cr", 0.71))
    write(folder, accuracy("enc-c", "sst2-zeroshot", 0.8))
    write(folder, record("enc-c", "beir-fiqa", "test", {"map_at_10": 0.3}, "map_at_10"))
    write(folder, accuracy("enc-d", "trec", 0.6))
    write(folder / "copied", accuracy("enc-d", "trec", 0.61))
    return folder


def test_report_lays_results_out_as_the_paper_tables(cli, small: Path, tmp_path: Path) -> None:
    markdown, page = tmp_path / "paper.md", tmp_path / "paper.html"
    result = cli("report", "--paper", small, "--markdown", markdown, "--html", page)
    assert result.code == 0, result.err
    laid_out = tables(result.out)
    assert sorted(laid_out) == [2, 3, 4, 5, 6, 7]
    assert laid_out[2]["enc-a"] == ["80.1", "81.3", "90.3", "88.4", "85.6", "92.2", "74.6", "84.6"]
    assert laid_out[2]["enc-b"] == ["70.0", "71.0", "", "", "", "", "", ""]  # a partial row: no average
    assert laid_out[3] == {"enc-a": ["", "", "", "85.6"], "enc-c": ["80.0", "", "", ""]}  # SST-2's linear probe too
    assert laid_out[4] == {"enc-a": ["", "", "", "", "", "", "70.1", ""]}  # SICK-R's test split, not full's 90.0
    assert laid_out[5] == {"enc-a": ["20.1", "67.9", "81.2", "", ""], "cpt-text S (published)": laid_out[5][
        "cpt-text S (published)"]}  # fmt: skip
    assert laid_out[7]["enc-a"] == ["65.4", "", "", "", "", "", ""]
    assert "enc-c" not in laid_out[6] and "enc-d" not in laid_out[2]  # rows with no cell are left out
    fiqa, trec = small / "enc-c" / "beir-fiqa@test.json", small / "enc-d" / "trec@test.json"
    assert warnings_of(result.err) == [
        f"harness: warning: Table 2, enc-d, TREC: left blank, 2 results of that encoder for that cell "
        f"({small / 'copied' / 'enc-d' / 'trec@test.json'}, {trec})",
        f"harness: warning: Table 6, enc-c, FiQA: left blank, {fiqa} has no metric 'ndcg_at_10', which the paper "
        "reports",
    ]
    assert "## Notes" in result.out and f"{fiqa} has no metric 'ndcg_at_10'" in result.out
    assert markdown.read_text(encoding="utf-8") == result.out
    assert result.lines[-2:] == [f"markdown: {markdown}", f"html: {page}"]
    html = page.read_text(encoding="utf-8")
    assert html.count('<table class="scores"') == 6 and "<script>" in html
    mean = math.fsum(100 * v for v in PROBES.values()) / len(PROBES)
    assert f'<td class="avg" data-value="{mean!r}">84.6</td>' in html


def test_published_rows_are_printed_with_their_citation(cli, small: Path, tmp_path: Path) -> None:
    result = cli("report", "--paper", small, "--html", tmp_path / "paper.html")
    assert result.code == 0, result.err
    laid_out = tables(result.out)
    codebert = laid_out[7]["CodeBERT (published)"]
    assert codebert[0] == "69.3 [1]" and codebert[-1] == "76.0 [1]"  # Ruby, and the paper's own average
    section = result.out.split("## Table 7.")[1]
    assert "- [1] arXiv 2201.10005v1 Table 7; verified against GTE (arXiv 2308.03281) Table 1, row CodeBERT" in section
    html = (tmp_path / "paper.html").read_text(encoding="utf-8")
    assert (
        'title="arXiv 2201.10005v1 Table 7; verified against GTE (arXiv 2308.03281) Table 1, row CodeBERT">69.3' in html
    )
    # Every cell of the data file is in its table, at its column, with the footnote that cites its source.
    data = tomllib.loads(CPT_PAPER_ROWS.read_text(encoding="utf-8"))
    by_number = {table.number: table for table in CPT_TABLES}
    for entry in data["row"]:
        table = by_number[entry["table"]]
        keys = [c.key for c in table.columns] + (["avg"] if table.average else [])
        cells = laid_out[table.number][f"{entry['row']} (published)"]
        section = result.out.split(f"## Table {table.number}.")[1].split("\n## ")[0]
        for key, value in entry["values"].items():
            text, note = cells[keys.index(key)].split(" ")
            assert text == f"{value:.1f}"
            assert f"- {note} {entry['source']}; verified against {entry['checked_against']}" in section
        assert entry["source"] == f"arXiv 2201.10005v1 Table {table.number}"
    # A published row's average is the paper's, never computed: cpt-text S's BEIR average is not in the data.
    assert laid_out[6]["cpt-text S, unsupervised (published)"][-1] == ""


def test_a_torn_result_is_named_in_one_warning_and_left_out(cli, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    write(folder, accuracy("enc-a", "mr", 0.8012))
    torn = write(folder, accuracy("enc-a", "cr", 0.8127))
    torn.write_text('{"schema_version": 1, "main_sc', encoding="utf-8")
    result = cli("report", "--paper", folder)
    assert result.code == 0, result.err
    assert warnings_of(result.err) == [
        f"harness: warning: {torn}: unreadable result (invalid JSON: Unterminated string starting at: line 1 "
        "column 23 (char 22)); left out of the report"
    ]
    assert tables(result.out)[2]["enc-a"] == ["80.1", "", "", "", "", "", "", ""]


BAD_ROWS = {
    "unknown-column": (7, "values = { csn-rubyy = 69.3 }", "[[row]] 1 (Table 7, 'CodeBERT'): 'values.csn-rubyy' is not "
                       "a column of Table 7 (avg, csn-go, csn-java, csn-javascript, csn-php, csn-python, csn-ruby)"),
    "average-of-a-table-without-one": (5, "values = { avg = 19.9 }", "[[row]] 1 (Table 5, 'CodeBERT'): 'values.avg' "
                                       "is not a column of Table 5"),
    "over-100": (7, "values = { csn-ruby = 693 }", "[[row]] 1 (Table 7, 'CodeBERT'): 'values.csn-ruby' is 693; "
                 "published scores are x 100, 0 to 100"),
    "not-a-number": (7, 'values = { csn-ruby = "69.3" }', "[[row]] 1 (Table 7, 'CodeBERT'): 'values.csn-ruby' must be "
                     "a number"),
    "unverified": (7, "values = { csn-ruby = 69.3 }\nchecked_against = ''", "[[row]] 1: field 'checked_against' must "
                   "be a non-empty string"),
    "no-source": (7, "values = { csn-ruby = 69.3 }\nsource = ' '", "[[row]] 1: field 'source' must be a non-empty "
                  "string"),
    "unknown-table": (8, "values = { csn-ruby = 69.3 }", "[[row]] 1: field 'table' is 8, not one of the report's "
                      "tables (2, 3, 4, 5, 6, 7)"),
    "invalid-toml": (7, "values = { csn-ruby = }", "invalid TOML: "),
}  # fmt: skip


@pytest.mark.parametrize("how", list(BAD_ROWS))
def test_bad_published_rows_are_one_error_line(cli, small: Path, tmp_path: Path, how: str) -> None:
    table, fields, expected = BAD_ROWS[how]
    source = "" if how == "no-source" else 'source = "a test"\n'
    checked = "" if how == "unverified" else 'checked_against = "a test"\n'
    bad = tmp_path / "published.toml"
    bad.write_text(f'[[row]]\ntable = {table}\nrow = "CodeBERT"\n{source}{checked}{fields}\n', encoding="utf-8")
    result = cli("report", "--paper", small, "--published", bad)
    assert result.code == 1 and result.out == ""
    assert result.error.startswith(f"{bad}: {expected}"), result.error


def test_the_same_cell_published_twice_is_an_error(cli, small: Path, tmp_path: Path) -> None:
    entry = '[[row]]\ntable = 7\nrow = "CodeBERT"\nsource = "a"\nchecked_against = "b"\nvalues = {{ {} }}\n'
    bad = tmp_path / "published.toml"
    bad.write_text(entry.format("csn-ruby = 69.3, csn-go = 84.0") + entry.format("csn-java = 74.8, csn-go = 84.1"))
    result = cli("report", "--paper", small, "--published", bad)
    assert result.code == 1
    assert result.error == f"{bad}: [[row]] 2 (Table 7, 'CodeBERT'): column 'csn-go' is already given by [[row]] 1"


def test_a_missing_results_folder_is_one_error_line(cli, tmp_path: Path) -> None:
    result = cli("report", "--paper", tmp_path / "nowhere")
    assert result.code == 1 and result.error == f"{tmp_path / 'nowhere'}: results folder does not exist"


def scores(folder: Path, encoder: str) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in (folder / encoder).glob("*@*.json")}


def test_report_of_the_committed_reference_runs(cli) -> None:
    """The committed reference folder: each Table 2 cell is its file's accuracy x 100, and the row's mean."""
    folder = REPO / "results" / "reference"
    result = cli("report", "--paper", folder)
    assert result.code == 0 and warnings_of(result.err) == [], result.err
    laid_out = tables(result.out)
    probes = ("mr", "cr", "subj", "mpqa", "sst2", "trec", "mrpc")
    encoders = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "mr@test.json").is_file())
    assert len(encoders) >= 5
    for encoder in encoders:
        files = scores(folder, encoder)
        values = [100 * files[f"{task}@test"]["metrics"]["accuracy"] for task in probes]
        expected = [f"{v:.1f}" for v in values] + [f"{math.fsum(values) / len(values):.1f}"]
        assert laid_out[2][encoder] == expected
        sick = laid_out[4][encoder][6]
        assert sick == f"{100 * files['sickr@test']['metrics']['cosine_spearman']:.1f}"
        code = [files.get(f"{column.task}@test") for column in TABLE_7.columns]
        mrr = [100 * found["metrics"]["mrr"] for found in code if found is not None]
        assert [cell for cell in laid_out[7][encoder][:-1] if cell] == [f"{v:.1f}" for v in mrr]
        average = f"{math.fsum(mrr) / len(mrr):.1f}" if len(mrr) == len(code) else ""  # Ruby alone, when committed
        assert laid_out[7][encoder][-1] == average
    # minilm-l6 has SICK-R at both splits; the paper's is the test split.
    full = scores(folder, "minilm-l6")["sickr@full"]["metrics"]["cosine_spearman"]
    assert laid_out[4]["minilm-l6"][6] != f"{100 * full:.1f}"


def test_the_layouts_are_the_suites_tasks() -> None:
    """Tables 2, 4 and 6 name the same tasks, in the same order, as the suites that run them."""
    from harness.plugins.suites import BEIR_SUITE, FAMILY_SUITES

    columns = {table.number: [c.task for c in table.columns] for table in CPT_TABLES}
    assert columns[2] == list(FAMILY_SUITES["classification"][0])
    assert columns[4] == list(FAMILY_SUITES["sts"][0])
    assert columns[6] == [task for task in BEIR_SUITE if task not in ("beir-nq", "beir-msmarco")]


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium')")
def test_the_paper_page_renders_in_headless_chromium(cli, small: Path, tmp_path: Path) -> None:
    page = tmp_path / "paper.html"
    assert cli("report", "--paper", small, "--html", page).code == 0
    rendered = render_in_chromium(page, tmp_path / "paper.png")
    assert rendered.dom.count('<table class="scores"') == 6 and "84.6" in rendered.dom
    assert not rendered.script_errors, rendered.console
    assert (tmp_path / "paper.png").stat().st_size > 10_000
