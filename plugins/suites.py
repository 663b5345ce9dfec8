"""Built-in suites: the embedded default, one per task family, and the paper's full set.

Task order within each suite follows the cpt paper's tables, and the leaderboard
lays its columns out in this order.
"""

from __future__ import annotations

from harness import SuiteRegister, hookimpl

from .tasks.code_search.tasks import CSN_HELD_LOCALLY, CSN_LANGUAGES

DEFAULT_SUITE = ("stsb", "sickr", "sickr@full", "scifact")

BEIR_SUITE = (
    "beir-trec-covid", "beir-nfcorpus", "beir-fiqa", "beir-arguana", "beir-touche2020", "beir-dbpedia-entity",
    "beir-quora", "scifact", "beir-climate-fever", "beir-fever", "beir-hotpotqa", "beir-nq", "beir-msmarco",
)  # fmt: skip
"""The paper's Table 6 BEIR sets plus NQ and MS MARCO: not part of ``paper`` (which runs on the data we hold),
since most must be downloaded first (``harness data fetch`` or ``--download``)."""

QA_SUITE = ("msmarco-passage", "nq-open", "triviaqa-open")
"""The paper's Table 5: MS MARCO MRR@10, NQ and TriviaQA top-20/100 accuracy; not part of ``paper`` either, since
they need the 4.7 GB DPR passages and the 1.1 GB MS MARCO archive downloaded first."""

ZERO_SHOT_SUITE = ("sst2-zeroshot", "sst2-zeroshot-prompt", "sst2-knn")
"""The paper's Table 3: SST-2 classified without a probe.  Not part of ``paper``, whose tasks every committed
reference run covers; ``<task>-zeroshot``, ``-zeroshot-prompt`` and ``-knn`` exist for every single-text task."""

CODESEARCHNET_SUITE = tuple(f"csn-{language.name}" for language in CSN_LANGUAGES)
"""The paper's Table 7 (Ruby, JavaScript, Go, Python, Java, PHP); the leaderboard shows its average, as the
paper's "Avg" column."""

DOWNLOADED = frozenset(f"csn-{language.name}" for language in CSN_LANGUAGES if language.name not in CSN_HELD_LOCALLY)
"""Family-suite tasks whose data the project's shared data does not hold (``--download`` fetches it): not in
``paper``, which runs on the data we hold (``--data-dir ../shared/data``)."""

FAMILY_SUITES: dict[str, tuple[tuple[str, ...], str]] = {
    "classification": (
        ("mr", "cr", "subj", "mpqa", "sst2", "trec", "mrpc"),
        "SentEval linear probes, the paper's Table 2",
    ),
    "sts": (
        ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr"),
        "sentence similarity: STS12-16, STS-B, SICK-R",
    ),
    "retrieval": (("scifact",), "BEIR-layout retrieval held locally"),
    "code-search": (
        (*CODESEARCHNET_SUITE, "cosqa"),
        "CodeSearchNet MRR with 999 distractors in six languages (the paper's Table 7), CoSQA",
    ),
}


@hookimpl
def harness_register_suites(register: SuiteRegister) -> None:
    register(
        "default",
        DEFAULT_SUITE,
        "runs offline from the embedded data: STS-B, SICK-R (SentEval's test split and MTEB's full set), SciFact",
    )
    for name, (tasks, description) in FAMILY_SUITES.items():
        needs_data = any(task not in DEFAULT_SUITE for task in tasks)
        register(name, tasks, description + (" (needs --data-dir or --download)" if needs_data else ""))
    register(
        "paper",
        tuple(task for tasks, _ in FAMILY_SUITES.values() for task in tasks if task not in DOWNLOADED),
        "every task of the paper that the harness holds (needs --data-dir or --download)",
    )
    register(
        "codesearchnet",
        CODESEARCHNET_SUITE,
        "the paper's Table 7: CodeSearchNet MRR in six languages, 1000 candidates (needs --download)",
        average=True,
    )
    register(
        "codesearchnet-10k",
        tuple(f"{task}@test-10k" for task in CODESEARCHNET_SUITE),
        "CodeSearchNet MRR in six languages, 10000 candidates (the test-10k splits; needs --download)",
        average=True,
    )
    register(
        "zero-shot",
        ZERO_SHOT_SUITE,
        "the paper's Table 3: SST-2 zero-shot from label words and from a prompt, and k-NN with k = 256 "
        "(needs --data-dir or --download)",
    )
    register(
        "beir",
        BEIR_SUITE,
        "the paper's Table 6 BEIR sets plus NQ and MS MARCO (needs --download or harness data fetch)",
    )
    register(
        "paper-qa",
        QA_SUITE,
        "the paper's Table 5: MS MARCO passage MRR@10, NQ and TriviaQA retrieval accuracy (needs --download or "
        "harness data fetch; 21M passages)",
    )
