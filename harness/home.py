"""The harness home: where trained checkpoints, converted backbones and caches live.

``$HARNESS_HOME`` when set (clusters point it at shared storage), otherwise
``$XDG_CACHE_HOME/cpt-harness`` or ``~/.cache/cpt-harness``.  Nothing here is
precious in the sense of results (those go to ``--out``), but checkpoints are
found here by name, so the layout is documented: ``checkpoints/NAME``,
``backbones/NAME``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
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


STALE_PARTIAL_S = 24 * 3600
"""A hidden ``.NAME.partial-*`` build folder this old belongs to a killed process, not a running one."""


def remove_stale_partials(final: Path, max_age_s: float = STALE_PARTIAL_S) -> None:
    """Delete abandoned ``.NAME.partial-*`` siblings of ``final`` (builds that write there, then rename)."""
    cutoff = time.time() - max_age_s
    for partial in final.parent.glob(f".{final.name}.partial-*"):
        with contextlib.suppress(OSError):
            if partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial, ignore_errors=True)
