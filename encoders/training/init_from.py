"""``harness train --init RUN``: fine-tuning starts from a trained cpt model, named by its content.

The paper fine-tunes its pre-trained cpt-text on NLI (supervised SimCSE's recipe, see
:mod:`.mining.nli`); in SimCSE's ``train.py`` that is ``--model_name_or_path`` naming the model to start
from, with a fresh optimiser and schedule.  Here ``--init`` names a folder ``harness train`` wrote (its
``final/`` model, else its latest whole-model checkpoint) or a model folder itself; the run starts from its
weights and its trained temperature, with AdamW's moments, the step count and the learning-rate schedule
new.  A sharded run's checkpoints hold shards, not a model: its exported ``final/`` is what ``--init`` takes.

What the run started from is recorded by content (the weights' sha256, as ``harness run`` fingerprints a
checkpoint, and the sha256 of ``cpt_config.json``), so a moved folder is the same start and a retrained
one is not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harness.encoders.checkpoint import CPT_CONFIG_FILE, _model_folder_in, latest_checkpoint, weights_sha256
from harness.encoders.model import CptConfig
from harness.encoders.presets import PRESETS
from harness.encoders.training.sharding import is_sharded_checkpoint
from harness.errors import HarnessError, UsageError


@dataclass(frozen=True)
class InitCheckpoint:
    """The model a fine-tuning run starts from: where it lies, its settings and its content hashes."""

    given: Path
    folder: Path
    """The model folder itself (``RUN/final``, a checkpoint, or the folder given)."""
    config: CptConfig
    weights_sha256: str
    config_sha256: str

    def identity(self) -> dict[str, str]:
        """What ``train_settings.json`` records: the two hashes identify the start, the folder is for the reader."""
        return {
            "init_weights_sha256": self.weights_sha256,
            "init_config_sha256": self.config_sha256,
            "init_model_folder": str(self.folder),
        }


def resolve_init(path: str | Path) -> InitCheckpoint:
    """The model folder ``--init path`` names, read and hashed; a ``HarnessError`` in one line if there is none."""
    given = Path(path).expanduser()
    if not given.exists():
        raise HarnessError(f"--init {given}: no such file or folder")
    folder = _model_folder_in(given) if given.is_dir() else None
    if folder is None:
        latest = latest_checkpoint(given) if given.is_dir() else None
        if latest is not None and is_sharded_checkpoint(latest):
            raise HarnessError(
                f"--init {given}: holds sharded (FSDP) checkpoints only, which are no model; --init takes a run's "
                f"exported model: let the run finish (it writes {given / 'final'}) and give that"
            )
        raise HarnessError(
            f"--init {given}: not a cpt checkpoint (no {CPT_CONFIG_FILE} with safetensors weights in it, "
            f"in its final/ or in its latest checkpoint); give a folder 'harness train' wrote"
        )
    config_path = folder / CPT_CONFIG_FILE
    raw = config_path.read_bytes()
    try:
        config = CptConfig.from_json(json.loads(raw))
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise HarnessError(f"{config_path}: invalid cpt config: {exc}") from None
    return InitCheckpoint(given, folder, config, weights_sha256(folder), hashlib.sha256(raw).hexdigest())


def check_compatible(
    init: InitCheckpoint, *, preset: str | None, backbone: str | None, delimiter_mode: str | None
) -> None:
    """Refuse, in one line, a ``--preset``, ``--backbone`` or ``--delimiters`` that contradicts the checkpoint.

    Each is optional with ``--init`` (the checkpoint brings all three); given, it must describe the same model,
    or the run would record a preset or delimiters its weights were never trained with.
    """
    config = init.config
    what = f"--init {init.given}"
    if preset is not None:
        trained = config.preset
        if trained is not None and trained != preset:
            raise UsageError(f"--preset {preset} does not match {what}, a {trained} model; leave --preset out")
        if trained is None and PRESETS[preset].backbone != config.backbone:
            raise UsageError(
                f"--preset {preset} (backbone {PRESETS[preset].backbone}) does not match {what}, trained from "
                f"{config.backbone}; leave --preset out"
            )
    if backbone is not None and backbone != config.backbone:
        raise UsageError(
            f"--backbone {backbone} does not match {what}, trained from {config.backbone}; leave --backbone out "
            f"(the weights come from --init)"
        )
    if delimiter_mode is not None and delimiter_mode != config.delimiter_mode:
        raise UsageError(
            f"--delimiters {delimiter_mode} does not match {what}, trained with {config.delimiter_mode} "
            f"delimiters; leave --delimiters out"
        )
