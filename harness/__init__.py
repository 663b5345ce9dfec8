"""cpt-harness: a benchmark harness for text and code embedding models.

The public API for plugin authors lives here: :class:`Encoder` (and
:class:`RankingEncoder` for models that rank a corpus without vectors, with
:class:`Ranking` and :class:`Capability`), :class:`TextKind`,
:class:`EncoderSettings`, :class:`Task`, :class:`TaskOutput`, :class:`DatasetFile`
and the ``hookimpl`` marker.  See ``harness.hookspecs`` for the hooks.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cpt-harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from harness.datafiles import DataFiles
from harness.encoder import Capability, Encoder, EncoderSettings, Ranking, RankingEncoder, TextKind
from harness.errors import DataError, HarnessError
from harness.hookspecs import hookimpl
from harness.task import DatasetFile, EncodeFn, PerExample, Task, TaskOutput, capabilities_of

__all__ = [
    "Capability",
    "DataError",
    "DataFiles",
    "DatasetFile",
    "EncodeFn",
    "Encoder",
    "EncoderSettings",
    "HarnessError",
    "PerExample",
    "Ranking",
    "RankingEncoder",
    "Task",
    "TaskOutput",
    "TextKind",
    "__version__",
    "capabilities_of",
    "hookimpl",
]
