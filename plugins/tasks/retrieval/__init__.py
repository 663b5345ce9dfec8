"""Retrieval: corpus, queries and relevance judgements in; nDCG@10 and the full BEIR metric set out.

``tasks`` holds the public base :class:`~.tasks.RetrievalTask` (``harness.tasks.RetrievalTask``), which
searches and scores, and the BEIR-layout tasks built on it; ``metrics`` the pytrec_eval metrics;
``dense_search`` the on-disk block search; ``readers`` the BEIR file formats.
"""
