"""What one rank's memory holds while training, computed before the first step, and whether it fits.

A run that cannot fit should say so in one line at start, not after loading a 7B backbone and failing in the
first backward with an allocator's message.  The plan counts, per rank: float32 master weights, float32
gradients and AdamW's two float32 moments (each divided by the ranks under FSDP), the largest block gathered
whole for its forward, and the activations of one forward chunk from the standard estimate for a transformer
layer (Korthikanti et al., 2022, "Reducing Activation Recomputation in Large Transformer Models": about
``34 * h`` bytes per token per layer in 16-bit, plus the attention scores ``5 * heads * s`` per token; only the
layer inputs, ``2 * h``, with activation checkpointing, plus one layer recomputed), and the loss over the global
batch: every rank holds the gathered embeddings and the ``batch x batch`` similarity matrix, its softmax and
their gradients (12288 pairs: 2.3 GiB).  It is an estimate meant to
catch the order of magnitude (a 7B model without sharding on an 80 GB GPU), not the allocator's exact figure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from harness.encoders.model import CptModel

GiB = 1 << 30


@dataclass(frozen=True)
class MemoryPlan:
    parameters: int
    weights: int
    gradients: int
    optimizer: int
    gathered_block: int
    activations: int
    device_bytes: int | None
    loss: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.gathered_block + self.activations + self.loss

    def record(self) -> dict[str, float | int | None]:
        """The plan in GiB, for the run's log."""
        gib = {
            "weights_gib": self.weights,
            "gradients_gib": self.gradients,
            "optimizer_gib": self.optimizer,
            "gathered_block_gib": self.gathered_block,
            "activations_gib": self.activations,
            "loss_gib": self.loss,
            "total_gib": self.total,
        }
        return {
            "parameters": self.parameters,
            **{name: round(value / GiB, 3) for name, value in gib.items()},
            "device_gib": round(self.device_bytes / GiB, 1) if self.device_bytes else None,
        }


def plan_memory(
    model: CptModel,
    *,
    ranks: int,
    sharded: bool,
    chunk_rows: int,
    max_length: int,
    bf16: bool,
    activation_checkpointing: bool,
    device: torch.device,
    global_batch: int = 0,
    negatives: int = 0,
) -> MemoryPlan:
    """The per-rank plan for training ``model`` (see the module docstring)."""
    from harness.encoders.training.sharding import transformer_blocks

    parameters = sum(p.numel() for p in model.parameters())
    share = ranks if sharded else 1
    config = model.backbone.config
    layers = int(getattr(config, "num_hidden_layers", 1))
    hidden = int(config.hidden_size)
    heads = int(getattr(config, "num_attention_heads", 1))
    blocks = transformer_blocks(model.backbone)
    block = max(sum(p.numel() for p in b.parameters()) for b in blocks) if len(blocks) else 0
    element = 2 if bf16 else 4
    tokens = chunk_rows * max_length
    per_layer = tokens * (34 * hidden + 5 * heads * max_length) * element // 2
    if activation_checkpointing:
        activations = tokens * 2 * hidden * element // 2 * layers + per_layer
    else:
        activations = per_layer * layers
    return MemoryPlan(
        parameters=parameters,
        weights=4 * parameters // share,
        gradients=4 * parameters // share,
        optimizer=8 * parameters // share,
        gathered_block=block * element if sharded else 0,
        activations=activations,
        device_bytes=device_memory(device),
        # Embeddings of queries, documents and negatives (value and gradient) and the similarity logits of both
        # directions with their softmax and gradient, all float32.
        loss=global_batch * (2 + negatives) * hidden * 4 * 2 + 4 * global_batch * global_batch * (1 + negatives) * 4,
    )


def device_memory(device: torch.device) -> int | None:
    """The device's memory: a GPU's total, or the machine's RAM for the CPU (None where unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
