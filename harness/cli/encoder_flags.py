"""The encoder-option flags ``harness run`` and ``harness check --run`` share: spellings of ``-o NAME=VALUE``.

One path to the encoder's option schema (:mod:`harness.options`): a flag sets the option of the same name, and
only flags the user gave are passed on, so the encoder's schema supplies every default and refuses any option
the encoder does not declare.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.options import BACKENDS, PRECISIONS, parse_assignments

ENCODER_FLAGS: tuple[str, ...] = (
    "device",
    "batch_size",
    "batch_tokens",
    "precision",
    "backend",
    "checkpoint",
    "untrained",
    "backbone",
    "max_length",
    "pooling",
)
"""Flags that are spellings of ``-o NAME=VALUE``: one path to the encoder's option schema (:mod:`harness.options`)."""


def encoder_options_parent() -> argparse.ArgumentParser:
    """The encoder-option flags ``run`` and ``check --run`` share; each is ``-o NAME=VALUE`` by another name.

    Defaults are ``None`` (not given): only what the user asked for reaches the encoder, where its schema
    supplies the defaults and refuses options the encoder does not read.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("encoder options (see 'harness info ENCODER'; refused if the encoder lacks one)")
    group.add_argument("--encoder", help="encoder name (see 'harness list encoders')")
    group.add_argument(
        "-o", "--option", action="append", metavar="KEY=VALUE", dest="encoder_option", help="set an encoder option"
    )
    group.add_argument("--device", help="cpu, cuda or cuda:N (option device)")
    group.add_argument("--batch-size", type=int, help="texts per batch (option batch_size)")
    group.add_argument(
        "--batch-tokens", type=int, help="at most this many padded tokens per batch; --batch-size caps the rows"
    )
    group.add_argument("--precision", choices=PRECISIONS, help="auto, fp32, bf16, fp16 (CUDA), int8 (CPU)")
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        help="sentence-transformers encoders: torch, onnx or openvino (CPU, exported once)",
    )
    group.add_argument("--checkpoint", type=Path, help="cpt encoders: trained weights (a model folder or a run)")
    group.add_argument(
        "--untrained", action="store_true", default=None, help="cpt encoders: the bare backbone, before training"
    )
    group.add_argument("--backbone", help="cpt encoders with --untrained: a local copy of the preset's backbone")
    group.add_argument("--max-length", type=int, help="tokens per input (option max_length)")
    group.add_argument("--pooling", choices=("mean", "last", "cls"), help="hf: encoders: how to pool")
    group.add_argument("--label", help="record results under this name instead of the derived one")
    return parent


def encoder_options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder options a command line asked for: its ``-o`` items and the flags that spell them."""
    options: dict[str, Any] = parse_assignments(args.encoder_option)
    for name in ENCODER_FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in options:
            raise UsageError(f"option {name} given twice (--{name.replace('_', '-')} and -o {name}=...)")
        options[name] = str(value) if isinstance(value, Path) else value
    return options
