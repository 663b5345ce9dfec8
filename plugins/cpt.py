"""The paper's own models: cpt-text S/M/L/XL, cpt-code S/M, offline tiny presets, and ``cpt:PATH``.

Registered through the same hook as any third-party encoder.  The model code lives
in :mod:`harness.encoders`; this module only names the presets.
"""

from __future__ import annotations

import argparse
from functools import partial

from harness import EncoderSettings, hookimpl
from harness.catalog import CommandRegister, EncoderRegister
from harness.encoders.cpt_encoder import CptCheckpointOptions, CptEncoder, CptOptions, build_cpt_encoder
from harness.encoders.presets import PRESETS, CptPreset


def _preset(preset: CptPreset, settings: EncoderSettings[CptOptions]) -> CptEncoder:
    return build_cpt_encoder(preset.name, settings.options, preset)


def _any_checkpoint(settings: EncoderSettings[CptCheckpointOptions]) -> CptEncoder:
    assert settings.argument is not None
    return build_cpt_encoder("cpt", settings.options, checkpoint=settings.argument)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    for preset in PRESETS.values():
        description = f"{preset.description} (needs --checkpoint or --untrained)"
        register(preset.name, partial(_preset, preset), description, options=CptOptions)
    register("cpt:", _any_checkpoint, "a trained cpt checkpoint folder: cpt:<path>", options=CptCheckpointOptions)


@hookimpl
def harness_register_commands(register: CommandRegister) -> None:
    """``harness train`` and ``harness mine-pairs``: the training code loads only when one of them is used."""
    register(
        "train",
        _train_arguments,
        _train,
        help="contrastive pre-training of a cpt model, or fine-tuning with --init (resumes when --out holds a run)",
    )
    register(
        "mine-pairs",
        _mine_arguments,
        _mine,
        help="mine (x, y) training pairs from local text or Python code, or NLI triples from SNLI and MultiNLI",
    )


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.encoders.training import train_cli

    train_cli.add_arguments(parser)


def _train(args: argparse.Namespace) -> int:
    from harness.encoders.training import train_cli

    return train_cli.run_command(args)


def _mine_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.encoders.training import mining_cli

    mining_cli.add_arguments(parser)


def _mine(args: argparse.Namespace) -> int:
    from harness.encoders.training import mining_cli

    return mining_cli.run_command(args)
