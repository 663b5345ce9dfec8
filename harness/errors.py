"""Errors the harness reports to users as one line.

Every error a user can cause (a bad name, a malformed file, a broken plugin) is a
:class:`HarnessError`; the CLI prints its message on one line and exits non-zero,
so no traceback from deep inside numpy or json ever reaches the user.
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """An error with a message fit to show a user as-is."""

    exit_code = 1


class UsageError(HarnessError):
    """The command line asked for something that does not exist."""

    exit_code = 2


class DataError(HarnessError):
    """A dataset file is missing, corrupt or malformed.

    The message always names the file, and the line and field when known.
    """

    def __init__(self, source: str | Path, message: str, line: int | None = None) -> None:
        self.source = str(source)
        self.line = line
        where = f"{self.source}:{line}" if line is not None else self.source
        super().__init__(f"{where}: {message}")


class EncoderOutputError(HarnessError):
    """An encoder returned something that is not a finite float32 [n, dim] matrix."""


class EncoderRaised(EncoderOutputError):
    """An encoder's own code raised inside ``encode`` or ``rank``; ``__cause__`` is its exception."""


class PluginError(HarnessError):
    """A plugin failed to load or raised inside a hook."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line reports."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
