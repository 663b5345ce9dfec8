"""FSDP2 for cpt training: parameters, gradients and AdamW's moments sharded across ranks.

Every rank holding the whole model and both AdamW moments is about 16 bytes per parameter (110 GB for
Pythia-6.9B) before activations, more than one GPU has.  ``fully_shard`` (PyTorch's FSDP2) splits each
transformer block's parameters into one shard per rank and all-gathers a block's only while it runs; the
optimiser then steps on its shard alone.

Three things differ from the textbook data-parallel use, because the contrastive loss spans the global batch
(:mod:`.distributed`): every rank computes the *same* global loss, and its backward reaches only its own
embeddings, so the full-batch gradient is the *sum* of the ranks' gradients, not their mean: the reduction's
divide factor is 1.  The temperature, which every rank's loss sees whole, is left out of FSDP and averaged
by hand (:func:`harness.encoders.training.distributed.sum_gradients`).  And gradient caching runs several
backward passes per step: :func:`gradient_sync` turns the reduce-scatter off for all but the last, so a step
costs one reduction, not one per chunk.

Mixed precision: with ``bf16`` the blocks compute in bfloat16 from float32 master weights, and gradients are
reduced in float32 (``MixedPrecisionPolicy``).  ``--activation-checkpointing`` recomputes each block's
activations in the backward pass instead of keeping them (the backbone's own per-block checkpointing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.encoders.model import CptModel
from harness.errors import UsageError
from harness.running.world import World

SHARDINGS = ("none", "fsdp")


def resolve_sharding(requested: str | None, world: World) -> str:
    """``--sharding``: as asked, else ``fsdp`` when the world has more than one rank."""
    if requested is None:
        return "fsdp" if world.distributed else "none"
    if requested not in SHARDINGS:
        raise UsageError(f"harness train: --sharding must be none or fsdp, got {requested!r}")
    return requested


def transformer_blocks(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's stack of transformer blocks: its longest ``ModuleList`` (``layers``, ``h``, ``layer``)."""
    lists = [module for module in backbone.modules() if isinstance(module, nn.ModuleList)]
    if not lists:
        raise UsageError(f"cannot shard {type(backbone).__name__}: it has no list of transformer blocks")
    return max(lists, key=len)


def shard_model(model: CptModel, world: World, *, bf16: bool, activation_checkpointing: bool) -> None:
    """Shard ``model.backbone`` in place with FSDP2, one unit per transformer block plus the rest."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    if activation_checkpointing:
        enable = getattr(model.backbone, "gradient_checkpointing_enable", None)
        if enable is None:
            raise UsageError(f"{type(model.backbone).__name__} does not support activation checkpointing")
        enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)
    for block in transformer_blocks(model.backbone):
        fully_shard(block, mp_policy=policy)
    fully_shard(model.backbone, mp_policy=policy)
    for module in model.backbone.modules():  # every FSDP unit: the full-batch gradient is the ranks' sum
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            # A plain SUM (a factor of 1 would otherwise be NCCL's PREMUL_SUM, which gloo lacks).
            module.set_force_sum_reduction_for_comms(True)


def is_sharded(model: CptModel) -> bool:
    return hasattr(model.backbone, "set_requires_gradient_sync")


@contextlib.contextmanager
def gradient_sync(model: CptModel, enabled: bool) -> Iterator[None]:
    """Reduce gradients across ranks after the backward passes inside, or (``enabled=False``) keep them local."""
    if not is_sharded(model):
        yield
        return
    model.backbone.set_requires_gradient_sync(enabled)  # type: ignore[operator]
    try:
        yield
    finally:
        model.backbone.set_requires_gradient_sync(True)  # type: ignore[operator]


def full_state_dict(model: CptModel) -> dict[str, torch.Tensor]:
    """The whole model's weights on rank 0's CPU (every rank must call it; other ranks get an empty dict)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {name: value for name, value in weights.items() if isinstance(value, torch.Tensor)}


SHARDED_DIR = "sharded"
"""Inside a training checkpoint of a sharded run: ``torch.distributed.checkpoint``'s files, each rank's part."""


def rng_file(rank: int) -> str:
    return f"rng-rank-{rank}.safetensors"


def save_sharded_checkpoint(
    model: CptModel, optimizer: torch.optim.Optimizer, run_dir: Path, state: dict[str, Any], world: World, keep: int
) -> Path:
    """``run_dir/checkpoints/step-NNNNNNN``: every rank writes its shards (DCP) and its RNG; rank 0 the state.

    The ``latest`` pointer moves only after every rank's part is on disk, so a checkpoint it names is whole.
    """
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import save_file
    from torch.distributed.checkpoint.state_dict import get_state_dict

    from harness.encoders.checkpoint import LATEST_FILE, TRAINING_STATE_FILE, prune_checkpoints, rng_tensors
    from harness.results.files import write_json_atomic, write_text_atomic

    name = f"step-{int(state['step']):07d}"
    folder = Path(run_dir) / "checkpoints" / name
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=str(folder / SHARDED_DIR))
    save_file(rng_tensors(), str(folder / rng_file(world.rank)))
    if world.is_main:
        write_json_atomic(folder / TRAINING_STATE_FILE, {**state, "sharding": "fsdp"})
    dist.barrier()
    if world.is_main:
        write_text_atomic(Path(run_dir) / LATEST_FILE, name)
        prune_checkpoints(Path(run_dir) / "checkpoints", keep)
    dist.barrier()
    return folder


def load_sharded_checkpoint(
    model: CptModel, optimizer: torch.optim.Optimizer, folder: Path, world: World
) -> dict[str, Any]:
    """Restore shards, optimiser moments and this rank's RNG from a checkpoint of a sharded run; its state."""
    import json

    import torch.distributed.checkpoint as dcp
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    from harness.encoders.checkpoint import TRAINING_STATE_FILE, restore_rng

    state = json.loads((folder / TRAINING_STATE_FILE).read_text(encoding="utf-8"))
    if state.get("world_size") != world.size:
        raise UsageError(
            f"{folder} was written by {state.get('world_size')} ranks; resume it with as many (this run has {world.size})"
        )
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.load({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=str(folder / SHARDED_DIR))
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state)
    restore_rng(load_file(str(folder / rng_file(world.rank))))
    return state


def is_sharded_checkpoint(folder: Path) -> bool:
    return (Path(folder) / SHARDED_DIR).is_dir()
