"""Comparing two encoders task by task, with paired-bootstrap confidence intervals.

A difference of 0.4 points on SciFact's 300 queries may be noise; on SICK's 10k
pairs it rarely is.  Result files carry each test example's part in the main score
(:class:`harness.task.PerExample`), so the comparison resamples the *same* examples
for both encoders (a paired bootstrap: Efron & Tibshirani 1993; Koehn 2004 for MT)
and recomputes both main scores on each resample.  The percentile interval of the
differences says how sure the difference is; it is significant when the interval
excludes zero.  Spearman tasks (STS) are recomputed as correlations on each
resample, not averaged, so the interval is that of the real main metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from harness.errors import UsageError
from harness.results.files import iter_results, warn_unreadable
from harness.task import PerExample

RESAMPLES = 1000
CHUNK = 100
"""Resamples computed at once: bounds memory at CHUNK x examples per array."""


@dataclass
class TaskComparison:
    task: str
    metric: str
    score_a: float
    score_b: float
    difference: float
    """score_b - score_a."""
    low: float | None = None
    high: float | None = None
    n_examples: int | None = None
    note: str = ""

    @property
    def significant(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


def read_result_folder(source: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """One encoder's results: ``(encoder name, {task@split: record})`` from a folder or a leaderboard file.

    A results folder with several encoders (``harness run --out``) is refused with the
    folders to choose from; a leaderboard gives scores only (no intervals).  An unreadable
    result file is named in a warning, never silently missing from the comparison.
    """
    source = Path(source)
    if source.is_file():
        return _from_leaderboard(source)
    if not source.is_dir():
        raise UsageError(f"{source}: no such results folder or leaderboard file")
    records: dict[str, dict[str, Any]] = {}
    folders: dict[str, set[Path]] = {}
    for path, record in iter_results(source, lambda error: warn_unreadable(error, "left out of the comparison")):
        records[f"{record['task']['name']}@{record['task']['split']}"] = record
        folders.setdefault(record["encoder"]["name"], set()).add(path.parent)
    if not records:
        raise UsageError(f"{source}: no result files (expected <task>@<split>.json files)")
    if len(folders) > 1:
        # The folders the files are in: an encoder's folder is its name made file-safe (hf:X -> hf_X-<hash>).
        choices = ", ".join(sorted({str(folder) for found in folders.values() for folder in found}))
        raise UsageError(f"{source} holds results of {len(folders)} encoders; give one folder: {choices}")
    return next(iter(folders)), records


def _from_leaderboard(path: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
        rows = board["encoders"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a leaderboard file ({exc})") from None
    if len(rows) != 1:
        names = ", ".join(sorted(rows))
        raise UsageError(f"{path} ranks {len(rows)} encoders ({names}); compare result folders instead")
    (name, row), *_ = rows.items()
    return name, {task: {"main_score": score, "task": {}} for task, score in row.get("scores", {}).items()}


def compare(
    source_a: Path, source_b: Path, *, resamples: int = RESAMPLES, confidence: float = 0.95, seed: int = 0
) -> tuple[str, str, list[TaskComparison]]:
    """Compare every task both sources have; returns (name A, name B, comparisons in task order)."""
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
    if resamples < 100:
        raise UsageError(f"--resamples must be at least 100, got {resamples}")
    name_a, records_a = read_result_folder(source_a)
    name_b, records_b = read_result_folder(source_b)
    shared = sorted(set(records_a) & set(records_b))
    if not shared:
        raise UsageError(f"{source_a} and {source_b} have no task in common")
    comparisons = []
    sides = ((name_a, Path(source_a), records_a), (name_b, Path(source_b), records_b))
    for offset, task in enumerate(shared):
        lacking = _no_per_example(task, sides)
        comparisons.append(
            _compare_task(task, records_a[task], records_b[task], resamples, confidence, seed + offset, lacking)
        )
    return name_a, name_b, comparisons


def _no_per_example(task: str, sides: Iterable[tuple[str, Path, dict[str, dict[str, Any]]]]) -> str:
    """Why ``task`` gets no interval (a side without per-example scores), and what would give one; ``""``: none lacks.

    Result files do not record ``--no-per-example``; a run made with it has no per-example scores in any file,
    while a run without it lacks them only for tasks that record none (a plugin's task need not).
    """
    for name, source, records in sides:
        if "per_example" in records[task]:
            continue
        if source.is_file():
            return f"{source} is a leaderboard: scores only, no intervals (compare result folders)"
        if not any("per_example" in record for record in records.values()):
            return f"the {name} run has no per-example scores (it was made with --no-per-example; rerun without it)"
        return f"no per-example scores in {name}'s result of this task (the task records none): no interval"
    return ""


def _compare_task(
    task: str, a: dict[str, Any], b: dict[str, Any], resamples: int, confidence: float, seed: int, lacking: str
) -> TaskComparison:
    metric = a.get("task", {}).get("main_metric") or b.get("task", {}).get("main_metric") or "main score"
    result = TaskComparison(task, metric, float(a["main_score"]), float(b["main_score"]), 0.0)
    result.difference = result.score_b - result.score_a
    dataset_a = a.get("task", {}).get("dataset", {}).get("sha256")
    dataset_b = b.get("task", {}).get("dataset", {}).get("sha256")
    if dataset_a and dataset_b and dataset_a != dataset_b:
        result.note = "different dataset files: not comparable"
        return result
    if lacking:
        result.note = lacking
        return result
    examples_a = PerExample.from_json(a["per_example"])
    examples_b = PerExample.from_json(b["per_example"])
    try:
        aligned_a, aligned_b = align(examples_a, examples_b)
    except ValueError as exc:
        result.note = str(exc)
        return result
    low, high = paired_bootstrap(aligned_a, aligned_b, resamples=resamples, confidence=confidence, seed=seed)
    result.low, result.high, result.n_examples = low, high, len(next(iter(aligned_a.values.values())))
    return result


def align(a: PerExample, b: PerExample) -> tuple[PerExample, PerExample]:
    """Put both encoders' examples in the same order (by id when named, else positionally)."""
    if a.statistic != b.statistic:
        raise ValueError(f"per-example statistics differ ({a.statistic} vs {b.statistic})")
    if a.ids is None or b.ids is None:
        sizes = {len(next(iter(a.values.values()))), len(next(iter(b.values.values())))}
        if len(sizes) != 1:
            raise ValueError(f"per-example counts differ ({' vs '.join(map(str, sorted(sizes)))})")
        return a, b
    if set(a.ids) != set(b.ids):
        raise ValueError(f"the example ids differ ({len(set(a.ids) ^ set(b.ids))} not in both)")
    position = {name: i for i, name in enumerate(b.ids)}
    order = [position[name] for name in a.ids]
    reordered = PerExample(b.statistic, {k: [v[i] for i in order] for k, v in b.values.items()}, list(a.ids))
    return a, reordered


def paired_bootstrap(
    a: PerExample, b: PerExample, *, resamples: int = RESAMPLES, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``stat(b) - stat(a)`` over resamples of the (aligned) examples."""
    differences = np.concatenate(list(_resampled_differences(a, b, resamples, seed)))
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def _resampled_differences(a: PerExample, b: PerExample, resamples: int, seed: int) -> Iterator[np.ndarray]:
    generator = np.random.default_rng(seed)
    arrays_a = {k: np.asarray(v, dtype=np.float64) for k, v in a.values.items()}
    arrays_b = {k: np.asarray(v, dtype=np.float64) for k, v in b.values.items()}
    n = len(next(iter(arrays_a.values())))
    for start in range(0, resamples, CHUNK):
        index = generator.integers(0, n, size=(min(CHUNK, resamples - start), n))
        if a.statistic == "mean":
            yield arrays_b["score"][index].mean(axis=1) - arrays_a["score"][index].mean(axis=1)
        else:
            gold = arrays_a["gold"][index]
            yield _spearman_rows(arrays_b["prediction"][index], gold) - _spearman_rows(
                arrays_a["prediction"][index], gold
            )


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair, with average ranks for ties (as scipy.stats.spearmanr)."""
    rx = rankdata(x, axis=1)
    ry = rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    return (rx * ry).sum(axis=1) / np.where(denominator == 0, 1.0, denominator)


def markdown_comparison(name_a: str, name_b: str, rows: list[TaskComparison], confidence: float) -> str:
    """The comparison as a Markdown table (for a pull-request comment)."""
    level = f"{confidence:.0%}"
    lines = [
        f"**{name_b}** minus **{name_a}**, paired bootstrap {level} intervals",
        "",
        f"| task | metric | {name_a} | {name_b} | difference | {level} interval | significant |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        interval = f"[{row.low:+.4f}, {row.high:+.4f}]" if row.low is not None else row.note
        significant = {True: "yes", False: "no", None: "-"}[row.significant]
        lines.append(
            f"| {row.task} | {row.metric} | {row.score_a:.4f} | {row.score_b:.4f} | {row.difference:+.4f} | "
            f"{interval} | {significant} |"
        )
    return "\n".join(lines) + "\n"
