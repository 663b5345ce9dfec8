"""(premise, entailment, contradiction) triples from SNLI and MultiNLI: the paper's supervised fine-tuning pairs.

The paper fine-tunes cpt-text on NLI the way SimCSE does (Gao et al., 2021, "supervised SimCSE"): the premise
is ``x``, a hypothesis it entails is ``y``, and a hypothesis it contradicts is the hard negative.  SimCSE
publishes the result (``nli_for_simcse.csv``: columns ``sent0`` = premise, ``sent1`` = entailment, ``hard_neg`` =
contradiction; princeton-nlp/SimCSE ``data/download_nli.sh``) but not the script that built it from SNLI 1.0 and
MultiNLI 1.0, so :func:`mine_nli_pairs` rebuilds it from the releases and documents every choice.

The inputs are the releases' JSON-lines files (``snli_1.0_train.jsonl``, ``multinli_1.0_train.jsonl``): one
labelled pair per line, ``sentence1`` the premise, ``sentence2`` the hypothesis, ``gold_label`` one of
``entailment``, ``neutral``, ``contradiction``, or ``-`` where the annotators reached no majority (SNLI's
README: "the pair should not be included").  Every other field is ignored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data.jsonlines import json_objects, utf8_lines
from harness.encoders.training.mining.shared import FileShard, MiningReport, counted
from harness.encoders.training.pairs import Pair
from harness.errors import DataError, HarnessError, UsageError

NLI_TRAIN_FILES = {
    "snli": "snli_1.0/snli_1.0_train.jsonl",
    "multinli": "multinli_1.0/multinli_1.0_train.jsonl",
}
"""Each registry dataset's training file, relative to a data root (as ``unzip snli_1.0.zip`` lays it out)."""

LABELS = ("entailment", "neutral", "contradiction")
NO_CONSENSUS = "-"
_CONFLICT = "conflict"


@dataclass
class NliReport(MiningReport):
    """What an NLI mining run read and left out, beyond :class:`MiningReport`'s counts.

    ``files_seen`` counts the input files, ``pairs`` the triples written; the rest count lines (``lines``,
    ``no_consensus``, ``blank``, ``repeated``, ``same_as_premise``, ``outside_shard``), hypotheses
    (``conflicting``) or premises (``premises``, ``without_entailment``, ``without_contradiction``,
    ``unused_entailments``).
    """

    lines: int = 0
    no_consensus: int = 0
    blank: int = 0
    repeated: int = 0
    same_as_premise: int = 0
    outside_shard: int = 0
    conflicting: int = 0
    premises: int = 0
    without_entailment: int = 0
    without_contradiction: int = 0
    unused_entailments: int = 0

    def summary(self, out: str | os.PathLike[str] | None = None) -> str:
        """One line with every count that is not zero."""
        details = [
            (self.no_consensus, "without a gold label ('-')"),
            (self.blank, "with a blank sentence"),
            (self.repeated, "repeated"),
            (self.same_as_premise, "with the premise as hypothesis"),
            (self.outside_shard, "of other shards"),
        ]
        skipped = "".join(f", {count} {what}" for count, what in details if count)
        premises = [
            (self.without_contradiction, "with an entailment but no contradiction (dropped)"),
            (self.without_entailment, "without an entailment"),
        ]
        dropped = "".join(f", {count} {what}" for count, what in premises if count)
        line = (
            f"mined {self.pairs} (premise, entailment, contradiction) pairs from {self.files_seen} files "
            f"({self.lines} lines{skipped}; {self.premises} premises{dropped}"
        )
        if self.unused_entailments:
            line += f"; {self.unused_entailments} further entailments unused"
        if self.conflicting:
            line += f"; {self.conflicting} hypotheses under two labels left out"
        line += ")"
        return f"{line} -> {out}" if out is not None else line


def mine_nli_pairs(
    files: Sequence[tuple[str | os.PathLike[str], str]],
    *,
    report: NliReport | None = None,
    shard: FileShard | None = None,
) -> Iterator[Pair]:
    """One (premise, entailment, contradiction) pair per premise, as supervised SimCSE's training file.

    ``files`` are ``(path, label)``: SNLI- or MultiNLI-format JSON lines, read in the order given; ``label`` names
    the file in errors and in each pair's ``source`` (``label:line`` of the entailment's line).  The choices:

    * **Lines** with ``gold_label`` ``-`` (no majority) are skipped, as SNLI's README says.  Neutral lines take
      no part in a pair.  A line whose premise or hypothesis is blank, or whose hypothesis is its premise, is
      skipped (the pairs format refuses empty texts; an identical pair teaches nothing).
    * **Grouping**: hypotheses are grouped by the premise's text, leading and trailing whitespace removed
      (MultiNLI premises often start with a space), across all files, as sentence-transformers'
      ``examples/training/nli/training_nli_v2.py`` groups AllNLI (``train_data[sent1][label].add(sent2)``).
    * **One pair per premise**, the first entailment with the first contradiction of that premise in file
      order; further entailments are unused (counted).  SimCSE publishes no construction script, but its
      counts settle this: its maintainers give 314k pairs without hard negatives and 275,601 rows with them,
      "some of the examples are filtered out because they don't have a corresponding hard example"
      (princeton-nlp/SimCSE issue #238).  314k is every entailment pair of SNLI + MultiNLI train (183,416 +
      130,899 = 314,315, the sentence-transformers/all-nli ``pair`` subset), while SNLI train has 150,736
      distinct premises and MultiNLI about 130,900: one row per premise with both labels is what fits 275,601,
      one row per entailment would be over 300k.  sentence-transformers' script above also makes one triple
      per anchor (with a random entailment and contradiction; here the first ones, so the output is a
      function of the files alone).
    * **A premise with an entailment but no contradiction is dropped**, as SimCSE's file drops it: every line
      of a pairs file has the same number of hard negatives (:mod:`..pairs`), and a row without one would
      train differently.  A premise without an entailment gives nothing.
    * **Dedupe**: a line repeating a (premise, hypothesis, label) already read counts once (SNLI train repeats
      some); a hypothesis a premise has under two labels is left out of that premise's choices, since either
      label may be wrong.  Grouping makes every premise, and so every pair, appear once.
    * **Shards** (``--shard I/N``): a premise belongs to shard ``blake2b(premise) mod N``, so N processes mine
      disjoint premises and together every premise once; every process reads every line (two files are no
      unit to split), and each holds only its premises in memory.

    Raises ``UsageError`` for a missing file at the call; a malformed line is a ``DataError`` naming the file,
    the line and the field, raised before any pair is yielded.
    """
    checked = []
    for path, label in files:
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"NLI file {file}: {'not a file' if file.exists() else 'no such file'}")
        checked.append((file, label))
    if not checked:
        raise UsageError("no NLI files given")
    report = report if report is not None else NliReport()
    return counted(_nli_pairs(checked, report, shard), report)


def _nli_pairs(files: list[tuple[Path, str]], report: NliReport, shard: FileShard | None) -> Iterator[Pair]:
    groups: dict[str, dict[str, tuple[str, str]]] = {}
    """premise -> hypothesis -> (label or _CONFLICT, source of its first line), both in first-seen order."""
    for path, label in files:
        report.files_seen += 1
        for number, gold, premise, hypothesis in _labelled_lines(path, label):
            report.lines += 1
            if gold == NO_CONSENSUS:
                report.no_consensus += 1
            elif not premise or not hypothesis:
                report.blank += 1
            elif premise == hypothesis:
                report.same_as_premise += 1
            elif shard is not None and shard.count > 1 and _shard_of(premise, shard.count) != shard.index:
                report.outside_shard += 1
            else:
                hypotheses = groups.setdefault(premise, {})
                seen = hypotheses.get(hypothesis)
                if seen is None:
                    hypotheses[hypothesis] = (gold, f"{label}:{number}")
                elif seen[0] == gold:
                    report.repeated += 1
                elif seen[0] != _CONFLICT:
                    hypotheses[hypothesis] = (_CONFLICT, seen[1])
                    report.conflicting += 1
    for premise, hypotheses in groups.items():
        report.premises += 1
        entailments = [(text, source) for text, (gold, source) in hypotheses.items() if gold == "entailment"]
        contradictions = [text for text, (gold, _) in hypotheses.items() if gold == "contradiction"]
        if not entailments:
            report.without_entailment += 1
        elif not contradictions:
            report.without_contradiction += 1
        else:
            report.unused_entailments += len(entailments) - 1
            (entailment, source), contradiction = entailments[0], contradictions[0]
            yield Pair(premise, entailment, (contradiction,), source=source)


def _shard_of(premise: str, count: int) -> int:
    digest = hashlib.blake2b(premise.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def _labelled_lines(path: Path, label: str) -> Iterator[tuple[int, str, str, str]]:
    """``(line, gold_label, premise, hypothesis)`` of every non-blank line, texts stripped; errors name the line."""
    for number, record in json_objects(_decoded_lines(path, label), label):
        gold = _string(record, "gold_label", label, number)
        if gold != NO_CONSENSUS and gold not in LABELS:
            raise DataError(
                label, f"field 'gold_label' is {gold!r}; expected {', '.join(LABELS)} or '{NO_CONSENSUS}'", number
            )
        premise = _string(record, "sentence1", label, number).strip()
        hypothesis = _string(record, "sentence2", label, number).strip()
        yield number, gold, premise, hypothesis


def _decoded_lines(path: Path, label: str) -> Iterator[str]:
    """The file's lines (split at ``\\n`` only, as JSON lines are), each decoded as UTF-8 or a ``DataError``."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(label, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        for _, line in utf8_lines(handle, label):
            yield line


def _string(record: dict[str, Any], name: str, label: str, line: int) -> str:
    if name not in record:
        hint = " (an unlabelled test file? train on the train split)" if name == "gold_label" else ""
        raise DataError(label, f"missing field {name!r}{hint}", line)
    value = record[name]
    if not isinstance(value, str):
        raise DataError(label, f"field {name!r} must be a string, found {type(value).__name__}", line)
    return value


def nli_train_files(
    datasets: Sequence[str], *, data_dir: str | os.PathLike[str] | None = None, download: bool = False
) -> list[tuple[Path, str]]:
    """The training file of each registry dataset in ``datasets`` (``snli``, ``multinli``), as ``(path, label)``.

    Looked for as task files are (:mod:`harness.data.locate`): under ``data_dir`` (``--data-dir``, else
    ``$HARNESS_DATA_DIR``), then in the dataset installed by ``harness data fetch NAME``, then, with
    ``download``, fetched (and checked against the registry's sha256) now.  ``label`` is the file's path
    relative to its data root, so a pair's ``source`` is the same wherever the data lies.
    """
    from harness.data.locate import DATA_DIR_ENV
    from harness.data.store import DatasetStore
    from harness.pluginhost import get_host

    unknown = [name for name in datasets if name not in NLI_TRAIN_FILES]
    if unknown:
        raise UsageError(f"--datasets: {unknown[0]!r} is not an NLI dataset; known: {', '.join(NLI_TRAIN_FILES)}")
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    root = Path(chosen).expanduser() if chosen is not None else None
    if root is not None and not root.is_dir():
        raise UsageError(f"--data-dir {root}: no such folder (from --data-dir or ${DATA_DIR_ENV})")
    store = DatasetStore(get_host().catalog.datasets)
    found = []
    for name in datasets:
        relative = NLI_TRAIN_FILES[name]
        looked = []
        if root is not None:
            looked.append(str(root))
            if (root / relative).is_file():
                found.append((root / relative, relative))
                continue
        looked.append(f"the datasets installed in {store.root}")
        if store.installed(name) and (store.folder(name) / relative).is_file():
            found.append((store.folder(name) / relative, relative))
            continue
        if download:
            found.append((store.fetch(name) / relative, relative))
            continue
        raise HarnessError(
            f"{relative}: not found (looked in: {', '.join(looked)}); it belongs to dataset {name!r}: fetch it "
            f"with 'harness data fetch {name}', or rerun with --download, or point --data-dir at the folder "
            f"you unzipped {relative.split('/')[0]}.zip in"
        )
    return found
