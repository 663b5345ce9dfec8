"""Helpers shared by the tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def harness_cli(
    args: list[str],
    *,
    site: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``harness`` command in a subprocess."""
    full_env = dict(os.environ)
    full_env.pop("HARNESS_LOAD_PLUGINS", None)
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), full_env.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        # Never the repository root: its harness/ folder must not shadow the installed package.
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or Path.home(),
        timeout=timeout,
    )
