"""Linear-probe classification: SentEval's readers on the real files, the probe, the tasks, user folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from harness.cli import main
from harness.data.locate import DataFiles, DataLocator, ResolvedFile
from harness.errors import DataError
from harness.plugins.tasks.classification import metrics as classification
from harness.plugins.tasks.classification.linear_probe import (
    ProbeData,
    ProbeResult,
    inner_kfold_probe,
    kfold_probe,
    split_probe,
)
from harness.plugins.tasks.classification.metrics import binary_f1, seed_metrics
from harness.plugins.tasks.classification.readers import (
    Example,
    read_mrpc,
    read_sentence_lines,
    read_sst,
    read_trec,
    senteval_order,
)
from harness.plugins.tasks.classification.tasks import SENTEVAL_FILES, pair_features
from helpers import failure_line

# -- readers on the real files ---------------------------------------------------------------


def real_files(shared_data: Path, task: str) -> DataFiles:
    """The task's pinned files, resolved (and sha256-checked) from the shared data folder."""
    return DataLocator.from_settings(shared_data).resolve(SENTEVAL_FILES[task])


@pytest.mark.parametrize(
    ("task", "counts"),
    [("mr", (5331, 5331)), ("cr", (2407, 1368)), ("subj", (5000, 5000)), ("mpqa", (3312, 7294))],
)
def test_sentence_files_count_as_senteval_does(shared_data: Path, task: str, counts: tuple[int, int]) -> None:
    files = real_files(shared_data, task)
    first, second = (
        read_sentence_lines(files, f.path, label) for f, label in zip(SENTEVAL_FILES[task], (1, 0), strict=True)
    )
    assert (len(first), len(second)) == counts
    assert {e.label for e in first} == {1} and {e.label for e in second} == {0}


def test_blank_lines_are_kept_as_empty_sentences(shared_data: Path) -> None:
    # SentEval keeps them (CR: 2 + 2, MPQA: 1 + 2); its counts include them.
    for task, blanks in (("cr", 4), ("mpqa", 3)):
        files = real_files(shared_data, task)
        examples = [e for f in SENTEVAL_FILES[task] for e in read_sentence_lines(files, f.path, 0)]
        assert sum(e.text == "" and e.n_tokens == 0 for e in examples) == blanks


def test_sst2_counts_and_format(shared_data: Path) -> None:
    files = real_files(shared_data, "sst2")
    train, dev, test = (read_sst(files, f.path) for f in SENTEVAL_FILES["sst2"])
    assert (len(train), len(dev), len(test)) == (67349, 872, 1821)
    assert train[0] == Example("hide new secretions from the parental units", 0, 7)
    assert {e.label for e in train} == {0, 1}


def test_trec_counts_classes_and_latin1(shared_data: Path) -> None:
    files = real_files(shared_data, "trec")
    train, test = (read_trec(files, f.path) for f in SENTEVAL_FILES["trec"])
    assert (len(train), len(test)) == (5452, 500)
    assert train[0] == Example("How did serfdom develop in and then leave Russia ?", 1, 10)  # DESC:manner
    assert sorted({e.label for e in train}) == [0, 1, 2, 3, 4, 5]
    # The one non-UTF-8 byte of train_5500.label, read as latin-1 as SentEval does.
    assert any("sister\u00f0city" in e.text for e in train)


def test_mrpc_counts_and_pairs(shared_data: Path) -> None:
    files = real_files(shared_data, "mrpc")
    train, test = (read_mrpc(files, f.path) for f in SENTEVAL_FILES["mrpc"])
    assert (len(train), len(test)) == (4076, 1725)
    assert train[0].label == 1 and train[0].text_a.startswith("Amrozi accused his brother")
    assert train[1].label == 0


def test_senteval_order_is_a_stable_sort_by_length_then_label() -> None:
    examples = [Example("a b", 1, 2), Example("c", 1, 1), Example("d e", 0, 2), Example("f g", 1, 2)]
    assert [e.text for e in senteval_order(examples)] == ["c", "d e", "a b", "f g"]


def in_memory(name: str, content: bytes) -> DataFiles:
    return DataFiles({name: ResolvedFile(f"/data/{name}", content, "")})


@pytest.mark.parametrize(
    ("reader", "content", "expected"),
    [
        (read_sst, b"good film\t1\nno tab here\n", "sentiment-x:2: expected 'sentence<TAB>label', found no tab"),
        (read_sst, b"good film\tpositive\n", "sentiment-x:1: field 'label' is not an integer: 'positive'"),
        (read_sst, b"good film\t2\n", "sentiment-x:1: field 'label' must be one of 0, 1, found 2"),
        (read_trec, b"DESC:manner How ?\nWHAT:x Why ?\n", "sentiment-x:2: field 'label': unknown coarse class 'WHAT'"),
        (read_trec, b"DESC manner How ?\n", "sentiment-x:1: expected 'COARSE:fine question', found no colon"),
        (read_mrpc, b"Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t2\t3\n", "sentiment-x:2: expected 5 tab-sep"),
        (read_mrpc, b"h\th\th\th\th\nyes\t1\t2\ta\tb\n", "sentiment-x:2: field 'Quality' is not an integer: 'yes'"),
        (read_sst, b"", "sentiment-x: empty file: no sentences"),
        (read_sst, b"caf\xe9\t1\n", "sentiment-x:1: not valid UTF-8"),
    ],
)
def test_reader_errors_name_file_line_and_field(reader, content: bytes, expected: str) -> None:
    with pytest.raises(DataError) as caught:
        reader(in_memory("sentiment-x", content), "sentiment-x")
    assert expected in str(caught.value) and "\n" not in str(caught.value)


# -- the probe --------------------------------------------------------------------------------


def clusters(n_per_class: int, n_classes: int, dim: int = 8, spread: float = 0.3, seed: int = 0):
    """Gaussian blobs around distinct corners: linearly separable when ``spread`` is small."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


def test_probe_separates_separable_data() -> None:
    x, y = clusters(60, 2)
    assert inner_kfold_probe(ProbeData(x, y, 2)).accuracy == 100.0
    x, y = clusters(60, 4)
    data = ProbeData(x, y, 4)
    result = kfold_probe(data, np.arange(200), np.arange(200, 240))
    assert result.accuracy == 100.0 and result.test_predictions.tolist() == y[200:].tolist()
    split = split_probe(data, np.arange(160), np.arange(160, 200), np.arange(200, 240))
    assert split.accuracy == 100.0 and split.dev_accuracy == 100.0


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probe_reaches_scikit_learns_optimum(n_classes: int) -> None:
    # Overlapping classes, so the penalty matters; scikit-learn run to a tight tolerance is the reference.
    x, y = clusters(80, n_classes, spread=2.5, seed=1)
    data = ProbeData(x, y, n_classes)
    rows = np.arange(len(y))
    train = rows < 200
    for penalty in (0.25, 8.0):
        ours = data.fit_predict(train[None, :], [penalty])[0]
        reference = LogisticRegression(C=penalty, tol=1e-12, max_iter=100000).fit(x[train].astype(np.float64), y[train])
        assert ours.tolist() == reference.predict(x.astype(np.float64)).tolist()


def test_same_seed_same_result_and_seeds_change_folds() -> None:
    x, y = clusters(100, 2, spread=3.0, seed=2)
    data = ProbeData(x, y, 2)
    first, again = inner_kfold_probe(data, seed=1111, k=5), inner_kfold_probe(ProbeData(x, y, 2), seed=1111, k=5)
    assert first == again
    other = [kfold_probe(data, np.arange(150), np.arange(150, 200), seed=s, k=5).dev_accuracy for s in (1, 2, 3)]
    assert len(set(other)) > 1  # different seeds, different folds


def test_seed_metrics_report_main_seed_and_spread() -> None:
    results = {
        1111: ProbeResult(80.0, 79.0, (1.0, 2.0, 1.0)),
        2222: ProbeResult(81.0, 79.5, (2.0,)),
        3333: ProbeResult(82.0, 80.0, (4.0,)),
    }
    metrics = seed_metrics(results, {"f1": {1111: 70.0, 2222: 70.0, 3333: 70.0}})
    assert metrics["accuracy"] == 0.8 and metrics["dev_accuracy"] == 0.79 and metrics["penalty_c"] == 1.0
    assert metrics["accuracy_seed_3333"] == 0.82 and metrics["accuracy_mean"] == 0.81
    assert metrics["accuracy_std"] == pytest.approx(0.01) and metrics["f1_std"] == 0.0


def test_pair_features_and_f1() -> None:
    u, v = np.array([[1.0, -2.0]], dtype=np.float32), np.array([[3.0, 1.0]], dtype=np.float32)
    assert pair_features(u, v).tolist() == [[2.0, 3.0, 3.0, -2.0]]
    assert binary_f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == 50.0


# -- whole runs ---------------------------------------------------------------------------------


def test_run_mr_and_trec_with_the_hashing_encoder(capsys, fake_plugin, shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        ["run", "--encoder", "hashing", "--tasks", "mr,trec", "--data-dir", str(shared_data), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    mr = json.loads((out / "hashing" / "mr@test.json").read_text())
    trec = json.loads((out / "hashing" / "trec@test.json").read_text())
    assert mr["task"]["family"] == "classification" and mr["n_examples"] == 10662
    assert trec["n_examples"] == 500 and trec["timings"]["texts_requested"] == 5952
    for record in (mr, trec):
        metrics = record["metrics"]
        assert record["main_score"] == metrics["accuracy"] == metrics["accuracy_seed_1111"]
        assert 0.3 < metrics["accuracy"] < 1.0 and metrics["accuracy_std"] >= 0.0
        assert {f"accuracy_seed_{s}" for s in classification.SEEDS} <= set(metrics)
    assert len(mr["details"]["penalty_c_per_fold"]) == 10


# -- user folders ---------------------------------------------------------------------------------


def jsonl(rows: list[object]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def user_folder(root: Path, train: str | None = None, test: str | None = None) -> Path:
    folder = root / "probe"
    folder.mkdir(parents=True)
    words = {"sport": "match goal team player score", "food": "bread cheese soup dinner taste"}
    rows = [
        {"text": f"{words[label].split()[i % 5]} {words[label].split()[(i + 2) % 5]}", "label": label}
        for i in range(12)
        for label in words
    ]
    (folder / "train.jsonl").write_text(train if train is not None else jsonl(rows))
    (folder / "test.jsonl").write_text(test if test is not None else jsonl(rows[:6]))
    return folder


def run_user(capsys, folder: Path, tmp_path: Path) -> tuple[int, str]:
    code = main(["run", "--encoder", "hashing", "--tasks", f"classification:{folder}", "--out", str(tmp_path / "o")])
    return code, capsys.readouterr().err


def test_a_well_formed_user_folder_runs(capsys, fake_plugin, tmp_path: Path) -> None:
    code, err = run_user(capsys, user_folder(tmp_path), tmp_path)
    assert code == 0, err
    record = json.loads(next((tmp_path / "o").rglob("*@test.json")).read_text())
    assert record["n_examples"] == 6 and record["main_score"] == 1.0
    assert record["details"]["labels"] == ["food", "sport"]


def test_integer_labels_are_accepted(capsys, fake_plugin, tmp_path: Path) -> None:
    rows = [{"text": f"word{i % 3} thing{label}", "label": label} for i in range(6) for label in (3, 7)]
    code, err = run_user(capsys, user_folder(tmp_path, train=jsonl(rows), test=jsonl(rows[:4])), tmp_path)
    assert code == 0, err


@pytest.mark.parametrize(
    ("train", "test", "expected"),
    [
        ('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', None, "train.jsonl:2: invalid JSON"),
        ('{"text": "a"}\n', None, "train.jsonl:1: missing field 'label'"),
        ('{"label": "x"}\n', None, "train.jsonl:1: missing field 'text'"),
        ('{"text": 5, "label": "x"}\n', None, "train.jsonl:1: field 'text' must be a string, found int"),
        (
            '{"text": "a", "label": 1.5}\n',
            None,
            "train.jsonl:1: field 'label' must be a string or an integer, found float",
        ),
        (
            '{"text": "a", "label": "x"}\n{"text": "b", "label": 2}\n',
            None,
            "train.jsonl:2: field 'label' is int but line 1",
        ),
        ("[1, 2]\n", None, "train.jsonl:1: expected a JSON object, found list"),
        ("\n\n", None, "train.jsonl: empty file: no examples"),
        (None, "", "test.jsonl: empty file: no examples"),
        (
            None,
            '{"text": "a", "label": "sport"}\n{"text": "b", "label": "music"}\n',
            "test.jsonl:2: field 'label': 'music' does not occur in train.jsonl",
        ),
        (
            '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n',
            None,
            "train.jsonl: field 'label': only one label ('x')",
        ),
        (
            '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n{"text": "c", "label": "y"}\n',
            None,
            "train.jsonl:3: field 'label': 'y' occurs once",
        ),
    ],
)
def test_malformed_user_folder(
    capsys, fake_plugin, tmp_path: Path, train: str | None, test: str | None, expected: str
) -> None:
    code, err = run_user(capsys, user_folder(tmp_path, train=train, test=test), tmp_path)
    assert code == 1 and expected in failure_line(err)


def test_missing_user_folder_and_file(capsys, fake_plugin, tmp_path: Path) -> None:
    code = main(["run", "--encoder", "hashing", "--tasks", f"classification:{tmp_path / 'nope'}"])
    err = capsys.readouterr().err
    assert code == 1 and "nope: no such folder (classification: takes a folder" in err and err.count("\n") == 1
    folder = user_folder(tmp_path)
    (folder / "test.jsonl").unlink()
    code, err = run_user(capsys, folder, tmp_path)
    assert code == 1 and "test.jsonl: dataset file not found" in failure_line(err)
