"""Semantic textual similarity: scored sentence pairs in, Spearman of cosine out.

``tasks`` holds the public base :class:`~.tasks.StsTask` (``harness.tasks.StsTask``) and the tasks read
from one file per split (STS Benchmark, SICK-R, ``sts:/path``); ``semeval`` the SemEval STS 2012-2016
years; ``metrics`` the correlations; ``readers`` and ``user_files`` the file formats.
"""
