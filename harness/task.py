"""What a task is to the harness: dataset files in, metrics out.

A task never calls an encoder directly: it receives an ``encode(texts, kind)``
function from the runner, which deduplicates, batches, validates and times the
encoding.  That keeps encode time and evaluation time apart in the results and
lets the runner add caching without touching any task.

A ranking task (retrieval, code search) that also accepts encoders without
vectors (BM25) lists :attr:`Capability.RANKING` in :attr:`Task.uses` and asks
what the encoder behind ``encode`` can do with :func:`capabilities_of`; when it
ranks, ``encode.rank(queries, documents, k)`` returns a validated
:class:`~harness.encoder.Ranking`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from harness.data.locate import DataFiles
from harness.encoder import Capability, TextKind
from harness.running.world import World

Family = Literal["classification", "zero-shot", "retrieval", "code-search", "sts"]
FAMILIES: tuple[str, ...] = ("classification", "zero-shot", "retrieval", "code-search", "sts")

EncodeFn = Callable[[Sequence[str], TextKind], np.ndarray]
"""``encode(texts, kind) -> float32 [len(texts), dim]``, provided by the runner."""


def capabilities_of(encode: EncodeFn) -> frozenset[Capability]:
    """What the encoder behind ``encode`` can do; a plain function (a test's fake) can embed only."""
    return frozenset(getattr(encode, "capabilities", frozenset({Capability.VECTORS})))


def world_of(encode: EncodeFn) -> World:
    """The ranks that share ``encode``'s work under torchrun (a plain function: this process alone).

    A task that splits its own work (retrieval searches each rank's corpus shard) asks
    this for its shard, encodes it with :func:`local_encode` and merges with the world's collectives.
    """
    return getattr(encode, "world", None) or World()


def local_encode(encode: EncodeFn) -> EncodeFn:
    """``encode`` for this rank's own texts only: no other rank takes part (``encode`` itself shares the work)."""
    return getattr(encode, "local", encode)


@dataclass(frozen=True)
class DatasetFile:
    """One file a task reads.

    ``path`` is relative to a data directory (``stsb/original/sts-test.csv``, the
    layout of ``shared/data``) and is resolved by the harness: ``--data-dir``,
    ``$HARNESS_DATA_DIR``, then the data embedded in the package.  An absolute
    path (user datasets, plugin-shipped files) is used as it is.

    ``dataset`` names the registry dataset (``harness data list``) the file belongs
    to: the registry is the one place a file's sha256 is written, and the harness
    looks it up there (:meth:`harness.data.locate.DataLocator.pinned`) to check the
    file at load and to tell whether a stored result used the same data.  A file
    its dataset lists without a sha256 (BEIR's, whose archives are pinned instead)
    is read unverified.  ``sha256`` pins a file that belongs to no registered
    dataset (a plugin's own data); it is checked at load when given.
    """

    path: str
    sha256: str | None = None
    dataset: str | None = None


@dataclass
class PerExample:
    """Each test example's part in the main score, so two encoders can be compared example by example.

    ``statistic`` says how the main score follows from ``values``:

    * ``mean``: the main score is (close to) the mean of ``values["score"]``: per-query nDCG@10 or
      reciprocal rank, per-example correctness of a probe;
    * ``spearman``: the main score is Spearman's correlation of ``values["prediction"]`` with
      ``values["gold"]`` (STS).

    ``ids`` names the examples (query ids) when they have names; ``None`` means positional, in the
    dataset's own order, which the pinned dataset hash fixes.  A paired bootstrap
    (:mod:`harness.checks.bootstrap`) resamples these examples to put a confidence interval on a difference.
    """

    statistic: Literal["mean", "spearman"]
    values: dict[str, list[float]]
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.values.values()} | ({len(self.ids)} if self.ids is not None else set())
        if len(lengths) != 1:
            raise ValueError(f"per-example arrays differ in length: {sorted(lengths)}")
        needed = {"mean": {"score"}, "spearman": {"prediction", "gold"}}[self.statistic]
        if set(self.values) != needed:
            raise ValueError(f"statistic {self.statistic!r} needs values {sorted(needed)}, got {sorted(self.values)}")

    @classmethod
    def scores(cls, values: Any, ids: Sequence[str] | None = None) -> PerExample:
        return cls("mean", {"score": _floats(values)}, list(ids) if ids is not None else None)

    @classmethod
    def correlation(cls, prediction: Any, gold: Any) -> PerExample:
        return cls("spearman", {"prediction": _floats(prediction), "gold": _floats(gold)})

    def to_json(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "ids": self.ids, "values": self.values}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PerExample:
        return cls(data["statistic"], {k: list(v) for k, v in data["values"].items()}, data.get("ids"))


def _floats(values: Any) -> list[float]:
    """Compact but faithful: float32 precision (7 significant digits) is far below any score difference."""
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64).ravel()]


@dataclass
class TaskOutput:
    """Everything an evaluation found: all metrics, the main score, the size of the test set."""

    metrics: dict[str, float]
    main_score: float
    n_examples: int
    details: dict[str, Any] = field(default_factory=dict)
    per_example: PerExample | None = None
    """Optional: lets ``harness compare`` give confidence intervals for this task."""


class Task(ABC):
    """An evaluation: a name, a family, a main metric, files, and a split-aware evaluation."""

    name: str = ""
    family: Family = "sts"
    main_metric: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("test",)
    default_split: str = "test"
    uses: ClassVar[frozenset[Capability]] = frozenset({Capability.VECTORS})
    """What the task can work with; a task that can also use a corpus ranker (BM25) adds ``RANKING``."""

    @abstractmethod
    def dataset_files(self, split: str) -> list[DatasetFile]:
        """The files the evaluation of ``split`` reads, each naming its registry dataset (or its sha256) if pinned."""

    def dataset_identity(self, split: str) -> dict[str, str]:
        """What else must match for a stored result to be reused, beyond the file hashes.

        Data the harness does not read itself (an MTEB task loads its own: dataset
        name and revision), or a setting that changes the measurement (an
        approximate retrieval index).  Recorded next to the file hashes; a result
        is reused on resume only when it matches.  Most tasks need not override this.
        """
        return {}

    @abstractmethod
    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """Run the evaluation of ``split``, reading files through ``files``."""


def task_path(path: Path | str) -> str:
    """A DatasetFile path for a file given by the user (absolute, resolved)."""
    return str(Path(path).expanduser().resolve())
