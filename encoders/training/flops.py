"""Useful training flops and model flops utilisation (MFU).

Counted as in PaLM (Chowdhery et al., 2022, appendix B): a training step costs
6 flops per non-embedding parameter per token (forward 2, backward 4) plus the
attention score and value products, 12 * layers * width * length per token of a
sequence of that length.  Gradient caching's extra forward pass is not counted:
it is overhead, and MFU measures useful work against the hardware's peak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

PEAK_BF16_TFLOPS = {
    "H200": 989.4,
    "H100": 989.4,
    "A100": 312.0,
    "L40S": 362.1,
    "A10G": 70.0,
}
"""Dense bf16 tensor-core peaks from the vendors' data sheets (SXM parts), in TFLOP/s."""


def non_embedding_parameters(backbone: PreTrainedModel) -> int:
    embedding = backbone.get_input_embeddings()
    embedded = 0
    if embedding is not None:
        weight = embedding.weight
        assert isinstance(weight, torch.Tensor)  # a Parameter; Module.__getattr__ is typed Tensor | Module
        embedded = weight.numel()
    return int(sum(p.numel() for p in backbone.parameters())) - embedded


def step_flops(backbone: PreTrainedModel, sequence_lengths: list[int] | torch.Tensor) -> float:
    """Useful flops of one training step over sequences of the given (unpadded) lengths."""
    lengths = torch.as_tensor(sequence_lengths, dtype=torch.float64)
    config = backbone.config
    layers = int(config.num_hidden_layers)
    width = int(config.hidden_size)
    dense = 6.0 * non_embedding_parameters(backbone) * float(lengths.sum())
    attention = 12.0 * layers * width * float((lengths * lengths).sum())
    return dense + attention


def peak_tflops(device: torch.device | str, override: float | None = None) -> float | None:
    """The accelerator's bf16 peak: ``override`` when given, else the data-sheet figure for a known GPU."""
    if override:
        return float(override)
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    for model, peak in PEAK_BF16_TFLOPS.items():
        if model in name:
            return peak
    return None


def measured_matmul_tflops(device: torch.device | str, dtype: torch.dtype = torch.bfloat16, size: int = 8192) -> float:
    """The achieved rate of a large square matmul: a practical peak to compare training against."""
    import time

    device = torch.device(device)
    if device.type == "cpu":
        size = min(size, 2048)
        dtype = torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    repeats = 20 if device.type == "cuda" else 3
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    seconds = time.perf_counter() - started
    return 2 * size**3 * repeats / seconds / 1e12


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
