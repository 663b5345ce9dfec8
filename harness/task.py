"""What a task is to the harness: dataset files in, metrics out.

A task never calls an encoder directly: it receives an ``encode(texts, kind)``
function from the runner, which deduplicates, batches, validates and times the
encoding.  That keeps encode time and evaluation time apart in the results and
lets the runner add caching without touching any task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.datafiles import DataFiles
from harness.encoder import TextKind

Family = Literal["classification", "retrieval", "code-search", "sts"]
FAMILIES: tuple[str, ...] = ("classification", "retrieval", "code-search", "sts")

EncodeFn = Callable[[Sequence[str], TextKind], np.ndarray]
"""``encode(texts, kind) -> float32 [len(texts), dim]``, provided by the runner."""


@dataclass(frozen=True)
class DatasetFile:
    """One file a task reads.

    ``path`` is relative to a data directory (``stsb/original/sts-test.csv``, the
    layout of ``shared/data``) and is resolved by the harness: ``--data-dir``,
    ``$HARNESS_DATA_DIR``, then the data embedded in the package.  An absolute
    path (user datasets, plugin-shipped files) is used as it is.  ``sha256`` is
    checked at load when given.
    """

    path: str
    sha256: str | None = None


@dataclass
class TaskOutput:
    """Everything an evaluation found: all metrics, the main score, the size of the test set."""

    metrics: dict[str, float]
    main_score: float
    n_examples: int
    details: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """An evaluation: a name, a family, a main metric, files, and a split-aware evaluation."""

    name: str = ""
    family: Family = "sts"
    main_metric: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("test",)
    default_split: str = "test"

    @abstractmethod
    def dataset_files(self, split: str) -> list[DatasetFile]:
        """The files the evaluation of ``split`` reads, with their sha256 when known."""

    @abstractmethod
    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """Run the evaluation of ``split``, reading files through ``files``."""


def task_path(path: Path | str) -> str:
    """A DatasetFile path for a file given by the user (absolute, resolved)."""
    return str(Path(path).expanduser().resolve())
