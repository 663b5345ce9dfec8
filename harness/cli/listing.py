"""``harness list``, ``harness info`` and ``harness plugins``: what is registered, and by whom."""

from __future__ import annotations

import argparse
from typing import Any

from harness.catalog import Catalog, TaskRef
from harness.cli.common import warn_plugin_problems
from harness.data.locate import DataLocator
from harness.errors import UsageError
from harness.options import describe
from harness.pluginhost import PluginHost


def add_parsers(commands: Any) -> None:
    info_cmd = commands.add_parser("info", help="describe an encoder (its options) or a task (its splits and files)")
    info_cmd.add_argument("name", help="an encoder or task name, e.g. minilm-l6, hf:gpt2, bm25, scifact")

    list_cmd = commands.add_parser("list", help="list registered encoders, tasks or suites")
    list_cmd.add_argument("what", choices=("encoders", "tasks", "suites"))
    list_cmd.add_argument("--options", metavar="NAME", help="with 'encoders': the options of encoder NAME")

    commands.add_parser("plugins", help="list plugins with their versions and origins")


def run_list(host: PluginHost, args: argparse.Namespace) -> int:
    warn_plugin_problems(host)
    catalog = host.catalog
    if args.options:
        if args.what != "encoders":
            raise UsageError("--options NAME goes with 'harness list encoders'")
        return _print_encoder(catalog, args.options)
    if args.what == "suites":
        for name, suite in sorted(catalog.suites.items()):
            print(f"{name:<24} {', '.join(suite.tasks)}  [{suite.plugin}]")
            if suite.description:
                print(f"{'':<24} {suite.description}")
        return 0
    table = catalog.encoders if args.what == "encoders" else catalog.tasks
    for name, registration in sorted(table.items()):
        shown = f"{name}<argument>" if registration.is_family else name
        print(f"{shown:<24} {registration.description}  [{registration.plugin}]")
    return 0


def run_info(host: PluginHost, args: argparse.Namespace) -> int:
    """An encoder's options with their types, defaults and help; or a task's family, splits and files."""
    warn_plugin_problems(host)
    catalog = host.catalog
    try:
        return _print_encoder(catalog, args.name)
    except UsageError as as_encoder:
        try:
            task = catalog.build_task(TaskRef.parse(args.name))
        except UsageError:
            raise as_encoder from None
    print(f"task {task.name}: {task.family}, main metric {task.main_metric}")
    if task.description:
        print(f"  {task.description}")
    print(f"  splits: {', '.join(task.splits)} (default {task.default_split})")
    for f in DataLocator(datasets=catalog.datasets).pinned(task.dataset_files(task.default_split)):
        print(f"  reads {f.path}" + (f" (sha256 {f.sha256[:12]}...)" if f.sha256 else ""))
    return 0


def _print_encoder(catalog: Catalog, name: str) -> int:
    registration = catalog.encoder_registration(name)
    schema = registration.options
    print(f"encoder {name}: {registration.description}  [{registration.plugin}]")
    rows = describe(schema)
    if not rows:
        print("  no options")
        return 0
    print("  options (harness run -o NAME=VALUE; flags such as --batch-size spell the same):")
    width = max(len(row[0]) for row in rows)
    for option_name, type_text, default, help_text in rows:
        print(f"  {option_name:<{width}}  {type_text} = {default}")
        print(f"  {'':<{width}}  {help_text}")
    return 0


def run_plugins(host: PluginHost, args: argparse.Namespace) -> int:
    _ = host.catalog  # runs the registration hooks, so hook failures show up below
    for info in host.infos.values():
        status = info.status if info.error is None else f"{info.status}: {info.error}"
        hooks = ", ".join(info.hooks) or "-"
        print(f"{info.name:<24} {info.version:<10} {info.source}")
        print(f"{'':<24} hooks: {hooks}; status: {status}")
    return 0
