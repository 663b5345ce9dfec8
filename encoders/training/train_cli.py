"""``harness train``: contrastive pre-training from the command line.

On one machine: ``harness train --preset cpt-text-tiny --pairs pairs.jsonl --out runs/tiny``.
On GPUs: ``torchrun --nproc-per-node 8 --no-python harness train --device cuda ...``
(multi-node: add torchrun's ``--nnodes``/``--rdzv-endpoint``); every process reads
its rank from the environment torchrun sets.  Rerunning the same command resumes
from the run folder's latest checkpoint.  Fine-tuning (the paper's NLI transfer):
``harness train --init RUN --pairs nli-pairs.jsonl --out runs/nli`` starts from RUN's trained
model with a fresh optimiser and schedule (pairs from ``harness mine-pairs nli``).
Every run folder gets ``report.png`` and ``report.html`` (the training curves), refreshed at each checkpoint
and evaluation; ``harness train report RUN`` redraws them, also for a run still going.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.encoders.presets import PRESETS
from harness.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``harness train``, on the subparser the harness made for it.

    The cpt plugin contributes the command (``harness_register_commands``) with this and :func:`run_command`;
    torch loads only inside :func:`run_command`.
    """
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    start = parser.add_argument_group("what to train")
    start.add_argument("--preset", choices=sorted(PRESETS), help="a cpt size preset (names its backbone)")
    start.add_argument("--backbone", help="override the backbone: a hub id, a local folder, gguf:NAME or micro")
    start.add_argument(
        "--init",
        "--init-checkpoint",
        dest="init",
        type=Path,
        metavar="RUN",
        help="fine-tune a trained cpt model: a 'harness train' run folder or a model folder (fresh optimiser and "
        "schedule; preset, backbone and delimiters come from it)",
    )
    # --pairs and --out are required for training only (run_command says so): ``harness train report RUN`` has
    # neither, and argparse checks a parent's required options even when a subcommand was given.
    start.add_argument(
        "--pairs",
        type=Path,
        help="pairs: a file, comma-separated files, a folder or a glob (JSON lines, .gz/.xz/.zst, Parquet); required",
    )
    start.add_argument("--out", type=Path, help="run folder: checkpoints, log, final model, report; required")
    start.add_argument(
        "--delimiters", choices=("text", "special"), help="[ ] { } as text or tokens (default: text, or --init's)"
    )
    start.add_argument("--max-length", type=int, help="tokens per input (default: the preset's, or --init's)")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--steps", type=int, default=100)
    optim.add_argument("--batch-size", type=int, default=32, help="pairs per global batch (default: 32)")
    optim.add_argument("--chunk-size", type=int, help="pairs per forward chunk; enables gradient caching")
    optim.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default: 2e-5)")
    optim.add_argument("--warmup-steps", type=int, help="linear warm-up (default: 10%% of --steps)")
    optim.add_argument("--weight-decay", type=float, default=0.1)
    optim.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (default: 1.0)")
    optim.add_argument("--seed", type=int, default=0)
    optim.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    optim.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    optim.add_argument(
        "--sharding", choices=("none", "fsdp"), help="fsdp: shard weights, gradients, optimiser (default with torchrun)"
    )
    optim.add_argument(
        "--activation-checkpointing", action="store_true", help="recompute block activations in backward (less memory)"
    )

    logs = parser.add_argument_group("checkpoints, logging, evaluation")
    logs.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: each rank's local GPU)")
    logs.add_argument("--save-every", type=int, default=100)
    logs.add_argument("--keep", type=int, default=2, help="training checkpoints kept (default: 2)")
    logs.add_argument("--log-every", type=int, default=1)
    logs.add_argument("--eval-task", help="a harness task evaluated every --eval-every steps (e.g. stsb)")
    logs.add_argument("--eval-every", type=int, default=0)
    logs.add_argument("--eval-batch-size", type=int, default=64)
    logs.add_argument("--data-dir", type=Path, help="datasets for --eval-task (also $HARNESS_DATA_DIR)")
    logs.add_argument("--peak-tflops", type=float, help="accelerator peak for MFU (default: data sheet of known GPUs)")

    actions = parser.add_subparsers(dest="train_action", metavar="[report]", title="redraw a run's report")
    report = actions.add_parser(
        "report",
        help="redraw RUN/report.png and RUN/report.html from the run's log (a finished or running run)",
        description="Redraw a 'harness train' run's report (report.png, report.html) from its train_log.jsonl; "
        "works while the run is still writing it.",
    )
    report.add_argument("run", type=Path, metavar="RUN", help="a 'harness train' run folder (its --out)")


def run_command(args: argparse.Namespace) -> int:
    """``harness train``: build the settings from ``args`` and train (resuming when ``--out`` holds a run)."""
    if getattr(args, "train_action", None) == "report":
        return redraw_report(args.run)
    missing = [flag for flag, value in (("--pairs", args.pairs), ("--out", args.out)) if value is None]
    if missing:
        raise UsageError(f"harness train: the following arguments are required: {', '.join(missing)}")
    from harness.encoders.training.trainer import TrainSettings, train

    settings = TrainSettings(
        pairs=str(args.pairs),
        out=str(args.out),
        preset=args.preset,
        backbone=args.backbone,
        init_checkpoint=str(args.init) if args.init else None,
        steps=args.steps,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        clip=args.clip,
        max_length=args.max_length,
        delimiter_mode=args.delimiters,
        seed=args.seed,
        save_every=args.save_every,
        keep=args.keep,
        eval_task=args.eval_task,
        eval_every=args.eval_every,
        eval_batch_size=args.eval_batch_size,
        data_dir=str(args.data_dir) if args.data_dir else None,
        log_every=args.log_every,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        sharding=args.sharding,
        activation_checkpointing=args.activation_checkpointing,
        peak_tflops=args.peak_tflops,
    )
    final = train(settings)
    if os.environ.get("RANK", "0") == "0":
        hint = f"--encoder {args.preset} --checkpoint {final}" if args.preset else f"--encoder cpt:{final}"
        print(f"trained model in {final} (evaluate: harness run {hint})")
        print(f"report: {args.out / 'report.html'}")
    return 0


def redraw_report(run: Path) -> int:
    """``harness train report RUN``: draw the run's report from its log and say where it is."""
    from harness.encoders.training.run_report import write_report

    png, page = write_report(run)
    print(f"report: {page} ({png.name} beside it)")
    return 0
