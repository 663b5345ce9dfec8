"""A retrieved document whose id is the query's: dropped where MTEB's task drops it (ArguAna), kept elsewhere."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import CliResult, read_results


def beir_layout(folder: Path) -> Path:
    """ArguAna's shape: the query is itself a corpus document (same id, same text); its counter-argument d2 is
    judged relevant.  hash-bow gives the identical text cosine 1 (rank 1), and d2, sharing most words, rank 2."""
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "q1", "title": "", "text": "cats are better pets than dogs"},
        {"_id": "d2", "title": "", "text": "dogs are better pets than cats are"},
        {"_id": "d3", "title": "", "text": "the weather today is sunny"},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "cats are better pets than dogs"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    return folder


@pytest.mark.parametrize(
    ("task", "ndcg", "ignored"),
    [("beir-arguana", 1.0, True), ("beir-nfcorpus", 1 / math.log2(3), False)],
)
def test_a_documents_own_id_follows_the_tasks_reference(
    cli: Callable[..., CliResult], tmp_path: Path, task: str, ndcg: float, ignored: bool
) -> None:
    folder = {"beir-arguana": "arguana", "beir-nfcorpus": "nfcorpus"}[task]
    beir_layout(tmp_path / "data" / folder)
    result = cli("run", "--encoder", "hash-bow", "--tasks", task, "--data-dir", tmp_path / "data", "--out",
                 tmp_path / "out", "--no-cache", "--no-progress")  # fmt: skip
    assert result.code == 0, result.lines
    (record,) = read_results(tmp_path / "out").values()
    assert record["main_score"] == pytest.approx(ndcg, abs=1e-12)
    assert record["details"]["ignore_identical_ids"] is ignored and record["details"]["retrieved_own_id"] == 1
    assert ("is dropped" if ignored else "is kept") in record["task"]["description"]


def test_a_user_folder_keeps_it_as_mteb_does_by_default(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    folder = beir_layout(tmp_path / "mine")
    result = cli("run", "--encoder", "hash-bow", "--tasks", f"beir:{folder}", "--out", tmp_path / "out", "--no-cache")
    assert result.code == 0, result.lines
    (record,) = read_results(tmp_path / "out").values()
    assert record["main_score"] == pytest.approx(1 / math.log2(3), abs=1e-12)
    assert record["details"]["ignore_identical_ids"] is False
