"""Classification without a trained probe: zero-shot by label embeddings, and k nearest neighbours.

The cpt paper's Table 3 (Neelakantan et al., 2022, section 4.1.2) classifies SST-2 two more ways than with a
linear probe, both by cosine similarity of embeddings:

* **Zero-shot.**  Each class is embedded from a text: its label word (``negative``, ``positive``), or a prompt
  built from it (``this is an example of a positive movie review``, the paper's template).  A text takes the
  class whose embedding is nearest by cosine.  Ties (a text equidistant to two classes, in float64) go to the
  class first in label order.
* **k-NN.**  A text takes the majority label of its ``k = 256`` nearest training examples by cosine (the
  float32 inner product of unit vectors; among examples tied at the ``k``-th place, the earlier training rows,
  the order the retrieval tasks' exact search keeps).  A tied vote goes to the label whose neighbours'
  similarities sum higher (float64 sum of those scores), and a tie there to the label first in label order.
  With fewer than ``k`` training examples, all of them vote.

The paper gives no reference code, so what it leaves open is decided here and recorded in each result's
``details``: examples and label texts are embedded alike (``TextKind.TEXT``, as the probes embed them, so the
embedding cache shares their vectors), a zero vector (an encoder's empty text) has cosine 0 with everything, and
accuracy is the fraction of scored examples that are right.

Hand-written (a few numpy lines) because no library does these tie rules: scikit-learn's
``KNeighborsClassifier`` breaks a tied vote by label order alone and its neighbour ties by its search's order,
and faiss keeps an arbitrary few of the examples tied at the ``k``-th place, which a bag-of-words encoder's many
equal scores make common (the retrieval tasks widen the search until the tie ends; for ``k`` = 256 against a
training set of tens of thousands, one matrix product per block of texts and a partition is ten times faster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

K_NEIGHBOURS = 256
"""The paper's k for SST-2 (Table 3)."""
TEXTS_PER_BLOCK = 256
"""Texts whose similarities to every training example are held at once (256 x 67349 float32: 69 MB for SST-2)."""


@dataclass(frozen=True)
class Predictions:
    """Each scored text's predicted class (an index into the task's sorted labels), and how many were tie-broken."""

    classes: np.ndarray
    ties: int
    """Zero-shot: texts equidistant to two classes or more.  k-NN: texts whose vote tied."""
    summed_ties: int = 0
    """k-NN: texts whose vote and summed similarity both tied (settled by label order)."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 in float64; a zero row stays zero (cosine 0 with everything)."""
    rows = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def zero_shot(texts: np.ndarray, class_vectors: np.ndarray) -> Predictions:
    """The class nearest by cosine to each text (float64); ties to the class first in label order."""
    similarity = unit_rows(texts) @ unit_rows(class_vectors).T
    best = similarity.max(axis=1, keepdims=True)
    ties = int(np.sum((similarity == best).sum(axis=1) > 1))
    return Predictions(np.argmax(similarity, axis=1), ties)  # argmax: the first of equal maxima


def nearest_neighbours(
    texts: np.ndarray, train: np.ndarray, train_classes: np.ndarray, n_classes: int, k: int = K_NEIGHBOURS
) -> Predictions:
    """The majority class of each text's ``min(k, len(train))`` nearest training rows (see the module docstring)."""
    k = min(k, len(train))
    scores, rows = top_k(unit_rows(texts).astype(np.float32), unit_rows(train).astype(np.float32), k)
    labels = train_classes[rows]  # [texts, k]
    votes = np.zeros((len(texts), n_classes), dtype=np.int64)
    summed = np.zeros((len(texts), n_classes), dtype=np.float64)
    line = np.repeat(np.arange(len(texts)), k)
    np.add.at(votes, (line, labels.ravel()), 1)
    np.add.at(summed, (line, labels.ravel()), scores.astype(np.float64).ravel())
    leading = votes == votes.max(axis=1, keepdims=True)
    ranked = np.where(leading, summed, -np.inf)
    best = ranked.max(axis=1, keepdims=True)
    return Predictions(
        np.argmax(ranked, axis=1),  # the first of equal sums: label order
        ties=int(np.sum(leading.sum(axis=1) > 1)),
        summed_ties=int(np.sum((ranked == best).sum(axis=1) > 1)),
    )


def top_k(texts: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's ``k`` most similar training rows (inner product), ties at the ``k``-th score to earlier rows.

    Returns ``(scores, rows)``, ``[texts, k]`` each, the rows of each text in ascending order (the set is what
    matters for a vote, not its order).
    """
    n = len(train)
    scores = np.empty((len(texts), k), dtype=np.float32)
    rows = np.empty((len(texts), k), dtype=np.int64)
    for start in range(0, len(texts), TEXTS_PER_BLOCK):
        similarity = texts[start : start + TEXTS_PER_BLOCK] @ train.T
        if k < n:
            kth = np.partition(similarity, n - k, axis=1)[:, n - k : n - k + 1]  # the k-th largest score
            above, level = similarity > kth, similarity == kth
            room = k - above.sum(axis=1, keepdims=True)  # places left for the tied, filled from the earliest row
            keep = above | (level & (np.cumsum(level, axis=1) <= room))
        else:
            keep = np.ones(similarity.shape, dtype=bool)
        chosen = np.nonzero(keep)[1].reshape(len(similarity), k)  # row-major: each text's rows, ascending
        rows[start : start + len(similarity)] = chosen
        scores[start : start + len(similarity)] = np.take_along_axis(similarity, chosen, axis=1)
    return scores, rows


def details_of(predictions: Predictions, method: str, **more: Any) -> dict[str, Any]:
    """What a result records beside accuracy: the method, its settings and the tie-breaks it needed."""
    details: dict[str, Any] = {"method": method, **more, "tie_broken": predictions.ties}
    if method == "knn":
        details["tie_broken_by_label_order"] = predictions.summed_ties
    return details
