"""The built-in dataset registry: one TOML file per family, registered like any plugin's.

Each file lists a family's datasets with canonical URLs, checksums, sizes, licences, citations and the tasks
they back (format: :mod:`harness.data.registry`).  A third-party package adds datasets the same way: ship a
TOML file and register it from ``harness_register_datasets``.
"""

from __future__ import annotations

from pathlib import Path

from harness import DatasetRegister, hookimpl

REGISTRY_FILES = tuple(sorted(Path(__file__).parent.glob("*.toml")))


@hookimpl
def harness_register_datasets(register: DatasetRegister) -> None:
    for path in REGISTRY_FILES:
        register(path)
