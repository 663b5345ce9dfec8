"""MTEB 2.x tasks of our own that read the shared data folder instead of the Hugging Face hub.

They are what a user's custom MTEB task looks like (``mteb:mteb_local_tasks:LocalSTSBenchmark``)
and they let the bridge be tested offline against the harness's native tasks on the very same
files.  The folder is ``$HARNESS_SHARED_DATA`` or ``../shared/data`` beside the checkout.  Importing this module
imports mteb, so it is only imported by tests that skip without mteb.
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
from mteb.tasks.sts.eng.sts_benchmark_sts import STSBenchmarkSTS


def shared_data() -> Path:
    """Where tests/conftest.py looks too: ``$HARNESS_SHARED_DATA``, else ``shared/data`` beside the checkout."""
    return Path(os.environ.get("HARNESS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _local_metadata(original: TaskMetadata, name: str, path: Path) -> TaskMetadata:
    """MTEB's metadata for the task, renamed and pointed at the local file (revision: its sha256)."""
    return original.model_copy(
        update={
            "name": name,
            "dataset": {"path": str(path), "revision": _sha256(path) if path.is_file() else "missing"},
            "superseded_by": None,
            "eval_splits": ["test"],
        }
    )


STSB_TEST = shared_data() / "stsb" / "original" / "sts-test.csv"


class LocalSTSBenchmark(AbsTaskSTS):
    """MTEB's STSBenchmark (test split), read from the original ``sts-test.csv`` the native ``stsb`` task uses."""

    min_score = 0
    max_score = 5
    metadata = _local_metadata(STSBenchmarkSTS.metadata, "LocalSTSBenchmark", STSB_TEST)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        rows: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
        # The file is tab-separated but not real CSV (unbalanced quotes): split on tabs, as the dataset's own
        # correlation.pl and the native reader do; extra source fields after sentence2 are ignored.
        for line in STSB_TEST.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            fields = line.split("\t")
            rows["score"].append(float(fields[4]))
            rows["sentence1"].append(fields[5])
            rows["sentence2"].append(fields[6])
        self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
        self.data_loaded = True


SCIFACT = shared_data() / "scifact"


class LocalSciFact(AbsTaskRetrieval):
    """MTEB's SciFact (test split), read from the BEIR-layout folder the native ``scifact`` task uses."""

    metadata = _local_metadata(SciFact.metadata, "LocalSciFact", SCIFACT / "qrels" / "test.tsv")

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines() if line.strip()]
        queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines() if line.strip()]
        qrels: dict[str, dict[str, int]] = {}
        for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
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


class TinyRetrieval(AbsTaskRetrieval):
    """Three documents and two queries: enough to see which prompt type reaches the encoder for which side."""

    metadata = _local_metadata(SciFact.metadata, "TinyRetrieval", Path("tiny"))
    QUERIES = {"q1": "what colour is the sky", "q2": "what do cats eat"}
    DOCUMENTS = {"d1": "The sky is blue.", "d2": "Cats eat fish.", "d3": "Grass is green."}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_dict(
                        {
                            "id": list(self.DOCUMENTS),
                            "title": [""] * len(self.DOCUMENTS),
                            "text": list(self.DOCUMENTS.values()),
                        }
                    ),
                    "queries": Dataset.from_dict({"id": list(self.QUERIES), "text": list(self.QUERIES.values())}),
                    "relevant_docs": {"q1": {"d1": 1}, "q2": {"d2": 1}},
                    "top_ranked": None,
                }
            }
        }
        self.data_loaded = True


class NotATask:
    """Named by a test as a custom task that is not an AbsTask."""
