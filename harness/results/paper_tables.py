"""Results laid out as the cpt paper lays them out: its Tables 2 to 7, the user's encoders as rows.

The layouts follow Neelakantan et al. 2022 (arXiv 2201.10005v1): the tables' subjects, columns and metrics
from the paper's text and captions (Table 5: "MRR@10 on MSMARCO and Recall@20, Recall@100 for NQ and
TriviaQA"; Table 6: "11 zero-shot search tasks in the BEIR evaluation suite"; Table 7: the relevant code block
"among 1K candidates"; Table 3: SST-2 with zero-shot, prompted zero-shot and k-NN classification beside a
linear classifier).  Tables 2 and 4 compare against SimCSE (Gao et al. 2021) on SentEval, so their column
order and averages are SimCSE's (princeton-nlp/SimCSE ``evaluation.py``, ``main``: MR, CR, SUBJ, MPQA, SST2,
TREC, MRPC accuracy and their mean; STS12-16 Spearman over each year's pooled subsets, "all", then STS-B and
SICK-R test Spearman, x 100, and their mean).  Each column names the harness task and the metric it reads,
at the task's default split (SICK-R's 4927-pair test split, MS MARCO's dev).

Rules, so that no cell says more than the results do:

* scores are x 100, one decimal, as the paper prints them; a cell reads the column's metric, not whatever the
  file's main score is, and a result without that metric leaves the cell blank with a note;
* a missing cell is blank; an average is printed only over a complete row (as the leaderboard,
  :mod:`harness.results.tables`, and MTEB do), computed from the unrounded scores;
* two results of one encoder for one cell (copied folders) leave it blank with a note, rather than pick one;
* published rows (:mod:`harness.results.published_rows`) are printed as the data file gives them, each cell
  with its citation; their average is the paper's own, when verified, never recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results.published_rows import AVERAGE_KEY, PublishedCell


@dataclass(frozen=True)
class PaperColumn:
    """One column of a paper table: its header there, and the harness task and metric that fill it."""

    key: str
    """Its name in the published data file: the task name, ``TASK:top-K`` where one task fills two columns."""
    label: str
    task: str
    metric: str
    split: str | None = None
    """``None``: the task's default split (what its result file records as ``default_split``)."""


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    columns: tuple[PaperColumn, ...]
    average: bool
    """Whether the paper prints an average column (the mean of the row's columns)."""
    note: str = ""

    def keys(self) -> frozenset[str]:
        """The column keys a published row may give, the average's included."""
        return frozenset([c.key for c in self.columns] + ([AVERAGE_KEY] if self.average else []))


def _same_metric(metric: str, *pairs: tuple[str, str]) -> tuple[PaperColumn, ...]:
    return tuple(PaperColumn(task, label, task, metric) for task, label in pairs)


CPT_TABLES: tuple[PaperTable, ...] = (
    PaperTable(
        2,
        "Linear-probe classification on SentEval, accuracy",
        _same_metric(
            "accuracy",
            ("mr", "MR"),
            ("cr", "CR"),
            ("subj", "SUBJ"),
            ("mpqa", "MPQA"),
            ("sst2", "SST"),
            ("trec", "TREC"),
            ("mrpc", "MRPC"),
        ),
        average=True,
    ),
    PaperTable(
        3,
        "SST-2 by zero-shot, k-NN and linear-probe classification, accuracy",
        _same_metric(
            "accuracy",
            ("sst2-zeroshot", "Zero-shot"),
            ("sst2-zeroshot-prompt", "Zero-shot with prompt"),
            ("sst2-knn", "k-NN"),
            ("sst2", "Linear probe"),
        ),
        average=False,
        note="The paper's rows are these strategies, for one model (6B cpt-text L fine-tuned on NLI); here they "
        "are columns, one row per encoder.",
    ),
    PaperTable(
        4,
        "Sentence similarity on SentEval, Spearman correlation of cosine similarity",
        _same_metric(
            "cosine_spearman",
            ("sts12", "STS12"),
            ("sts13", "STS13"),
            ("sts14", "STS14"),
            ("sts15", "STS15"),
            ("sts16", "STS16"),
            ("stsb", "STS-B"),
            ("sickr", "SICK-R"),
        ),
        average=True,
        note="STS12-16: each year's subsets pooled (SimCSE's \"all\"); SICK-R: the 4927-pair test split.",
    ),
    PaperTable(
        5,
        "Large-scale text search: MS MARCO MRR@10, NQ and TriviaQA top-20 / top-100 accuracy",
        (
            PaperColumn("msmarco-passage", "MSMARCO MRR@10", "msmarco-passage", "mrr_at_10"),
            PaperColumn("nq-open:top-20", "NQ top-20", "nq-open", "top_20_accuracy"),
            PaperColumn("nq-open:top-100", "NQ top-100", "nq-open", "top_100_accuracy"),
            PaperColumn("triviaqa-open:top-20", "TriviaQA top-20", "triviaqa-open", "top_20_accuracy"),
            PaperColumn("triviaqa-open:top-100", "TriviaQA top-100", "triviaqa-open", "top_100_accuracy"),
        ),
        average=False,
        note="MS MARCO: the dev set's 6980 judged queries; top-k: questions with an answer in their top k "
        "passages (DPR's retrieval accuracy, the paper's Recall@k).",
    ),
    PaperTable(
        6,
        "BEIR zero-shot search (the paper's 11 sets), nDCG@10",
        _same_metric(
            "ndcg_at_10",
            ("beir-trec-covid", "TREC-COVID"),
            ("beir-nfcorpus", "NFCorpus"),
            ("beir-fiqa", "FiQA"),
            ("beir-arguana", "ArguAna"),
            ("beir-touche2020", "Touché"),
            ("beir-dbpedia-entity", "DBPedia"),
            ("beir-quora", "Quora"),
            ("scifact", "SciFact"),
            ("beir-climate-fever", "Climate-FEVER"),
            ("beir-fever", "FEVER"),
            ("beir-hotpotqa", "HotpotQA"),
        ),
        average=True,
    ),
    PaperTable(
        7,
        "Code search on CodeSearchNet (1K candidates), MRR",
        _same_metric(
            "mrr",
            ("csn-ruby", "Ruby"),
            ("csn-javascript", "JavaScript"),
            ("csn-go", "Go"),
            ("csn-python", "Python"),
            ("csn-java", "Java"),
            ("csn-php", "PHP"),
        ),
        average=True,
    ),
)
"""The cpt paper's Tables 2-7 (Table 1 lists batch sizes; Tables 8 and 9 are analyses of its own models)."""


def table_columns(tables: Iterable[PaperTable] = CPT_TABLES) -> dict[int, frozenset[str]]:
    """Each table's column keys, for :func:`~harness.results.published_rows.load_published`."""
    return {table.number: table.keys() for table in tables}


@dataclass(frozen=True)
class Cell:
    """A score x 100 (``None``: blank), and for a published one the citation it is printed with."""

    value: float | None = None
    citation: str | None = None


BLANK = Cell()


@dataclass(frozen=True)
class GridRow:
    name: str
    cells: tuple[Cell, ...]
    average: Cell
    published: bool = False


@dataclass
class PaperGrid:
    """One table as data: what the Markdown and HTML renderings both show."""

    table: PaperTable
    rows: list[GridRow]


@dataclass
class PaperReport:
    grids: list[PaperGrid]
    notes: list[str] = field(default_factory=list)
    """Cells left blank for a reason other than a missing result (a missing metric, duplicate results)."""


Located = tuple[Path, dict[str, Any]]


def paper_report(
    results: Iterable[Located], published: Iterable[PublishedCell], tables: Iterable[PaperTable] = CPT_TABLES
) -> PaperReport:
    """The tables for ``results`` (``(path, record)`` pairs of valid result files) and the ``published`` cells."""
    found: dict[tuple[str, str], list[Located]] = {}
    for path, record in results:
        found.setdefault((record["encoder"]["name"], record["task"]["name"]), []).append((path, record))
    encoders = sorted({encoder for encoder, _ in found})
    cited = list(published)
    report = PaperReport([])
    for table in tables:
        rows = [row for encoder in encoders if (row := _encoder_row(table, encoder, found, report.notes))]
        rows += _published_rows(table, [c for c in cited if c.table == table.number])
        report.grids.append(PaperGrid(table, rows))
    return report


def _encoder_row(
    table: PaperTable, encoder: str, found: dict[tuple[str, str], list[Located]], notes: list[str]
) -> GridRow | None:
    cells = tuple(_result_cell(table, column, encoder, found, notes) for column in table.columns)
    if all(cell.value is None for cell in cells):
        return None
    values = [cell.value for cell in cells]
    complete = [v for v in values if v is not None]
    average = Cell(math.fsum(complete) / len(complete)) if table.average and len(complete) == len(values) else BLANK
    return GridRow(encoder, cells, average)


def _result_cell(
    table: PaperTable,
    column: PaperColumn,
    encoder: str,
    found: dict[tuple[str, str], list[Located]],
    notes: list[str],
) -> Cell:
    matches = [
        (path, record)
        for path, record in found.get((encoder, column.task), [])
        if record["task"]["split"] == (column.split or record["task"].get("default_split", "test"))
    ]
    where = f"Table {table.number}, {encoder}, {column.label}"
    if len(matches) > 1:
        files = ", ".join(str(path) for path, _ in matches)
        notes.append(f"{where}: left blank, {len(matches)} results of that encoder for that cell ({files})")
        return BLANK
    if not matches:
        return BLANK
    path, record = matches[0]
    value = record["metrics"].get(column.metric)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        notes.append(f"{where}: left blank, {path} has no metric {column.metric!r}, which the paper reports")
        return BLANK
    return Cell(100 * value)


def _published_rows(table: PaperTable, cells: list[PublishedCell]) -> list[GridRow]:
    by_row: dict[str, dict[str, PublishedCell]] = {}
    for published in cells:
        by_row.setdefault(published.row, {})[published.column] = published
    rows = []
    for name, given in by_row.items():
        shown = tuple(_published_cell(given.get(c.key)) for c in table.columns)
        rows.append(GridRow(name, shown, _published_cell(given.get(AVERAGE_KEY)), published=True))
    return rows


def _published_cell(published: PublishedCell | None) -> Cell:
    return BLANK if published is None else Cell(published.value, published.citation)


PUBLISHED_SUFFIX = " (published)"


def row_label(row: GridRow) -> str:
    return row.name + (PUBLISHED_SUFFIX if row.published else "")


def score_text(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def column_note(table: PaperTable) -> str:
    """Which harness task and metric fill each column, in words."""
    parts = [f"{c.label} = `{c.task}` {c.metric}" + (f" at {c.split}" if c.split else "") for c in table.columns]
    return "Columns: " + "; ".join(parts) + (". Avg. = their mean." if table.average else ".")


def citations(grid: PaperGrid) -> list[str]:
    """The table's distinct citations, in the order its cells first use them (footnote 1, 2, ...)."""
    seen: dict[str, None] = {}
    for row in grid.rows:
        for cell in (*row.cells, row.average):
            if cell.citation is not None:
                seen.setdefault(cell.citation)
    return list(seen)


HEADER = """# The cpt paper's tables, from {folder}

Neelakantan et al. 2022, "Text and Code Embeddings by Contrastive Pre-Training" (arXiv 2201.10005), Tables 2-7:
the folder's encoders as rows, scores x 100 with one decimal as the paper prints them. A blank cell has
no result (or see the notes); an average is printed only over a complete row. Rows marked "(published)" are
published numbers (the paper's, or those of another `--published` source), each cell with its source in the
numbered notes under its table; only verified numbers, and MTEB scores of the same task, split and metric, are given.
"""


def markdown_report(report: PaperReport, folder: Path | str) -> str:
    """The report as GitHub-flavoured Markdown."""
    parts = [HEADER.format(folder=f"`{folder}`")]
    for grid in report.grids:
        parts.append(_markdown_grid(grid))
    if report.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in report.notes) + "\n")
    return "\n".join(parts)


def _markdown_grid(grid: PaperGrid) -> str:
    table = grid.table
    lines = [f"## Table {table.number}. {table.title}, x 100", "", column_note(table)]
    if table.note:
        lines.append(table.note)
    lines.append("")
    if not grid.rows:
        lines.append("No results for these tasks, and no verified published row.")
        return "\n".join(lines) + "\n"
    numbers = {citation: n for n, citation in enumerate(citations(grid), start=1)}
    header = ["model", *[c.label for c in table.columns], *(["Avg."] if table.average else [])]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in grid.rows:
        cells = [*row.cells, *([row.average] if table.average else [])]
        texts = [_markdown_cell(cell, numbers) for cell in cells]
        name = row_label(row).replace("|", "\\|")  # an encoder label may hold a pipe; the table must not split
        lines.append("| " + " | ".join([name, *texts]) + " |")
    if numbers:
        lines.append("")
        lines += [f"- [{n}] {citation}" for citation, n in numbers.items()]
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: Cell, numbers: dict[str, int]) -> str:
    text = score_text(cell.value)
    return f"{text} [{numbers[cell.citation]}]" if cell.citation is not None and text else text
