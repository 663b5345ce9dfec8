"""The cpt encoder: a decoder LM read out at the closing delimiter.

The paper (section 2.1) wraps a query-side input x as ``[x]`` and a document-side
input y as ``{y}``, runs the transformer, and takes the last layer's hidden state
at the closing delimiter as the embedding; similarity is cosine.  Because the
backbone is causal, that state has attended to the whole input and to nothing
after it, so right padding cannot change it: the pooled position is simply the
last real token of each row.

Delimiters are either the four characters (tokenised like any text) or four added
special tokens with their own trainable embeddings (``mode="special"``).  Long
inputs are truncated in the middle of the text, never dropping the delimiters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.encoder import TextKind
from harness.running.batching import plan_batches

if TYPE_CHECKING:  # transformers is heavy to import, and only loaders need it at run time
    from transformers import PreTrainedModel

SPECIAL_DELIMITERS = {
    "query": ("<|cpt_query|>", "<|/cpt_query|>"),
    "document": ("<|cpt_document|>", "<|/cpt_document|>"),
}
INITIAL_LOG_SCALE = math.log(1 / 0.07)
"""exp(tau) starts at 1/0.07, CLIP's initial inverse temperature; the paper trains tau without giving a start."""
MAX_LOG_SCALE = math.log(100.0)
"""CLIP's clamp on the logit scale: beyond 100 the softmax saturates and training becomes unstable."""


@dataclass(frozen=True)
class CptConfig:
    """Everything besides the backbone weights that changes the vectors; saved with every checkpoint."""

    backbone: str
    """What the backbone was initialised from (a hub id, ``gguf:NAME``, ``micro``), for the record."""
    preset: str | None = None
    delimiter_mode: str = "text"
    """``text``: the characters ``[ ] { }``; ``special``: added tokens with their own embeddings."""
    query_delimiters: tuple[str, str] = ("[", "]")
    document_delimiters: tuple[str, str] = ("{", "}")
    text_side: str = "document"
    """How symmetric tasks (STS, probes) wrap their texts: like documents ``{ }`` or like queries ``[ ]``."""
    max_length: int = 512
    """Tokens per input, delimiters included."""
    log_scale: float = INITIAL_LOG_SCALE
    """tau: the similarity logits are multiplied by exp(tau).  Stored here when a checkpoint is written."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.delimiter_mode not in ("text", "special"):
            raise ValueError(f"delimiter_mode must be 'text' or 'special', got {self.delimiter_mode!r}")
        if self.text_side not in ("query", "document"):
            raise ValueError(f"text_side must be 'query' or 'document', got {self.text_side!r}")
        if self.max_length < 4:
            raise ValueError(f"max_length must be at least 4, got {self.max_length}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CptConfig:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("query_delimiters", "document_delimiters"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)

    def delimiters(self, side: str) -> tuple[str, str]:
        if self.delimiter_mode == "special":
            return SPECIAL_DELIMITERS[side]
        return self.query_delimiters if side == "query" else self.document_delimiters

    def side_of(self, kind: TextKind | str) -> str:
        kind = TextKind(kind)
        return self.text_side if kind is TextKind.TEXT else kind.value


class CptModel(nn.Module):
    """A backbone plus the cpt read-out and the trainable temperature.

    ``forward`` takes token ids made by :meth:`tokenize` and returns unit-norm float32
    embeddings; ``embed`` does both for a list of strings.
    """

    def __init__(self, backbone: PreTrainedModel, tokenizer: Any, config: CptConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.config = config
        self.log_scale = nn.Parameter(torch.tensor(float(config.log_scale), dtype=torch.float32))
        if config.delimiter_mode == "special":
            _add_special_delimiters(backbone, tokenizer)
        self._prefix = _start_tokens(tokenizer)
        self._delimiter_ids = {
            side: tuple(self._ids(text) for text in config.delimiters(side)) for side in ("query", "document")
        }
        for side, (opening, closing) in self._delimiter_ids.items():
            if not opening or not closing:
                raise ValueError(f"the {side} delimiters {config.delimiters(side)} tokenise to nothing")
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token")

    @property
    def dim(self) -> int:
        return int(self.backbone.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tokenize(self, texts: Sequence[str], kind: TextKind | str) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask``: prefix, opening delimiter, text, closing delimiter.

        The text is truncated to what fits between the delimiters, so the closing
        delimiter (where the embedding is read) is always the last real token.
        """
        return self._padded(self._token_rows(texts, kind))

    def _token_rows(self, texts: Sequence[str], kind: TextKind | str) -> list[list[int]]:
        """Each text's ids: prefix, opening delimiter, the text truncated to fit, closing delimiter."""
        opening, closing = self._delimiter_ids[self.config.side_of(kind)]
        budget = self.config.max_length - len(self._prefix) - len(opening) - len(closing)
        if budget < 1:
            raise ValueError(f"max_length {self.config.max_length} leaves no room for text between the delimiters")
        bodies = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=budget)["input_ids"]
        return [self._prefix + opening + list(body[:budget]) + closing for body in bodies]

    def _padded(self, rows: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        width = max(len(row) for row in rows)
        pad = int(self.tokenizer.pad_token_id)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        # float32 at least (bf16 under autocast), float64 kept for exactness tests.
        return F.normalize(pooled.to(torch.promote_types(pooled.dtype, torch.float32)), dim=-1)

    def scale(self) -> torch.Tensor:
        """exp(tau), clamped as CLIP does."""
        return self.log_scale.clamp(max=MAX_LOG_SCALE).exp()

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str],
        kind: TextKind | str,
        batch_size: int = 32,
        precision: str = "auto",
        batch_tokens: int | None = None,
    ) -> np.ndarray:
        """Unit-norm float32 embeddings of ``texts``, in order.

        ``precision``: ``auto`` (bf16 autocast on CUDA, float32 elsewhere), ``bf16`` or ``fp32``.
        ``batch_tokens``: batch by padded-token budget, longest first (:mod:`harness.running.batching`), instead of
        fixed ``batch_size`` batches in input order.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        device = self.device
        autocast = _autocast(device, precision)
        rows = self._token_rows(texts, kind)
        for indices in plan_batches([len(row) for row in rows], batch_size, batch_tokens):
            batch = self._padded([rows[i] for i in indices])
            with autocast:
                vectors = self(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            out[indices] = vectors.float().cpu().numpy()
        return out

    def current_config(self) -> CptConfig:
        """The config with the trained temperature, as it should be saved."""
        data = self.config.to_json()
        data["log_scale"] = float(self.log_scale.detach().cpu())
        return CptConfig.from_json(data)


def effective_precision(device: torch.device, precision: str = "auto") -> str:
    """``auto`` means bf16 on CUDA (how the model trains there) and float32 elsewhere."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def _autocast(device: torch.device, precision: str = "auto") -> Any:
    if effective_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _start_tokens(tokenizer: Any) -> list[int]:
    """The tokens the tokenizer puts before any text (e.g. Llama's BOS), found by asking it."""
    with_specials = list(tokenizer("x", add_special_tokens=True)["input_ids"])
    plain = list(tokenizer("x", add_special_tokens=False)["input_ids"])
    for start in range(len(with_specials) - len(plain) + 1):
        if with_specials[start : start + len(plain)] == plain:
            return with_specials[:start]
    return []


def _add_special_delimiters(backbone: PreTrainedModel, tokenizer: Any) -> None:
    tokens = [token for pair in SPECIAL_DELIMITERS.values() for token in pair]
    missing = [token for token in tokens if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    weight = backbone.get_input_embeddings().weight
    assert isinstance(weight, torch.Tensor)  # a Parameter; Module.__getattr__ is typed Tensor | Module
    if len(tokenizer) > weight.shape[0]:
        backbone.resize_token_embeddings(len(tokenizer), mean_resizing=True)
