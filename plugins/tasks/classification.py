"""Linear-probe classification: SentEval's MR, CR, SUBJ, MPQA, SST-2, TREC and MRPC, and user folders.

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
``senteval_files``), so with seed 1111 the folds are SentEval's folds.

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

Metrics: ``accuracy`` (seed 1111, SentEval's rounding: percent to two decimals,
divided by 100), ``accuracy_seed_<s>``, ``accuracy_mean`` and ``accuracy_std``
(sample standard deviation over the seeds), ``dev_accuracy`` (SentEval's
``devacc``), ``penalty_c`` (the chosen ``C``; for nested CV the most frequent of
the outer folds' choices), and for MRPC ``f1`` (positive class, test) with its
spread.

``classification:/path/to/folder`` runs the TREC/MRPC protocol on a folder holding
``train.jsonl`` and ``test.jsonl`` lines of ``{"text": ..., "label": ...}`` (labels
strings or integers), with ``min(10, rarest label's count)`` folds.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness import DataError, DataFiles, DatasetFile, EncodeFn, PerExample, Task, TaskOutput, TextKind, hookimpl
from harness.task import task_path

from .linear_probe import KFOLD, SENTEVAL_SEED, ProbeData, ProbeResult, inner_kfold_probe, kfold_probe, split_probe
from .senteval_files import (
    TREC_CLASSES,
    Example,
    read_labelled_jsonl,
    read_mrpc,
    read_sentence_lines,
    read_sst,
    read_trec,
    senteval_order,
    senteval_pair_order,
)

SEEDS: tuple[int, ...] = (SENTEVAL_SEED, 2222, 3333)
"""The first is SentEval's default and gives the main score; the others measure the spread."""


def _fraction(percent: float) -> float:
    return round(percent / 100.0, 6)


def _most_frequent(values: tuple[float, ...]) -> float:
    """The most frequent choice; on a tie the smallest C, as SentEval's arg-max prefers it."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def seed_metrics(results: dict[int, ProbeResult], extra: dict[str, dict[int, float]] | None = None) -> dict[str, float]:
    """Main-seed metrics plus per-seed values, mean and sample std of accuracy (and of any ``extra`` metric)."""
    main = results[SENTEVAL_SEED]
    metrics = {
        "accuracy": _fraction(main.accuracy),
        "dev_accuracy": _fraction(main.dev_accuracy),
        "penalty_c": _most_frequent(main.penalties),
    }
    series = {"accuracy": {seed: r.accuracy for seed, r in results.items()}} | (extra or {})
    for name, by_seed in series.items():
        values = [_fraction(by_seed[seed]) for seed in SEEDS]
        metrics[name] = _fraction(by_seed[SENTEVAL_SEED])
        for seed, value in zip(SEEDS, values, strict=True):
            metrics[f"{name}_seed_{seed}"] = value
        metrics[f"{name}_mean"] = round(float(np.mean(values)), 6)
        metrics[f"{name}_std"] = round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else 0.0
    return metrics


def _per_example(results: dict[int, ProbeResult]) -> PerExample | None:
    """Correctness of each test example at SentEval's seed (the main score's seed)."""
    correct = results[SENTEVAL_SEED].correct
    return None if correct is None else PerExample.scores(correct.astype(np.float64))


def seed_details(results: dict[int, ProbeResult], seconds: float, **more: Any) -> dict[str, Any]:
    """What the metrics leave out: every chosen C per seed and the probe's own time."""
    return {
        "seeds": list(SEEDS),
        "penalty_c_by_seed": {str(seed): list(r.penalties) for seed, r in results.items()},
        "probe_seconds": round(seconds, 3),
        **more,
    }


class ClassificationTask(Task):
    """A linear-probe task; subclasses read their files and pick SentEval's protocol."""

    family = "classification"
    main_metric = "accuracy"
    splits = ("test",)
    default_split = "test"

    def __init__(self, description: str, files: list[DatasetFile]) -> None:
        self.description = description
        self._files = files

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return list(self._files)

    def _path(self, index: int) -> str:
        return self._files[index].path

    @abstractmethod
    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput: ...


def _embed(encode: EncodeFn, texts: list[str]) -> np.ndarray:
    return np.asarray(encode(texts, TextKind.TEXT))


class BinaryCrossValidationTask(ClassificationTask):
    """MR, CR, SUBJ, MPQA: two files of one sentence per line, label 1 for the first (SentEval's ``pos``)."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        first = read_sentence_lines(files, self._path(0), 1)
        second = read_sentence_lines(files, self._path(1), 0)
        examples = senteval_order(first + second)
        features = _embed(encode, [e.text for e in examples])
        labels = np.array([e.label for e in examples])
        started = time.perf_counter()
        data = ProbeData(features, labels, 2)
        results = {seed: inner_kfold_probe(data, seed=seed) for seed in SEEDS}
        details = seed_details(results, time.perf_counter() - started, protocol="nested stratified 10-fold CV")
        details["penalty_c_per_fold"] = list(results[SENTEVAL_SEED].penalties)
        return TaskOutput(
            seed_metrics(results),
            _fraction(results[SENTEVAL_SEED].accuracy),
            len(examples),
            details,
            _per_example(results),
        )


class SstTask(ClassificationTask):
    """SST-2: train, dev, test files; C on dev; no random element."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        parts = [senteval_order(read_sst(files, self._path(i))) for i in range(3)]
        features = _embed(encode, [e.text for part in parts for e in part])
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
            seed_metrics(results), _fraction(result.accuracy), len(parts[2]), details, _per_example(results)
        )


def _labelled(examples: list[Example]) -> tuple[list[str], np.ndarray]:
    return [e.text for e in examples], np.array([e.label for e in examples], dtype=np.int64)


class TrecTask(ClassificationTask):
    """TREC: 10-fold CV on train for C, then test; six coarse classes."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        train_texts, train_labels = _labelled(senteval_order(read_trec(files, self._path(0))))
        test_texts, test_labels = _labelled(senteval_order(read_trec(files, self._path(1))))
        features = _embed(encode, train_texts + test_texts)
        train, test = _halves(len(train_texts), len(test_texts))
        started = time.perf_counter()
        data = ProbeData(features, np.concatenate([train_labels, test_labels]), len(TREC_CLASSES))
        results = {seed: kfold_probe(data, train, test, seed=seed) for seed in SEEDS}
        details = seed_details(
            results, time.perf_counter() - started, protocol="10-fold CV on train, then test", n_train=len(train_texts)
        )
        return TaskOutput(
            seed_metrics(results), _fraction(results[SENTEVAL_SEED].accuracy), len(test_texts), details,
            _per_example(results),
        )  # fmt: skip


def _halves(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of train (first) and test (after it) in one stacked matrix."""
    return np.arange(n_train), np.arange(n_train, n_train + n_test)


def pair_features(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """SentEval's MRPC features ``np.c_[|u - v|, u * v]``, computed in the embeddings' own precision."""
    return np.concatenate([np.abs(left - right), left * right], axis=1)


def binary_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class in percent, two decimals (``round(100 * f1_score(y, yhat), 2)``)."""
    true_positive = float(np.sum((predictions == 1) & (labels == 1)))
    predicted, actual = float(np.sum(predictions == 1)), float(np.sum(labels == 1))
    f1 = 0.0 if predicted + actual == 0 else 2 * true_positive / (predicted + actual)
    return float(np.round(100 * f1, 2))


class MrpcTask(ClassificationTask):
    """MRPC: pair features, 10-fold CV on train for C, then test; accuracy and F1."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        train = senteval_pair_order(read_mrpc(files, self._path(0)))
        test = senteval_pair_order(read_mrpc(files, self._path(1)))
        pairs = train + test
        texts = [p.text_a for p in pairs] + [p.text_b for p in pairs]
        embedded = _embed(encode, texts)
        features = pair_features(embedded[: len(pairs)], embedded[len(pairs) :])
        labels = np.array([p.label for p in pairs], dtype=np.int64)
        train_rows, test_rows = _halves(len(train), len(test))
        started = time.perf_counter()
        data = ProbeData(features, labels, 2)
        results = {seed: kfold_probe(data, train_rows, test_rows, seed=seed) for seed in SEEDS}
        f1 = {seed: binary_f1(r.test_predictions, labels[test_rows]) for seed, r in results.items()}
        details = seed_details(
            results, time.perf_counter() - started, protocol="10-fold CV on train, then test", n_train=len(train)
        )
        return TaskOutput(
            seed_metrics(results, {"f1": f1}), _fraction(results[SENTEVAL_SEED].accuracy), len(test), details,
            _per_example(results),
        )  # fmt: skip


class UserFolderTask(ClassificationTask):
    """``classification:<folder>``: train.jsonl and test.jsonl; C by stratified CV on train, accuracy on test."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        train_path, test_path = self._path(0), self._path(1)
        train = read_labelled_jsonl(files, train_path)
        test = read_labelled_jsonl(files, test_path)
        classes = _classes(train, files.label(train_path))
        index = {label: i for i, label in enumerate(classes)}
        for example in test:
            if example.label not in index:
                raise DataError(
                    files.label(test_path),
                    f"field 'label': {example.label!r} does not occur in train.jsonl",
                    line=example.line,
                )
        y_train = np.array([index[e.label] for e in train], dtype=np.int64)
        y_test = np.array([index[e.label] for e in test], dtype=np.int64)
        folds = min(KFOLD, int(np.bincount(y_train).min()))
        features = _embed(encode, [e.text for e in train] + [e.text for e in test])
        train_rows, test_rows = _halves(len(train), len(test))
        started = time.perf_counter()
        data = ProbeData(features, np.concatenate([y_train, y_test]), len(classes))
        results = {seed: kfold_probe(data, train_rows, test_rows, seed=seed, k=folds) for seed in SEEDS}
        details = seed_details(
            results,
            time.perf_counter() - started,
            protocol=f"{folds}-fold stratified CV on train, then test",
            n_train=len(train),
            labels=[str(c) for c in classes],
        )
        return TaskOutput(
            seed_metrics(results), _fraction(results[SENTEVAL_SEED].accuracy), len(test), details, _per_example(results)
        )


def _classes(train: list[Any], source: str) -> list[str | int]:
    """The train labels in sorted order; at least two, each on at least two lines (cross-validation needs them)."""
    counts = Counter(e.label for e in train)
    if len(counts) < 2:
        raise DataError(source, f"field 'label': only one label ({next(iter(counts))!r}); a classifier needs two")
    for label, count in counts.items():
        if count < 2:
            line = next(e.line for e in train if e.label == label)
            raise DataError(
                source, f"field 'label': {label!r} occurs once; cross-validation needs two of each", line=line
            )
    return sorted(counts)


# ---------------------------------------------------------------------------------------------
# The datasets (shared/data layout; sha256 from its SHA256SUMS)
# ---------------------------------------------------------------------------------------------

SENTEVAL_FILES = {
    "mr": [
        DatasetFile("mr/rt-polarity.pos", "34e5b0da2d491e46b700b00afe735aaae0962bcfe4f7f22b2d8077e714fa370f"),
        DatasetFile("mr/rt-polarity.neg", "c4ac36eaa8adc8ee31c31f69594bfbe68d83ef5b6db53f1f19b28c0be52f3999"),
    ],
    "cr": [
        DatasetFile("cr/custrev.pos", "91a20a4ffeb5d38a39a4087bb247e16538aff21e7d621ae59738379f39f21732"),
        DatasetFile("cr/custrev.neg", "ec94532766f6f962094841ab3bee2ad6f232f996c3756825a91e78bcc294750f"),
    ],
    "subj": [
        # SentEval's SUBJEval passes the objective file as ``pos`` (label 1).
        DatasetFile("subj/subj.objective", "d8ccd43f1674f1c17e4ab717564e3561cfb719b0db4cfb19e5677427c68ff8a1"),
        DatasetFile("subj/subj.subjective", "274c2ffe59c204dc4df779848561786f59a98cc20dda3cfdd7d9f76a4f730710"),
    ],
    "mpqa": [
        DatasetFile("mpqa/mpqa.pos", "7487dbb74c77383e60b292845495163a9e21fb70a4fdacdda933413e43163f0d"),
        DatasetFile("mpqa/mpqa.neg", "8da6e035fa4cea02f0555091096b29a6b3995ff0adf41fad25008dcee066b79e"),
    ],
    "sst2": [
        DatasetFile("sst2/sentiment-train", "10a92a297ec38e262386e5a2713b4bc70e5d18ced88b7f54bd171a26e5b34ab5"),
        DatasetFile("sst2/sentiment-dev", "9a6c7403b71a9b762158387afe4431253ae10cdfb2319b5275289f3766f48291"),
        DatasetFile("sst2/sentiment-test", "4fefd1cd67526cf87ebc7fafc3afc21cc7cfa6ae53b45e74f77f9456e3c62752"),
    ],
    "trec": [
        DatasetFile("trec/train_5500.label", "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3"),
        DatasetFile("trec/TREC_10.label", "86ad53c8fc9d397ab2f4be7c967d8efb470b260140557d3e57afad69d1b88b76"),
    ],
    "mrpc": [
        DatasetFile(
            "mrpc/msr_paraphrase_train.txt", "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89"
        ),
        DatasetFile("mrpc/msr_paraphrase_test.txt", "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784"),
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

TASK_TYPES: dict[str, type[ClassificationTask]] = {
    "mr": BinaryCrossValidationTask,
    "cr": BinaryCrossValidationTask,
    "subj": BinaryCrossValidationTask,
    "mpqa": BinaryCrossValidationTask,
    "sst2": SstTask,
    "trec": TrecTask,
    "mrpc": MrpcTask,
}


def senteval_task(name: str) -> Callable[[str | None], ClassificationTask]:
    def build(_argument: str | None) -> ClassificationTask:
        return TASK_TYPES[name](DESCRIPTIONS[name], SENTEVAL_FILES[name])

    return build


def user_folder(argument: str | None) -> UserFolderTask:
    assert argument is not None
    folder = Path(argument).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "no such folder (classification: takes a folder with train.jsonl and test.jsonl)")
    root = task_path(folder)
    return UserFolderTask(
        f"linear probe on {root}: C by stratified CV on train.jsonl, accuracy on test.jsonl",
        [DatasetFile(f"{root}/train.jsonl"), DatasetFile(f"{root}/test.jsonl")],
    )


@hookimpl
def harness_register_tasks(register: Any) -> None:
    for name in TASK_TYPES:
        register(name, senteval_task(name), DESCRIPTIONS[name].split(";")[0] + ", linear-probe accuracy")
    register("classification:", user_folder, "linear probe on a folder with train.jsonl and test.jsonl")
