"""The ``harness`` command: run, list, plugins, leaderboard, train, mine-pairs.

Every failure ends in one line on stderr (``harness: error: ...``) and a non-zero
exit code; ``HARNESS_DEBUG=1`` adds the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from harness import __version__
from harness.errors import HarnessError, UsageError, one_line
from harness.pluginhost import PluginHost, get_host
from harness.runner import RunOptions, TaskOutcome, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Benchmark text and code embedding models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_cmd = commands.add_parser("run", help="evaluate an encoder on tasks")
    run_cmd.add_argument("--encoder", required=True, help="encoder name (see 'harness list encoders')")
    which = run_cmd.add_mutually_exclusive_group()
    which.add_argument("--tasks", type=_comma_list, help="comma-separated tasks, each NAME or NAME@SPLIT")
    which.add_argument("--suite", help="a named suite (default: 'default')")
    run_cmd.add_argument("--out", type=Path, default=Path("results"), help="results folder (default: ./results)")
    run_cmd.add_argument("--batch-size", type=int, default=32, help="encoder batch size (default: 32)")
    run_cmd.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    run_cmd.add_argument("--force", action="store_true", help="rerun tasks that already have results")
    run_cmd.add_argument("--data-dir", type=Path, help="folder with the datasets (also $HARNESS_DATA_DIR)")
    run_cmd.add_argument(
        "--checkpoint", type=Path, help="trained weights for a cpt encoder (a model folder or a 'harness train' run)"
    )
    run_cmd.add_argument(
        "--untrained", action="store_true", help="cpt encoders: evaluate the bare backbone, before contrastive training"
    )
    run_cmd.add_argument("--backbone", help="cpt encoders with --untrained: a local copy of the preset's backbone")
    run_cmd.add_argument("--max-length", type=int, help="cpt encoders: tokens per input, delimiters included")
    run_cmd.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        help="cpt encoders: auto = bf16 on CUDA, fp32 on CPU (recorded in the fingerprint)",
    )
    run_cmd.add_argument("--label", help="record results under this name instead of the encoder's")
    bars = run_cmd.add_mutually_exclusive_group()
    bars.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show progress bars"
    )
    bars.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")

    list_cmd = commands.add_parser("list", help="list registered encoders, tasks or suites")
    list_cmd.add_argument("what", choices=("encoders", "tasks", "suites"))

    commands.add_parser("plugins", help="list plugins with their versions and origins")

    board_cmd = commands.add_parser("leaderboard", help="aggregate a results folder and print the table")
    board_cmd.add_argument("folder", nargs="?", type=Path, default=Path("results"))

    from harness.encoders.training.mining_cli import register_subcommand as register_mine_pairs
    from harness.encoders.training.train_cli import register_subcommand as register_train

    register_train(commands)
    register_mine_pairs(commands)
    return parser


def _comma_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected at least one name")
    return items


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        host = get_host()
        command = getattr(args, "func", None) or COMMANDS[args.command]
        return command(host, args)
    except HarnessError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted; finished tasks are saved, rerun to resume", 130)
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        return _fail(f"{type(exc).__name__}: {one_line(exc)} (set HARNESS_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return code


def _warn_plugin_problems(host: PluginHost) -> None:
    for line in host.problems():
        print(f"harness: warning: {line}", file=sys.stderr)


def cmd_run(host: PluginHost, args: argparse.Namespace) -> int:
    _warn_plugin_problems(host)
    if args.progress is False or (args.progress is None and not sys.stderr.isatty()):
        # Quiets the bars of libraries that plugins use (transformers, huggingface_hub) too.
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    _check_device(args.device)
    catalog = host.catalog
    refs = catalog.task_refs(args.tasks, args.suite)
    options = RunOptions(
        out_dir=args.out,
        force=args.force,
        device=args.device,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        progress=args.progress,
        encoder_options=_encoder_options(args),
        label=args.label or (f"{args.encoder}-untrained" if args.untrained else None),
    )

    def show(outcome: TaskOutcome) -> None:
        # tqdm.write keeps these lines clear of the progress bars.
        if outcome.status == "failed":
            tqdm.write(f"{outcome.ref}: FAILED: {outcome.error}", file=sys.stderr)
            return
        note = "skipped: already done, --force reruns it" if outcome.status == "skipped" else f"{outcome.seconds:.1f} s"
        tqdm.write(f"{outcome.ref}: {outcome.main_metric} = {outcome.main_score:.5f}  ({note})", file=sys.stdout)

    report = run(catalog, args.encoder, refs, options, on_outcome=show)
    print(f"results in {args.out}/ (leaderboard: harness leaderboard {args.out})")
    if report.failed:
        names = ", ".join(o.ref for o in report.failed)
        return _fail(f"{len(report.failed)} of {len(report.outcomes)} task(s) failed: {names}", 1)
    return 0


def _encoder_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {}
    if args.checkpoint is not None:
        options["checkpoint"] = str(args.checkpoint)
    if args.untrained:
        options["untrained"] = True
    if args.backbone:
        options["backbone"] = args.backbone
    if args.max_length is not None:
        options["max_length"] = args.max_length
    if args.precision is not None:
        options["precision"] = args.precision
    return options


def _check_device(device: str) -> None:
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available (torch {torch.__version__})")


def cmd_list(host: PluginHost, args: argparse.Namespace) -> int:
    _warn_plugin_problems(host)
    catalog = host.catalog
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


def cmd_plugins(host: PluginHost, args: argparse.Namespace) -> int:
    _ = host.catalog  # runs the registration hooks, so hook failures show up below
    for info in host.infos.values():
        status = info.status if info.error is None else f"{info.status}: {info.error}"
        hooks = ", ".join(info.hooks) or "-"
        print(f"{info.name:<24} {info.version:<10} {info.source}")
        print(f"{'':<24} hooks: {hooks}; status: {status}")
    return 0


def cmd_leaderboard(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.leaderboard import print_leaderboard
    from harness.results import LEADERBOARD_FILE, build_leaderboard, write_json_atomic

    board = build_leaderboard(args.folder)
    write_json_atomic(args.folder / LEADERBOARD_FILE, board)
    order = [ref for suite in host.catalog.suites.values() for ref in suite.tasks]
    print_leaderboard(board, order)
    return 0


COMMANDS = {"run": cmd_run, "list": cmd_list, "plugins": cmd_plugins, "leaderboard": cmd_leaderboard}


if __name__ == "__main__":
    sys.exit(main())
