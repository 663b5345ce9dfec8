"""Semantic textual similarity: Spearman correlation of cosine similarity with gold scores.

The protocol is MTEB's (and SentEval's for the correlation): embed both sentences
of each pair, score the pair by cosine similarity, and report Spearman's rank
correlation with the human scores over the whole split (main score), with Pearson
and the Euclidean and Manhattan variants alongside.  Texts are used as the files
give them, untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from harness import DataFiles, DatasetFile, EncodeFn, PerExample, Task, TaskOutput, TextKind, hookimpl

from .sts_files import ScoredPair, read_sick, read_stsbenchmark

Reader = Callable[[DataFiles, str], list[ScoredPair]]


def sts_metrics(pairs: list[ScoredPair], encode: EncodeFn) -> TaskOutput:
    """Encode a list of scored pairs and correlate three similarities with the gold scores.

    Both sides go to the encoder in one call: the encoding session deduplicates within a call, and a sentence
    that appears on the left of one pair and the right of another (41 of STS-B's, most of SICK's) is then
    embedded once, not twice.
    """
    vectors = encode([p.sentence1 for p in pairs] + [p.sentence2 for p in pairs], TextKind.TEXT)
    left, right = vectors[: len(pairs)], vectors[len(pairs) :]
    gold = np.array([p.score for p in pairs], dtype=np.float64)
    left64, right64 = left.astype(np.float64), right.astype(np.float64)
    norms = np.linalg.norm(left64, axis=1) * np.linalg.norm(right64, axis=1)
    cosine = np.einsum("ij,ij->i", left64, right64) / np.where(norms == 0, 1.0, norms)
    similarities = {
        "cosine": cosine,
        "euclidean": -np.linalg.norm(left64 - right64, axis=1),
        "manhattan": -np.abs(left64 - right64).sum(axis=1),
    }
    metrics: dict[str, float] = {}
    for name, values in similarities.items():
        metrics[f"{name}_spearman"] = float(spearmanr(gold, values).statistic)
        metrics[f"{name}_pearson"] = float(pearsonr(gold, values).statistic)
    return TaskOutput(
        metrics=metrics,
        main_score=metrics["cosine_spearman"],
        n_examples=len(pairs),
        per_example=PerExample.correlation(cosine, gold),
    )


class StsTask(Task):
    """An STS dataset whose splits are lists of files read by one reader."""

    family = "sts"
    main_metric = "cosine_spearman"

    def __init__(self, description: str, splits: dict[str, list[DatasetFile]], reader: Reader) -> None:
        self.description = description
        self._splits = splits
        self._reader = reader
        self.splits = tuple(splits)
        self.default_split = "test"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return list(self._splits[split])

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        pairs = [pair for f in self._splits[split] for pair in self._reader(files, f.path)]
        return sts_metrics(pairs, encode)


STSB_FILES = {
    "test": DatasetFile(
        "stsb/original/sts-test.csv", "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a"
    ),
    "dev": DatasetFile("stsb/original/sts-dev.csv", "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234"),
}
SICK_FILES = {
    "train": DatasetFile("sickr/SICK_train.txt", "e02bd30f17ab87358f80ef079a6ef797acd244c3c7515de454301c7c257e410c"),
    "trial": DatasetFile("sickr/SICK_trial.txt", "0d0786bd8671a0a70614f2f890b8ab24b3c24d1ccb624bcca87618091fbe4f11"),
    "test": DatasetFile(
        "sickr/SICK_test_annotated.txt", "d0362afe8304c8d08166b82d76da2a8c665d5b635ac1f3f1ee82054511749f97"
    ),
}


def stsb() -> StsTask:
    return StsTask(
        "STS Benchmark (Cer et al., 2017), original casing; test 1379 pairs, dev 1500.",
        {split: [f] for split, f in STSB_FILES.items()},
        read_stsbenchmark,
    )


def sickr() -> StsTask:
    return StsTask(
        "SICK relatedness (Marelli et al., 2014). 'test' (4927 pairs) is the split SentEval and the cpt "
        "paper report; 'full' (train+trial+test, 9927 pairs) is what MTEB calls SICK-R.",
        {
            "test": [SICK_FILES["test"]],
            "full": [SICK_FILES["train"], SICK_FILES["trial"], SICK_FILES["test"]],
        },
        read_sick,
    )


def _no_argument(make: Callable[[], Task]) -> Callable[[Any], Task]:
    return lambda _argument: make()


@hookimpl
def harness_register_tasks(register: Any) -> None:
    register("stsb", _no_argument(stsb), "STS Benchmark, Spearman of cosine (splits: test, dev)")
    register("sickr", _no_argument(sickr), "SICK-R relatedness, Spearman of cosine (splits: test, full)")
