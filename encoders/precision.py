"""Opt-in reduced-precision inference for the torch encoders (``sbert:``, ``minilm-l6``, ``mpnet-base``, ``hf:``).

The harness's reference scores are float32 and must reproduce exactly, so ``auto`` (the default) is float32
for these encoders; faster, slightly different vectors are something a user asks for:

* ``bf16`` / ``fp16``: :func:`torch.autocast` around the forward pass.  The weights stay float32 and autocast
  keeps the numerically fragile ops (layer norm, softmax, reductions) in float32, so vectors move by about
  1e-5 in cosine.  Casting the weights instead (``model.bfloat16()``) was measured 4x *slower* on this
  project's CPU (bf16 layer norm and attention have no fast CPU kernels) and moves vectors more.  One
  mechanism on both devices means ``bf16`` names the same arithmetic on CPU and CUDA.  ``fp16`` is CUDA only:
  CPUs have no fast fp16 matrix units, so asking for it there is an error rather than a slow surprise.
* ``int8``: dynamic int8 quantisation of every ``nn.Linear`` (``torch.ao.quantization.quantize_dynamic``; no
  extra dependency), CPU only.  Weights are quantised per output channel, and activations use the full uint8
  range where the CPU has VNNI (the default 7-bit range exists to avoid int16 overflow on CPUs without it):
  on all-MiniLM-L6-v2 that raises the mean cosine to float32 vectors from 0.952 (the defaults) to 0.994.

A precision other than float32 adds ``precision`` (and for int8 ``quantization``) to the encoder's
fingerprint, so results and cached vectors never mix precisions; float32 adds nothing, so fingerprints (and
results) from before this option existed stay valid.  Encoders always return float32 vectors.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class InferencePrecision:
    """How an encoder runs its forward pass; made by :func:`resolve_precision`, applied by :meth:`prepare`."""

    name: str
    """``fp32``, ``bf16``, ``fp16`` or ``int8`` (``auto`` is resolved before this exists)."""
    device_type: str
    quantization: dict[str, str] | None = None

    def prepare(self, model: torch.nn.Module) -> InferencePrecision:
        """Make ``model`` ready for this precision (int8: quantise its Linear layers in place); return the result.

        The int8 result carries a description of the quantisation scheme, which becomes part of the fingerprint.
        """
        if self.name != "int8":
            return self
        return InferencePrecision(self.name, self.device_type, quantize_linear_int8(model))

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """The context to run the forward pass in: autocast for bf16/fp16, nothing otherwise."""
        dtype = AUTOCAST_DTYPES.get(self.name)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=dtype)

    def fingerprint(self) -> dict[str, Any]:
        """Entries for the encoder's fingerprint: none for float32, so existing fingerprints are unchanged."""
        if self.name == "fp32":
            return {}
        entries: dict[str, Any] = {"precision": self.name}
        if self.quantization is not None:
            entries["quantization"] = dict(self.quantization)
        return entries


def resolve_precision(requested: object, device: str) -> InferencePrecision:
    """Check ``--precision`` against the device before any model loads; ``None``/``auto`` mean float32.

    Every refusal is one line that names the alternative that works on that device.
    """
    name = "auto" if requested is None else str(requested).lower()
    if name not in PRECISIONS:
        raise HarnessError(f"--precision {requested}: unknown precision (choose {', '.join(PRECISIONS)})")
    device_type = torch.device(device).type
    if name == "auto":
        name = "fp32"
    if name == "fp16" and device_type != "cuda":
        raise HarnessError("--precision fp16 needs a CUDA device (--device cuda); on CPU use bf16 or int8")
    if name == "int8" and device_type != "cpu":
        raise HarnessError("--precision int8 is CPU-only (dynamic int8 quantisation); on CUDA use bf16 or fp16")
    if name == "bf16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise HarnessError("--precision bf16: this GPU has no bfloat16 support; use fp16")
    return InferencePrecision(name, device_type)


def quantize_linear_int8(model: torch.nn.Module) -> dict[str, str]:
    """Replace every ``nn.Linear`` of ``model`` by a dynamically quantised int8 one; describe the scheme.

    ``quantize_dynamic`` is deprecated in favour of torchao but still ships with torch; its deprecation
    warnings are silenced here because the user cannot act on them.
    """
    try:
        from torch.ao.nn.quantized import dynamic as quantized_dynamic
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:  # a torch without the legacy quantisation API
        raise HarnessError(
            f"--precision int8 needs torch.ao.quantization, which torch {torch.__version__} lacks; use bf16"
        ) from None
    full_range = cpu_has_vnni()

    class DynamicInt8Linear(quantized_dynamic.Linear):
        """Dynamic int8 Linear whose activations use the full uint8 range (safe with VNNI, 1 bit more accurate)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            packed = self._packed_params._packed_params
            y = torch.ops.quantized.linear_dynamic(x, packed, reduce_range=not full_range)
            return y.to(x.dtype)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            model,
            {torch.nn.Linear: per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            mapping={torch.nn.Linear: DynamicInt8Linear},
            inplace=True,
        )
    return {
        "method": "torch dynamic quantisation of nn.Linear",
        "weights": "int8 per output channel",
        "activations": "uint8 per tensor, " + ("full range" if full_range else "reduced range (7 bits)"),
    }


def cpu_has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (Linux ``/proc/cpuinfo`` flags); False when unsure."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(VNNI_FLAGS & set(line.split(":", 1)[-1].split()))
    return False


def parameter_count(model: torch.nn.Module) -> int:
    """Parameters of ``model`` (count before quantising: packed int8 weights are no longer parameters)."""
    return int(sum(p.numel() for p in model.parameters()))
