"""Table 5's tasks: nq-open / triviaqa-open (DPR's retriever evaluation) and msmarco-passage (official MRR@10).

The end-to-end tests write small files in the real formats into a data folder laid out as the registry says
and drive ``harness run``; a scripted ranker fixes every query's top k, so each score is computed by hand.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from harness import DataError, EncoderOptions, Ranking, RankingEncoder, hookimpl
from harness.data.unpack import unpack
from harness.pluginhost import get_host
from harness.plugins.datasets import REGISTRY_FILES
from harness.plugins.suites import DEFAULT_SUITE, FAMILY_SUITES
from harness.plugins.tasks.open_qa import answers
from harness.plugins.tasks.open_qa.answers import answer_tokens, has_answer
from harness.plugins.tasks.open_qa.metrics import msmarco_metrics
from harness.plugins.tasks.open_qa.readers import byte_lines
from harness.plugins.tasks.open_qa.tasks import PASSAGES, MsMarcoPassageTask, nq_open
from harness.plugins.tasks.retrieval.tasks import scifact
from helpers import CliResult, failure_line, read_results

NQ_FILE = "dpr/data/retriever/nq-test.qa.csv"
TRIVIA_FILE = "dpr/data/retriever/trivia-test.qa.csv"

# -- DPR's answer matching -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "text", "found"),
    [
        ("Wilhelm Conrad Röntgen", "won by Wilhelm Conrad Ro\u0308ntgen in 1901", True),  # NFC answer, NFD text
        (unicodedata.normalize("NFD", "Röntgen"), "Röntgen", True),  # and the other way round
        ("cafe", "the Café de Flore", False),  # an accent is a token character, not dropped
        ("CAFÉ de flore", "the Café de Flore", True),  # case is not
        ("Guns N' Roses", "Guns N' Roses played", True),
        ("Guns N Roses", "Guns N' Roses played", False),  # the apostrophe is a token of its own
        ("U.S.", "the U.S. army", True),
        ("US", "the U.S. army", False),
        ("1,000", "some 1,000 people", True),
        ("1000", "some 1,000 people", False),
        ("New York City", "New York City Hall", True),  # several tokens, in a row
        ("New York City", "in New York, the city", False),  # not in a row
        ("cat", "the cats sleep", False),  # part of a longer token never matches
        ("York", "NewYork", False),
        ("Beatles's", 'by "the Beatles\'s" own label', True),
        ("", "any passage at all", True),  # no tokens: DPR's loop finds it everywhere
    ],
)
def test_has_answer_follows_dpr(answer: str, text: str, found: bool) -> None:
    assert has_answer([answer], text) is found


def test_tokens_are_dpr_simple_tokenizer_words() -> None:
    assert answer_tokens("B's  café,\tU.S.\u200b1") == ["b", "'", "s", "cafe\u0301", ",", "u", ".", "s", ".", "1"]


def test_tokeniser_matches_dpr_regex_on_every_assigned_code_point() -> None:
    """Our stdlib classes against DPR's own pattern in the ``regex`` module, each character between others."""
    regex = pytest.importorskip("regex")
    dpr = regex.compile(
        r"([\p{L}\p{N}\p{M}]+)|([^\p{Z}\p{C}])", flags=regex.IGNORECASE + regex.UNICODE + regex.MULTILINE
    )
    pattern = answers._token_pattern()
    differ = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cn":  # unassigned here: the two Unicode versions may disagree
            continue
        text = f"a{char}b {char}{char}.{char}1"
        if pattern.findall(text) != [m.group() for m in dpr.finditer(text)]:
            differ.append(hex(code))
    assert not differ


def test_byte_lines_cut_like_datafiles_lines() -> None:
    data = "\ufeffa\tb\r\nc\n\nd".encode()
    assert list(byte_lines(data, "f")) == ["a\tb", "c", "", "d"]
    with pytest.raises(DataError, match=r"f:2: not valid UTF-8 \(byte 3\)"):
        list(byte_lines(b"ok\n\xff\n", "f"))


# -- MS MARCO's MRR@10 -----------------------------------------------------------------------


def test_mrr_at_10_divides_by_the_judged_queries() -> None:
    """ms_marco_eval.py: MRR/len(qids_to_relevant_passageids); a judged query with no ranking scores 0."""
    ranked = [str(i) for i in range(20)]
    run = {"a": ranked, "b": ranked, "c": ranked}
    qrels = {"a": ["2"], "b": ["10"], "c": ["5", "0"], "unranked": ["1"]}
    metrics, per_query = msmarco_metrics(run, qrels)
    assert per_query == {"a": 1 / 3, "b": 0.0, "c": 1.0, "unranked": 0.0}  # rank 11 is past the cut-off
    assert metrics["mrr_at_10"] == pytest.approx((1 / 3 + 1) / 4)
    assert metrics["recall_at_1000"] == pytest.approx(3 / 4)


# -- fixtures in the real formats ------------------------------------------------------------


class ScriptedRanker(RankingEncoder):
    """Ranks each query's scripted documents first, in the script's order, then the rest in corpus order.

    The script names documents by their text as the task must build it: a document built otherwise (no
    title, a quote parsed away) is not found and the run fails.
    """

    script: ClassVar[dict[str, list[str]]] = {}

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "scripted", "script": sorted((q, tuple(d)) for q, d in self.script.items())}

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        position = {text: row for row, text in enumerate(documents)}
        rows = []
        for query in queries:
            first = [position[text] for text in self.script.get(query, [])]
            chosen = set(first)
            rows.append((first + [row for row in range(len(documents)) if row not in chosen])[:k])
        return Ranking(np.array(rows, dtype=np.int64), np.tile(np.arange(k, 0, -1, dtype=np.float32), (len(rows), 1)))


class ScriptedPlugin:
    @hookimpl
    def harness_register_encoders(self, register: Any) -> None:
        register("scripted", lambda settings: ScriptedRanker(), "ranks by the test's script", options=EncoderOptions)


@pytest.fixture
def scripted() -> Iterator[dict[str, list[str]]]:
    host = get_host()
    host.register(ScriptedPlugin(), name="scripted")
    ScriptedRanker.script = {}
    yield ScriptedRanker.script
    host.unregister("scripted")


def tsv_field(text: str) -> str:
    """A field as psgs_w100.tsv writes a text: quoted, inner quotes doubled, when it holds a quote."""
    return '"' + text.replace('"', '""') + '"' if '"' in text else text


def write_passages(root: Path, passages: list[tuple[str, str]], *, gz: bool = False) -> list[str]:
    """``id \\t text \\t title`` with its header; returns each document as Contriever builds it."""
    lines = ["id\ttext\ttitle"] + [f"{i}\t{tsv_field(text)}\t{title}" for i, (text, title) in enumerate(passages, 1)]
    write(root / PASSAGES, "\n".join(lines) + "\n", gz=gz)
    return [f"{title} {text}" for text, title in passages]


def write(path: Path, text: str, *, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


FILLER = [(f"Filler passage number {i} says nothing in particular.", f"Filler {i}") for i in range(110)]
NQ_PASSAGES = [
    ('"Hey Jude" is a song by the Beatles, written by Paul McCartney.', "Hey Jude"),  # 0
    ("Marie Curie was the first woman to win a Nobel Prize.", "Marie Curie"),  # 1
    ("Bob Marley sang with the Wailers.", "Bob Marley"),  # 2
    (unicodedata.normalize("NFD", "The prize went to Wilhelm Conrad Röntgen in 1901."), "Nobel Prize in Physics"),  # 3
    ("It is the highest mountain above sea level.", "Mount Everest"),  # 4: the answer only in the title
    ("Guns N' Roses is an American hard rock band.", "Guns N' Roses"),  # 5
    ("Cats are small and purr.", "Kittens"),  # 6: "cats", never "cat"
    ("The domestic cat meows.", "Felis"),  # 7
    *FILLER,
]
NQ_QA = [
    ("who sang hey jude", "['The Beatles', \"Beatles's\"]"),  # hit at rank 1
    ("who got the first nobel prize in physics", "['Wilhelm Conrad Röntgen']"),  # rank 3
    ("what is the highest mountain in the world", "['Mount Everest']"),  # ranked 1st, answer in title: miss
    ("who will win the 2040 world cup", "['Atlantis F.C.']"),  # no passage answers
    ("which band released appetite for destruction", '["Guns N\' Roses"]'),  # rank 10
    ("what animal says meow", "['cat']"),  # rank 50
]


def nq_data(root: Path, script: dict[str, list[str]]) -> None:
    docs = write_passages(root, NQ_PASSAGES)
    write(root / NQ_FILE, "".join(f"{q}\t{a}\n" for q, a in NQ_QA))
    filler = docs[8:]
    script[NQ_QA[0][0]] = [docs[0]]
    script[NQ_QA[1][0]] = [docs[1], docs[2], docs[3]]
    script[NQ_QA[2][0]] = [docs[4]]
    script[NQ_QA[4][0]] = [*filler[:9], docs[5]]
    script[NQ_QA[5][0]] = [docs[6], *filler[:48], docs[7]]


def run(cli: Callable[..., CliResult], tmp_path: Path, encoder: str, task: str, data: Path) -> CliResult:
    return cli(
        "run", "--encoder", encoder, "--tasks", task, "--data-dir", data, "--out", tmp_path / "out", "--no-cache"
    )


def test_nq_open_scores_dpr_top_k_accuracy(cli, scripted, tmp_path: Path) -> None:
    nq_data(tmp_path / "data", scripted)
    result = run(cli, tmp_path, "scripted", "nq-open", tmp_path / "data")
    assert result.code == 0, result.err
    (record,) = read_results(tmp_path / "out").values()
    # First hits at ranks 1, 3, -, -, 10, 50 of the six questions.
    assert record["metrics"] == pytest.approx(
        {"top_1_accuracy": 1 / 6, "top_5_accuracy": 2 / 6, "top_20_accuracy": 3 / 6, "top_100_accuracy": 4 / 6}
    )
    assert record["main_score"] == pytest.approx(0.5) and record["task"]["main_metric"] == "top_20_accuracy"
    assert record["n_examples"] == 6 and record["details"]["corpus_size"] == len(NQ_PASSAGES)
    assert record["per_example"]["values"]["score"] == [1, 1, 0, 0, 1, 0]


BM25_PASSAGES = [
    ("A song released in 1968 by the Beatles.", "Hey Jude"),
    ("The river flows past the old mill.", "Mill"),
    ("Bread is baked in an oven.", "Bread"),
    ("Tea is grown on hills.", "Tea"),
    ("The mountain lies in Nepal.", "Mount Everest"),
]
BM25_QA = [
    ("who sang hey jude", "['The Beatles']"),  # the only passage naming "hey jude" (in its title): hit
    ("what song did the beatles release in 1968", "['Hey Jude']"),  # that passage again; the answer is its title
    ("where is mount everest", "['Nepal']"),  # found through the title, answered by the text
    ("who will win the 2040 world cup", "['Atlantis F.C.']"),  # nowhere
]


@pytest.mark.parametrize("encoder", ["bm25", "hashing"])
def test_triviaqa_open_reads_gzipped_files_and_ranks_with_any_encoder(cli, fake_plugin, tmp_path, encoder) -> None:
    """BM25 ranks the one passage sharing the question's words first; any encoder's top 20 is all 5 passages."""
    data = tmp_path / "data"
    write_passages(data, BM25_PASSAGES, gz=True)
    write(data / TRIVIA_FILE, "".join(f"{q}\t{a}\n" for q, a in BM25_QA), gz=True)
    result = run(cli, tmp_path, encoder, "triviaqa-open", data)
    assert result.code == 0, result.err
    (record,) = read_results(tmp_path / "out").values()
    assert record["metrics"]["top_20_accuracy"] == record["metrics"]["top_100_accuracy"] == 0.5
    if encoder == "bm25":
        assert record["metrics"]["top_1_accuracy"] == 0.5
        assert record["per_example"]["values"]["score"] == [1, 0, 1, 0]


def msmarco_data(root: Path, script: dict[str, list[str]]) -> None:
    passages = {pid: f"passage {pid} about subject {pid}" for pid in range(15)}
    passages[4] = 'He said "hello" to them, and "bye".'  # bare quotes: no CSV parsing
    folder = root / "msmarco-passage"
    write(folder / "collection.tsv", "".join(f"{pid}\t{text}\n" for pid, text in passages.items()))
    queries = {100: "query one", 200: "query two", 300: "query three", 400: "query never judged"}
    write(folder / "queries.dev.small.tsv", "".join(f"{qid}\t{text}\n" for qid, text in queries.items()))
    qrels = [(100, 7), (200, 12), (300, 9), (300, 2), (300, 99)]  # 99: not in the collection
    write(folder / "qrels.dev.small.tsv", "".join(f"{qid}\t0\t{pid}\t1\n" for qid, pid in qrels))
    others = [p for p in passages if p not in (12,)]
    script["query one"] = [passages[3], passages[4], passages[7]]  # relevant at rank 3
    script["query two"] = [passages[p] for p in others[:10]] + [passages[12]]  # rank 11: past the cut-off
    script["query three"] = [passages[9], passages[2]]  # two relevant: the first counts


def test_msmarco_passage_scores_the_official_mrr_at_10(cli, scripted, tmp_path: Path) -> None:
    msmarco_data(tmp_path / "data", scripted)
    result = run(cli, tmp_path, "scripted", "msmarco-passage", tmp_path / "data")
    assert result.code == 0, result.err
    (record,) = read_results(tmp_path / "out").values()
    assert record["task"]["split"] == "dev" and record["task"]["main_metric"] == "mrr_at_10"
    assert record["main_score"] == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert record["metrics"]["recall_at_1000"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert record["n_examples"] == 3 and record["details"]["qrels_unknown_passages"] == 1
    assert record["per_example"]["ids"] == ["100", "200", "300"]
    assert record["per_example"]["values"]["score"] == pytest.approx([1 / 3, 0, 1])


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("who sang hey jude ['The Beatles']", "expected 2 tab-separated fields (question, answer list), found 1"),
        ("who sang hey jude\tThe Beatles", "answer field is not a Python list literal: 'The Beatles'"),
        ("who sang hey jude\t'The Beatles'", "answer field must be a list of strings, found str"),
        ("who sang hey jude\t['The Beatles', 4]", "answer field must be a list of strings, item 1 is int"),
        ("who sang hey jude\t__import__('os')", "answer field is not a Python list literal"),
    ],
)
def test_a_bad_qa_line_names_file_and_line(cli, scripted, tmp_path: Path, line: str, message: str) -> None:
    data = tmp_path / "data"
    write_passages(data, BM25_PASSAGES)
    write(data / NQ_FILE, f"where is mount everest\t['Nepal']\n{line}\n")
    result = run(cli, tmp_path, "scripted", "nq-open", data)
    assert result.code == 1
    assert f"nq-test.qa.csv:2: {message}" in failure_line(result.err)


def test_a_bad_passage_row_names_its_line(cli, scripted, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data / PASSAGES, "id\ttext\ttitle\n1\tfine text\tFine\n2\tno title here\n")
    write(data / NQ_FILE, "where is mount everest\t['Nepal']\n")
    result = run(cli, tmp_path, "scripted", "nq-open", data)
    assert "psgs_w100.tsv:3: expected 3 tab-separated fields (id, text, title), found 2" in failure_line(result.err)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("qrels.dev.small.tsv", "100\t7\t1\n", "qrels.dev.small.tsv:1: expected 4 tab-separated fields"),
        ("qrels.dev.small.tsv", "100 0 7 1\n", "found 1 (they are separated by spaces)"),
        ("qrels.dev.small.tsv", "500\t0\t7\t1\n", "qrels.dev.small.tsv: qid 500 has no query"),
        ("collection.tsv", "0\tfine\nseven\tnot a number\n", "collection.tsv:2: pid is not an integer: 'seven'"),
        ("collection.tsv", "0\tfine\n0\tagain\n", "collection.tsv:2: duplicate pid 0"),
        ("queries.dev.small.tsv", "100\tquery\textra\n", "queries.dev.small.tsv:1: expected 2 tab-separated fields"),
    ],
)
def test_bad_msmarco_files_name_file_and_line(cli, scripted, tmp_path: Path, name, content, message) -> None:
    data = tmp_path / "data"
    msmarco_data(data, scripted)
    write(data / "msmarco-passage" / name, content)
    result = run(cli, tmp_path, "scripted", "msmarco-passage", data)
    assert result.code == 1 and message in failure_line(result.err)


# -- registration ----------------------------------------------------------------------------


def test_listed_in_a_table_5_suite_and_no_default_one(cli) -> None:
    tasks = cli("list", "tasks").out
    assert all(name in tasks for name in ("nq-open", "triviaqa-open", "msmarco-passage"))
    suites = get_host().catalog.suites
    assert suites["paper-qa"].tasks == ("msmarco-passage", "nq-open", "triviaqa-open")
    held = {*DEFAULT_SUITE, *(task for tasks, _ in FAMILY_SUITES.values() for task in tasks)}
    assert not held & set(suites["paper-qa"].tasks)


def test_the_msmarco_archive_places_the_files_the_task_reads(tmp_path: Path) -> None:
    """collectionandqueries.tar.gz holds its files at the top (ir_datasets' TarExtract names them so)."""
    dataset = get_host().catalog.datasets.get("msmarco-passage")
    archive = tmp_path / "collectionandqueries.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("collection.tsv", "queries.dev.small.tsv", "qrels.dev.small.tsv", "queries.train.tsv"):
            member = tarfile.TarInfo(name)
            member.size = 2
            tar.addfile(member, io.BytesIO(b"x\n"))
    (source,) = dataset.sources
    placed = unpack(archive, source.unpack, source.place, tmp_path / "staging", "test")
    assert sorted(placed) == sorted(f.path for f in dataset.files)
    assert any(path.name == "msmarco.toml" for path in REGISTRY_FILES)


def test_compare_gives_an_interval_from_the_per_question_hits(cli, scripted, tmp_path: Path) -> None:
    nq_data(tmp_path / "data", scripted)
    assert run(cli, tmp_path, "scripted", "nq-open", tmp_path / "data").code == 0
    assert run(cli, tmp_path, "bm25", "nq-open", tmp_path / "data").code == 0
    report, out = tmp_path / "compare.json", tmp_path / "out"
    assert cli("compare", out / "scripted", out / "bm25", "--report", "json", report).code == 0
    (row,) = json.loads(report.read_text())["tasks"]
    assert row["task"] == "nq-open@test" and row["metric"] == "top_20_accuracy" and row["n_examples"] == 6
    assert row["low"] is not None and row["low"] <= row["difference"] <= row["high"]


def test_an_approximate_search_is_another_measurement_as_for_beir(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_RETRIEVAL_INDEX", "ivf:nprobe=8")
    beir = scifact().dataset_identity("test")
    assert beir == {"search": "ivf:nprobe=8"}
    assert nq_open().dataset_identity("test") == MsMarcoPassageTask().dataset_identity("dev") == beir
