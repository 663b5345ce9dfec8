"""Built-in plugins: encoders, tasks and suites shipped with the harness.

They are ordinary plugins, registered through the same hooks and in the same way
as a third-party package's entry point; the host imports the modules listed here.
"""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "harness.plugins.encoders.sentence_transformers",
    "harness.plugins.encoders.cpt",
    "harness.plugins.encoders.hashing",
    "harness.plugins.encoders.openai_api",
    "harness.plugins.encoders.transformers_pooled",
    "harness.plugins.encoders.mpnet",
    "harness.plugins.encoders.bm25",
    "harness.plugins.encoders.static_model2vec",
    "harness.plugins.tasks.sts.tasks",
    "harness.plugins.tasks.retrieval.tasks",
    "harness.plugins.tasks.sts.semeval",
    "harness.plugins.tasks.classification.tasks",
    "harness.plugins.tasks.code_search.tasks",
    "harness.plugins.mteb.tasks",
    "harness.plugins.suites",
    "harness.plugins.datasets",
)
