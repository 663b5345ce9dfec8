"""Published rows from a source, for ``--published PATH`` of ``harness leaderboard``, ``report`` and ``compare``.

A source is either a TOML file of verified published rows (:mod:`harness.results.published_rows`; the
packaged one is the cpt paper's, also named by the word ``cpt-paper``) or a folder of MTEB results in the
layout of embeddings-benchmark/results (:mod:`harness.results.mteb_published`).  Either becomes

* :class:`PublishedRow` entries for the leaderboard: one published main score of one of our tasks at one
  split, with the row it belongs to and where it came from (never mixed with the folder's runs: the
  leaderboard keeps them under ``"published"``, and every table marks their rows as published);
* :class:`~harness.results.published_rows.PublishedCell` entries for the paper-layout report.

A paper row's cell enters the leaderboard only where its column is the task's main metric at its default
split (the leaderboard shows main scores); an MTEB score enters the report only where its task, split and
metric are a paper column's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.catalog import TaskRef
from harness.errors import DataError, HarnessError
from harness.pluginhost import PluginHost
from harness.results.mteb_published import PublishedSet, TaskMapping, load_mapping, read_published
from harness.results.published_rows import CPT_PAPER_ROWS, PublishedCell, load_published

CPT_PAPER = "cpt-paper"
"""The word that names the packaged cpt paper rows as a source (``--published cpt-paper``)."""


def source_path(text: str | Path) -> Path:
    """The path a ``--published`` argument names (``cpt-paper``: the packaged rows, unless such a file exists)."""
    path = Path(text)
    return CPT_PAPER_ROWS if str(text) == CPT_PAPER and not path.exists() else path


def is_mteb_folder(path: Path) -> bool:
    return Path(path).is_dir()


def check_source(path: Path) -> None:
    if not path.exists():
        raise DataError(
            path, "no such file or folder (--published takes a TOML of published rows or an MTEB results folder)"
        )


@dataclass(frozen=True)
class PublishedRow:
    """One published main score beside the runs: whose (``row``), for which task and split, and its origin."""

    row: str
    task: str
    split: str
    family: str
    default_split: str
    main_metric: str
    main_score: float
    origin: str
    """Short, for the row's label: ``MTEB 1.12.75, revision 8b3219a9`` or the paper table."""
    source: str
    """Long, for notes: the source and the file or citation the number is from."""
    mteb: dict[str, Any] | None = None
    """For an MTEB score: its model, revision, mteb version, MTEB task, split, hf_subset, file."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.mteb is None:
            data.pop("mteb")
        return data


def _task_facts(host: PluginHost, task: str, cache: dict[str, tuple[str, str, str]]) -> tuple[str, str, str]:
    """(family, default split, main metric) of one of our tasks."""
    if task not in cache:
        try:
            built = host.catalog.build_task(TaskRef.parse(task))
        except HarnessError as exc:
            raise HarnessError(f"published rows name task {task!r}, which cannot be built here: {exc}") from None
        cache[task] = (built.family, built.default_split, built.main_metric)
    return cache[task]


def leaderboard_rows(host: PluginHost, sources: Sequence[str | Path], folder: Path | None = None) -> list[PublishedRow]:
    """Every source's published main scores of our tasks, in source order."""
    rows: list[PublishedRow] = []
    facts: dict[str, tuple[str, str, str]] = {}
    mapping: TaskMapping | None = None
    for text in sources:
        path = source_path(text)
        check_source(path)
        if is_mteb_folder(path):
            mapping = mapping or load_mapping()
            rows += _mteb_rows(host, read_published(path, mapping), facts, folder)
        else:
            rows += _paper_rows(host, path, facts)
    return rows


def _shown_path(path: Path, folder: Path | None) -> str:
    """``path`` relative to the leaderboard's folder (so committed pages do not name a machine's folders)."""
    if folder is None:
        return path.as_posix()
    try:
        return Path(os.path.relpath(path.resolve(), Path(folder).resolve())).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


def _mteb_rows(
    host: PluginHost, published: PublishedSet, facts: dict[str, tuple[str, str, str]], folder: Path | None
) -> list[PublishedRow]:
    rows = []
    for score in published.scores:
        family, default_split, main_metric = _task_facts(host, score.task, facts)
        if score.metric != main_metric:
            continue  # the leaderboard shows main scores
        version = score.mteb_version or "version not recorded"
        file = _shown_path(score.file, folder)
        mteb = {**score.to_json(), "file": file}
        mteb.pop("value")
        rows.append(
            PublishedRow(score.model, score.task, score.split, family, default_split, main_metric, score.value,
                         f"MTEB {version}, revision {score.revision[:8]}",
                         f"MTEB results {file} ({score.mteb_task} {score.mteb_split}, mteb {version})", mteb)
        )  # fmt: skip
    return rows


def _paper_rows(host: PluginHost, path: Path, facts: dict[str, tuple[str, str, str]]) -> list[PublishedRow]:
    from harness.results.paper_tables import CPT_TABLES, table_columns

    columns = {(t.number, c.key): c for t in CPT_TABLES for c in t.columns}
    rows = []
    for cell in load_published(path, table_columns()):
        column = columns.get((cell.table, cell.column))
        if column is None or column.split is not None:
            continue  # an average, or a column at another split than the task's default
        family, default_split, main_metric = _task_facts(host, column.task, facts)
        if column.metric != main_metric:
            continue  # not the task's main score (MS MARCO's MRR@10 in Table 5 is; NQ's top-20 is not)
        rows.append(
            PublishedRow(cell.row, column.task, default_split, family, default_split, main_metric, cell.value / 100,
                         cell.source, cell.citation)
        )  # fmt: skip
    return rows


def report_cells(
    host: PluginHost, sources: Sequence[str | Path], columns: Mapping[int, frozenset[str]]
) -> list[PublishedCell]:
    """Every source's cells for the paper-layout report, in source order."""
    cells: list[PublishedCell] = []
    mapping: TaskMapping | None = None
    for text in sources:
        path = source_path(text)
        check_source(path)
        if is_mteb_folder(path):
            mapping = mapping or load_mapping()
            cells += _mteb_cells(host, read_published(path, mapping))
        else:
            cells += load_published(path, columns)
    return cells


def _mteb_cells(host: PluginHost, published: PublishedSet) -> list[PublishedCell]:
    """The MTEB scores that fill a paper column: its task, at its split (or the task's default), its metric."""
    from harness.results.paper_tables import CPT_TABLES

    facts: dict[str, tuple[str, str, str]] = {}
    cells = []
    for score in published.scores:
        for table in CPT_TABLES:
            for column in table.columns:
                if column.task != score.task or column.metric != score.metric:
                    continue
                split = column.split or _task_facts(host, score.task, facts)[1]
                if split != score.split:
                    continue  # e.g. MTEB's SICK-R is sickr@full; Table 4's SICK-R column is sickr@test
                version = score.mteb_version or "version not recorded"
                cells.append(PublishedCell(
                    table.number, f"{score.model} (MTEB, revision {score.revision[:8]})", column.key,
                    100 * score.value, f"MTEB results repository, {score.model} at revision {score.revision}, "
                    f"written by mteb {version}", "the pairings of harness/results/published/mteb_tasks.toml",
                ))  # fmt: skip
    return cells


def rows_json(rows: Iterable[PublishedRow]) -> list[dict[str, Any]]:
    return [row.to_json() for row in rows]
