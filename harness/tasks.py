"""Base classes for a plugin's tasks: one per family, each bringing its family's metrics.

A task on a new dataset is its metadata (``description``, ``splits``), its files
(``dataset_files(split)``) and a reader; the base encodes, searches or probes and
scores exactly as the built-in tasks of the family, which are built on the same
classes::

    from harness.tasks import RetrievalData, RetrievalTask, read_corpus, read_qrels, read_queries

    class MyRetrieval(RetrievalTask):
        description = "my corpus"

        def dataset_files(self, split):
            return [DatasetFile(str(FOLDER / name)) for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")]

        def read(self, files, split):
            corpus, queries, qrels = (f.path for f in self.dataset_files(split))
            return RetrievalData(read_corpus(files, corpus), read_queries(files, queries), read_qrels(files, qrels))

* :class:`StsTask`: ``read_pairs(files, split) -> list[ScoredPair]``; gets
  Spearman (main score) and Pearson of cosine, Euclidean and Manhattan similarity.
* :class:`RetrievalTask`: ``read(files, split) -> RetrievalData`` (corpus,
  queries, judgements); gets exact search (or ``$HARNESS_RETRIEVAL_INDEX``'s),
  BM25's ranking, nDCG@10 and MAP, recall, precision and MRR at 1 ... 1000.
* :class:`ClassificationTask`: ``read(files, split) -> LabelledSplits`` (train
  and test texts and labels); gets SentEval's linear probe, ``C`` by
  cross-validation on train, accuracy on test at three seeds.
* :class:`CodeSearchTask`: ``read(files, split) -> CodeSearchData`` (queries,
  code base, each query's answer); gets the ranking of the whole code base, MRR
  and recall at 1, 5 and 10.

The readers of the built-in formats are here too, for data in those layouts.
Each class lives with its family under ``harness.plugins.tasks`` (the built-in
plugins); this module is the stable name to import them by.
"""

from __future__ import annotations

from harness.plugins.tasks.classification.tasks import ClassificationTask, LabelledSplits
from harness.plugins.tasks.code_search.tasks import CodeSearchData, CodeSearchTask
from harness.plugins.tasks.retrieval.readers import Corpus, read_corpus, read_qrels, read_queries
from harness.plugins.tasks.retrieval.tasks import RetrievalData, RetrievalTask
from harness.plugins.tasks.sts.readers import ScoredPair
from harness.plugins.tasks.sts.tasks import StsTask

__all__ = [
    "ClassificationTask",
    "CodeSearchData",
    "CodeSearchTask",
    "Corpus",
    "LabelledSplits",
    "RetrievalData",
    "RetrievalTask",
    "ScoredPair",
    "StsTask",
    "read_corpus",
    "read_qrels",
    "read_queries",
]
