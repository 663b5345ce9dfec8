"""BM25 and the ranking capability: scores by hand, tasks that rank, the runner's pairing, bad settings."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import Encoder, HarnessError, Ranking, RankingEncoder, Task, TextKind
from harness.cli import main
from harness.data.locate import DataLocator
from harness.errors import EncoderOutputError
from harness.pluginhost import get_host
from harness.plugins.baselines.bm25 import Bm25, Bm25Options
from harness.plugins.baselines.hashing import HashedBagOfWords
from harness.plugins.tasks.code_search.tasks import CosqaTask, csn_ruby
from harness.plugins.tasks.retrieval.tasks import exact_search, normalized, scifact
from harness.running.session import EncodingSession
from helpers import schema_validator

DOCUMENTS = [
    "the cat sat on the mat",
    "dogs are running in the park with other dogs",
    "a cat and a dog",
    "completely unrelated words about finance and markets",
]


def lucene_bm25(query_term: str, documents: list[list[str]], k1: float, b: float) -> list[float]:
    """Lucene's BM25 (Lucene 8 on: no ``k1 + 1`` factor, which changes no ranking) for a one-term query."""
    n = len(documents)
    df = sum(query_term in doc for doc in documents)
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    avgdl = sum(len(doc) for doc in documents) / n
    scores = []
    for doc in documents:
        tf = doc.count(query_term)
        scores.append(idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl)) if tf else 0.0)
    return scores


def test_bm25_scores_follow_lucene_formula() -> None:
    # No stemming, no stop words: the analysed documents are the lower-cased words of 2+ characters.
    settings = Bm25Options(k1=0.9, b=0.4, stemmer="none", stopwords="none")
    ranking = Bm25(settings).rank(["dogs"], DOCUMENTS, k=4)
    analysed = [[w for w in doc.split() if len(w) > 1] for doc in DOCUMENTS]
    expected = lucene_bm25("dogs", analysed, 0.9, 0.4)
    got = dict(zip(ranking.indices[0].tolist(), ranking.scores[0].tolist(), strict=True))
    assert got[1] == pytest.approx(expected[1], rel=1e-5) and expected[1] > 0
    assert ranking.indices[0, 0] == 1
    assert all(got[i] == 0.0 for i in (0, 2, 3))


def test_bm25_stems_and_drops_stop_words() -> None:
    ranking = Bm25(Bm25Options()).rank(["running dog", "the"], DOCUMENTS, k=2)
    # Porter stems "running" -> "run" and "dogs" -> "dog": document 1 matches both terms.
    assert ranking.indices[0, 0] == 1
    # A query of stop words only matches nothing.
    assert np.all(ranking.scores[1] == 0.0)
    assert ranking.indices.shape == (2, 2)


def test_options_through_the_command_line_and_bad_values_refused(capsys, tmp_path: Path) -> None:
    """``-o k1=1.2`` reaches BM25 (its fingerprint and label change); a bad key or value is a usage error."""
    from harness.pluginhost import get_host

    catalog = get_host().catalog
    assert catalog.build_encoder("bm25", {"k1": "1.2", "b": "0.75", "stemmer": "none"}).settings == Bm25Options(
        k1=1.2, b=0.75, stemmer="none"
    )
    assert catalog.result_label("bm25", {"k1": "1.2", "b": "0.75"}) == "bm25-k1-1.2-b-0.75"
    for bad, words in [
        (["-o", "k1=abc"], "option k1: Input should be a valid number"),
        (["-o", "b=2"], "option b: Input should be less than or equal to 1"),
        (["-o", "colour=blue"], "has no option colour; its options: k1 (float, default 0.9), b"),
        (["-o", "stemmer=klingon"], "option stemmer: Input should be 'porter', 'english' or 'none'"),
        (["-o", "k1"], "expected KEY=VALUE"),
        (["--batch-size", "8"], "has no option batch_size"),
    ]:
        code = main(["run", "--encoder", "bm25", "--tasks", "scifact", "--out", str(tmp_path), *bad])
        err = capsys.readouterr().err
        assert code == 2, (bad, err)
        assert words in err and err.strip().count("\n") == 0, (bad, err)
    assert not list(tmp_path.iterdir())


def test_fingerprint_follows_settings() -> None:
    assert Bm25(Bm25Options()).fingerprint() != Bm25(Bm25Options(k1=1.2)).fingerprint()
    assert Bm25(Bm25Options()).fingerprint() == Bm25(Bm25Options(k1=0.9)).fingerprint()


# -- the ranking capability in tasks ---------------------------------------------------------


class CosineRanker(RankingEncoder):
    """Ranks with hash-bow's cosine, exactly as the dense path scores: the two paths must agree."""

    name = "cosine-ranker"

    def __init__(self) -> None:
        self.dense = HashedBagOfWords()

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "cosine-ranker"}

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        q = normalized(self.dense.encode(queries, TextKind.QUERY))
        d = normalized(self.dense.encode(documents, TextKind.DOCUMENT))
        scores, rows = exact_search(q, d, k)
        return Ranking(rows, scores)


def evaluate(task: Task, encoder: Encoder, data: Path) -> float:
    files = DataLocator.from_settings(data).resolve(task.dataset_files(task.default_split))
    return task.evaluate(EncodingSession(encoder, progress=False), files, task.default_split).main_score


@pytest.mark.parametrize("make_task", [scifact, csn_ruby, CosqaTask], ids=["scifact", "csn-ruby", "cosqa"])
def test_ranking_path_scores_like_the_vector_path(make_task, shared_data: Path) -> None:
    dense = evaluate(make_task(), HashedBagOfWords(), shared_data)
    ranked = evaluate(make_task(), CosineRanker(), shared_data)
    # Same cosines; the ranking path carries them in float32, the code-search vector path in float64.
    assert ranked == pytest.approx(dense, abs=2e-3)
    assert dense > 0.1


class BadRanker(CosineRanker):
    def __init__(self, mutate) -> None:
        super().__init__()
        self.mutate = mutate

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        return self.mutate(super().rank(queries, documents, k))


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda r: Ranking(r.indices + 10_000, r.scores), "outside 0..3"),
        (lambda r: Ranking(r.indices[:1], r.scores[:1]), "expected (2, k<=4)"),
        (lambda r: Ranking(r.indices, np.full(r.scores.shape, np.nan)), "NaN"),
        (lambda r: Ranking(r.indices.astype(float), r.scores), "not integers"),
        (lambda r: (r.indices, r.scores), "not a Ranking"),
    ],
)
def test_bad_rankings_are_refused_in_one_line(mutate, words: str) -> None:
    session = EncodingSession(BadRanker(mutate), progress=False)
    with pytest.raises(EncoderOutputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        session.rank(["cat", "dog"], DOCUMENTS, 10)


def test_a_ranker_has_no_vectors_and_an_embedder_does_not_rank() -> None:
    with pytest.raises(HarnessError, match="has no dense vectors"):
        EncodingSession(CosineRanker(), progress=False)(["cat"], TextKind.TEXT)
    with pytest.raises(HarnessError, match="does not rank a corpus"):
        EncodingSession(HashedBagOfWords(), progress=False).rank(["cat"], DOCUMENTS, 2)


# -- the runner and the command line ---------------------------------------------------------


def test_run_skips_tasks_that_need_vectors_and_writes_valid_results(capsys, tmp_path: Path, shared_data) -> None:
    out = tmp_path / "results"
    code = main(
        [
            "run",
            "--encoder",
            "bm25",
            "--tasks",
            "stsb,scifact,csn-ruby",
            "--out",
            str(out),
            "--data-dir",
            str(shared_data),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "stsb@test: not applicable: stsb needs vectors; encoder 'bm25' offers ranking" in captured.out
    assert not (out / "bm25" / "stsb@test.json").exists()
    schema = schema_validator("result.schema.json")
    scores = {}
    for name in ("scifact@test", "csn-ruby@test"):
        record = json.loads((out / "bm25" / f"{name}.json").read_text())
        schema.validate(record)
        assert record["encoder"]["dim"] is None
        assert record["encoder"]["fingerprint"]["k1"] == 0.9
        scores[name] = record["main_score"]
    # Lexical matching is strong on SciFact (BEIR's BM25: 66.5-67.9) and weak on docstring-to-code search.
    assert 0.6 < scores["scifact@test"] < 0.75
    assert 0.2 < scores["csn-ruby@test"] < 0.6


def test_run_with_no_applicable_task_fails_clearly(capsys, tmp_path: Path) -> None:
    code = main(["run", "--encoder", "bm25", "--tasks", "stsb", "--out", str(tmp_path), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "applies to none of the tasks" in captured.err and "Traceback" not in captured.err


def test_every_option_on_the_command_line_reaches_the_ranking(cli, tmp_path: Path) -> None:
    """``-o`` for each BM25 setting: applied (fingerprint), naming the results, and changing the ranking's scores."""
    from helpers import TESTS, read_results

    folder = TESTS / "thirdparty_plugin" / "src" / "harness_thirdparty_demo" / "tiny_beir"
    out = tmp_path / "results"
    base = ["run", "--encoder", "bm25", "--tasks", f"beir:{folder}", "--out", out, "--no-progress"]
    assert cli(*base).code == 0
    changed = ["-o", "k1=1.2", "-o", "b=0.75", "-o", "method=robertson", "-o", "stemmer=none", "-o", "stopwords=none"]
    assert cli(*base, *changed).code == 0
    records = {r["encoder"]["name"]: r for r in read_results(out).values()}
    label = "bm25-k1-1.2-b-0.75-method-robertson-stemmer-none-stopwords-none"
    assert set(records) == {"bm25", label}
    fingerprint = records[label]["encoder"]["fingerprint"]
    assert (fingerprint["k1"], fingerprint["b"], fingerprint["method"]) == (1.2, 0.75, "robertson")
    assert (fingerprint["stemmer"], fingerprint["stopwords"]) == ("none", "none")
    # and the settings the result records are the ones that ranked: other scores for the same query
    catalog = get_host().catalog
    default = catalog.build_encoder("bm25", {}).rank(["the running dogs"], DOCUMENTS, 2)
    options = dict(item.split("=") for item in changed[1::2])
    other = catalog.build_encoder("bm25", options).rank(["the running dogs"], DOCUMENTS, 2)
    assert not np.allclose(default.scores, other.scores)
