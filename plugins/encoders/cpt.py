"""The paper's own models: cpt-text S/M/L/XL, cpt-code S/M, offline tiny presets, and ``cpt:PATH``.

Registered through the same hook as any third-party encoder.  The model code lives
in :mod:`harness.encoders`; this module only names the presets.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

from harness import EncoderSettings, hookimpl
from harness.encoders.cpt_encoder import CptEncoder, build_cpt_encoder
from harness.encoders.presets import PRESETS, CptPreset


def _preset(preset: CptPreset, settings: EncoderSettings) -> CptEncoder:
    return build_cpt_encoder(preset.name, settings, preset)


def _any_checkpoint(settings: EncoderSettings) -> CptEncoder:
    assert settings.argument is not None
    options = {**settings.options, "checkpoint": settings.argument}
    settings = dataclasses.replace(settings, options=options)
    return build_cpt_encoder("cpt", settings)


@hookimpl
def harness_register_encoders(register: Any) -> None:
    for preset in PRESETS.values():
        register(preset.name, partial(_preset, preset), f"{preset.description} (needs --checkpoint or --untrained)")
    register("cpt:", _any_checkpoint, "a trained cpt checkpoint folder: cpt:<path>")
