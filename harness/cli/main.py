"""The ``harness`` command: the parser, the dispatch, and the one-line error path; one module per command beside it.

Core commands live in ``harness.cli.<command>`` (``run``, ``listing`` for list/info/plugins, ``leaderboard``,
``check``, ``compare``, ``cache``). Plugins add subcommands through ``harness_register_commands``
(:mod:`harness.cli.plugin_commands`): ``data`` from the core (:mod:`harness.cli.data`), ``train`` and
``mine-pairs`` from the cpt plugin.

Every failure ends in one line on stderr (``harness: error: ...``) and a non-zero
exit code; ``HARNESS_DEBUG=1`` adds the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import os
import traceback
from collections.abc import Callable, Sequence

from harness import __version__
from harness.cli import cache, check, compare, leaderboard, listing, run
from harness.cli.common import fail
from harness.cli.encoder_flags import encoder_options_parent
from harness.cli.plugin_commands import CommandParser, add_plugin_commands, plugin_command_of, run_plugin_command
from harness.errors import HarnessError, one_line
from harness.pluginhost import PluginHost, get_host

Handler = Callable[[PluginHost, argparse.Namespace], int]

CORE_COMMANDS: dict[str, Handler] = {
    "run": run.run,
    "list": listing.run_list,
    "info": listing.run_info,
    "plugins": listing.run_plugins,
    "leaderboard": leaderboard.run,
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
    check.add_parser(commands, encoder_flags)
    compare.add_parser(commands)
    cache.add_parser(commands)
    # Plugin commands (``harness data`` from the core, ``train`` and ``mine-pairs`` from the cpt plugin, any
    # third party's): their arguments are declared only when the command is used.
    add_plugin_commands(commands, (host or get_host()).commands(reserved=CORE_COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        host = get_host()
        args = build_parser(host).parse_args(argv)
        plugin_command = plugin_command_of(args)
        if plugin_command is not None:
            return run_plugin_command(plugin_command, args)
        return CORE_COMMANDS[args.command](host, args)
    except HarnessError as exc:
        return fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted; finished tasks are saved, rerun to resume", 130)
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        return fail(f"{type(exc).__name__}: {one_line(exc)} (set HARNESS_DEBUG=1 for the traceback)", 1)
