"""What every backbone is and guarantees, whichever module loaded it.

:class:`Backbone` is the one shape the rest of the project sees.  :func:`finish` applies the guarantees
(eval mode, dtype, no KV cache, right padding with a valid pad id, a finite ``model_max_length``) in one
place, so the micro, GGUF and hub/local loaders cannot drift apart; :func:`from_pretrained` is the
transformers load that GGUF caches and local/hub sources share, with its errors turned into one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from harness.errors import HarnessError, one_line

NO_LIMIT = 1_000_000
"""Tokenizers without a known limit report ~1e30 as ``model_max_length``; anything above this is "unknown"."""


@dataclass
class Backbone:
    """A base decoder model (``forward(input_ids, attention_mask).last_hidden_state``) and its tokenizer."""

    model: transformers.PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    """Has a pad token whose id the embedding holds, and pads on the right."""
    source: str
    """What was asked for (``micro``, ``gguf:NAME``, a folder or a hub id)."""
    identity: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable; identifies the weights in result fingerprints, without machine-specific paths."""

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def from_pretrained(
    ref: str, source: str, dtype: torch.dtype, *, local: bool
) -> tuple[transformers.PreTrainedModel, PreTrainedTokenizerBase]:
    """``AutoModel`` + ``AutoTokenizer``; local folders load safetensors only, load errors become one line."""
    extra: dict[str, Any] = {"use_safetensors": True} if local else {}
    try:
        model = AutoModel.from_pretrained(ref, dtype=dtype, **extra)
        tokenizer = AutoTokenizer.from_pretrained(ref)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only local folders and cached models load)" if offline else ""
        raise HarnessError(f"{source}: cannot load the backbone{hint}: {one_line(exc)}") from None
    except (ValueError, KeyError, ImportError) as exc:
        raise HarnessError(f"{source}: cannot load the backbone: {one_line(exc)}") from None
    return model, tokenizer


def finish(
    model: transformers.PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    source: str,
    identity: dict[str, Any],
    dtype: torch.dtype,
) -> Backbone:
    """What every backbone guarantees: eval mode, ``dtype``, no KV cache, right padding with a valid pad id."""
    # transformers declares PreTrainedModel.to with functools.wraps, which typeshed types as unbound (self unfilled)
    model = model.to(dtype).eval()  # type: ignore[arg-type]
    model.config.use_cache = False  # embeddings never generate; the cache only costs memory
    tokenizer.padding_side = "right"
    _ensure_pad_token(model, tokenizer, source)
    limit = getattr(model.config, "max_position_embeddings", None)
    current = tokenizer.model_max_length
    if limit and (current is None or current > NO_LIMIT or current > limit):
        tokenizer.model_max_length = int(limit)
    identity = {**identity, "dtype": str(dtype).removeprefix("torch.")}
    return Backbone(model=model, tokenizer=tokenizer, source=source, identity=identity)


def _ensure_pad_token(model: transformers.PreTrainedModel, tokenizer: PreTrainedTokenizerBase, source: str) -> None:
    """Pad with EOS (or UNK) when the tokenizer has no pad token: right-padded positions are masked out anyway."""
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise HarnessError(f"{source}: the tokenizer has no pad, eos or unk token to pad batches with")
        tokenizer.pad_token = fallback
    rows = model.get_input_embeddings().num_embeddings
    if tokenizer.pad_token_id is None or not 0 <= tokenizer.pad_token_id < rows:
        raise HarnessError(f"{source}: pad token id {tokenizer.pad_token_id} is outside the embedding ({rows} rows)")


def safetensors_files(folder: Path) -> list[Path]:
    """The safetensors weight files directly in ``folder``, sorted (the order their hash is taken in)."""
    return sorted(folder.glob("*.safetensors"))
