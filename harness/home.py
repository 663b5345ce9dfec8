"""The harness home: where trained checkpoints, converted backbones and caches live.

``$HARNESS_HOME`` when set (clusters point it at shared storage), otherwise
``$XDG_CACHE_HOME/cpt-harness`` or ``~/.cache/cpt-harness``.  Nothing here is
precious in the sense of results (those go to ``--out``), but checkpoints are
found here by name, so the layout is documented: ``checkpoints/NAME``,
``backbones/NAME``.
"""

from __future__ import annotations

import os
from pathlib import Path


def harness_home() -> Path:
    explicit = os.environ.get("HARNESS_HOME")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "cpt-harness"


def checkpoints_dir() -> Path:
    return harness_home() / "checkpoints"


def backbones_dir() -> Path:
    return harness_home() / "backbones"
