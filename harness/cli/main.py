"""The ``harness`` command: the parser, the dispatch, and the one-line error path; one module per command beside it.

Core commands live in ``harness.cli.<command>`` (``run``, ``listing`` for list/info/plugins, ``leaderboard``,
``report``, ``check``, ``compare``, ``cache``). Plugins add subcommands through ``harness_register_commands``
(:mod:`harness.cli.plugin_commands`): ``data`` from the core (:mod:`harness.cli.data`), ``train`` and
``mine-pairs`` from the cpt plugin.

Every failure ends in one line on stderr (``harness: error: ...``) and a non-zero
exit code; ``HARNESS_DEBUG=1`` adds the traceback for bug reports.  Ctrl-C and
SIGTERM (a CI job cancelled, ``kill``, a scheduler's time limit) end the same way,
after the cleanup that an exception runs: finished results stay, temporaries and
scratch folders go.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TextIO

from tqdm.auto import tqdm

from harness import __version__
from harness.cli import cache, check, compare, leaderboard, listing, report, run
from harness.cli.common import fail
from harness.cli.encoder_flags import encoder_options_parent
from harness.cli.plugin_commands import CommandParser, add_plugin_commands, plugin_command_of, run_plugin_command
from harness.errors import HarnessError, one_line
from harness.pluginhost import PluginHost, get_host
from harness.results.files import UnreadableResultWarning
from harness.running.world import leave_world

Handler = Callable[[PluginHost, argparse.Namespace], int]

CORE_COMMANDS: dict[str, Handler] = {
    "run": run.run,
    "list": listing.run_list,
    "info": listing.run_info,
    "plugins": listing.run_plugins,
    "leaderboard": leaderboard.run,
    "report": report.run,
    "check": check.run,
    "compare": compare.run,
    "cache": cache.run,
}
"""The core commands and what runs each; a plugin's command may not take one of these names."""


def build_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The ``harness`` parser: the core commands, then those of ``host``'s plugins (default: every plugin)."""
    parser = argparse.ArgumentParser(prog="harness", description="Benchmark text and code embedding models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
    encoder_flags = encoder_options_parent()
    run.add_parser(commands, encoder_flags)
    listing.add_parsers(commands)
    leaderboard.add_parser(commands)
    report.add_parser(commands)
    check.add_parser(commands, encoder_flags)
    compare.add_parser(commands)
    cache.add_parser(commands)
    # Plugin commands (``harness data`` from the core, ``train`` and ``mine-pairs`` from the cpt plugin, any
    # third party's): their arguments are declared only when the command is used.
    add_plugin_commands(commands, (host or get_host()).commands(reserved=CORE_COMMANDS))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that everything Ctrl-C cleans up is cleaned up for it too."""


def main(argv: Sequence[str] | None = None) -> int:
    finished = False
    try:
        with _warnings_as_lines(), _sigterm_as_interrupt():
            code = _main(argv)
            finished = code == 0  # a failure may be this rank's alone: no barrier the others would never reach
            return code
    finally:
        leave_world(finished)  # under torchrun: close the process group before the interpreter goes


def _main(argv: Sequence[str] | None) -> int:
    try:
        host = get_host()
        args = build_parser(host).parse_args(argv)
        plugin_command = plugin_command_of(args)
        if plugin_command is not None:
            return run_plugin_command(plugin_command, args)
        return CORE_COMMANDS[args.command](host, args)
    except HarnessError as exc:
        return fail(str(exc), exc.exit_code)
    except Terminated:
        return fail("terminated (SIGTERM); finished tasks are saved, rerun to resume", 128 + signal.SIGTERM)
    except KeyboardInterrupt:
        return fail("interrupted; finished tasks are saved, rerun to resume", 130)
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        return fail(f"{type(exc).__name__}: {one_line(exc)} (set HARNESS_DEBUG=1 for the traceback)", 1)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated`; the previous handler comes back after it.

    Python's default for SIGTERM ends the process on the spot, skipping every ``finally``: the temporary of a
    result being written and a retrieval task's scratch folder of corpus vectors would stay behind.  Only the
    main thread may set handlers (``main`` called from another thread leaves them alone).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """The harness's own warnings (an unreadable result left out) as ``harness: warning:`` lines, once each."""
    with warnings.catch_warnings():
        warnings.simplefilter("default", UnreadableResultWarning)
        show_others = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, UnreadableResultWarning):
                tqdm.write(f"harness: warning: {message}", file=sys.stderr)  # clear of any progress bar
            else:
                show_others(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield
