"""The cpt paper's Table 5: open-domain QA retrieval on NQ and TriviaQA, and MS MARCO passage ranking.

All three rank a large corpus for every query through the retrieval family's
:func:`~harness.plugins.tasks.retrieval.tasks.top_documents` (exact cosine search of the embedded corpus,
the index ``$HARNESS_RETRIEVAL_INDEX`` asks for, or a ranking encoder's own top 1000, BM25's), and differ
from the BEIR tasks only in what they read and how they score.  Sources: facebookresearch/DPR at a31212d,
facebookresearch/contriever at 39fb220, microsoft/MSMARCO-Passage-Ranking at 28b3693.

``nq-open``, ``triviaqa-open``: DPR's retriever evaluation
-----------------------------------------------------------
* Questions: DPR's ``nq-test.qa.csv`` (3610) and ``trivia-test.qa.csv`` (11313), read as DPR's
  ``CsvQASrc.load_data`` reads them (``dpr/data/retriever_data.py`` lines 106-110: ``csv.reader`` with
  ``delimiter="\\t"``, question = column 0, answers = the list literal in column 1).  The question is embedded
  as it is in the file, as Contriever embeds it (``passage_retrieval.py`` line 184); DPR's ``CsvQASrc`` also
  turns ``’`` into ``'`` first (``normalize_question``, ``dpr/utils/data_utils.py`` lines 63-65).
* Corpus: DPR's 21,015,324 Wikipedia passages ``psgs_w100.tsv`` (``id \\t text \\t title``), read as
  Contriever's ``load_passages`` reads them (``src/data.py`` lines 239-243).
* Documents are ``title + " " + text``: Contriever's ``generate_passage_embeddings.py`` lines 33-36 (``text =
  p["title"] + " " + p["text"]`` whenever the passage has a title, which every TSV row has; nothing is
  stripped, so an empty title gives a leading space).  DPR's own encoder takes title and text as a BERT
  sentence pair instead (``generate_dense_embeddings.py`` line 55), which a text-in embedding API cannot.
* Depth: each question's top 100 passages are checked (DPR ``n_docs: 100``, Contriever ``--n_docs`` 100).
* Answer check: :mod:`.answers`, DPR's ``has_answer`` with the ``string`` match type (the default, ``match:
  string`` in ``conf/dense_retriever.yaml``), on the passage *text* only, not its title: DPR's
  ``check_answer`` takes ``doc[0]``, the text (``qa_validation.py`` line 128), Contriever's ``doc['text']``
  (``src/evaluation.py`` line 90).  A passage whose title alone names the answer does not count.  (DPR also
  strips ``"`` from both ends of each text, ``retriever_data.py`` line 284; Contriever does not, nor does this.)
* Score: top-k accuracy for k = 1, 5, 20, 100, the fraction of all questions with an answer-bearing passage in
  their top k (:mod:`.metrics`); top-20 is the main score, top-100 beside it, the two numbers of Table 5.
  Each question's part is 1 or 0 at top 20 (``per_example``), for ``harness compare``.

Contriever itself evaluates NQ on FiD's copy of the test questions, whose answers come from the original NQ
data rather than DPR's post-processed ones (Contriever README, "Question answering retrieval"), so its NQ
numbers can differ slightly from DPR-file numbers; TriviaQA's questions are the same.

``msmarco-passage``: the official MS MARCO passage-ranking evaluation
---------------------------------------------------------------------
The 6980 queries of ``queries.dev.small.tsv`` that ``qrels.dev.small.tsv`` judges, against the 8,841,823
passages of ``collection.tsv`` (all three from ``collectionandqueries.tar.gz``); the document is the passage.
MRR@10 exactly as ``ms_marco_eval.py`` computes it (:mod:`.metrics`), and recall@1000.  The same queries and
passages are the BEIR-layout ``beir-msmarco`` task, scored there by nDCG@10 through pytrec_eval; this task
gives the number the MS MARCO leaderboard and Table 5 report.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from harness import (
    Capability,
    DataError,
    DataFiles,
    DatasetFile,
    EncodeFn,
    PerExample,
    Task,
    TaskOutput,
    TaskRegister,
    hookimpl,
)
from harness.plugins.tasks.retrieval.tasks import RetrievalTask, top_documents

from .answers import first_hit, tokenised
from .metrics import ACCURACY_KS, DEPTH, msmarco_metrics, top_k_accuracy
from .readers import read_collection, read_msmarco_qrels, read_msmarco_queries, read_passages, read_qa_pairs

PASSAGES = "dpr/wikipedia_split/psgs_w100.tsv"
"""The data-root path of DPR's passages (the download URL's path): ``harness data fetch dpr-wikipedia``; a
``psgs_w100.tsv.gz`` in its place in ``--data-dir`` is read as it is."""

MAIN_K = 20


class PassageRankingTask(Task):
    """A query set ranked against one large corpus through the retrieval family's search."""

    family = "retrieval"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})

    def dataset_identity(self, split: str) -> dict[str, str]:
        """The retrieval family's: an approximate search (or another corpus precision) is another measurement.

        The search is the family's, so its rule is taken as it stands rather than restated here (it reads
        the search settings from the environment, nothing of the task, hence the cast).
        """
        return RetrievalTask.dataset_identity(cast(RetrievalTask, self), split)


class OpenQaTask(PassageRankingTask):
    """DPR's retriever evaluation: questions with answer strings, DPR's Wikipedia passages, top-k accuracy."""

    main_metric = f"top_{MAIN_K}_accuracy"
    splits = ("test",)
    default_split = "test"

    def __init__(self, qa_file: str, qa_dataset: str, description: str) -> None:
        self.qa_file = qa_file
        self.qa_dataset = qa_dataset
        self.description = description

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(self.qa_file, dataset=self.qa_dataset), DatasetFile(PASSAGES, dataset="dpr-wikipedia")]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        pairs = read_qa_pairs(files, self.qa_file)
        passages = read_passages(files, PASSAGES)
        _scores, rows, search = top_documents(encode, pairs.questions, passages.documents)
        answers = [tokenised(question_answers) for question_answers in pairs.answers]
        first_hits = np.array(
            [
                first_hit(tokens, (passages.text(int(row)) for row in top[:DEPTH] if row >= 0))
                for tokens, top in zip(answers, rows, strict=True)
            ],
            dtype=np.int64,
        )
        metrics = top_k_accuracy(first_hits, ACCURACY_KS)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(pairs.questions),
            details={
                "corpus_size": len(passages.documents),
                "search": search,
                "passages_checked": DEPTH,
                "answers_checked_in": "passage text (not title), DPR's has_answer, string match",
                # DPR finds an answer with no tokens in every passage; said, not hidden.
                "answers_without_tokens": sum(not tokens for question in answers for tokens in question),
            },
            per_example=PerExample.scores((first_hits >= 0) & (first_hits < MAIN_K)),
        )


class MsMarcoPassageTask(PassageRankingTask):
    """MS MARCO passage ranking, dev small: 6980 judged queries, 8.8M passages, the official MRR@10."""

    main_metric = "mrr_at_10"
    splits = ("dev",)
    default_split = "dev"
    description = (
        "MS MARCO passage ranking, dev small (Nguyen et al., 2016): 6980 queries against 8,841,823 passages, "
        "MRR@10 as ms_marco_eval.py computes it, and recall@1000."
    )
    folder = "msmarco-passage"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        names = ("collection.tsv", "queries.dev.small.tsv", "qrels.dev.small.tsv")
        return [DatasetFile(f"{self.folder}/{name}", dataset="msmarco-passage") for name in names]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        collection_file, queries_file, qrels_file = (f.path for f in self.dataset_files(split))
        qrels = read_msmarco_qrels(files, qrels_file)
        queries = read_msmarco_queries(files, queries_file)
        missing = [qid for qid in qrels if qid not in queries]
        if missing:
            raise DataError(
                files.label(qrels_file), f"qid {missing[0]} has no query in {queries_file} ({len(missing)} such)"
            )
        corpus = read_collection(files, collection_file)
        query_ids = [qid for qid in queries if qid in qrels]
        _scores, rows, search = top_documents(encode, [queries[qid] for qid in query_ids], corpus.texts)
        run = {qid: [corpus.ids[row] for row in rows[i] if row >= 0] for i, qid in enumerate(query_ids)}
        metrics, per_query = msmarco_metrics(run, qrels)
        known = set(corpus.ids)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(query_ids),
            details={
                "corpus_size": len(corpus.ids),
                "search": search,
                "queries_ranked": len(query_ids),
                # ms_marco_eval.py keeps them as relevant passages no run can rank: said, not hidden.
                "qrels_unknown_passages": len({pid for pids in qrels.values() for pid in pids} - known),
            },
            per_example=PerExample.scores([per_query[qid] for qid in query_ids], query_ids),
        )


def nq_open() -> OpenQaTask:
    return OpenQaTask(
        "dpr/data/retriever/nq-test.qa.csv",
        "dpr-nq-test",
        "Natural Questions open test, DPR's 3610 questions, against DPR's 21M Wikipedia passages: "
        "top-20 (main) and top-1/5/100 retrieval accuracy with DPR's answer matching.",
    )


def triviaqa_open() -> OpenQaTask:
    return OpenQaTask(
        "dpr/data/retriever/trivia-test.qa.csv",
        "dpr-trivia-test",
        "TriviaQA open-domain test, DPR's 11313 questions, against DPR's 21M Wikipedia passages: "
        "top-20 (main) and top-1/5/100 retrieval accuracy with DPR's answer matching.",
    )


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    register("nq-open", nq_open, "Natural Questions (DPR open test, 3610 questions, 21M passages), top-20 accuracy")
    register("triviaqa-open", triviaqa_open, "TriviaQA (DPR open test, 11313 questions, 21M passages), top-20 accuracy")
    register("msmarco-passage", MsMarcoPassageTask, "MS MARCO passage dev small (6980 queries, 8.8M), MRR@10")
