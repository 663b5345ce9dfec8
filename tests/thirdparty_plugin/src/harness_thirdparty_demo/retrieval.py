"""A retrieval task on the harness's public base: metadata and a reader; the search and metrics are the base's."""

from __future__ import annotations

from pathlib import Path

from harness import DataFiles, DatasetFile
from harness.tasks import RetrievalData, RetrievalTask, read_corpus, read_qrels, read_queries

DATA = Path(__file__).with_name("tiny_beir")
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")


class DemoRetrievalTask(RetrievalTask):
    description = "Six documents and three queries in BEIR layout, shipped with the demo plugin."
    splits = ("test",)

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(str(DATA / name)) for name in FILES]

    def read(self, files: DataFiles, split: str) -> RetrievalData:
        corpus, queries, qrels = (str(DATA / name) for name in FILES)
        return RetrievalData(read_corpus(files, corpus), read_queries(files, queries), read_qrels(files, qrels))
