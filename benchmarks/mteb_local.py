"""MTEB 2.x tasks of our own that read local dataset files instead of the Hugging Face hub.

``LocalSTSBenchmark``, ``LocalSICKR`` and ``LocalSciFact`` carry MTEB's own metadata for STSBenchmark, SICK-R and
SciFact (main score, splits, type), renamed and pointed at the files the harness's native ``stsb``,
``sickr@full`` and ``scifact`` tasks read.  They exist so that MTEB's evaluation and the harness's can be compared
offline on the very same bytes: the MTEB bridge's tests (``harness run --tasks mteb:mteb_local:LocalSTSBenchmark``)
and ``benchmarks/vs_mteb.py``, which times plain ``mteb.evaluate`` against ``harness run``.  They are also what a
user's custom MTEB task looks like.

The module lives beside the benchmarks, not in the ``harness`` package: it is for benchmarks and tests, and a
user's installed harness has no use for it.  It is importable as ``mteb_local`` when ``benchmarks/`` is on
``sys.path``: a benchmark script's own folder is, and ``tests/conftest.py`` adds it for the tests.

The files are parsed here, independently of the harness's readers (the ``readers`` modules under
``plugins/tasks/``), so that a bug in one reader shows up as a score difference instead of being shared by both
sides.

The data folder is ``$HARNESS_DATA_DIR``, else ``$HARNESS_SHARED_DATA``, else ``shared/data`` beside the
repository checkout; it is looked up when this module is imported, because each task's metadata (dataset path and
revision, the sha256 of its files) is a class attribute that MTEB and the bridge read before loading anything.  A
missing file is reported, naming it, when the task loads its data.

Importing this module imports mteb (an optional extra), so callers import it where they need it, not at the top.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.tasks.retrieval.eng.sci_fact_retrieval import SciFact
from mteb.tasks.sts.eng.sickr_sts import SickrSTS
from mteb.tasks.sts.eng.sts_benchmark_sts import STSBenchmarkSTS

from harness.errors import DataError

DATA_ENV = ("HARNESS_DATA_DIR", "HARNESS_SHARED_DATA")
"""Environment variables naming the data folder, in order of precedence: the harness's own ``--data-dir``
variable first, so that ``HARNESS_DATA_DIR=X`` points both the harness and these tasks at the same files."""


def data_dir() -> Path:
    """The data folder: ``$HARNESS_DATA_DIR``, ``$HARNESS_SHARED_DATA``, else ``shared/data`` beside the checkout."""
    for name in DATA_ENV:
        value = os.environ.get(name)
        if value:
            return Path(value).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "data"


DATA = data_dir()


def _require(path: Path, task: str) -> Path:
    if not path.is_file():
        raise DataError(
            path,
            f"{task}: dataset file not found (data folder {DATA}: set $HARNESS_DATA_DIR or $HARNESS_SHARED_DATA "
            "to a folder laid out like shared/data)",
        )
    return path


def _revision(paths: list[Path]) -> str:
    """The sha256 of the one file, or of the files' sha256s in order; ``missing`` when any is absent.

    A changed file changes the revision, which makes the bridge rerun the task instead of skipping it.
    """
    if not all(p.is_file() for p in paths):
        return "missing"
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    return digests[0] if len(digests) == 1 else hashlib.sha256("\n".join(digests).encode()).hexdigest()


def _local_metadata(original: TaskMetadata, name: str, path: Path, files: list[Path] | None = None) -> TaskMetadata:
    """MTEB's metadata for the task, renamed and pointed at the local file(s) (revision: their sha256)."""
    return original.model_copy(
        update={
            "name": name,
            "dataset": {"path": str(path), "revision": _revision(files or [path])},
            "superseded_by": None,
            "eval_splits": ["test"],
        }
    )


STSB_TEST = DATA / "stsb" / "original" / "sts-test.csv"


class LocalSTSBenchmark(AbsTaskSTS):
    """MTEB's STSBenchmark (test split, 1379 pairs), read from the original ``sts-test.csv`` that ``stsb`` uses."""

    min_score = 0
    max_score = 5
    metadata = _local_metadata(STSBenchmarkSTS.metadata, "LocalSTSBenchmark", STSB_TEST)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        rows: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
        # The file is tab-separated but not real CSV (unbalanced quotes): split on tabs, as the dataset's own
        # correlation.pl and the native reader do; extra source fields after sentence2 are ignored.
        for line in _require(STSB_TEST, self.metadata.name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            fields = line.split("\t")
            rows["score"].append(float(fields[4]))
            rows["sentence1"].append(fields[5])
            rows["sentence2"].append(fields[6])
        self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
        self.data_loaded = True


SICK_FOLDER = DATA / "sickr"
SICK_FILES = [SICK_FOLDER / name for name in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt")]


class LocalSICKR(AbsTaskSTS):
    """MTEB's SICK-R: all 9927 pairs of SICK (train + trial + test), as one ``test`` split.

    MTEB's ``mteb/sickr-sts`` dataset is the whole of SICK relabelled ``test``; the harness calls that split
    ``sickr@full`` (its ``sickr@test`` is SentEval's 4927-pair test file alone).  The release files have a header
    naming the columns; the relatedness score (1-5) is the gold score.
    """

    min_score = 0
    max_score = 5
    metadata = _local_metadata(SickrSTS.metadata, "LocalSICKR", SICK_FOLDER, SICK_FILES)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        rows: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
        for path in SICK_FILES:
            lines = _require(path, self.metadata.name).read_text(encoding="utf-8").splitlines()
            header = lines[0].split("\t")
            a, b, score = (header.index(c) for c in ("sentence_A", "sentence_B", "relatedness_score"))
            for line in lines[1:]:
                if not line.strip():
                    continue
                fields = line.split("\t")
                rows["sentence1"].append(fields[a])
                rows["sentence2"].append(fields[b])
                rows["score"].append(float(fields[score]))
        self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
        self.data_loaded = True


SCIFACT = DATA / "scifact"
SCIFACT_FILES = [SCIFACT / "corpus.jsonl", SCIFACT / "queries.jsonl", SCIFACT / "qrels" / "test.tsv"]


class LocalSciFact(AbsTaskRetrieval):
    """MTEB's SciFact (test split: 300 judged claims, 5183 abstracts), read from the BEIR folder ``scifact`` uses.

    The revision covers the qrels file only, as before this task moved here: the corpus and queries are pinned by
    the native task's sha256 checks, and hashing 8 MB at every import buys nothing.
    """

    metadata = _local_metadata(SciFact.metadata, "LocalSciFact", SCIFACT_FILES[2])

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus_file, queries_file, qrels_file = (_require(p, self.metadata.name) for p in SCIFACT_FILES)
        corpus = [json.loads(line) for line in corpus_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        queries = [json.loads(line) for line in queries_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        qrels: dict[str, dict[str, int]] = {}
        for line in qrels_file.read_text(encoding="utf-8").splitlines()[1:]:
            query, doc, score = line.split("\t")
            qrels.setdefault(query, {})[doc] = int(score)
        judged = [q for q in queries if str(q["_id"]) in qrels]
        self.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_dict(
                        {
                            "id": [str(d["_id"]) for d in corpus],
                            "title": [d.get("title") or "" for d in corpus],
                            "text": [d["text"] for d in corpus],
                        }
                    ),
                    "queries": Dataset.from_dict(
                        {"id": [str(q["_id"]) for q in judged], "text": [q["text"] for q in judged]}
                    ),
                    "relevant_docs": qrels,
                    "top_ranked": None,
                }
            }
        }
        self.data_loaded = True


__all__ = ["LocalSICKR", "LocalSTSBenchmark", "LocalSciFact", "data_dir"]
