"""The contrastive objective of the paper (section 2.1).

For a batch of N pairs (x_i, y_i) the logits are ``exp(tau) * cos(x_i, y_j)``; each
x_i must pick y_i among all N documents and each y_i must pick x_i among all N
queries: the mean of the two cross-entropies.  Every other pair of the batch is
a negative, which is why the paper trains with batches of thousands.  Hard
negatives (the paper's NLI fine-tuning uses contradictions) are extra document
columns: they compete for x_i but are not queries for the y -> x direction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric in-batch cross-entropy.

    ``queries`` and ``documents`` are ``[N, d]`` unit vectors (row i of each is a
    positive pair); ``negatives`` is ``[M, d]`` (any M, e.g. N * k hard negatives);
    ``scale`` is exp(tau).  Returns the scalar loss, averaged over the batch.
    """
    if queries.shape != documents.shape:
        raise ValueError(f"queries {tuple(queries.shape)} and documents {tuple(documents.shape)} differ in shape")
    n = queries.shape[0]
    columns = documents if negatives is None else torch.cat([documents, negatives.to(documents.dtype)])
    logits = scale * queries @ columns.T
    targets = torch.arange(n, device=queries.device)
    query_to_document = F.cross_entropy(logits, targets)
    document_to_query = F.cross_entropy(logits[:, :n].T, targets)
    return (query_to_document + document_to_query) / 2


def in_batch_accuracy(queries: torch.Tensor, documents: torch.Tensor) -> float:
    """Share of queries whose own document is the nearest in the batch: a cheap training signal to log."""
    with torch.no_grad():
        predicted = (queries @ documents.T).argmax(dim=1)
        return float((predicted == torch.arange(len(queries), device=queries.device)).float().mean())
