"""A plugin that adds a subcommand to the ``harness`` command: ``harness demo-greet NAME``."""

from __future__ import annotations

import argparse

from harness import CommandRegister, HarnessError, hookimpl


@hookimpl
def harness_register_commands(register: CommandRegister) -> None:
    register("demo-greet", add_arguments, greet, help="greet someone (a third-party plugin's command)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--exit-code", type=int, default=0, help="the exit code to end with")
    parser.add_argument("--fail", action="store_true", help="raise a HarnessError instead")


def greet(args: argparse.Namespace) -> int:
    if args.fail:
        raise HarnessError(f"demo-greet: cannot greet {args.name!r}, as asked")
    print(f"hello, {args.name}")
    return args.exit_code
