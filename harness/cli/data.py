"""``harness data list | fetch NAME... | verify NAME... | path NAME | rm NAME...``.

A core command contributed the way a plugin contributes one, through ``harness_register_commands`` (the plugin
host loads this module first, as a core plugin); the datasets come from the plugin host's catalogue (every
plugin's registry files).
"""

from __future__ import annotations

import argparse
import sys

from harness.catalog import CommandRegister
from harness.data.registry import Dataset
from harness.data.store import DatasetStore
from harness.hookspecs import hookimpl


@hookimpl
def harness_register_commands(register: CommandRegister) -> None:
    register(
        "data",
        add_arguments,
        cmd_data,
        help="datasets by name: list, fetch from canonical sources (or a mirror), verify, locate, remove",
    )


def add_arguments(data: argparse.ArgumentParser) -> None:
    data.description = (
        "Datasets of the registry (every plugin's). Fetched copies live in $HARNESS_HOME/data/NAME, "
        "which is itself a --data-dir; canonical URLs can be mapped to mirrors with $HARNESS_DATA_MIRRORS or "
        "$HARNESS_HOME/mirrors.toml."
    )
    actions = data.add_subparsers(dest="data_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every registered dataset with its size, licence and tasks")
    listing.add_argument("--family", help="only this family (beir, senteval, sts, codesearchnet, cosqa, ...)")
    fetch = actions.add_parser("fetch", help="download, verify and unpack datasets (resumes partial downloads)")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.add_argument("--force", action="store_true", help="fetch again even when installed")
    fetch.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    verify = actions.add_parser("verify", help="recompute the sha256 of an installed dataset's files")
    verify.add_argument("names", nargs="+", metavar="NAME")
    path = actions.add_parser("path", help="print the folder of an installed dataset (a valid --data-dir)")
    path.add_argument("name", metavar="NAME")
    remove = actions.add_parser("rm", help="delete installed datasets")
    remove.add_argument("names", nargs="+", metavar="NAME")


def cmd_data(args: argparse.Namespace) -> int:
    from harness.pluginhost import get_host  # the host imports this module: no cycle at import time

    store = DatasetStore(get_host().catalog.datasets)
    action = args.data_action
    if action == "list":
        return _list(store, args.family)
    if action == "fetch":
        for name in args.names:
            folder = store.fetch(name, force=args.force, progress=args.progress)
            print(f"{name}: {folder}")
        return 0
    if action == "verify":
        failed = 0
        for name in args.names:
            problems = store.verify(name)
            print(f"{name}: {'OK' if not problems else 'FAILED'}")
            for problem in problems:
                print(f"  {problem}")
            failed += bool(problems)
        return 1 if failed else 0
    if action == "path":
        dataset = store.registry.get(args.name)
        if not store.installed(dataset.name):
            print(
                f"harness: dataset {dataset.name!r} is not installed (harness data fetch {dataset.name})",
                file=sys.stderr,
            )
            return 1
        print(store.folder(dataset.name))
        return 0
    for name in args.names:  # rm
        removed = store.remove(name)
        print(f"{name}: {'removed' if removed else 'not installed'}")
    return 0


def _list(store: DatasetStore, family: str | None) -> int:
    from rich.console import Console
    from rich.table import Table

    datasets = [d for d in store.registry.datasets.values() if family is None or d.family == family]
    if not datasets:
        print(f"no datasets{f' in family {family!r}' if family else ''}", file=sys.stderr)
        return 1
    table = Table(show_lines=False, box=None, pad_edge=False)
    for column in ("dataset", "family", "size", "pinned by", "licence", "tasks", "installed"):
        table.add_column(column, overflow="fold")
    for dataset in sorted(datasets, key=lambda d: (d.family, d.name)):
        table.add_row(
            dataset.name,
            dataset.family,
            _size(dataset),
            dataset.pinning,
            dataset.license,
            ", ".join(dataset.tasks) or "-",
            "yes" if store.installed(dataset.name) else "",
        )
    Console(width=160, soft_wrap=False).print(table)
    return 0


def _size(dataset: Dataset) -> str:
    """The download's size; where a source's size is unknown, the unpacked files' (marked), else ``?``."""
    if dataset.size is not None:
        return _bytes(dataset.size)
    if dataset.files_size is not None:
        return _bytes(dataset.files_size) + " unpacked"
    return "?"


def _bytes(size: int) -> str:
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
