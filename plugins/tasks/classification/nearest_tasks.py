"""The paper's Table 3 tasks: zero-shot and k-NN classification, for SentEval's tasks and a user's folder.

Three variants of each single-text classification task (MR, CR, SUBJ, MPQA, SST-2, TREC and
``classification:`` folders; MRPC classifies pairs, which neither method defines), named by a suffix:

* ``<task>-zeroshot``: each class embedded from its label text;
* ``<task>-zeroshot-prompt``: from the label text put in the task's prompt template;
* ``<task>-knn``: the majority label of the 256 nearest training examples.

``sst2-zeroshot``, ``sst2-zeroshot-prompt`` and ``sst2-knn`` are the paper's rows (label words ``negative`` /
``positive``, the template ``this is an example of a {label} movie review``; section 4.1.2).  The other tasks'
label words and templates are ours (:data:`LABEL_TEXTS`) and say so in their descriptions.  The scoring rules,
ties included, are :mod:`.nearest`'s.

What is scored and what votes follows each task's linear-probe protocol: SST-2 scores its test split (train's
67349 sentences vote; dev is not used), TREC its test split (train votes), a user's folder ``test.jsonl``
(``train.jsonl`` votes).  MR, CR, SUBJ and MPQA have no split: zero-shot scores every sentence, and k-NN scores
each sentence with the other nine folds of SentEval's outer stratified 10-fold split (seed 1111) voting.

A user's folder may hold ``labels.json`` beside its two files: ``{"labels": {"<label>": "<text>", ...},
"prompt": "... {label} ..."}``, both keys optional (keys are the labels as written in the JSON lines, so an
integer label ``1`` is the key ``"1"``).  Without label texts a label's own value is its text; without a prompt,
``classification-zeroshot-prompt:`` is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness import (
    DataError,
    DataFiles,
    DatasetFile,
    EncodeFn,
    HarnessError,
    PerExample,
    TaskOutput,
    TaskRegister,
    TextKind,
    hookimpl,
)
from harness.task import Family, task_path

from .linear_probe import KFOLD, SENTEVAL_SEED, stratified_folds
from .metrics import fraction
from .nearest import K_NEIGHBOURS, Predictions, details_of, nearest_neighbours, zero_shot
from .readers import TREC_CLASSES, read_sentence_lines, read_sst, read_trec, senteval_order
from .tasks import (
    DESCRIPTIONS,
    SENTEVAL_FILES,
    ClassificationTask,
    Label,
    _checked_labels,
    _unknown_label,
    embed,
    read_labelled_jsonl,
)

Method = Literal["zeroshot", "zeroshot-prompt", "knn"]
METHODS: dict[Method, str] = {
    "zeroshot": "zero-shot from label texts",
    "zeroshot-prompt": "zero-shot from label texts in a prompt",
    "knn": f"k-NN (k = {K_NEIGHBOURS}, cosine)",
}
LABEL_PLACE = "{label}"


@dataclass(frozen=True)
class LabelTexts:
    """What each class is embedded from: a text per label, and a template holding ``{label}`` once."""

    texts: dict[Label, str]
    prompt: str | None
    source: str
    """Where the texts come from, for the result's details."""

    def for_classes(self, classes: list[Label], prompted: bool) -> list[str]:
        words = [self.texts.get(label, str(label)) for label in classes]
        if not prompted:
            return words
        assert self.prompt is not None  # checked where the texts are read
        return [self.prompt.replace(LABEL_PLACE, word) for word in words]


MOVIE = "this is an example of a {label} movie review"
LABEL_TEXTS: dict[str, LabelTexts] = {
    "sst2": LabelTexts({0: "negative", 1: "positive"}, MOVIE, "the cpt paper, section 4.1.2"),
    "mr": LabelTexts({0: "negative", 1: "positive"}, MOVIE, "harness (the paper's SST-2 words: MR is movie reviews)"),
    "cr": LabelTexts(
        {0: "negative", 1: "positive"}, "this is an example of a {label} product review", "harness (not the paper's)"
    ),
    "mpqa": LabelTexts(
        {0: "negative", 1: "positive"}, "this is an example of a {label} opinion", "harness (not the paper's)"
    ),
    "subj": LabelTexts({1: "objective", 0: "subjective"}, "this sentence is {label}", "harness (not the paper's)"),
    "trec": LabelTexts(
        dict(enumerate(("abbreviation", "description", "entity", "human", "location", "number"))),
        "this question asks for a {label}",
        "harness (not the paper's; classes in SentEval's order " + ", ".join(TREC_CLASSES) + ")",
    ),
}


@dataclass(frozen=True)
class ScoredSet:
    """Texts with their class (an index into ``classes``, the sorted labels) and the (voting, scored) row pairs."""

    texts: list[str]
    labels: np.ndarray
    classes: list[Label]
    folds: list[tuple[np.ndarray, np.ndarray]]

    @property
    def scored(self) -> np.ndarray:
        return np.sort(np.concatenate([test for _, test in self.folds]))


SetReader = Callable[[DataFiles, list[DatasetFile]], ScoredSet]


def _split_set(train: list[Any], test: list[Any], classes: list[Label], label_of: Callable[[Any], Label]) -> ScoredSet:
    index = {label: i for i, label in enumerate(classes)}
    examples = train + test
    labels = np.array([index[label_of(e)] for e in examples], dtype=np.int64)
    rows = np.arange(len(examples))
    return ScoredSet([e.text for e in examples], labels, classes, [(rows[: len(train)], rows[len(train) :])])


def binary_cv_set(files: DataFiles, paths: list[DatasetFile]) -> ScoredSet:
    """MR, CR, SUBJ, MPQA in SentEval's order, with SentEval's outer folds (seed 1111)."""
    examples = senteval_order(
        read_sentence_lines(files, paths[0].path, 1) + read_sentence_lines(files, paths[1].path, 0)
    )
    labels = np.array([e.label for e in examples], dtype=np.int64)
    folds = stratified_folds(np.arange(len(examples)), labels, KFOLD, SENTEVAL_SEED)
    return ScoredSet([e.text for e in examples], labels, [0, 1], folds)


def sst_set(files: DataFiles, paths: list[DatasetFile]) -> ScoredSet:
    """SST-2: train votes, test is scored (dev unused)."""
    train, test = (senteval_order(read_sst(files, paths[i].path)) for i in (0, 2))
    return _split_set(train, test, [0, 1], lambda e: e.label)


def trec_set(files: DataFiles, paths: list[DatasetFile]) -> ScoredSet:
    train, test = (senteval_order(read_trec(files, paths[i].path)) for i in (0, 1))
    return _split_set(train, test, list(range(len(TREC_CLASSES))), lambda e: e.label)


def user_set(files: DataFiles, paths: list[DatasetFile]) -> ScoredSet:
    """A ``classification:`` folder: train.jsonl votes, test.jsonl is scored (labels checked as the probe checks)."""
    train = read_labelled_jsonl(files, paths[0].path)
    test = read_labelled_jsonl(files, paths[1].path)
    known = _checked_labels(train, files.label(paths[0].path))
    for example in test:
        if example.label not in known:
            raise DataError(files.label(paths[1].path), _unknown_label(example.label, known), line=example.line)
    return _split_set(train, test, sorted(known), lambda e: e.label)


READERS: dict[str, SetReader] = {
    "mr": binary_cv_set,
    "cr": binary_cv_set,
    "subj": binary_cv_set,
    "mpqa": binary_cv_set,
    "sst2": sst_set,
    "trec": trec_set,
}


def read_label_file(files: DataFiles, path: str, classes: list[Label]) -> LabelTexts:
    """A folder's ``labels.json``, checked: an object with optional ``labels`` (label -> text) and ``prompt``."""
    source = files.label(path)
    try:
        record = json.loads(files.text(path).lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise DataError(source, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
    if not isinstance(record, dict) or set(record) - {"labels", "prompt"}:
        raise DataError(source, 'expected an object with "labels" (label -> text) and/or "prompt" ("... {label} ...")')
    texts = record.get("labels", {})
    if not isinstance(texts, dict) or not all(isinstance(t, str) and t.strip() for t in texts.values()):
        raise DataError(source, 'field "labels": expected an object of label -> non-empty text')
    by_name = {str(label): label for label in classes}
    unknown = sorted(set(texts) - set(by_name))
    if unknown:
        raise DataError(
            source, f'field "labels": {unknown[0]!r} is no label of train.jsonl (labels: {sorted(by_name)})'
        )
    prompt = record.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or prompt.count(LABEL_PLACE) != 1):
        raise DataError(source, f'field "prompt": expected a text holding {LABEL_PLACE} once')
    return LabelTexts({by_name[key]: text for key, text in texts.items()}, prompt, source)


class NearestTask(ClassificationTask):
    """One task's zero-shot or k-NN variant: the same files as its probe, accuracy as the main metric.

    Its own family, so the leaderboard gives these their own table and average instead of mixing them into the
    linear probes' (the paper's Table 3 beside Table 2).
    """

    family: Family = "zero-shot"

    def __init__(
        self,
        description: str,
        files: list[DatasetFile],
        method: Method,
        reader: SetReader,
        label_texts: LabelTexts | None,
    ) -> None:
        self.description = description
        self._files = files
        self.method = method
        self._reader = reader
        self._label_texts = label_texts
        """None: the folder's labels.json (the last file, when there is one), or the labels themselves."""

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return list(self._files)

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        data = self._reader(files, self._files)
        scored = data.scored
        if self.method == "knn":
            predictions, settings = self._knn(encode, data)
        else:
            predictions, settings = self._zero_shot(encode, files, data, scored)
        correct = predictions.classes == data.labels[scored]
        accuracy = fraction(100.0 * float(np.mean(correct)))
        details = details_of(predictions, self.method, n_scored=len(scored), **settings)
        return TaskOutput(
            {"accuracy": accuracy}, accuracy, len(scored), details, PerExample.scores(correct.astype(np.float64))
        )

    def _zero_shot(
        self, encode: EncodeFn, files: DataFiles, data: ScoredSet, scored: np.ndarray
    ) -> tuple[Predictions, dict[str, Any]]:
        label_texts = self._label_texts or self._folder_label_texts(files, data.classes)
        prompted = self.method == "zeroshot-prompt"
        if prompted and label_texts.prompt is None:
            raise HarnessError(
                f'task {self.name!r}: no prompt template (put "prompt": "... {LABEL_PLACE} ..." in labels.json)'
            )
        class_texts = label_texts.for_classes(data.classes, prompted)
        vectors = embed(encode, [data.texts[i] for i in scored] + class_texts)
        predictions = zero_shot(vectors[: len(scored)], vectors[len(scored) :])
        settings = {"class_texts": dict(zip(map(str, data.classes), class_texts, strict=True))}
        return predictions, settings | {"class_texts_from": label_texts.source, "text_kind": TextKind.TEXT.value}

    def _knn(self, encode: EncodeFn, data: ScoredSet) -> tuple[Predictions, dict[str, Any]]:
        vectors = embed(encode, data.texts)
        predicted = np.empty(len(data.texts), dtype=np.int64)
        ties = summed = 0
        for voting, test in data.folds:
            fold = nearest_neighbours(vectors[test], vectors[voting], data.labels[voting], len(data.classes))
            predicted[test] = fold.classes
            ties, summed = ties + fold.ties, summed + fold.summed_ties
        k_used = sorted({min(K_NEIGHBOURS, len(voting)) for voting, _ in data.folds})
        settings = {"k": K_NEIGHBOURS, "k_used": k_used, "folds": len(data.folds), "text_kind": TextKind.TEXT.value}
        return Predictions(predicted[data.scored], ties, summed), settings

    def _folder_label_texts(self, files: DataFiles, classes: list[Label]) -> LabelTexts:
        last = self._files[-1].path
        if Path(last).name == LABEL_FILE:
            return read_label_file(files, last, classes)
        return LabelTexts({}, None, "the labels themselves (no labels.json)")


LABEL_FILE = "labels.json"


def senteval_variant(name: str, method: Method) -> Callable[[], NearestTask]:
    def build() -> NearestTask:
        base = DESCRIPTIONS[name].split(";")[0]
        source = LABEL_TEXTS[name].source
        about = METHODS[method] + ("" if method == "knn" else f"; label texts: {source}")
        return NearestTask(f"{base}; {about}", SENTEVAL_FILES[name], method, READERS[name], LABEL_TEXTS[name])

    return build


def folder_variant(method: Method) -> Callable[[str], NearestTask]:
    def build(argument: str) -> NearestTask:
        folder = Path(argument).expanduser()
        if not folder.is_dir():
            raise DataError(folder, f"no such folder (classification-{method}: takes a folder with train.jsonl and "
                            "test.jsonl, and optionally labels.json)")  # fmt: skip
        root = task_path(folder)
        files = [DatasetFile(f"{root}/train.jsonl"), DatasetFile(f"{root}/test.jsonl")]
        if method != "knn" and (folder / LABEL_FILE).is_file():
            files.append(DatasetFile(f"{root}/{LABEL_FILE}"))
        return NearestTask(f"{METHODS[method]} on {root}", files, method, user_set, None)

    return build


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    for name in READERS:
        for method, about in METHODS.items():
            register(
                f"{name}-{method}", senteval_variant(name, method), f"{DESCRIPTIONS[name].split(' (')[0]}, {about}"
            )
    for method, about in METHODS.items():
        register(
            f"classification-{method}:",
            folder_variant(method),
            f"{about} on a folder with train.jsonl and test.jsonl (and labels.json)",
        )
