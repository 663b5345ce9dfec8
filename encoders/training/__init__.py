"""Contrastive pre-training of cpt models.

* :mod:`.pairs`: the (x, y[, negatives]) JSON-lines format; :mod:`.mining` / :mod:`.mining_cli`: pairs mined
  from plain text (neighbouring spans) and Python code (docstring, body).
* :mod:`.loss`: the symmetric in-batch cross-entropy with a trainable temperature.
* :mod:`.gradcache`: one step, optionally with gradient caching for batches beyond memory.
* :mod:`.distributed`: all-gathered negatives and summed gradients across torchrun processes.
* :mod:`.schedule`, :mod:`.flops`: learning rate and data order by step; useful flops and MFU.
* :mod:`.trainer` / :mod:`.train_cli`: the loop with checkpoints and exact resume, and ``harness train``.
"""
