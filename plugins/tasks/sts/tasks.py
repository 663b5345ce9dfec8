"""STS tasks: the public base :class:`StsTask`, STS Benchmark, SICK-R and user files (``sts:/path/file``).

The protocol is MTEB's (see :mod:`.metrics`): Spearman of the cosine similarity with the gold scores over
the whole split.  Texts are used as the files give them, untouched.  A new STS task is its metadata, its
files and a reader of its pairs; :class:`StsTask` encodes them and computes every metric.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path

from harness import DataError, DataFiles, DatasetFile, EncodeFn, Task, TaskOutput, TaskRegister, hookimpl
from harness.task import task_path

from .metrics import sts_metrics
from .readers import ScoredPair, read_sick, read_stsbenchmark
from .user_files import USER_FORMATS, read_user_sts, user_format

Reader = Callable[[DataFiles, str], list[ScoredPair]]
"""``reader(files, path) -> pairs``: one file's scored pairs."""


class StsTask(Task):
    """Scored sentence pairs in; Spearman (main score) and Pearson of cosine, Euclidean and Manhattan out.

    A subclass sets ``description`` and ``splits``, and implements ``dataset_files(split)`` and
    :meth:`read_pairs`; encoding and metrics (:func:`.metrics.sts_metrics`) are this class's.
    """

    family = "sts"
    main_metric = "cosine_spearman"

    @abstractmethod
    def read_pairs(self, files: DataFiles, split: str) -> list[ScoredPair]:
        """The scored pairs of ``split``, read through ``files``."""

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        return sts_metrics(self.read_pairs(files, split), encode)


class StsFilesTask(StsTask):
    """An STS dataset whose splits are lists of files, each read by one reader."""

    def __init__(self, description: str, splits: dict[str, list[DatasetFile]], reader: Reader) -> None:
        self.description = description
        self._splits = splits
        self._reader = reader
        self.splits = tuple(splits)
        self.default_split = "test"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return list(self._splits[split])

    def read_pairs(self, files: DataFiles, split: str) -> list[ScoredPair]:
        return [pair for f in self._splits[split] for pair in self._reader(files, f.path)]


# The files' sha256 are the dataset registry's (plugins/datasets/sts.toml), looked up by dataset name.
STSB_FILES = {
    "test": DatasetFile("stsb/original/sts-test.csv", dataset="stsb"),
    "dev": DatasetFile("stsb/original/sts-dev.csv", dataset="stsb"),
}
SICK_FILES = {
    "train": DatasetFile("sickr/SICK_train.txt", dataset="sickr"),
    "trial": DatasetFile("sickr/SICK_trial.txt", dataset="sickr"),
    "test": DatasetFile("sickr/SICK_test_annotated.txt", dataset="sickr"),
}


def stsb() -> StsFilesTask:
    return StsFilesTask(
        "STS Benchmark (Cer et al., 2017), original casing; test 1379 pairs, dev 1500.",
        {split: [f] for split, f in STSB_FILES.items()},
        read_stsbenchmark,
    )


def sickr() -> StsFilesTask:
    return StsFilesTask(
        "SICK relatedness (Marelli et al., 2014). 'test' (4927 pairs) is the split SentEval and the cpt "
        "paper report; 'full' (train+trial+test, 9927 pairs) is what MTEB calls SICK-R.",
        {
            "test": [SICK_FILES["test"]],
            "full": [SICK_FILES["train"], SICK_FILES["trial"], SICK_FILES["test"]],
        },
        read_sick,
    )


def user_sts(argument: str) -> StsFilesTask:
    """``sts:/path/file.{tsv,csv,jsonl}``: a user's scored pairs as a one-split STS task."""
    path = Path(argument).expanduser()
    if not path.is_file():
        kinds = ", ".join(USER_FORMATS)
        raise DataError(path, f"no such file (sts: takes a {kinds} file with sentence1, sentence2, score)")
    user_format(str(path))
    return StsFilesTask(f"User STS file {path.name}", {"test": [DatasetFile(task_path(path))]}, read_user_sts)


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    register("stsb", stsb, "STS Benchmark, Spearman of cosine (splits: test, dev)")
    register("sickr", sickr, "SICK-R relatedness, Spearman of cosine (splits: test, full)")
    register("sts:", user_sts, "an STS file of sentence1, sentence2, score: sts:/path/file.tsv|.csv|.jsonl")
