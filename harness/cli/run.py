"""``harness run``: evaluate an encoder on tasks and write a result file per task."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness.cli.common import comma_list, fail, warn_plugin_problems
from harness.cli.encoder_flags import encoder_options_from
from harness.errors import HarnessError, UsageError
from harness.pluginhost import PluginHost
from harness.running.runner import RunOptions, TaskOutcome
from harness.running.runner import run as run_tasks
from harness.running.world import World, current_world


def add_parser(commands: Any, encoder_flags: argparse.ArgumentParser) -> None:
    run_cmd = commands.add_parser("run", help="evaluate an encoder on tasks", parents=[encoder_flags])
    which = run_cmd.add_mutually_exclusive_group()
    which.add_argument("--tasks", type=comma_list, help="comma-separated tasks, each NAME or NAME@SPLIT")
    which.add_argument("--suite", help="a named suite (default: 'default')")
    run_cmd.add_argument("--out", type=Path, default=Path("results"), help="results folder (default: ./results)")
    run_cmd.add_argument("--force", action="store_true", help="rerun tasks that already have results")
    run_cmd.add_argument("--data-dir", type=Path, help="folder with the datasets (also $HARNESS_DATA_DIR)")
    run_cmd.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="fetch missing datasets from the registry's canonical URLs or a mirror (also $HARNESS_DOWNLOAD=1)",
    )
    run_cmd.add_argument(
        "--no-per-example", action="store_true", help="leave per-example scores out of the result files"
    )
    caching = run_cmd.add_mutually_exclusive_group()
    caching.add_argument("--cache", type=Path, metavar="DIR", help="embedding cache folder (default: in $HARNESS_HOME)")
    caching.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    bars = run_cmd.add_mutually_exclusive_group()
    bars.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show progress bars"
    )
    bars.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")


def run(host: PluginHost, args: argparse.Namespace) -> int:
    warn_plugin_problems(host)
    if args.progress is False or (args.progress is None and not sys.stderr.isatty()):
        # Quiets the bars of libraries that plugins use (transformers, huggingface_hub) too.
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if not args.encoder:
        raise UsageError("run needs --encoder NAME (see 'harness list encoders')")
    catalog = host.catalog
    refs = catalog.task_refs(args.tasks, args.suite)
    _check_output_folder(args.out)
    options = RunOptions(
        out_dir=args.out,
        force=args.force,
        data_dir=args.data_dir,
        download=args.download,
        progress=args.progress,
        encoder_options=encoder_options_from(args),
        label=args.label,
        per_example=not args.no_per_example,
        cache=not args.no_cache,
        cache_dir=args.cache,
    )

    world = current_world()  # under torchrun: join the other ranks; only rank 0 reports

    def show(outcome: TaskOutcome) -> None:
        # tqdm.write keeps these lines clear of the progress bars.
        if not world.is_main:
            return
        if outcome.status == "failed":
            if outcome.traceback and os.environ.get("HARNESS_DEBUG"):
                tqdm.write(outcome.traceback, file=sys.stderr)
            hint = " (HARNESS_DEBUG=1 shows the traceback)" if outcome.traceback else ""
            tqdm.write(f"{outcome.ref}: FAILED: {outcome.error}{hint}", file=sys.stderr)
            return
        if outcome.status == "not-applicable":
            tqdm.write(f"{outcome.ref}: not applicable: {outcome.error}", file=sys.stdout)
            return
        note = "skipped: already done, --force reruns it" if outcome.status == "skipped" else f"{outcome.seconds:.1f} s"
        tqdm.write(f"{outcome.ref}: {outcome.main_metric} = {outcome.main_score:.5f}  ({note})", file=sys.stdout)

    try:
        report = run_tasks(catalog, args.encoder, refs, options, on_outcome=show)
    except HarnessError as exc:
        if not world.distributed:
            raise
        raise _on_rank(exc, world) from exc
    if not world.is_main:  # the same outcome, said once, by rank 0
        return 1 if report.failed or (report.outcomes and len(report.not_applicable) == len(report.outcomes)) else 0
    print(f"results in {args.out}/ (leaderboard: harness leaderboard {args.out})")
    if report.failed:
        names = ", ".join(o.ref for o in report.failed)
        return fail(f"{len(report.failed)} of {len(report.outcomes)} task(s) failed: {names}", 1)
    if report.outcomes and len(report.not_applicable) == len(report.outcomes):
        return fail(f"encoder {args.encoder!r} applies to none of the tasks asked for", 1)
    return 0


def _on_rank(exc: HarnessError, world: World) -> HarnessError:
    """The error that stops a rank, saying which (one rank's GPU out of memory is not every rank's)."""
    named = HarnessError(f"rank {world.rank} of {world.size}: {exc}")
    named.exit_code = exc.exit_code
    return named


def _check_output_folder(folder: Path) -> None:
    """Refuse an --out that cannot take results before any model loads or any text is encoded."""
    existing = folder
    try:
        while not existing.exists() and existing.parent != existing:  # the nearest existing folder
            existing = existing.parent
        if not existing.is_dir():
            raise UsageError(f"--out {folder}: {existing} is a file, not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise HarnessError(f"--out {folder}: cannot write in {existing} ({exc.strerror or exc})") from None
