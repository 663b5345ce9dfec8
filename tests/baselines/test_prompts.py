"""Prompts as MTEB users set them (``-o prompts=JSON``), through ``harness run``, on the tiny models.

What is checked: MTEB's resolution order (task-kind, task, family-kind, family, kind), the prompt as part of
the embedding cache key (the same text with another prompt is never served another prompt's vector), the
prompt in the fingerprint and the result label (and no change at all without it: the committed minilm-l6
results stay the same work), the record of what was applied, how each encoder applies it (sentence-transformers
through ``encode(prompt=...)``, ``hf:`` by prepending), and one usage error per bad option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.prompts import TaskContext, candidates, resolve
from helpers import REPO, build_tiny_bert, build_tiny_sbert, read_results

PAIRS = [
    ("the man plays the guitar", "a man plays a guitar", 4.8),
    ("the dog runs in the park", "a dog runs in a park", 4.5),
    ("the cat sleeps on the sofa", "a cat is on the sofa", 3.9),
    ("the man runs in the park", "the cat plays", 0.8),
    ("a dog sleeps", "the man plays the guitar in the park", 0.3),
    ("the cat plays in the park", "a cat runs in the park", 3.1),
    ("a man is in the park", "the dog is on the sofa", 1.2),
    ("the dog plays", "a dog plays the guitar", 2.6),
]


@pytest.fixture(scope="module")
def tiny_sbert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sbert(tmp_path_factory.mktemp("tiny-sbert"))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "model")


def sts_file(path: Path, prefix: str = "") -> Path:
    rows = [{"sentence1": prefix + a, "sentence2": prefix + b, "score": s} for a, b, s in PAIRS]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def beir_folder(folder: Path) -> Path:
    """Three queries and three documents; each query's text is also a document's text."""
    texts = ["the man plays the guitar", "a dog runs in the park", "the cat sleeps on the sofa"]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def prompts_option(prompts: dict[str, str]) -> list[str]:
    return ["-o", f"prompts={json.dumps(prompts)}"]


def only(records: dict[str, dict[str, Any]], task: str) -> dict[str, Any]:
    (record,) = [r for key, r in records.items() if key.endswith(f"/{task}")]
    return record


def test_the_names_tried_are_mteb_order() -> None:
    """``AbsEncoder.get_prompt_name`` (mteb/models/abs_encoder.py): task-kind, task, family-kind, family, kind."""
    task = TaskContext("scifact", "retrieval")
    assert candidates(task, "query") == ["scifact-query", "scifact", "retrieval-query", "retrieval", "query"]
    assert candidates(None, "document") == ["document"]
    full = {"scifact-query": "1", "scifact": "2", "retrieval-query": "3", "retrieval": "4", "query": "5"}
    for winner in full:
        prompts = {k: v for k, v in full.items() if list(full).index(k) >= list(full).index(winner)}
        found = resolve(prompts, task, "query")
        assert found is not None and found.key == winner
    assert resolve({"scifact-query": "", "query": "5"}, task, "query") is None  # an empty entry stops the search
    assert resolve({"Retrieval-query": "x"}, task, "query") is None  # names match exactly, as in MTEB


def test_task_kind_beats_family_kind_beats_kind(cli, tiny_sbert: Path, tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "tiny-beir")
    task = f"beir:{folder}"
    base = ["run", "--encoder", f"sbert:{tiny_sbert}", "--tasks", task, "--no-progress", "--no-cache"]
    tiers = {f"{task}-query": "the man ", "retrieval-query": "a dog ", "query": "the cat "}
    applied = []
    for start in range(3):
        given = dict(list(tiers.items())[start:])
        out = tmp_path / f"results-{start}"
        result = cli(*base, "--out", out, "-o", f"prompts={json.dumps(given)}")
        assert result.code == 0, result.err
        record = only(read_results(out), f"{task}@test")
        applied.append(record["prompts"]["query"])
        assert "document" not in record["prompts"]  # the model's own "document" prompt is empty: nothing applied
    assert applied == [{"key": key, "text": text} for key, text in tiers.items()]


def test_prompts_are_part_of_the_embedding_cache_key(cli, tiny_sbert: Path, tmp_path: Path) -> None:
    """One encoder, two prompts for the same texts: never the other prompt's vectors; the same prompt: reused."""
    first, second = sts_file(tmp_path / "first.jsonl"), sts_file(tmp_path / "second.jsonl")
    prompts = {"sts": "the man ", f"sts:{second}-text": "a dog "}  # same texts, other prompt on the second
    base = ["run", "--encoder", f"sbert:{tiny_sbert}", "--no-progress", "--cache", tmp_path / "cache"]
    tasks = ["--tasks", f"sts:{first},sts:{second}"]
    assert cli(*base, *tasks, "--out", tmp_path / "cached", *prompts_option(prompts)).code == 0
    records = read_results(tmp_path / "cached")
    one, two = only(records, f"sts:{first}@test"), only(records, f"sts:{second}@test")
    assert one["prompts"] == {"text": {"key": "sts", "text": "the man "}}
    assert two["prompts"] == {"text": {"key": f"sts:{second}-text", "text": "a dog "}}
    assert two["timings"]["texts_from_cache"] == 0  # the first task's vectors had another prompt
    assert two["timings"]["texts_encoded"] == one["timings"]["texts_encoded"] > 0
    assert one["per_example"]["values"]["prediction"] != two["per_example"]["values"]["prediction"]
    # What the cache served is what encoding afresh gives: the second task without any cache
    fresh = ["run", "--encoder", f"sbert:{tiny_sbert}", "--no-progress", "--no-cache", "--tasks", f"sts:{second}"]
    assert cli(*fresh, "--out", tmp_path / "fresh", *prompts_option(prompts)).code == 0
    alone = only(read_results(tmp_path / "fresh"), f"sts:{second}@test")
    assert alone["per_example"]["values"] == two["per_example"]["values"]
    # The same text with the same prompt may share: a forced rerun reads every vector from the cache
    assert cli(*base, *tasks, "--out", tmp_path / "cached", "--force", *prompts_option(prompts)).code == 0
    for record in read_results(tmp_path / "cached").values():
        assert record["timings"]["texts_encoded"] == 0 and record["timings"]["texts_from_cache"] > 0


def test_a_query_and_a_document_with_the_same_text_never_share_a_vector(cli, tiny_sbert: Path, tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "tiny-beir")
    prompts = prompts_option({"query": "the man ", "document": "a dog "})
    base = ["run", "--encoder", f"sbert:{tiny_sbert}", "--tasks", f"beir:{folder}", "--no-progress"]
    assert cli(*base, "--out", tmp_path / "cached", "--cache", tmp_path / "cache", *prompts).code == 0
    cached = only(read_results(tmp_path / "cached"), f"beir:{folder}@test")
    assert cached["timings"]["texts_encoded"] == 6 and cached["timings"]["texts_from_cache"] == 0
    assert cached["prompts"] == {
        "document": {"key": "document", "text": "a dog "},
        "query": {"key": "query", "text": "the man "},
    }
    assert cli(*base, "--out", tmp_path / "fresh", "--no-cache", *prompts).code == 0
    fresh = only(read_results(tmp_path / "fresh"), f"beir:{folder}@test")
    assert fresh["metrics"] == cached["metrics"] and fresh["per_example"] == cached["per_example"]
    stats = cli("cache", "info", "--cache", tmp_path / "cache")
    assert stats.code == 0 and "  6 vectors in " in stats.out, stats.out  # three texts, each as query and document


def test_prompts_change_the_fingerprint_and_the_label_and_nothing_changes_without(cli, tmp_path: Path) -> None:
    """minilm-l6 without prompts is the same work as the committed reference results; with them, other work."""
    data = sts_file(tmp_path / "pairs.jsonl")
    base = ["run", "--encoder", "minilm-l6", "--tasks", f"sts:{data}", "--no-progress", "--no-cache"]
    out = tmp_path / "results"
    assert cli(*base, "--out", out).code == 0
    assert cli(*base, "--out", out, *prompts_option({"query": "query: ", "text": "text: "})).code == 0
    records = {r["encoder"]["name"]: r for r in read_results(out).values()}
    (label,) = set(records) - {"minilm-l6"}
    assert label.startswith("minilm-l6-prompts-") and len(label) == len("minilm-l6-prompts-") + 8
    plain, prompted = records["minilm-l6"], records[label]
    committed = json.loads(next((REPO / "results" / "reference" / "minilm-l6").glob("*@*.json")).read_text())
    assert plain["encoder"]["fingerprint_sha256"] == committed["encoder"]["fingerprint_sha256"]
    assert plain["encoder"]["fingerprint"] == committed["encoder"]["fingerprint"]
    assert "prompts" not in plain  # nothing applied, nothing recorded
    assert prompted["encoder"]["fingerprint_sha256"] != plain["encoder"]["fingerprint_sha256"]
    assert prompted["encoder"]["fingerprint"]["prompts"] == {"query": "query: ", "document": "", "text": "text: "}
    assert prompted["encoder"]["options"]["prompts"] == {"query": "query: ", "text": "text: "}
    assert prompted["prompts"] == {"text": {"key": "text", "text": "text: "}}  # an STS task embeds texts only
    assert prompted["main_score"] != plain["main_score"]


def test_hf_prepends_the_prompt_to_each_text(cli, tiny_bert: Path, tmp_path: Path) -> None:
    """``hf:`` with a prompt embeds exactly what it embeds for the texts with the prompt written before them."""
    plain, prefixed = sts_file(tmp_path / "plain.jsonl"), sts_file(tmp_path / "prefixed.jsonl", "the man ")
    base = ["run", "--encoder", f"hf:{tiny_bert}", "--no-progress", "--no-cache"]
    assert cli(*base, "--tasks", f"sts:{plain}", "--out", tmp_path / "a", "-o", 'prompts={"sts": "the man "}').code == 0
    assert cli(*base, "--tasks", f"sts:{prefixed}", "--out", tmp_path / "b").code == 0
    with_prompt = only(read_results(tmp_path / "a"), f"sts:{plain}@test")
    written = only(read_results(tmp_path / "b"), f"sts:{prefixed}@test")
    np.testing.assert_allclose(
        with_prompt["per_example"]["values"]["prediction"], written["per_example"]["values"]["prediction"], atol=1e-6
    )
    assert with_prompt["prompts"] == {"text": {"key": "sts", "text": "the man "}}
    assert with_prompt["encoder"]["fingerprint"]["prompts"] == {"sts": "the man "}
    assert "prompts" not in written["encoder"]["fingerprint"]  # no option, the fingerprint it always had


def test_sentence_transformers_applies_the_prompt_with_the_librarys_pooling_rules(cli, tmp_path: Path) -> None:
    """``include_prompt=False`` pooling leaves the prompt's tokens out, as ``SentenceTransformer.encode(prompt=)`` does."""
    from sentence_transformers import SentenceTransformer, models

    hf_dir = build_tiny_bert(tmp_path / "hf")
    transformer = models.Transformer(str(hf_dir), max_seq_length=32)
    width = transformer.get_embedding_dimension()
    pooling = models.Pooling(width, pooling_mode="mean", include_prompt=False)
    folder = tmp_path / "sbert"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()]).save(str(folder))
    data = sts_file(tmp_path / "pairs.jsonl")
    run = ["run", "--encoder", f"sbert:{folder}", "--tasks", f"sts:{data}", "--no-progress", "--no-cache"]
    assert cli(*run, "--out", tmp_path / "out", *prompts_option({"text": "the dog "})).code == 0
    record = only(read_results(tmp_path / "out"), f"sts:{data}@test")
    model = SentenceTransformer(str(folder))
    left = model.encode([a for a, _, _ in PAIRS], prompt="the dog ")
    right = model.encode([b for _, b, _ in PAIRS], prompt="the dog ")
    expected = (left * right).sum(axis=1)
    np.testing.assert_allclose(record["per_example"]["values"]["prediction"], expected, atol=1e-5)
    prepended = model.encode(["the dog " + a for a, _, _ in PAIRS])
    assert not np.allclose(prepended, left, atol=1e-3)  # so the library's rule, not plain prepending, was applied


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{query", "option prompts: not JSON (Expecting property name enclosed in double quotes at character 1)"),
        ('["query: "]', "option prompts: expected a JSON object of {name: prompt text}, not list"),
        ('{"query": 1}', "option prompts: the prompt for 'query' is int, not a string"),
        (
            '{"scifcat-query": "q: "}',
            "option prompts: 'scifcat-query' names no task, task family (classification, code-search, retrieval, "
            "sts, zero-shot) or text kind (query, document, text), alone or as NAME-KIND; did you mean scifact",
        ),
        ('{"query-text": "q: "}', "option prompts: 'query-text' names no task"),
    ],
)
def test_a_bad_prompts_option_is_one_usage_error(cli, tmp_path: Path, value: str, message: str) -> None:
    out = tmp_path / "results"
    result = cli("run", "--encoder", "minilm-l6", "--tasks", "stsb", "--out", out, "-o", f"prompts={value}")
    assert result.code == 2, result.err
    assert result.error.startswith("encoder 'minilm-l6': ") and message in result.error, result.error
    assert not out.exists()


def test_an_encoder_without_prompts_refuses_the_option(cli, tmp_path: Path) -> None:
    result = cli("run", "--encoder", "hash-bow", "--tasks", "stsb", "--out", tmp_path, "-o", 'prompts={"query": "q"}')
    assert result.code == 2
    assert result.error.startswith("encoder 'hash-bow' has no option prompts;")


def test_as_mteb_model_resolves_prompts_for_each_mteb_task_as_the_mteb_family_names_it(tiny_sbert: Path) -> None:
    """Handed to MTEB, the encoder's prompts follow MTEB's task: ``mteb:SciFact-query``, then ``sts`` for STS-B."""
    pytest.importorskip("mteb")
    from mteb.tasks.retrieval.eng.sci_fact_retrieval import SciFact
    from mteb.tasks.sts.eng.sts_benchmark_sts import STSBenchmarkSTS
    from mteb.types import PromptType

    from harness import TextKind
    from harness.pluginhost import get_host
    from harness.plugins.mteb import as_mteb_model
    from harness.prompts import Prompt

    prompts = {"mteb:SciFact-query": "the man ", "retrieval": "a dog ", "sts": "the cat "}
    encoder = get_host().catalog.build_encoder(f"sbert:{tiny_sbert}", {"prompts": prompts})
    model = as_mteb_model(encoder)
    texts = ["the dog plays", "a cat sleeps on the sofa"]
    expected = {
        (SciFact, PromptType.query): ("mteb:SciFact-query", "the man ", TextKind.QUERY),
        (SciFact, PromptType.document): ("retrieval", "a dog ", TextKind.DOCUMENT),
        (STSBenchmarkSTS, None): ("sts", "the cat ", TextKind.TEXT),
    }
    for (task, prompt_type), (key, text, kind) in expected.items():
        out = model.encode(
            [{"text": texts}],
            task_metadata=task.metadata,
            hf_split="test",
            hf_subset="default",
            prompt_type=prompt_type,
        )
        assert model.session is not None and model.session.prompts_applied[kind.value] == Prompt(key, text)
        np.testing.assert_allclose(out, encoder.encode_with_prompt(texts, kind, Prompt(key, text)), atol=1e-6)
        assert not np.allclose(out, encoder.encode(texts, kind), atol=1e-4)  # without the prompt: other vectors
