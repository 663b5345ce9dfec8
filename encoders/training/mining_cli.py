"""``harness mine-pairs text|code|nli``: mine training pairs from local files into a JSONL pairs file.

Large inputs: ``--shard I/N`` mines every N-th file of the sorted walk (``nli``: every premise whose hash is I
modulo N), so N processes mine one tree in parallel, and ``--pairs-per-file K`` makes ``--out`` a folder of files
of at most K pairs, named by shard and part (``part-IIIII-PPPPP.jsonl``), which ``harness train --pairs FOLDER``
reads in name order.

The cpt plugin contributes the command (``harness_register_commands``):
:func:`add_arguments` declares its ``text``, ``code`` and ``nli`` subcommands and
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
    FileShard,
    MiningReport,
    NliReport,
    mine_code_pairs,
    mine_nli_pairs,
    mine_text_pairs,
    nli_train_files,
)
from harness.encoders.training.mining.nli import NLI_TRAIN_FILES
from harness.encoders.training.pairs import Pair, write_pairs
from harness.errors import DataError, HarnessError, UsageError


def add_arguments(mine: argparse.ArgumentParser) -> None:
    """The ``text``, ``code`` and ``nli`` subcommands of ``harness mine-pairs``, on the subparser the harness made."""
    mine.description = (
        "Mine training pairs without network access: neighbouring text spans (cpt-text), "
        "(docstring, function) pairs (cpt-code), written as JSON lines of {x, y}, or NLI triples "
        "(premise, entailment, contradiction as a hard negative) for fine-tuning."
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

    nli = kinds.add_parser(
        "nli",
        help="(premise, entailment, contradiction) from SNLI and MultiNLI, for fine-tuning",
        description="One pair per premise: x the premise, y an entailed hypothesis, the contradiction as the hard "
        "negative (supervised SimCSE's training data). Without FILEs it reads the training files of the registry "
        "datasets snli and multinli from --data-dir or from 'harness data fetch snli multinli'.",
    )
    nli.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="SNLI- or MultiNLI-format JSON-lines files (default: the training files of --datasets)",
    )
    _add_out(nli, shard_help="keep only the premises whose hash is I modulo N (N processes in parallel)")
    nli.add_argument(
        "--datasets",
        metavar="NAMES",
        help=f"comma-separated registry datasets whose training files are read (default: {','.join(NLI_TRAIN_FILES)})",
    )
    nli.add_argument(
        "--data-dir",
        type=Path,
        help="a folder holding the unzipped snli_1.0/ and multinli_1.0/ (also $HARNESS_DATA_DIR)",
    )
    nli.add_argument(
        "--download", action="store_true", help="fetch a dataset found neither in --data-dir nor installed"
    )


def _add_out(
    parser: argparse.ArgumentParser,
    shard_help: str = "mine only files I, I+N, I+2N... of the sorted walk (N processes in parallel)",
) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, help="pairs file to write (JSON lines); a folder with --pairs-per-file"
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help=shard_help,
    )
    parser.add_argument(
        "--pairs-per-file", type=_positive_int, metavar="K", help="write --out as a folder of files of at most K pairs"
    )


def _shard(text: str) -> FileShard:
    try:
        return FileShard.parse(text)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def run_command(args: argparse.Namespace) -> int:
    """``harness mine-pairs text``, ``code`` or ``nli``, as ``args.mine_kind`` says."""
    commands = {"text": cmd_mine_text, "code": cmd_mine_code, "nli": cmd_mine_nli}
    return commands[args.mine_kind](args)


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
        shard=args.shard,
    )
    return _write(pairs, args, args.folder, report)


def cmd_mine_code(args: argparse.Namespace) -> int:
    """``harness mine-pairs code``."""
    report = MiningReport()
    pairs = mine_code_pairs(
        args.tree, max_pairs=args.max_pairs, skip_tests=not args.include_tests, report=report, shard=args.shard
    )
    return _write(pairs, args, args.tree, report)


def cmd_mine_nli(args: argparse.Namespace) -> int:
    """``harness mine-pairs nli``: the FILEs given, else the registry datasets' training files."""
    if args.files and (args.datasets or args.data_dir or args.download):
        raise UsageError("harness mine-pairs nli: give FILEs or --datasets/--data-dir/--download, not both")
    files: list[tuple[Path, str]]
    if args.files:
        files = [(path, str(path)) for path in args.files]
    else:
        names = [name.strip() for name in args.datasets.split(",") if name.strip()] if args.datasets else []
        names = names or list(NLI_TRAIN_FILES)
        files = nli_train_files(names, data_dir=args.data_dir, download=args.download)
    report = NliReport()
    pairs = mine_nli_pairs(files, report=report, shard=args.shard)
    return _write(pairs, args, ", ".join(label for _, label in files), report)


def _write(pairs: Iterable[Pair], args: argparse.Namespace, root: str | Path, report: MiningReport) -> int:
    out: Path = args.out
    per_file: int | None = args.pairs_per_file
    if per_file is None and out.is_dir():
        raise HarnessError(f"--out {out} is a folder; give a file name such as {out / 'pairs.jsonl'}")
    if per_file is not None and out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} is a file; with --pairs-per-file it is the folder the parts go to")
    try:
        if per_file is None:
            write_pairs(pairs, out)
        else:
            _write_parts(pairs, out, per_file, (args.shard or FileShard()).index)
    except DataError as exc:
        written = Path(exc.source)
        if report.pairs == 0 and out in (written, written.parent):  # write_pairs refuses to write no pairs
            raise HarnessError(f"{report.summary()} in {root}; {out} not written") from None
        raise  # a bad input line (mine-pairs nli), named by its file and line
    except OSError as exc:
        raise HarnessError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(report.summary(os.fspath(out)))
    return 0


def _write_parts(pairs: Iterable[Pair], folder: Path, per_file: int, shard: int) -> None:
    """``folder/part-SSSSS-PPPPP.jsonl`` files of at most ``per_file`` pairs each, a part in memory at a time."""
    part: list[Pair] = []
    number = 0
    for pair in pairs:
        part.append(pair)
        if len(part) == per_file:
            write_pairs(part, folder / f"part-{shard:05d}-{number:05d}.jsonl")
            part, number = [], number + 1
    if part or number == 0:
        write_pairs(part, folder / f"part-{shard:05d}-{number:05d}.jsonl")  # none at all: write_pairs refuses
