"""Built-in task plugins, one subpackage per task family (``sts``, ``retrieval``, ``classification``,
``code_search``), each with its tasks, its metrics and its dataset readers.

Each family's base class (``harness.tasks``) is public: a plugin's task on a new dataset is its metadata
and a reader, and gets the family's metrics from the base.
"""
