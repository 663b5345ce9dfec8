"""Linear-probe classification: the public base :class:`ClassificationTask`, SentEval's MR, CR, SUBJ, MPQA,
SST-2, TREC and MRPC, and user folders.

Each task embeds its sentences (``TextKind.TEXT``) and trains an L2-penalised
logistic regression on the frozen embeddings, exactly as SentEval's
scikit-learn branch does (``usepytorch=False``, ``kfold=10``, seed 1111):

* MR, CR, SUBJ, MPQA (``senteval/binary.py``): nested stratified 10-fold
  cross-validation over the whole set, ``C`` in ``2**-2 .. 2**3`` chosen by the
  inner folds of each outer training part; accuracy is the mean over the outer test folds.
* SST-2 (``senteval/sst.py``): train/dev/test, ``C`` in ``2**-2 .. 2**3`` chosen on dev.
* TREC (``senteval/trec.py``): stratified 10-fold CV on train picks ``C`` in
  ``2**-1 .. 2**5``; the probe refit on all of train is scored on test (6 classes, softmax).
* MRPC (``senteval/mrpc.py``): as TREC, on the pair features ``[|u - v|, u * v]``; accuracy and F1.

Sentences are read and ordered as SentEval reads and orders them (see
``readers``), so with seed 1111 the folds are SentEval's folds.

Where this differs from SentEval, and why:

* The classifier.  SentEval's default (``usepytorch=True``) trains a linear layer
  with Adam on mini-batches of 64, weight decay in ``1e-5 .. 1e-2``, stopped early
  on held-out accuracy (the inner fold, dev, or a 5% split for refits); its result
  depends on the device, the batch order and the stopping point.  We use its
  other, deterministic branch (``senteval/tools/validation.py``, ``usepytorch=False``):
  ``LogisticRegression(C)`` with that branch's penalty grids.  The objective is
  current scikit-learn's (unpenalised intercept; softmax for TREC, where the
  liblinear default of SentEval's time penalised the intercept and used
  one-vs-rest), solved to convergence by ``linear_probe``'s batched Newton-CG
  instead of ``lbfgs`` with its defaults, which stops short (see ``linear_probe``):
  on a CR fold that moved single-fold accuracy by up to 0.27 points, less on the
  mean over folds.  With seed 1111 the folds, penalty grids, rounding and
  arg-max are SentEval's (checked against SentEval's loops written out).
* The seed.  With scikit-learn, SentEval's seed only reaches the solver (where it
  has no effect) and, for TREC and MRPC, the folds; MR, CR, SUBJ and MPQA use
  folds seeded with 1111 whatever the seed.  Here the seed seeds every fold
  splitter, so ``accuracy`` (seed 1111) is SentEval's and seeds 2222 and 3333 show
  how much the score moves with the folds.  SST-2 has no folds and its solver no
  randomness, so its three seeds agree by construction.
* Blank lines (four in CR, three in MPQA) are kept, as SentEval keeps them, and
  embedded as the empty string (what ``' '.join([])`` gives a batcher).

Metrics (:mod:`.metrics`): ``accuracy`` at SentEval's seed, its value at every
seed, mean and spread, ``dev_accuracy``, ``penalty_c``, and for MRPC ``f1``
(positive class, test) with its spread.

A new classification task is its metadata, its files and a reader returning
:class:`LabelledSplits`; :class:`ClassificationTask` embeds the texts and runs the
TREC protocol on them (``C`` by stratified cross-validation on train, then test).

``classification:/path/to/folder`` runs the TREC/MRPC protocol on a folder holding
``train.jsonl`` and ``test.jsonl`` lines of ``{"text": ..., "label": ...}`` (labels
strings or integers), with ``min(10, rarest label's count)`` folds.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    DataError,
    DataFiles,
    DatasetFile,
    EncodeFn,
    HarnessError,
    Task,
    TaskOutput,
    TaskRegister,
    TextKind,
    hookimpl,
)
from harness.task import Family, task_path

from .linear_probe import KFOLD, SENTEVAL_SEED, ProbeData, inner_kfold_probe, kfold_probe, split_probe
from .metrics import SEEDS, binary_f1, fraction, per_example, seed_details, seed_metrics
from .readers import (
    Example,
    LabelledText,
    read_labelled_jsonl,
    read_mrpc,
    read_sentence_lines,
    read_sst,
    read_trec,
    senteval_order,
    senteval_pair_order,
)

Label = str | int


@dataclass(frozen=True)
class LabelledSplits:
    """A probe's data: train texts and labels (``C`` is chosen by cross-validation on them), and test's.

    Labels are strings or integers, of one type; every test label must occur in train.
    """

    train_texts: list[str]
    train_labels: list[Label]
    test_texts: list[str]
    test_labels: list[Label]


def embed(encode: EncodeFn, texts: list[str]) -> np.ndarray:
    """Sentences as a probe sees them: symmetric ``TextKind.TEXT`` embeddings."""
    return np.asarray(encode(texts, TextKind.TEXT))


def halves(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of train (first) and test (after it) in one stacked matrix."""
    return np.arange(n_train), np.arange(n_train, n_train + n_test)


class ClassificationTask(Task):
    """Train/test texts and labels in; SentEval's linear probe (accuracy at three seeds) out.

    A subclass sets ``description``, implements ``dataset_files(split)`` and :meth:`read`, and gets
    SentEval's TREC protocol: ``C`` from ``2**-1 .. 2**5`` by stratified ``min(10, rarest label's count)``
    fold cross-validation on train, the probe refit on all of train scored on test.  SentEval's tasks with
    another protocol (nested CV, a dev split, pair features) override :meth:`evaluate` and use the same
    probes and metrics.
    """

    family: Family = "classification"
    main_metric = "accuracy"
    splits = ("test",)
    default_split = "test"

    def read(self, files: DataFiles, split: str) -> LabelledSplits:
        """The train and test texts and labels of ``split``, read through ``files`` (the default protocol's input)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither read() nor evaluate()")

    def protocol_details(self, folds: int, classes: list[Label], n_train: int) -> dict[str, Any]:
        """What ``details`` records of the protocol (a subclass may put it in its reference's words)."""
        return {
            "protocol": f"{folds}-fold stratified CV on train, then test",
            "n_train": n_train,
            "labels": [str(c) for c in classes],
        }

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        data = self.read(files, split)
        classes = self._classes(data)
        index = {label: i for i, label in enumerate(classes)}
        y_train = np.array([index[label] for label in data.train_labels], dtype=np.int64)
        y_test = np.array([index[label] for label in data.test_labels], dtype=np.int64)
        folds = min(KFOLD, int(np.bincount(y_train).min()))
        features = embed(encode, list(data.train_texts) + list(data.test_texts))
        train_rows, test_rows = halves(len(y_train), len(y_test))
        started = time.perf_counter()
        probe_data = ProbeData(features, np.concatenate([y_train, y_test]), len(classes))
        results = {seed: kfold_probe(probe_data, train_rows, test_rows, seed=seed, k=folds) for seed in SEEDS}
        details = seed_details(
            results, time.perf_counter() - started, **self.protocol_details(folds, classes, len(y_train))
        )
        return TaskOutput(
            seed_metrics(results), fraction(results[SENTEVAL_SEED].accuracy), len(y_test), details,
            per_example(results),
        )  # fmt: skip

    def _classes(self, data: LabelledSplits) -> list[Label]:
        """The train labels in sorted order, checked: two or more, each twice or more, every test label among them."""
        if len(data.train_texts) != len(data.train_labels) or len(data.test_texts) != len(data.test_labels):
            raise HarnessError(f"task {self.name!r}: the reader gave texts and labels of different lengths")
        counts = Counter(data.train_labels)
        rare = [label for label, count in counts.items() if count < 2]
        if len(counts) < 2 or rare:
            raise HarnessError(
                f"task {self.name!r}: cross-validation needs two labels or more in train, each twice or more "
                f"(labels: {len(counts)}; seen once: {rare[:3]})"
            )
        unknown = sorted({str(label) for label in data.test_labels if label not in counts})
        if unknown:
            raise HarnessError(f"task {self.name!r}: test label(s) {unknown[:3]} do not occur in train")
        return sorted(counts)


class _FilesTask(ClassificationTask):
    """A task whose ``test`` split reads a fixed list of files."""

    def __init__(self, description: str, files: list[DatasetFile]) -> None:
        self.description = description
        self._files = files

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return list(self._files)

    def _path(self, index: int) -> str:
        return self._files[index].path


class BinaryCrossValidationTask(_FilesTask):
    """MR, CR, SUBJ, MPQA: two files of one sentence per line, label 1 for the first (SentEval's ``pos``)."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """SentEval's nested 10-fold cross-validation over the whole set (no train/test split)."""
        first = read_sentence_lines(files, self._path(0), 1)
        second = read_sentence_lines(files, self._path(1), 0)
        examples = senteval_order(first + second)
        features = embed(encode, [e.text for e in examples])
        labels = np.array([e.label for e in examples])
        started = time.perf_counter()
        data = ProbeData(features, labels, 2)
        results = {seed: inner_kfold_probe(data, seed=seed) for seed in SEEDS}
        details = seed_details(results, time.perf_counter() - started, protocol="nested stratified 10-fold CV")
        details["penalty_c_per_fold"] = list(results[SENTEVAL_SEED].penalties)
        return TaskOutput(
            seed_metrics(results),
            fraction(results[SENTEVAL_SEED].accuracy),
            len(examples),
            details,
            per_example(results),
        )


class SstTask(_FilesTask):
    """SST-2: train, dev, test files; C on dev; no random element."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """SentEval's split protocol: ``C`` by accuracy on dev, the probe trained on train scored on test."""
        parts = [senteval_order(read_sst(files, self._path(i))) for i in range(3)]
        features = embed(encode, [e.text for part in parts for e in part])
        labels = np.array([e.label for part in parts for e in part])
        bounds = np.cumsum([0] + [len(part) for part in parts])
        train, dev, test = (np.arange(bounds[i], bounds[i + 1]) for i in range(3))
        started = time.perf_counter()
        result = split_probe(ProbeData(features, labels, 2), train, dev, test)
        results = dict.fromkeys(SEEDS, result)
        details = seed_details(
            results,
            time.perf_counter() - started,
            protocol="train/dev/test, C on dev (no random element: seeds agree)",
            n_train=len(parts[0]),
            n_dev=len(parts[1]),
        )
        return TaskOutput(
            seed_metrics(results), fraction(result.accuracy), len(parts[2]), details, per_example(results)
        )


def _texts_and_labels(examples: Sequence[Example]) -> tuple[list[str], list[Label]]:
    return [e.text for e in examples], [e.label for e in examples]


class TrecTask(_FilesTask):
    """TREC: 10-fold CV on train for C, then test; six coarse classes (the base's protocol)."""

    def read(self, files: DataFiles, split: str) -> LabelledSplits:
        train_texts, train_labels = _texts_and_labels(senteval_order(read_trec(files, self._path(0))))
        test_texts, test_labels = _texts_and_labels(senteval_order(read_trec(files, self._path(1))))
        return LabelledSplits(train_texts, train_labels, test_texts, test_labels)

    def protocol_details(self, folds: int, classes: list[Label], n_train: int) -> dict[str, Any]:
        return {"protocol": f"{folds}-fold CV on train, then test", "n_train": n_train}


def pair_features(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """SentEval's MRPC features ``np.c_[|u - v|, u * v]``, computed in the embeddings' own precision."""
    return np.concatenate([np.abs(left - right), left * right], axis=1)


class MrpcTask(_FilesTask):
    """MRPC: pair features, 10-fold CV on train for C, then test; accuracy and F1."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """The base's protocol on the pair features ``[|u - v|, u * v]``, with the positive class's F1."""
        train = senteval_pair_order(read_mrpc(files, self._path(0)))
        test = senteval_pair_order(read_mrpc(files, self._path(1)))
        pairs = train + test
        texts = [p.text_a for p in pairs] + [p.text_b for p in pairs]
        embedded = embed(encode, texts)
        features = pair_features(embedded[: len(pairs)], embedded[len(pairs) :])
        labels = np.array([p.label for p in pairs], dtype=np.int64)
        train_rows, test_rows = halves(len(train), len(test))
        started = time.perf_counter()
        data = ProbeData(features, labels, 2)
        results = {seed: kfold_probe(data, train_rows, test_rows, seed=seed) for seed in SEEDS}
        f1: dict[int, float] = {}
        for seed, result in results.items():
            assert result.test_predictions is not None  # kfold_probe always keeps its test predictions
            f1[seed] = binary_f1(result.test_predictions, labels[test_rows])
        details = seed_details(
            results, time.perf_counter() - started, protocol="10-fold CV on train, then test", n_train=len(train)
        )
        return TaskOutput(
            seed_metrics(results, {"f1": f1}), fraction(results[SENTEVAL_SEED].accuracy), len(test), details,
            per_example(results),
        )  # fmt: skip


class UserFolderTask(_FilesTask):
    """``classification:<folder>``: train.jsonl and test.jsonl; C by stratified CV on train, accuracy on test."""

    def read(self, files: DataFiles, split: str) -> LabelledSplits:
        train_path, test_path = self._path(0), self._path(1)
        train = read_labelled_jsonl(files, train_path)
        test = read_labelled_jsonl(files, test_path)
        known = _checked_labels(train, files.label(train_path))
        for example in test:
            if example.label not in known:
                raise DataError(files.label(test_path), _unknown_label(example.label, known), line=example.line)
        return LabelledSplits(
            [e.text for e in train], [e.label for e in train], [e.text for e in test], [e.label for e in test]
        )


def _unknown_label(label: Label, known: set[Label]) -> str:
    """Why a test label is not among train's: absent, or of the other type (``1`` is not ``"1"`` in JSON).

    Each file's labels are of one type (:func:`read_labelled_jsonl`), so a type that
    differs from train's is the reason every test label is unknown, and says so.
    """
    train_label = next(iter(known))
    if type(label) is type(train_label):
        return f"field 'label': {label!r} does not occur in train.jsonl"
    kinds = {str: ("a string", "strings"), int: ("an integer", "integers")}
    there = next((f" ({k!r} is there)" for k in known if str(k) == str(label)), "")
    return (
        f"field 'label': {label!r} ({kinds[type(label)][0]}) does not occur in train.jsonl, whose labels are "
        f"{kinds[type(train_label)][1]}{there}: labels must have the same type in both files"
    )


def _checked_labels(train: list[LabelledText], source: str) -> set[Label]:
    """The train labels: at least two, each on at least two lines (cross-validation needs them), else the line."""
    counts = Counter(e.label for e in train)
    if len(counts) < 2:
        raise DataError(source, f"field 'label': only one label ({next(iter(counts))!r}); a classifier needs two")
    for label, count in counts.items():
        if count < 2:
            line = next(e.line for e in train if e.label == label)
            raise DataError(
                source, f"field 'label': {label!r} occurs once; cross-validation needs two of each", line=line
            )
    return set(counts)


# ---------------------------------------------------------------------------------------------
# The datasets (shared/data layout; each file's sha256 is the registry's, plugins/datasets/senteval.toml)
# ---------------------------------------------------------------------------------------------

SENTEVAL_FILES = {
    "mr": [
        DatasetFile("mr/rt-polarity.pos", dataset="mr"),
        DatasetFile("mr/rt-polarity.neg", dataset="mr"),
    ],
    "cr": [
        DatasetFile("cr/custrev.pos", dataset="cr"),
        DatasetFile("cr/custrev.neg", dataset="cr"),
    ],
    "subj": [
        # SentEval's SUBJEval passes the objective file as ``pos`` (label 1).
        DatasetFile("subj/subj.objective", dataset="subj"),
        DatasetFile("subj/subj.subjective", dataset="subj"),
    ],
    "mpqa": [
        DatasetFile("mpqa/mpqa.pos", dataset="mpqa"),
        DatasetFile("mpqa/mpqa.neg", dataset="mpqa"),
    ],
    "sst2": [
        DatasetFile("sst2/sentiment-train", dataset="sst2"),
        DatasetFile("sst2/sentiment-dev", dataset="sst2"),
        DatasetFile("sst2/sentiment-test", dataset="sst2"),
    ],
    "trec": [
        DatasetFile("trec/train_5500.label", dataset="trec"),
        DatasetFile("trec/TREC_10.label", dataset="trec"),
    ],
    "mrpc": [
        DatasetFile("mrpc/msr_paraphrase_train.txt", dataset="mrpc"),
        DatasetFile("mrpc/msr_paraphrase_test.txt", dataset="mrpc"),
    ],
}

DESCRIPTIONS = {
    "mr": "MR movie-review polarity (Pang & Lee, 2005), 10662 sentences; SentEval nested 10-fold CV.",
    "cr": "CR product-review polarity (Hu & Liu, 2004), 3775 sentences; SentEval nested 10-fold CV.",
    "subj": "SUBJ subjectivity (Pang & Lee, 2004), 10000 sentences; SentEval nested 10-fold CV.",
    "mpqa": "MPQA opinion polarity (Wiebe et al., 2005), 10606 phrases; SentEval nested 10-fold CV.",
    "sst2": "SST-2 binary sentiment (Socher et al., 2013): train 67349, dev 872, test 1821; C on dev.",
    "trec": "TREC question type (Li & Roth, 2002), 6 classes: train 5452, test 500; C by 10-fold CV on train.",
    "mrpc": "MRPC paraphrase (Dolan et al., 2004): train 4076, test 1725 pairs, features [|u-v|, u*v]; "
    "C by 10-fold CV on train; accuracy and F1.",
}

TASK_TYPES: dict[str, type[_FilesTask]] = {
    "mr": BinaryCrossValidationTask,
    "cr": BinaryCrossValidationTask,
    "subj": BinaryCrossValidationTask,
    "mpqa": BinaryCrossValidationTask,
    "sst2": SstTask,
    "trec": TrecTask,
    "mrpc": MrpcTask,
}


def senteval_task(name: str) -> Callable[[], ClassificationTask]:
    def build() -> ClassificationTask:
        return TASK_TYPES[name](DESCRIPTIONS[name], SENTEVAL_FILES[name])

    return build


def user_folder(argument: str) -> UserFolderTask:
    folder = Path(argument).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "no such folder (classification: takes a folder with train.jsonl and test.jsonl)")
    root = task_path(folder)
    return UserFolderTask(
        f"linear probe on {root}: C by stratified CV on train.jsonl, accuracy on test.jsonl",
        [DatasetFile(f"{root}/train.jsonl"), DatasetFile(f"{root}/test.jsonl")],
    )


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    for name in TASK_TYPES:
        register(name, senteval_task(name), DESCRIPTIONS[name].split(";")[0] + ", linear-probe accuracy")
    register("classification:", user_folder, "linear probe on a folder with train.jsonl and test.jsonl")
