"""Built-in plugins: encoders, tasks and suites shipped with the harness.

They are ordinary plugins, registered through the same hooks and in the same way
as a third-party package's entry point; the host imports the modules listed here.
"""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "harness.plugins.baselines.sentence_transformers",
    "harness.plugins.cpt",
    "harness.plugins.baselines.hashing",
    "harness.plugins.baselines.openai_api",
    "harness.plugins.baselines.transformers_pooled",
    "harness.plugins.baselines.mpnet",
    "harness.plugins.baselines.bm25",
    "harness.plugins.baselines.static_model2vec",
    "harness.plugins.tasks.sts.tasks",
    "harness.plugins.tasks.retrieval.tasks",
    "harness.plugins.tasks.sts.semeval",
    "harness.plugins.tasks.classification.tasks",
    "harness.plugins.tasks.classification.nearest_tasks",
    "harness.plugins.tasks.code_search.tasks",
    "harness.plugins.tasks.open_qa.tasks",
    "harness.plugins.mteb.tasks",
    "harness.plugins.suites",
    "harness.plugins.datasets",
)
