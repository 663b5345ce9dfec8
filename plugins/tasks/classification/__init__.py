"""Classification: SentEval's linear probes on frozen embeddings.

``tasks`` holds the public base :class:`~.tasks.ClassificationTask` (``harness.tasks.ClassificationTask``:
train/test texts and labels in, the probe's accuracy over three seeds out) and SentEval's seven tasks
built on it; ``linear_probe`` the probes; ``metrics`` the seed metrics; ``readers`` the file formats.
"""
