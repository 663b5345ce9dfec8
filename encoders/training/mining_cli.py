"""``harness mine-pairs text|code``: mine training pairs from local files into a JSONL pairs file.

The cpt plugin contributes the command (``harness_register_commands``):
:func:`add_arguments` declares its ``text`` and ``code`` subcommands and
:func:`run_command` runs the one chosen.  Errors are :class:`~harness.errors.HarnessError` so the CLI prints them on one
line; the output file is written atomically, so a failed or interrupted run
leaves any previous file as it was.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from harness.encoders.training.mining import (
    DEFAULT_MAX_WORDS,
    DEFAULT_MIN_WORDS,
    MiningReport,
    mine_code_pairs,
    mine_text_pairs,
)
from harness.encoders.training.pairs import Pair, write_pairs
from harness.errors import DataError, HarnessError


def add_arguments(mine: argparse.ArgumentParser) -> None:
    """The ``text`` and ``code`` subcommands of ``harness mine-pairs``, on the subparser the harness made for it."""
    mine.description = (
        "Mine positive training pairs without network access: neighbouring text spans (cpt-text) "
        "or (docstring, function) pairs (cpt-code), written as JSON lines of {x, y}."
    )
    kinds = mine.add_subparsers(dest="mine_kind", required=True, metavar="KIND")

    text = kinds.add_parser(
        "text",
        help="neighbouring spans of *.txt, *.md and *.rst files",
        description="Pair each span of plain text with the next span of the same file.",
    )
    text.add_argument("folder", type=Path, help="folder searched recursively for *.txt, *.md and *.rst files")
    _add_out(text)
    text.add_argument(
        "--min-words",
        type=_positive_int,
        default=DEFAULT_MIN_WORDS,
        help=f"drop paragraphs shorter than this (default: {DEFAULT_MIN_WORDS})",
    )
    text.add_argument(
        "--max-words",
        type=_positive_int,
        default=DEFAULT_MAX_WORDS,
        help=f"cut longer paragraphs into spans of at most this many words (default: {DEFAULT_MAX_WORDS})",
    )
    text.add_argument("--max-pairs", type=_positive_int, help="keep a random sample of this many pairs (default: all)")
    text.add_argument("--seed", type=int, default=0, help="seed of the --max-pairs sample (default: 0)")

    code = kinds.add_parser(
        "code",
        help="(docstring, function) pairs from Python files",
        description="Pair the first paragraph of each function's docstring with its code, docstring removed.",
    )
    code.add_argument("tree", type=Path, help="folder searched recursively for *.py files")
    _add_out(code)
    code.add_argument("--max-pairs", type=_positive_int, help="stop after this many pairs (default: all)")
    code.add_argument(
        "--include-tests", action="store_true", help="also mine test_*.py files and test/ and tests/ folders"
    )


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="pairs file to write (JSON lines)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def run_command(args: argparse.Namespace) -> int:
    """``harness mine-pairs text`` or ``code``, as ``args.mine_kind`` says."""
    return cmd_mine_text(args) if args.mine_kind == "text" else cmd_mine_code(args)


def cmd_mine_text(args: argparse.Namespace) -> int:
    """``harness mine-pairs text``."""
    report = MiningReport()
    pairs = mine_text_pairs(
        args.folder,
        min_words=args.min_words,
        max_words=args.max_words,
        seed=args.seed,
        max_pairs=args.max_pairs,
        report=report,
    )
    return _write(pairs, args.out, args.folder, report)


def cmd_mine_code(args: argparse.Namespace) -> int:
    """``harness mine-pairs code``."""
    report = MiningReport()
    pairs = mine_code_pairs(args.tree, max_pairs=args.max_pairs, skip_tests=not args.include_tests, report=report)
    return _write(pairs, args.out, args.tree, report)


def _write(pairs: Iterable[Pair], out: Path, root: Path, report: MiningReport) -> int:
    if out.is_dir():
        raise HarnessError(f"--out {out} is a folder; give a file name such as {out / 'pairs.jsonl'}")
    try:
        write_pairs(pairs, out)
    except DataError:
        if report.pairs == 0:  # write_pairs refuses to write an empty pairs file
            raise HarnessError(f"{report.summary()} in {root}; {out} not written") from None
        raise
    except OSError as exc:
        raise HarnessError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(report.summary(os.fspath(out)))
    return 0
