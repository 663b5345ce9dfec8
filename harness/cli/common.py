"""What every core command shares: the one-line error and warning output, and small argument types."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import UsageError
from harness.pluginhost import PluginHost


def fail(message: str, code: int) -> int:
    """Print ``harness: error: MESSAGE`` on stderr and return ``code`` (the exit code)."""
    print(f"harness: error: {message}", file=sys.stderr)
    return code


def warn_plugin_problems(host: PluginHost) -> None:
    """One ``harness: warning:`` line per plugin problem (a failed import, a hook that raised, an unknown hook)."""
    for line in host.problems():
        print(f"harness: warning: {line}", file=sys.stderr)


def comma_list(text: str) -> list[str]:
    """``a,b,c`` as a list; an empty list is an argparse error."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected at least one name")
    return items


def report_targets(reports: list[list[str]]) -> list[tuple[str, Path]]:
    """``--report md|json FILE`` pairs, checked."""
    targets = []
    for kind, path in reports:
        if kind not in ("md", "json"):
            raise UsageError(f"--report {kind}: the format must be md or json")
        targets.append((kind, Path(path)))
    return targets
