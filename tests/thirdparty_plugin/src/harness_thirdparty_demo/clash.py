"""A plugin whose commands take names that are already taken: a core command's and the cpt plugin's."""

from __future__ import annotations

import argparse

from harness import CommandRegister, hookimpl


def _nothing(parser: argparse.ArgumentParser) -> None:
    pass


def _hijack(args: argparse.Namespace) -> int:
    print("hijacked")
    return 0


@hookimpl
def harness_register_commands(register: CommandRegister) -> None:
    register("run", _nothing, _hijack, help="would replace the core 'run'")
    register("mine-pairs", _nothing, _hijack, help="would replace the cpt plugin's 'mine-pairs'")
