"""``bm25``: Okapi BM25 through bm25s, the lexical baseline of BEIR and of the cpt paper's retrieval tables.

BM25 has no dense vectors: it ranks a corpus for a set of queries, so it is a
:class:`~harness.RankingEncoder` and runs on the tasks that rank (retrieval, code
search); the runner reports the others (STS, linear probes) as not applicable.

The defaults follow the BM25 runs BEIR reports (Anserini/Pyserini over Lucene) as
closely as bm25s allows:

* scoring: Lucene's variant (``idf = log(1 + (N - df + 0.5) / (df + 0.5))``,
  ``tf / (tf + k1 * (1 - b + b * dl / avgdl))`` as since Lucene 8), with Anserini's
  ``k1 = 0.9``, ``b = 0.4``;
* analysis: lower-casing, Lucene's 33 English stop words, Porter stemming (Lucene's
  ``PorterStemFilter`` is Porter's original algorithm, PyStemmer's ``porter``).

What still differs from Anserini (and is why our SciFact figure is not BEIR's):
bm25s splits words with ``\\b\\w\\w+\\b`` (dropping one-character tokens, splitting
at every non-word character) where Lucene's StandardTokenizer follows Unicode word
boundaries (keeping ``1``, ``p53``-style and decimal tokens whole); Lucene stores
document lengths in one lossy byte; and BEIR's "multifield" run indexes title and
abstract as two fields and adds their scores, while here a document is
``title + " " + text``, one field, as for the dense encoders.

``-o k1=1.2 -o b=0.75 -o stemmer=none -o stopwords=none -o method=robertson`` changes
any of these (``harness info bm25``); the settings are part of the fingerprint and of the result label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from harness import (
    EncoderOptions,
    EncoderRegister,
    EncoderSettings,
    HarnessError,
    Ranking,
    RankingEncoder,
    hookimpl,
    option,
)
from harness.environment import installed_version

Method = Literal["lucene", "robertson", "atire", "bm25l", "bm25+"]
Stemmer = Literal["porter", "english", "none"]
Stopwords = Literal["en", "none"]


class Bm25Options(EncoderOptions):
    """Everything that changes BM25's ranking; each non-default value names the results (``bm25-k1-1.2``)."""

    k1: float = option(0.9, "term-frequency saturation (Anserini's default 0.9)", label=True, ge=0)
    b: float = option(0.4, "document-length normalisation, 0..1 (Anserini's default 0.4)", label=True, ge=0, le=1)
    method: Method = option("lucene", "bm25s scoring variant: lucene, robertson, atire, bm25l, bm25+", label=True)
    stemmer: Stemmer = option(
        "porter", "PyStemmer algorithm: porter (Lucene's PorterStemFilter), english (Snowball) or none", label=True
    )
    stopwords: Stopwords = option(
        "en", "en: Lucene's English stop set, as bm25s ships it; none keeps every word", label=True
    )


class Bm25(RankingEncoder):
    """BM25 ranking with bm25s: the corpus handed to :meth:`rank` is indexed, then searched for every query."""

    def __init__(self, settings: Bm25Options) -> None:
        import bm25s  # noqa: F401  (fail at build time, not in the middle of a task)

        self.settings = settings

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "bm25",
            "library": "bm25s",
            "splitter": r"(?u)\b\w\w+\b",
            "lower": True,
            **self.settings.model_dump(),
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "library": f"bm25s {installed_version('bm25s')}",
            "stemmer_library": f"PyStemmer {installed_version('PyStemmer')}",
            "similarity": "bm25",
            "parameters": 0,
        }

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        import bm25s
        from bm25s.tokenization import Tokenizer

        tokenizer = Tokenizer(lower=True, stopwords=self._stopwords(), stemmer=self._stemmer())
        corpus_tokens = tokenizer.tokenize(list(documents), return_as="tuple", show_progress=False)
        index = bm25s.BM25(k1=self.settings.k1, b=self.settings.b, method=self.settings.method)
        index.index(corpus_tokens, show_progress=False)
        # Query words the corpus never uses cannot score; update_vocab=False drops them.
        query_tokens = tokenizer.tokenize(list(queries), update_vocab=False, return_as="ids", show_progress=False)
        rows, scores = index.retrieve(query_tokens, k=min(k, len(documents)), show_progress=False)
        return Ranking(np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float32))

    def _stemmer(self) -> Any:
        if self.settings.stemmer == "none":
            return None
        try:
            import Stemmer
        except ImportError:
            raise HarnessError("bm25 stems with PyStemmer: pip install PyStemmer (or use bm25:stemmer=none)") from None
        return Stemmer.Stemmer(self.settings.stemmer)

    def _stopwords(self) -> str | None:
        return None if self.settings.stopwords == "none" else self.settings.stopwords


def _bm25(settings: EncoderSettings[Bm25Options]) -> Bm25:
    return Bm25(settings.options)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "bm25",
        _bm25,
        "BM25 (bm25s; Lucene scoring, k1=0.9, b=0.4, Porter stems, stop words): ranks, no vectors; -o k1=1.2 -o b=0.75",
        options=Bm25Options,
    )
