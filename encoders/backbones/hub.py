"""Backbones from a local folder of safetensors weights or a hub id.

A folder that holds only pickle weights (``.bin``, ``.pt``...) is refused with a one-line error
rather than loaded: only ``torch.load`` reads those, and the project never unpickles user files.
Hub ids need a hub or a populated cache; ``HF_HUB_OFFLINE=1`` machines load local folders only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from harness.digests import files_sha256
from harness.encoders.backbones.base import Backbone, finish, from_pretrained, safetensors_files
from harness.errors import HarnessError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files that only ``torch.load`` (pickle) reads; the project never unpickles user files."""


def looks_local(source: str) -> bool:
    """Whether ``source`` names a folder (a path-like prefix, or something that exists) rather than a hub id."""
    return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()


def load_local(source: str, dtype: torch.dtype) -> Backbone:
    """A folder of safetensors weights; its identity is the recorded hub id and the weights' hash, not the path."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"{source}: no backbone folder at {folder}")
    weights = safetensors_files(folder)
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise HarnessError(
                f"{folder}: holds only pickle weights ({', '.join(pickles)}); the harness never unpickles "
                "user files: save the model as safetensors (model.save_pretrained) and retry"
            )
        raise HarnessError(f"{folder}: no *.safetensors weights in this folder")
    model, tokenizer = from_pretrained(str(folder), source, dtype, local=True)
    identity = {
        "source": "local",
        "model_id": _model_id_of(folder),
        "revision": folder.name if folder.parent.name == "snapshots" else None,
        "weights_sha256": files_sha256(weights),
    }
    return finish(model, tokenizer, source, identity, dtype)


def _model_id_of(folder: Path) -> str | None:
    """The hub id recorded in ``config.json`` (older transformers wrote ``_name_or_path``), unless it is a path."""
    try:
        recorded = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or not re.fullmatch(r"[\w-][\w.-]*(/[\w.-]+)?", recorded):
        return None
    return None if Path(recorded).expanduser().exists() else recorded


def load_hub(source: str, dtype: torch.dtype) -> Backbone:
    """A hub id, from the hub or its cache; identified by the id and the commit transformers resolved."""
    model, tokenizer = from_pretrained(source, source, dtype, local=False)
    identity = {
        "source": "hub",
        "model_id": source,
        "revision": getattr(model.config, "_commit_hash", None),
    }
    return finish(model, tokenizer, source, identity, dtype)
