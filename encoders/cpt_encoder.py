"""A cpt model as a harness :class:`~harness.encoder.Encoder`.

Trained weights come from ``--checkpoint PATH`` or the harness home
(``$HARNESS_HOME/checkpoints/NAME``).  Without them the encoder refuses to run and
says how to make or place a checkpoint, because an untrained LM read out at the
closing delimiter is not an embedding model (cosines of 0.9-0.99 for any pair);
``--untrained`` evaluates exactly that, on purpose, as the paper's starting point.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.encoder import Encoder, TextKind
from harness.encoders.checkpoint import find_checkpoint, load_model, weights_sha256
from harness.encoders.model import CptConfig, CptModel, effective_precision
from harness.encoders.presets import PRESETS, CptPreset
from harness.errors import UsageError
from harness.options import ModelOptions, option


class CptCheckpointOptions(ModelOptions):
    """``cpt:PATH``: the checkpoint is the name's argument; the read-out length may be changed."""

    max_length: int | None = option(
        None, "tokens per input, delimiters included (default: the checkpoint's)", label=True, ge=1
    )


class CptOptions(CptCheckpointOptions):
    """A preset (``cpt-text-s``): where its trained weights are, or its untrained backbone on purpose."""

    checkpoint: str | None = option(
        None, "trained weights: a model folder or a 'harness train' run (default: $HARNESS_HOME/checkpoints/NAME)"
    )
    untrained: bool = option(False, "evaluate the bare backbone with the cpt read-out, before training", label=True)
    backbone: str | None = option(None, "with untrained: a local copy of the preset's backbone (hub id or folder)")


class CptEncoder(Encoder):
    """Wraps a loaded :class:`CptModel`; fingerprinted by its weights and read-out settings."""

    def __init__(
        self,
        name: str,
        model: CptModel,
        identity: dict[str, Any],
        batch_size: int = 32,
        precision: str = "auto",
        batch_tokens: int | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.identity = identity
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.precision = effective_precision(model.device, precision)

    @property
    def dim(self) -> int:
        return self.model.dim

    def fingerprint(self) -> dict[str, Any]:
        config = self.model.config
        return {
            "kind": "cpt",
            "weights": self.identity,
            "backbone": portable_source(config.backbone),
            "pooling": "last hidden state at the closing delimiter, L2-normalised",
            "delimiter_mode": config.delimiter_mode,
            "delimiters": {side: list(config.delimiters(side)) for side in ("query", "document")},
            "text_side": config.text_side,
            "max_length": config.max_length,
            "precision": self.precision,
        }

    def metadata(self) -> dict[str, Any]:
        preset = PRESETS.get(self.model.config.preset or "")
        meta: dict[str, Any] = {
            "library": "transformers",
            "architecture": type(self.model.backbone).__name__,
            "parameters": int(sum(p.numel() for p in self.model.backbone.parameters())),
            "similarity": "cosine",
            "temperature_scale": float(self.model.scale().detach()),
            "paper": "Neelakantan et al. 2022, arXiv 2201.10005",
        }
        if preset is not None:
            meta["preset"] = {"name": preset.name, "paper_parameters": preset.paper_parameters}
        return meta

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        return self.model.embed(
            list(texts), kind, batch_size=self.batch_size, precision=self.precision, batch_tokens=self.batch_tokens
        )


def build_cpt_encoder(
    name: str, options: CptCheckpointOptions, preset: CptPreset | None = None, checkpoint: str | None = None
) -> CptEncoder:
    """The encoder for a preset name (``options`` a :class:`CptOptions`) or a ``cpt:PATH`` ``checkpoint``.

    ``precision`` ``auto`` is bf16 autocast on CUDA and float32 on CPU; ``bf16`` trades tiny score changes
    for speed.
    """
    device = options.device
    if isinstance(options, CptOptions):
        checkpoint = options.checkpoint
        if options.backbone and not options.untrained:
            raise UsageError(f"encoder {name!r}: option backbone goes with untrained (a trained checkpoint has one)")
        if options.untrained and options.checkpoint:
            raise UsageError(f"encoder {name!r}: give checkpoint or untrained, not both")
        if options.untrained:
            if preset is None:
                raise ValueError("--untrained needs a preset name (it says which backbone to load)")
            from harness.encoders.backbones import load_backbone

            source = str(options.backbone or preset.backbone)
            backbone = load_backbone(source)
            config = CptConfig(backbone=source, preset=preset.name, max_length=options.max_length or preset.max_length)
            model = CptModel(backbone.model, backbone.tokenizer, config).to(device).eval()
            identity = {"untrained": True, **backbone.identity}
            return CptEncoder(name, model, identity, options.batch_size, options.precision, options.batch_tokens)
    folder = find_checkpoint(name, checkpoint)
    model = load_model(folder, device=device, dtype=torch.float32)
    if options.max_length:
        model.config = CptConfig.from_json({**model.config.to_json(), "max_length": options.max_length})
    identity = {"weights_sha256": weights_sha256(folder), "trained_from": portable_source(model.config.backbone)}
    return CptEncoder(name, model, identity, options.batch_size, options.precision, options.batch_tokens)


def portable_source(source: str) -> str:
    """A backbone source fit for a fingerprint: hub ids and preset sources as they are, local paths as
    ``local`` (the weights hash identifies them; a path would make two machines' results incomparable)."""
    if source.startswith((".", "/", "~")) or Path(source).expanduser().exists():
        return "local"
    return source
