"""SemEval STS 2012-2016 (``sts12`` ... ``sts16``) and user STS files (``sts:/path/file``).

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import DataError, DataFiles, DatasetFile, EncodeFn, Task, TaskOutput, TextKind, hookimpl
from harness.task import task_path

from .semeval_files import USER_FORMATS, read_semeval, read_user_sts, user_format
from .sts import StsTask, sts_metrics
from .sts_files import ScoredPair


@dataclass(frozen=True)
class Subset:
    """One SemEval subset: its metric name and its parallel input and gold files."""

    name: str
    input: DatasetFile
    gold: DatasetFile


def _subset(year: str, name: str, stem: str, input_sha: str, gold_sha: str, prefix: str = "STS") -> Subset:
    folder = f"{year}/senteval"
    return Subset(
        name,
        DatasetFile(f"{folder}/{prefix}.input.{stem}.txt", input_sha),
        DatasetFile(f"{folder}/{prefix}.gs.{stem}.txt", gold_sha),
    )


# sha256 from shared/data/SHA256SUMS.  Gold files equal the official release's (stsNN/raw/).
SUBSETS: dict[str, list[Subset]] = {
    "sts12": [
        _subset(
            "sts12",
            "MSRpar",
            "MSRpar",
            "21c0c6cc32f68f69d672dfae0f86935cdc2627bae4941381692941aa9320f8c4",
            "5526be59228bc34ccb3cb6f1f56c0d7278d3419b8886713ae016fd92b151f19c",
        ),
        _subset(
            "sts12",
            "MSRvid",
            "MSRvid",
            "c4a92a3645744f77d1cda9f2af7da5d11e807ae296f6a20fe5930403fb9c4dfe",
            "9c6096c6bcfb0144c8bbddb00900ca9198c88498630cd0c8f08d18365f1d7150",
        ),
        _subset(
            "sts12",
            "SMTeuroparl",
            "SMTeuroparl",
            "05acf33c0fcb592347f49e279137a17e0244d7b0d37cc113134320a5d3f586e1",
            "708530c4d006d06881f3289fce35d624d7efe562dcf0fe5f8aa0eec3a135f6d4",
        ),
        _subset(
            "sts12",
            "OnWN",
            "surprise.OnWN",
            "e605c67de4b7cee2c5629239d209e2845920f475ebd0468bdcf03d8da2ffa9cf",
            "088d8ca22c0aa406e4a5d2e6e308a4f38b482b8e736c2445a38ffb6e4c4fb4fd",
        ),
        _subset(
            "sts12",
            "SMTnews",
            "surprise.SMTnews",
            "cc4a0b9a1355c5680a8a37c02f2d08e35f95754b9f89a2a4a05088ee5ff57ffe",
            "aa6dfc868db333c43dc59be14d46fa6587c7ebddc0d497e717f647bf35121cf1",
        ),
    ],
    "sts13": [
        _subset(
            "sts13",
            "FNWN",
            "FNWN",
            "a20cb41a33a528f3c089c94ef24da8eb5e26ed594937cf6fa90f3d1c79d6c53c",
            "8ca95b7228119578e2007839cf7969f22c4f1fd41fd610c4b7f9683072d98066",
        ),
        _subset(
            "sts13",
            "headlines",
            "headlines",
            "637f3b4afdc8d1cc789e91a4d7217efff30e503c34a872d93e8b27e7b1136cb7",
            "f49f64089011436dd296ef384c07160219406feef7dc4b9fa2af52a519f32bc6",
        ),
        _subset(
            "sts13",
            "OnWN",
            "OnWN",
            "cb74993eef23cfa2c03da7e5a08c62e50c9baafae0fa9ba0bb5a09d8e7d2be65",
            "0cd497aaddb00a2fb6db25f77bccfc09e8aa012e11549b81b434bab1a27ad954",
        ),
    ],
    "sts14": [
        _subset(
            "sts14",
            "deft-forum",
            "deft-forum",
            "b39579e59c7b9f4063545c3d4643f8db16dc060cd0a35447ef56ff0aabec9d83",
            "ba6dc76696b5c93985590a325b4d142449932cdf0d715b2bab1b1743fe3c488c",
        ),
        _subset(
            "sts14",
            "deft-news",
            "deft-news",
            "cc450dcd9228211c1a311de1ff28199f166dce6f7fc81dcb5ce968a3a8a80d2d",
            "105c5b333abd50c274efb4dae9e3e0dab36ed63eee780cfb49955b1586bd62f2",
        ),
        _subset(
            "sts14",
            "headlines",
            "headlines",
            "2ed0ea55d196cdbb440ed428eb1846dcb43486a692aafb22b3bc5c14c44407c8",
            "f243c34647255cd0b994565ed4f58dd31506e7d9c9d6250d1a6dd14095625832",
        ),
        _subset(
            "sts14",
            "images",
            "images",
            "295fc99f8a9215c330b36a08bc1ff3e428f10057be5bb915262111494b3616e2",
            "fc994ebacc7074c332626fa9e29542d7340a48a3cdb999b47cdb59c378523a62",
        ),
        _subset(
            "sts14",
            "OnWN",
            "OnWN",
            "8cd2333328d17e3212afa2d43dd934c5521e3fd35fc786b992dc7864f9d34f8f",
            "1c80147df270ea4cfce14a47ed29f8a2f10d5dc016d02836077fd786ff7f535b",
        ),
        _subset(
            "sts14",
            "tweet-news",
            "tweet-news",
            "b25b3768762aa7cdcd89f2a25ce5049de7e4cd51b138227c3a31092ae8e2b5f5",
            "0098c644bfeaa2d511a8297b1940771865900c372c9dd49a62726dc5ec02c9a3",
        ),
    ],
    "sts15": [
        _subset(
            "sts15",
            "answers-forums",
            "answers-forums",
            "b8f1bc125559adbb3ac5b33206472b217c12621c3a6b5a8575da47dc0b536fc4",
            "1644301a7540e5484da285002e9269062852efb2272be614cad99c9530f6a102",
        ),
        _subset(
            "sts15",
            "answers-students",
            "answers-students",
            "4893f736e84cea176c39c882250f6513d5bbcfa6ebe8d3ffabcef6056d0471a7",
            "028db213140f8c7aef7497c4ae38b6380938f20359852231669c83dce11c3701",
        ),
        _subset(
            "sts15",
            "belief",
            "belief",
            "a54ec7af1924c900d8474586abae465819d2c03c73561aa2e76e7fa5e836faff",
            "5736192faaccbdbecd0ef6b73ec04b24115cd2e48d55dc3b1b170da3d2a81c75",
        ),
        _subset(
            "sts15",
            "headlines",
            "headlines",
            "85d90b0f8f258a47758808d382188ba2ee7b1adbbf84feb776afad0e4691d5d1",
            "e8e432f769c8a94ddb62ae3343890ac24a9dd78a116d56c707313bc59413dd56",
        ),
        _subset(
            "sts15",
            "images",
            "images",
            "0dac9494186838a8f4dfbb4ee290fec8d7581cf84a33d615c522700b3b50e0d6",
            "ed8878209098c77ca7f02ac413d3fd698f92ad3425999555e50fda89fc46012a",
        ),
    ],
    "sts16": [
        _subset(
            "sts16",
            "answer-answer",
            "answer-answer",
            "ebbffced7d4630755e61d4dfe4d82121198965a14b9f5734b5abedb961f0725c",
            "332efd741b0cb247d20dd2a6cec854360c921c7e6b395f328f562d8d26057214",
        ),
        _subset(
            "sts16",
            "headlines",
            "headlines",
            "705c3e82fb85fa3b6706a481b790e1030304ddc9c72d39e126693ed44b258ba6",
            "01e33a95996201a6e81e3cce9eda0f15048b77613ea64dce2929bb35479f7d85",
        ),
        _subset(
            "sts16",
            "plagiarism",
            "plagiarism",
            "dd4ca54d1dfcd7d1cabe67f0de98cde23f4c1696ecc0003afbecae1274305d63",
            "29984944a91aaff484f2b2e5d4d434fc8a6f5ef6f578a880cccd2786f5142fdc",
        ),
        _subset(
            "sts16",
            "postediting",
            "postediting",
            "9b455d8da1d1bae692d038da1d431827d23bfec04c64b109efc3b6b620fd422f",
            "81947ed9dbe7f85b7bd249df68ed5c7b2f16f06390ad568eb5554b1e26bc5577",
        ),
        _subset(
            "sts16",
            "question-question",
            "question-question",
            "58920c7da7dbc1b860609310782d88b7457d599c90a226819b5880262dd7f58a",
            "cf9ebf9d140191f73620cda0560947ad9283c910735d0d541b8a401a5e64afb0",
        ),
    ],
}

DESCRIPTIONS = {
    "sts12": "SemEval-2012 Task 6 STS (Agirre et al., 2012): 3108 pairs in 5 subsets",
    "sts13": "*SEM 2013 STS (Agirre et al., 2013): 1500 pairs in 3 subsets (SMT input is LDC-only)",
    "sts14": "SemEval-2014 Task 10 STS (Agirre et al., 2014): 3750 pairs in 6 subsets",
    "sts15": "SemEval-2015 Task 2 STS (Agirre et al., 2015): 3000 scored pairs in 5 subsets",
    "sts16": "SemEval-2016 Task 1 STS (Agirre et al., 2016): 1186 scored pairs in 5 subsets",
}


def cached_encode(encode: EncodeFn, texts: Sequence[str]) -> EncodeFn:
    """Encode ``texts`` once, in one call; return an ``encode`` that looks rows up.

    The pooled set and each subset are scored from the same vectors, so every
    text is encoded once and the runner's timings and counts cover one pass.
    """
    unique = list(dict.fromkeys(texts))
    vectors = np.asarray(encode(unique, TextKind.TEXT))
    row = {text: i for i, text in enumerate(unique)}
    return lambda batch, _kind: vectors[[row[text] for text in batch]]


class SemevalTask(Task):
    """A SemEval STS year: one pooled test split over its subsets, as MTEB scores it."""

    family = "sts"
    main_metric = "cosine_spearman"
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

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        by_subset = self.read(files)
        pooled = [pair for pairs in by_subset.values() for pair in pairs]
        lookup = cached_encode(encode, [p.sentence1 for p in pooled] + [p.sentence2 for p in pooled])
        output = sts_metrics(pooled, lookup)
        per_subset = {name: sts_metrics(pairs, lookup).main_score for name, pairs in by_subset.items()}
        output.metrics.update({f"cosine_spearman_{name}": value for name, value in per_subset.items()})
        output.metrics["cosine_spearman_subset_mean"] = float(np.mean(list(per_subset.values())))
        output.details = {"pairs_per_subset": {name: len(pairs) for name, pairs in by_subset.items()}}
        return output


def user_sts(argument: str | None) -> StsTask:
    """``sts:/path/file.{tsv,csv,jsonl}``: a user's scored pairs as a one-split STS task."""
    assert argument is not None
    path = Path(argument).expanduser()
    if not path.is_file():
        kinds = ", ".join(USER_FORMATS)
        raise DataError(path, f"no such file (sts: takes a {kinds} file with sentence1, sentence2, score)")
    user_format(str(path))
    return StsTask(f"User STS file {path.name}", {"test": [DatasetFile(task_path(path))]}, read_user_sts)


def _year(year: str) -> Any:
    return lambda _argument: SemevalTask(year)


@hookimpl
def harness_register_tasks(register: Any) -> None:
    for year in SUBSETS:
        register(year, _year(year), DESCRIPTIONS[year].split(":")[0] + ", Spearman of cosine (MTEB)")
    register("sts:", user_sts, "an STS file of sentence1, sentence2, score: sts:/path/file.tsv|.csv|.jsonl")
