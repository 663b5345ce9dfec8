"""cpt-harness: a benchmark harness for text and code embedding models.

The public API for plugin authors lives here: :class:`Encoder` (and
:class:`RankingEncoder` for models that rank a corpus without vectors, with
:class:`Ranking` and :class:`Capability`), :class:`TextKind`,
:class:`EncoderSettings`, :class:`Task`, :class:`TaskOutput`, :class:`DatasetFile`
and the ``hookimpl`` marker.  See ``harness.hookspecs`` for the hooks; the ``register``
each hook receives is typed :class:`EncoderRegister`, :class:`TaskRegister`,
:class:`SuiteRegister`, :class:`DatasetRegister` or :class:`CommandRegister`.  The
package ships ``py.typed``: type checkers use these annotations.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cpt-harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from harness import source_checkout
from harness.catalog import CommandRegister, DatasetRegister, EncoderRegister, SuiteRegister, TaskRegister
from harness.data.locate import DataFiles
from harness.encoder import Capability, Encoder, EncoderSettings, Ranking, RankingEncoder, TextKind
from harness.errors import DataError, HarnessError
from harness.hookspecs import hookimpl
from harness.options import BatchOptions, DeviceOption, EncoderOptions, ModelOptions, PrecisionOption, option
from harness.running.world import World
from harness.task import DatasetFile, EncodeFn, PerExample, Task, TaskOutput, capabilities_of, local_encode, world_of

# Imported from a source checkout (its root on sys.path: `python -m harness` or a benchmark run from there, pytest),
# harness.plugins and harness.encoders are the folders beside this one, as pyproject maps them, not subfolders:
# without this a non-editable install (tox's wheel) fails there with "No module named 'harness.plugins'".  Nothing
# imported above needs them (tests/api/test_source_checkout.py would fail if something did).
source_checkout.install(__file__)

__all__ = [
    "BatchOptions",
    "DeviceOption",
    "EncoderOptions",
    "ModelOptions",
    "PrecisionOption",
    "option",
    "Capability",
    "CommandRegister",
    "DatasetRegister",
    "EncoderRegister",
    "SuiteRegister",
    "TaskRegister",
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
    "World",
    "__version__",
    "capabilities_of",
    "hookimpl",
    "local_encode",
    "world_of",
]
