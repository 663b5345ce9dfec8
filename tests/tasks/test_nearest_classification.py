"""Zero-shot and k-NN classification (the paper's Table 3) through ``harness run``, on hand-checked data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from harness import Encoder, EncoderOptions, TextKind, hookimpl, pluginhost
from harness.plugins.tasks.classification.nearest import nearest_neighbours, top_k, zero_shot
from helpers import CliResult, read_results

VECTORS: dict[str, tuple[float, float]] = {
    # label texts, and the prompted ones pointing the other way
    "negative": (1.0, 0.0),
    "positive": (0.0, 1.0),
    "a negative one": (0.0, 1.0),
    "a positive one": (1.0, 0.0),
    "neg": (1.0, 0.0),
    "pos": (0.0, 1.0),
    # test texts: nearer negative, nearer positive, equidistant
    "t1": (2.0, 1.0),
    "t2": (1.0, 3.0),
    "t3": (1.0, 1.0),
    # training texts, mirror images of each other across the diagonal
    "a1": (1.0, 0.0),
    "a2": (1.0, 0.25),
    "b1": (0.0, 1.0),
    "b2": (0.25, 1.0),
    "q1": (1.0, 0.5),
    "q2": (0.5, 1.0),
}


class TableEncoder(Encoder):
    """Each text's vector looked up in :data:`VECTORS`: similarities known by hand."""

    name = "table"
    dim = 2

    def fingerprint(self) -> dict[str, str]:
        return {"kind": "table", "vectors": json.dumps(VECTORS, sort_keys=True)}

    def encode(self, texts: list[str], kind: TextKind) -> np.ndarray:
        return np.array([VECTORS[text] for text in texts], dtype=np.float32)


class TablePlugin:
    @hookimpl
    def harness_register_encoders(self, register):
        register("table", lambda settings: TableEncoder(), "vectors from a table (tests)", options=EncoderOptions)


@pytest.fixture
def table_encoder() -> Iterator[None]:
    host = pluginhost.get_host()
    host.register(TablePlugin(), name="table-plugin")
    yield
    host.unregister(name="table-plugin")


def folder(root: Path, train: list[tuple[str, str]], test: list[tuple[str, str]], labels: object = None) -> Path:
    root.mkdir()
    for name, rows in (("train", train), ("test", test)):
        lines = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)
        (root / f"{name}.jsonl").write_text(lines)
    if labels is not None:
        (root / "labels.json").write_text(json.dumps(labels))
    return root


TRAIN = [("a1", "neg"), ("a2", "neg"), ("b1", "pos"), ("b2", "pos")]
TEST = [("t1", "neg"), ("t2", "pos"), ("t3", "pos")]
LABELS = {"labels": {"neg": "negative", "pos": "positive"}, "prompt": "a {label} one"}


def run(cli: Callable[..., CliResult], task: str, out: Path) -> dict:
    result = cli("run", "--encoder", "table", "--tasks", task, "--out", out, "--no-cache", "--no-progress")
    assert result.code == 0, result.lines
    (record,) = read_results(out).values()
    return record


def test_zero_shot_takes_the_nearest_label_text_and_a_tie_goes_to_label_order(
    cli: Callable[..., CliResult], table_encoder: None, tmp_path: Path
) -> None:
    data = folder(tmp_path / "data", TRAIN, TEST, LABELS)
    record = run(cli, f"classification-zeroshot:{data}", tmp_path / "plain")
    # t1 -> neg (right), t2 -> pos (right), t3 is equidistant -> neg, the first label (wrong): 2 of 3.
    assert record["main_score"] == pytest.approx(2 / 3, abs=1e-6) and record["n_examples"] == 3
    assert record["per_example"]["values"]["score"] == [1.0, 1.0, 0.0]
    assert record["details"]["tie_broken"] == 1
    assert record["details"]["class_texts"] == {"neg": "negative", "pos": "positive"}
    # The prompted texts point the other way: t1 -> pos, t2 -> neg, t3 (a tie) -> neg: none right.
    prompted = run(cli, f"classification-zeroshot-prompt:{data}", tmp_path / "prompted")
    assert prompted["main_score"] == 0.0
    assert prompted["details"]["class_texts"] == {"neg": "a negative one", "pos": "a positive one"}


def test_without_labels_json_the_labels_are_their_own_texts(
    cli: Callable[..., CliResult], table_encoder: None, tmp_path: Path
) -> None:
    data = folder(tmp_path / "data", TRAIN, TEST)
    record = run(cli, f"classification-zeroshot:{data}", tmp_path / "out")
    assert record["details"]["class_texts"] == {"neg": "neg", "pos": "pos"}
    assert record["main_score"] == pytest.approx(2 / 3, abs=1e-6)
    result = cli("run", "--encoder", "table", "--tasks", f"classification-zeroshot-prompt:{data}", "--out",
                 tmp_path / "p", "--no-cache")  # fmt: skip
    assert result.code != 0 and "no prompt template" in result.failure, result.lines


def test_editing_labels_json_reruns_the_task(
    cli: Callable[..., CliResult], table_encoder: None, tmp_path: Path
) -> None:
    data = folder(tmp_path / "data", TRAIN, TEST, LABELS)
    out = tmp_path / "out"
    assert run(cli, f"classification-zeroshot:{data}", out)["main_score"] == pytest.approx(2 / 3, abs=1e-6)
    swapped = {"labels": {"neg": "positive", "pos": "negative"}}
    (data / "labels.json").write_text(json.dumps(swapped))
    record = run(cli, f"classification-zeroshot:{data}", out)  # not "already done"
    assert record["main_score"] == 0.0  # t1 -> pos, t2 -> neg, t3 (a tie) -> neg: none right


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"labels": {"maybe": "x"}}, "'maybe' is no label of train.jsonl"),
        ({"prompt": "no placeholder"}, 'field "prompt": expected a text holding {label} once'),
        ({"label": {}}, 'expected an object with "labels"'),
    ],
)
def test_a_bad_labels_json_is_one_line_naming_it(
    cli: Callable[..., CliResult], table_encoder: None, tmp_path: Path, labels: object, message: str
) -> None:
    data = folder(tmp_path / "data", TRAIN, TEST, labels)
    result = cli("run", "--encoder", "table", "--tasks", f"classification-zeroshot:{data}", "--out", tmp_path / "o",
                 "--no-cache")  # fmt: skip
    assert result.code != 0
    assert "labels.json" in result.failure and message in result.failure, result.lines


def test_knn_with_k_above_the_training_set_lets_every_example_vote(
    cli: Callable[..., CliResult], table_encoder: None, tmp_path: Path
) -> None:
    """Four voters, two per label: every vote ties 2-2 and the summed similarity decides.

    q1 is nearer the a's (neg), q2 the b's (pos); t3 lies on the diagonal, where the a's and b's are mirror images,
    so the sums tie exactly too and label order decides (neg).
    """
    data = folder(tmp_path / "data", TRAIN, [("q1", "neg"), ("q2", "pos"), ("t3", "pos")])
    record = run(cli, f"classification-knn:{data}", tmp_path / "out")
    assert record["per_example"]["values"]["score"] == [1.0, 1.0, 0.0]
    assert record["details"]["k_used"] == [4] and record["details"]["k"] == 256
    assert record["details"]["tie_broken"] == 3 and record["details"]["tie_broken_by_label_order"] == 1


def test_knn_agrees_with_scikit_learn_where_no_vote_ties() -> None:
    """An independent reference: brute-force cosine k-NN, odd k and two classes (no tied vote)."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(600, 16)).astype(np.float32)
    labels = (train[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(np.int64)
    queries = rng.normal(size=(200, 16)).astype(np.float32)
    ours = nearest_neighbours(queries, train, labels, 2, k=31)
    reference = KNeighborsClassifier(n_neighbors=31, metric="cosine", algorithm="brute").fit(train, labels)
    np.testing.assert_array_equal(ours.classes, reference.predict(queries))
    assert ours.ties == 0


def test_zero_shot_is_the_arg_max_of_cosine() -> None:
    rng = np.random.default_rng(1)
    texts, classes = rng.normal(size=(50, 8)), rng.normal(size=(3, 8))
    cosine = (texts / np.linalg.norm(texts, axis=1, keepdims=True)) @ (
        classes / np.linalg.norm(classes, axis=1, keepdims=True)
    ).T
    np.testing.assert_array_equal(zero_shot(texts, classes).classes, cosine.argmax(axis=1))


def test_senteval_variants_run_on_the_real_files(
    cli: Callable[..., CliResult], shared_data: Path, tmp_path: Path
) -> None:
    """SST-2 scores its 1821 test sentences; MR (no split) every sentence, k-NN over SentEval's ten folds."""
    tasks = "sst2-zeroshot,sst2-zeroshot-prompt,mr-knn"
    result = cli("run", "--encoder", "hash-bow", "--tasks", tasks, "--data-dir", shared_data, "--out", tmp_path,
                 "--no-cache", "--no-progress")  # fmt: skip
    assert result.code == 0, result.lines
    records = {ref.split("/")[1]: record for ref, record in read_results(tmp_path).items()}
    assert records["sst2-zeroshot@test"]["n_examples"] == 1821
    assert records["sst2-zeroshot-prompt@test"]["details"]["class_texts"] == {
        "0": "this is an example of a negative movie review",
        "1": "this is an example of a positive movie review",
    }
    # Their own family: the leaderboard gives them their own table, out of the linear probes' average.
    assert {record["task"]["family"] for record in records.values()} == {"zero-shot"}
    board = cli("leaderboard", tmp_path, "--markdown", tmp_path / "board.md")
    assert board.code == 0, board.lines
    page = (tmp_path / "board.md").read_text()
    assert "Zero-shot and k-NN classification" in page and "Linear-probe" not in page
    mr = records["mr-knn@test"]
    assert mr["n_examples"] == 10662 and mr["details"]["folds"] == 10 and mr["details"]["k_used"] == [256]
    scores = mr["per_example"]["values"]["score"]
    assert mr["main_score"] == pytest.approx(np.mean(scores), abs=1e-6)


def test_the_k_nearest_are_those_the_retrieval_search_keeps_ties_included() -> None:
    """Bag-of-words-like vectors tie often at the k-th place; both keep the earliest rows among the tied."""
    from harness.plugins.tasks.retrieval.dense_search import exact_search

    rng = np.random.default_rng(2)
    train = (rng.random((3000, 64)) < 0.05).astype(np.float32)
    texts = (rng.random((300, 64)) < 0.05).astype(np.float32)
    _, ours = top_k(texts, train, 40)
    _, searched = exact_search(texts, train, 40)
    assert [set(row) for row in ours.tolist()] == [set(row) for row in searched.tolist()]
