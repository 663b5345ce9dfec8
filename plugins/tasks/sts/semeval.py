"""SemEval STS 2012-2016 (``sts12`` ... ``sts16``), on the :class:`~.tasks.StsTask` base.

Protocol: MTEB's STS12..STS16.  Each year is one pooled test set (all its
subsets concatenated) and the main score is the Spearman correlation of the
cosine similarity with the gold scores over that pool, with the other
similarities of :func:`sts_metrics` alongside.  The gold scores are used as they
are (MTEB rescales them to [0, 1], which no correlation sees).

Texts: MTEB's datasets (``mteb/sts12-sts`` ... ``mteb/sts16-sts``) hold SentEval's
tokenised, lower-cased copies of the inputs, not the original release text.  Their
recorded statistics (MTEB's ``descriptive_stats/STS/STS1x.json``: pair count,
total/min/max text length and unique texts on each side, unique pairs, mean
score) equal, for every year, those of the ``stsNN/senteval/`` files read as they
are, and differ from those of ``stsNN/raw/`` in every year.  So the tasks read
``senteval/``; its gold files are byte-identical to the official ones in ``raw/``.

Subsets are every one the public release carries (STS13's SMT input is licensed by
LDC and absent, as in SentEval and MTEB); pairs without a gold score are skipped.
Per-subset Spearman (``cosine_spearman_<subset>``) and SentEval's unweighted mean
over subsets (``cosine_spearman_subset_mean``) are reported as extra metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import DataFiles, DatasetFile, EncodeFn, TaskOutput, TaskRegister, hookimpl

from .metrics import cached_encode, sts_metrics
from .readers import ScoredPair, read_semeval
from .tasks import StsTask


@dataclass(frozen=True)
class Subset:
    """One SemEval subset: its metric name and its parallel input and gold files."""

    name: str
    input: DatasetFile
    gold: DatasetFile


SUBSET_STEMS: dict[str, tuple[str, ...]] = {
    "sts12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "sts13": ("FNWN", "headlines", "OnWN"),
    "sts14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "sts15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "sts16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}
"""Each year's subsets in the release's order, as its file names spell them (``STS.input.<stem>.txt``)."""


def _subset(year: str, stem: str) -> Subset:
    # The sha256 of every file is the registry's (plugins/datasets/sts.toml, dataset stsNN-senteval); the
    # gold files equal the official release's (stsNN/raw/).
    folder, dataset = f"{year}/senteval", f"{year}-senteval"
    return Subset(
        stem.removeprefix("surprise."),
        DatasetFile(f"{folder}/STS.input.{stem}.txt", dataset=dataset),
        DatasetFile(f"{folder}/STS.gs.{stem}.txt", dataset=dataset),
    )


SUBSETS: dict[str, list[Subset]] = {
    year: [_subset(year, stem) for stem in stems] for year, stems in SUBSET_STEMS.items()
}

DESCRIPTIONS = {
    "sts12": "SemEval-2012 Task 6 STS (Agirre et al., 2012): 3108 pairs in 5 subsets",
    "sts13": "*SEM 2013 STS (Agirre et al., 2013): 1500 pairs in 3 subsets (SMT input is LDC-only)",
    "sts14": "SemEval-2014 Task 10 STS (Agirre et al., 2014): 3750 pairs in 6 subsets",
    "sts15": "SemEval-2015 Task 2 STS (Agirre et al., 2015): 3000 scored pairs in 5 subsets",
    "sts16": "SemEval-2016 Task 1 STS (Agirre et al., 2016): 1186 scored pairs in 5 subsets",
}


class SemevalTask(StsTask):
    """A SemEval STS year: one pooled test split over its subsets, as MTEB scores it."""

    splits = ("test",)
    default_split = "test"

    def __init__(self, year: str) -> None:
        self.year = year
        self.subsets = SUBSETS[year]
        self.description = DESCRIPTIONS[year] + "; MTEB protocol on SentEval's text, Spearman of cosine over the pool."

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [f for s in self.subsets for f in (s.input, s.gold)]

    def read(self, files: DataFiles) -> dict[str, list[ScoredPair]]:
        """Every subset's scored pairs, in the release's order."""
        return {s.name: read_semeval(files, s.input.path, s.gold.path) for s in self.subsets}

    def read_pairs(self, files: DataFiles, split: str) -> list[ScoredPair]:
        return [pair for pairs in self.read(files).values() for pair in pairs]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """The base's metrics over the pool, plus each subset's Spearman and their unweighted mean."""
        by_subset = self.read(files)
        pooled = [pair for pairs in by_subset.values() for pair in pairs]
        lookup = cached_encode(encode, [p.sentence1 for p in pooled] + [p.sentence2 for p in pooled])
        output = sts_metrics(pooled, lookup)
        per_subset = {name: sts_metrics(pairs, lookup).main_score for name, pairs in by_subset.items()}
        output.metrics.update({f"cosine_spearman_{name}": value for name, value in per_subset.items()})
        output.metrics["cosine_spearman_subset_mean"] = float(np.mean(list(per_subset.values())))
        output.details = {"pairs_per_subset": {name: len(pairs) for name, pairs in by_subset.items()}}
        return output


def _year(year: str) -> Any:
    return lambda: SemevalTask(year)


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    for year in SUBSETS:
        register(year, _year(year), DESCRIPTIONS[year].split(":")[0] + ", Spearman of cosine (MTEB)")
