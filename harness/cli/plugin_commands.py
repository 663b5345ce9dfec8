"""Subcommands that plugins contribute to the ``harness`` command (``harness_register_commands``).

A plugin's ``add_arguments`` runs only when its subcommand is parsed or its help shown: building the parser for
``harness run`` must not import a training stack that only ``harness train`` needs.  :class:`CommandParser`
defers it; every subparser of the CLI is one (argparse's ``parser_class``), the core ones just have nothing to
defer.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from harness.catalog import Command, CommandArguments
from harness.errors import HarnessError, one_line

_COMMAND_KEY = "_harness_plugin_command"


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that calls a plugin's ``add_arguments`` the first time it is needed."""

    def __init__(self, *args: Any, configure: CommandArguments | None = None, plugin: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._configure = configure
        self._plugin = plugin

    def _configured(self) -> None:
        configure, self._configure = self._configure, None
        if configure is None:
            return
        try:
            configure(self)
        except Exception as exc:  # a plugin's bug, not the user's: one line naming the plugin
            raise HarnessError(
                f"plugin {self._plugin!r}: command {self.prog!r} could not declare its arguments: "
                f"{type(exc).__name__}: {one_line(exc)}"
            ) from exc

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._configured()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._configured()
        return super().format_usage()

    def format_help(self) -> str:
        self._configured()
        return super().format_help()


def add_plugin_commands(subparsers: argparse._SubParsersAction, commands: Mapping[str, Command]) -> None:
    """One subparser per plugin command, in registration order; its arguments come when it is used.

    ``subparsers`` must make :class:`CommandParser` subparsers (``add_subparsers(parser_class=CommandParser)``).
    """
    for command in commands.values():
        parser = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.help or None,
            configure=command.add_arguments,
            plugin=command.plugin,
        )
        parser.set_defaults(**{_COMMAND_KEY: command})


def plugin_command_of(args: argparse.Namespace) -> Command | None:
    """The plugin command that ``args`` were parsed for, or ``None`` for a core command."""
    return getattr(args, _COMMAND_KEY, None)


def run_plugin_command(command: Command, args: argparse.Namespace) -> int:
    """Call a plugin command's handler; its exit code, ``None`` meaning 0."""
    code = command.handler(args)
    return 0 if code is None else int(code)
