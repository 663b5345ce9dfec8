"""Trained cpt models on disk: safetensors weights plus JSON, never pickle.

A model folder is what ``save_pretrained`` writes for the backbone (config.json,
model.safetensors), the tokenizer's files, and ``cpt_config.json`` (delimiters,
maximum length, the trained temperature).  It is written into a temporary sibling
and renamed into place, so a folder that exists is complete.

A training checkpoint is a model folder plus ``optimizer.safetensors`` (AdamW's
moments) and ``training_state.json`` (step, data position, learning-rate
schedule position) and ``rng.safetensors``: everything needed to resume a run so
that it continues exactly as if it had not stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from harness.digests import read_blocks
from harness.encoders.model import CptConfig, CptModel
from harness.errors import HarnessError
from harness.file_modes import relax_modes
from harness.home import checkpoints_dir
from harness.results.files import write_text_atomic

CPT_CONFIG_FILE = "cpt_config.json"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
TRAINING_STATE_FILE = "training_state.json"
LATEST_FILE = "latest"


class MissingCheckpointError(HarnessError):
    """A cpt encoder was asked for but no trained weights exist for it."""


def save_model(model: CptModel, folder: Path, extra_files: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optional extra files, name -> writer(path)) to ``folder`` atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with quiet_transformers():
            model.backbone.save_pretrained(staging)
        model.tokenizer.save_pretrained(staging)
        _write_json(staging / CPT_CONFIG_FILE, model.current_config().to_json())
        for name, writer in (extra_files or {}).items():
            writer(staging / name)
        relax_modes(staging)  # mkdtemp's folder is private; a checkpoint is shared like any model folder
        if folder.exists():
            retired = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(folder, retired)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_model(folder: Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32) -> CptModel:
    """A :class:`CptModel` from a model folder (weights from safetensors only)."""
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder)
    config_path = folder / CPT_CONFIG_FILE
    if not config_path.is_file():
        raise HarnessError(f"{folder}: not a cpt checkpoint (no {CPT_CONFIG_FILE})")
    if not any(folder.glob("*.safetensors")):
        raise HarnessError(f"{folder}: no safetensors weights (pickled weights are never loaded)")
    try:
        config = CptConfig.from_json(json.loads(config_path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{config_path}: invalid cpt config: {exc}") from None
    with quiet_transformers():
        backbone = AutoModel.from_pretrained(folder, use_safetensors=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "right"
    model = CptModel(backbone, tokenizer, config)
    return model.to(device).eval()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-shard progress bars from transformers while saving or loading: the training log is the progress."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def weights_sha256(folder: Path) -> str:
    """One hash over the safetensors files of a folder (sorted by name), identifying trained weights."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.safetensors")):
        if path.name in (OPTIMIZER_FILE, RNG_FILE):
            continue
        digest.update(path.name.encode())
        for block in read_blocks(path):
            digest.update(block)
    return digest.hexdigest()


def find_checkpoint(name: str, explicit: str | Path | None = None) -> Path:
    """The model folder for encoder ``name``: ``--checkpoint PATH``, else ``$HARNESS_HOME/checkpoints/NAME``.

    A training run's folder is accepted too (its ``final`` model, else its latest checkpoint).
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise MissingCheckpointError(f"{name}: --checkpoint {path} does not exist")
        resolved = _model_folder_in(path)
        if resolved is None:
            raise MissingCheckpointError(f"{name}: {path} holds no cpt checkpoint ({CPT_CONFIG_FILE} + safetensors)")
        return resolved
    home = checkpoints_dir() / name
    resolved = _model_folder_in(home) if home.exists() else None
    if resolved is None:
        raise MissingCheckpointError(
            f"{name}: no trained checkpoint (looked for {home}). cpt models are made by contrastive training: "
            f"train one with 'harness train --preset {name} --pairs PAIRS.jsonl --out RUN' "
            f"(pairs from 'harness mine-pairs'), then pass '--checkpoint RUN' or copy RUN/final to {home}; "
            f"'--untrained' evaluates the bare backbone"
        )
    return resolved


def _model_folder_in(path: Path) -> Path | None:
    if (path / CPT_CONFIG_FILE).is_file():
        return path
    if (path / "final" / CPT_CONFIG_FILE).is_file():
        return path / "final"
    latest = latest_checkpoint(path)
    # A sharded run's checkpoints hold shards, not a model: its model is the exported final/ folder.
    return latest if latest is not None and (latest / CPT_CONFIG_FILE).is_file() else None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete training checkpoint of a run folder, if any."""
    pointer = Path(run_dir) / LATEST_FILE
    if not pointer.is_file():
        return None
    folder = Path(run_dir) / "checkpoints" / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / TRAINING_STATE_FILE).is_file() else None


def save_training_checkpoint(
    model: CptModel,
    optimizer: torch.optim.Optimizer,
    run_dir: Path,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Model, optimiser moments, RNG and ``state`` (JSON) as ``run_dir/checkpoints/step-NNNNNNN``; then point
    ``run_dir/latest`` at it and drop all but the ``keep`` newest."""
    name = f"step-{int(state['step']):07d}"
    tensors, optimizer_meta = _flatten_optimizer(optimizer)
    folder = save_model(
        model,
        Path(run_dir) / "checkpoints" / name,
        extra_files={
            OPTIMIZER_FILE: lambda path: save_file(tensors, str(path)),
            RNG_FILE: lambda path: save_file(rng_tensors(), str(path)),
            TRAINING_STATE_FILE: lambda path: _write_json(path, {**state, "optimizer": optimizer_meta}),
        },
    )
    write_text_atomic(Path(run_dir) / LATEST_FILE, name)
    prune_checkpoints(Path(run_dir) / "checkpoints", keep)
    return folder


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore the optimiser and the RNG from a training checkpoint; return its JSON state."""
    state = json.loads((folder / TRAINING_STATE_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(folder / OPTIMIZER_FILE))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state.pop("optimizer")))
    restore_rng(load_file(str(folder / RNG_FILE)))
    return state


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    full = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in full["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [
        {key: list(v) if isinstance(v, tuple) else v for key, v in group.items()} for group in full["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [{key: tuple(v) if key == "betas" else v for key, v in group.items()} for group in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def rng_tensors() -> dict[str, torch.Tensor]:
    tensors = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{index}"] = value
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["cpu"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors) - 1) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def prune_checkpoints(folder: Path, keep: int) -> None:
    steps = sorted(p for p in folder.glob("step-*") if p.is_dir())
    for old in steps[: max(len(steps) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
