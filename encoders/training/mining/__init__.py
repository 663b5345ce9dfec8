"""Pair mining: neighbouring text spans, (docstring, function) pairs, and NLI triples for fine-tuning.

The paper pre-trains cpt-text on "neighboring pieces of text on the Internet"
and cpt-code on (text, code) pairs from open-source code.  This package builds
both kinds of :class:`~harness.encoders.training.pairs.Pair` from local files,
with no network, so a training run can start from whatever text and Python
source is on disk.  One module per job:

* :mod:`.text`: neighbouring spans from a folder of text (:func:`mine_text_pairs`).
* :mod:`.code`: (docstring, implementation) pairs from a Python source tree (:func:`mine_code_pairs`).
* :mod:`.nli`: (premise, entailment, contradiction) from SNLI and MultiNLI, the paper's supervised
  fine-tuning data (:func:`mine_nli_pairs`, :func:`nli_train_files`).
* :mod:`.demo`: demo corpora already on this machine (:func:`demo_text_corpus`, :func:`demo_code_tree`).
* :mod:`.shared`: what both miners share, so they walk, check and count alike (:class:`MiningReport`).

Both miners are deterministic: files are visited in sorted order of their
path relative to the root, so the same tree always gives the same pairs in the
same order, whatever the file system's listing order.

Directories that are never mined: hidden ones (``.git``, ``.venv``, ``.tox``),
``__pycache__``, ``node_modules`` and ``site-packages``, because they hold
tooling or third-party copies rather than the tree's own content (mining a
repository must not mine its virtual environment).  Symbolic links to
directories are not followed, so a link loop cannot hang a run.
"""

from __future__ import annotations

from harness.encoders.training.mining.code import TEST_DIRS, is_test_file, mine_code_pairs
from harness.encoders.training.mining.demo import demo_code_tree, demo_text_corpus
from harness.encoders.training.mining.nli import NLI_TRAIN_FILES, NliReport, mine_nli_pairs, nli_train_files
from harness.encoders.training.mining.shared import EXCLUDED_DIRS, FileShard, MiningReport
from harness.encoders.training.mining.text import (
    DEFAULT_MAX_WORDS,
    DEFAULT_MIN_WORDS,
    DEFAULT_TEXT_PATTERNS,
    mine_text_pairs,
)

__all__ = [
    "DEFAULT_MAX_WORDS",
    "DEFAULT_MIN_WORDS",
    "DEFAULT_TEXT_PATTERNS",
    "EXCLUDED_DIRS",
    "NLI_TRAIN_FILES",
    "TEST_DIRS",
    "FileShard",
    "MiningReport",
    "NliReport",
    "demo_code_tree",
    "demo_text_corpus",
    "is_test_file",
    "mine_code_pairs",
    "mine_nli_pairs",
    "mine_text_pairs",
    "nli_train_files",
]
