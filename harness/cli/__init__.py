"""The ``harness`` command line: one module per command (see :mod:`harness.cli.main`)."""

from harness.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
