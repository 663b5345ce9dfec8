"""One run's scores minus a model's published MTEB scores, task by task (``harness compare RUN --published``).

The question a user asks first is how a model's numbers here compare with the published ones; answering it
used to need a rerun of every baseline.  Each of the run's results is paired through
``published/mteb_tasks.toml`` (:mod:`harness.results.mteb_published`); a result of the MTEB bridge
(``mteb:<Task>``, mteb's own evaluation) is paired with the published file of that task when the dataset
revision is the same, its published main score being the mean over the split's hf_subsets (as mteb's
``TaskResult.get_score`` aggregates).  A task without a published counterpart is listed with the reason: a
pairing refused on purpose (with the mapping's reason), a published score from an mteb release with
another protocol, or no published score at all.  There is no interval: a published file has no
per-example scores.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError, UsageError
from harness.results.mteb_published import (
    ModelRevision,
    PublishedSet,
    TaskMapping,
    load_mapping,
    read_published,
    read_task_result,
)
from harness.results.published_sources import source_path

BRIDGE_PREFIX = "mteb:"


@dataclass(frozen=True)
class PublishedComparison:
    """One task of the run: ours, the published score, and ``ours - published``; or why there is none."""

    task: str
    metric: str
    ours: float
    published: float | None = None
    mteb_task: str = ""
    mteb_split: str = ""
    mteb_version: str | None = None
    file: str = ""
    note: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.published is None else self.ours - self.published

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "difference": self.difference}


def _model_set(sources: Sequence[str | Path], mapping: TaskMapping) -> PublishedSet:
    sets = []
    for text in sources:
        path = source_path(text)
        if not path.exists():
            raise UsageError(f"{path}: no such folder (compare --published reads a folder of MTEB results)")
        if not path.is_dir():
            raise UsageError(f"{path}: not a folder (compare --published reads a folder of MTEB results)")
        sets.append(read_published(path, mapping))
    merged = PublishedSet(sets[0].source)
    for part in sets:
        merged.scores += part.scores
        merged.not_paired += part.not_paired
        merged.revisions += part.revisions
    return merged


def _choose_model(published: PublishedSet, model: str | None, run_model: str | None) -> PublishedSet:
    names = sorted({r.model for r in published.revisions})
    wanted = model or (names[0] if len(names) == 1 else run_model)
    if wanted is None:
        raise UsageError(f"the published results hold {len(names)} models; name one with --model: {', '.join(names)}")
    chosen = published.for_model(wanted)
    if not chosen.revisions:
        how = "--model" if model else "the run's model (its fingerprint's model_id)"
        raise UsageError(f"{how} {wanted!r} is not in the published results; they hold: {', '.join(names)}")
    if len(chosen.revisions) > 1:
        folders = ", ".join(str(r.folder) for r in chosen.revisions)
        raise UsageError(
            f"{wanted!r} has {len(chosen.revisions)} published revisions; give one as --published: {folders}"
        )
    return chosen


def compare_published(
    records: dict[str, dict[str, Any]], sources: Sequence[str | Path], model: str | None
) -> tuple[ModelRevision, list[PublishedComparison]]:
    """The run's ``records`` (``{task@split: record}``) against one model's published scores."""
    mapping = load_mapping()
    run_models = {str(r.get("encoder", {}).get("fingerprint", {}).get("model_id", "")) for r in records.values()}
    run_model = next(iter(run_models)) if len(run_models) == 1 and "" not in run_models else None
    chosen = _choose_model(_model_set(sources, mapping), model, run_model)
    (revision,) = chosen.revisions
    scores = {score.ref: score for score in chosen.scores}
    skipped = {(n.mteb_task, n.mteb_split): n.reason for n in chosen.not_paired}
    pairs = {f"{p.task}@{p.split}": p for p in mapping.pairs}
    rows = []
    for ref, record in sorted(records.items()):
        task = record.get("task", {})
        name, split = ref.rsplit("@", 1)
        ours = float(record["main_score"])
        metric = str(task.get("main_metric", "main score"))
        if ref in scores:
            score = scores[ref]
            if score.metric != metric:
                rows.append(PublishedComparison(ref, metric, ours, note=f"paired on {score.metric}, not {metric}"))
                continue
            rows.append(PublishedComparison(ref, metric, ours, score.value, score.mteb_task, score.mteb_split,
                                            score.mteb_version, str(score.file)))  # fmt: skip
        elif name.startswith(BRIDGE_PREFIX):
            rows.append(_bridge_row(revision, ref, task, ours, metric))
        else:
            rows.append(
                PublishedComparison(ref, metric, ours, note=_why_unpaired(mapping, pairs, skipped, name, split))
            )
    return revision, rows


def _why_unpaired(
    mapping: TaskMapping, pairs: dict[str, Any], skipped: dict[tuple[str, str], str], name: str, split: str
) -> str:
    refusal = mapping.refusal_for(name, split)
    if refusal is not None:
        return f"no pairing: {refusal.reason}"
    pair = pairs.get(f"{name}@{split}")
    if pair is None:
        return "no pairing: no MTEB task is the same data, split and metric"
    if (pair.mteb_task, pair.mteb_split) in skipped:
        return f"not paired: {skipped[pair.mteb_task, pair.mteb_split]}"
    return f"paired with MTEB {pair.mteb_task} ({pair.mteb_split}), which has no published score for this model"


def _bridge_row(
    revision: ModelRevision, ref: str, task: dict[str, Any], ours: float, metric: str
) -> PublishedComparison:
    """``mteb:<Task>`` (mteb's own evaluation) against the published file of ``<Task>``, same dataset revision.

    The bridge records MTEB's task name and dataset revision as the result's dataset identity
    (``harness.plugins.mteb.tasks.MtebTask.dataset_identity``).
    """
    name, split = ref.rsplit("@", 1)
    identity = task.get("dataset", {}).get("identity", {})
    mteb_task = str(identity.get("mteb_task") or name.removeprefix(BRIDGE_PREFIX))
    path = revision.folder / f"{mteb_task}.json"
    if "/" in mteb_task or ":" in mteb_task or not path.is_file():
        return PublishedComparison(ref, metric, ours, note=f"no published {mteb_task}.json for this model")
    result = read_task_result(path)
    ours_revision = str(identity.get("revision") or "")
    if ours_revision and result.dataset_revision and ours_revision != result.dataset_revision:
        note = f"not paired: dataset revision {ours_revision[:8]} here, {result.dataset_revision[:8]} published"
        return PublishedComparison(ref, metric, ours, note=note)
    subsets = result.scores.get(split)
    if not subsets:
        return PublishedComparison(ref, metric, ours, note=f"the published {mteb_task}.json has no split {split!r}")
    try:
        value = statistics.fmean(result.value(split, subset, metric) for subset in subsets)
    except DataError as exc:
        return PublishedComparison(ref, metric, ours, note=f"not paired: {exc}")
    return PublishedComparison(ref, metric, ours, value, mteb_task, split, result.mteb_version, str(path))


def markdown_published(run: str, model: str, revision: str, rows: Sequence[PublishedComparison]) -> str:
    """The comparison as a Markdown table (for a pull-request comment)."""
    lines = [
        f"**{run}** minus the published MTEB scores of **{model}** (revision {revision[:8]})",
        "",
        f"| task | metric | {run} | published | difference | MTEB task | mteb |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if row.published is None:
            lines.append(f"| {row.task} | {row.metric} | {row.ours:.6f} |  |  | {row.note} |  |")
        else:
            lines.append(f"| {row.task} | {row.metric} | {row.ours:.6f} | {row.published:.6f} | {row.difference:+.6f} "
                         f"| {row.mteb_task} ({row.mteb_split}) | {row.mteb_version or ''} |")  # fmt: skip
    return "\n".join(lines) + "\n"
