"""Code search: natural-language queries rank code snippets; mean reciprocal rank.

``tasks`` holds the public base :class:`~.tasks.CodeSearchTask` (``harness.tasks.CodeSearchTask``) and the
CodeSearchNet and CoSQA tasks; ``metrics`` the rank rules and metrics; ``readers`` the file formats.
"""
