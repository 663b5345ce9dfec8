"""Raw transformers models as encoders: ``hf:<local folder or hub id>`` with mean, last-token or CLS pooling.

The cpt paper starts from a pretrained LM whose hidden states were never trained to be embeddings; this
family measures that starting point (and any other plain ``AutoModel``), so a trained checkpoint's gain can
be read off against it.  Loading goes through :func:`harness.encoders.backbones.load_backbone`, so the rules
are the project's: a local folder loads safetensors only (pickle-only folders are refused, the harness never
unpickles user files), a hub id needs a hub or a populated cache, and every failure is one line.  The same
loader also accepts ``micro`` and ``gguf:NAME``, so ``hf:gguf:smollm2-135m`` is the untrained baseline of the
offline cpt presets.

Options (:class:`PooledOptions`): ``pooling`` is ``mean`` (default: the attention-masked average of the
last hidden state), ``last`` (the last real token, wherever the padding lies) or ``cls`` (position 0);
``max_length`` defaults to 512 or the model's limit when that is smaller; ``precision`` is ``auto``/``fp32``
(the default), ``bf16``, ``fp16`` (CUDA) or ``int8`` (CPU), recorded in the fingerprint when not fp32 (see
:mod:`harness.encoders.precision`); plus ``device``, ``batch_size`` and ``batch_tokens``.  Vectors are L2-normalised float32.

``prompts`` (:mod:`harness.prompts`, MTEB's resolution by task-kind, task, family-kind, family, kind): a raw model
has no prompts of its own, so only the given ones apply.  The prompt's text is prepended to each text as it is
(``"query: " + text``: write the separating space into the prompt, as e5's ``"query: "`` does) and the whole is
tokenized once, so the prompt counts towards ``max_length`` (a long document loses tokens at its end) and its
tokens are pooled with the rest, which is what sentence-transformers does with ``include_prompt=True``.  The
given mapping joins the fingerprint; without it the fingerprint is what it always was.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from harness import Encoder, EncoderRegister, EncoderSettings, HarnessError, ModelOptions, TextKind, hookimpl, option
from harness.encoders.backbones import Backbone, load_backbone
from harness.encoders.precision import parameter_count, resolve_precision
from harness.prompts import Prompt, PromptOptions, TaskContext, fingerprint_part, resolve
from harness.running.batching import plan_batches

POOLINGS = ("mean", "last", "cls")
DEFAULT_MAX_LENGTH = 512


class PooledOptions(PromptOptions, ModelOptions):
    """How the hidden states become one vector, and how much of each text the model reads."""

    pooling: Literal["mean", "last", "cls"] = option(
        "mean", "mean (masked average), last (last real token) or cls (position 0)", label="value"
    )
    max_length: int | None = option(
        None, f"tokens per input (default {DEFAULT_MAX_LENGTH}, or the model's limit if smaller)", label=True, ge=1
    )


class PooledTransformerEncoder(Encoder):
    """A plain ``AutoModel`` + ``AutoTokenizer`` whose last hidden state is pooled into one unit vector per text."""

    def __init__(self, model_ref: str, settings: EncoderSettings[PooledOptions]) -> None:
        options = settings.options
        self.model_ref = model_ref
        self.pooling = options.pooling
        self.batch_size = options.batch_size
        self.batch_tokens = options.batch_tokens
        self.device = options.device
        precision = resolve_precision(options.precision, self.device)  # refuse before loading
        try:
            self.backbone: Backbone = load_backbone(model_ref)
        except HarnessError as exc:  # name the family, so the user sees which encoder failed
            raise HarnessError(f"hf:{exc}") from None
        self.backbone.model.to(self.device)  # type: ignore[arg-type]  # transformers' functools.wraps on .to
        self._parameters = parameter_count(self.backbone.model)
        self.precision = precision.prepare(self.backbone.model)
        self.prompts: dict[str, str] = dict(options.prompts)
        self.max_length = _max_length(model_ref, options.max_length, int(self.backbone.tokenizer.model_max_length))
        # BERT-style tokenizers return token_type_ids that decoder models do not accept.
        self._forward_args = set(inspect.signature(self.backbone.model.forward).parameters)

    @property
    def dim(self) -> int:
        return self.backbone.hidden_size

    def fingerprint(self) -> dict[str, Any]:
        identity = self.backbone.identity
        return {
            "kind": "transformers-pooled",
            "model_id": identity.get("model_id") or identity.get("source"),
            "revision": identity.get("revision"),
            "weights_sha256": identity.get("weights_sha256") or identity.get("tensors_sha256"),
            "architecture": type(self.backbone.model).__name__,
            "dtype": identity.get("dtype"),
            "pooling": self.pooling,
            "max_length": self.max_length,
            "normalize": True,
            **fingerprint_part(self.prompts),  # nothing without prompts: earlier fingerprints stay valid
            **self.precision.fingerprint(),  # nothing for fp32: fingerprints from before --precision stay valid
        }

    def metadata(self) -> dict[str, Any]:
        import transformers

        return {
            "library": "transformers",
            "library_version": transformers.__version__,
            "similarity": "cosine",
            "parameters": self._parameters,
            "precision": self.precision.name,
            "identity": {k: v for k, v in self.backbone.identity.items() if k != "dtype"},
        }

    def prompt(self, task: TaskContext | None, kind: TextKind) -> Prompt | None:
        return resolve(self.prompts, task, kind.value)

    def encode_with_prompt(self, texts: Sequence[str], kind: TextKind, prompt: Prompt) -> np.ndarray:
        """``prompt.text + text`` for each text, truncated to ``max_length`` as a whole."""
        return self.encode([prompt.text + text for text in texts], kind)

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        tokenizer, model = self.backbone.tokenizer, self.backbone.model
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        for rows in plan_batches(self._token_counts(texts), self.batch_size, self.batch_tokens):
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            inputs = {name: tensor.to(self.device) for name, tensor in batch.items() if name in self._forward_args}
            with torch.inference_mode(), self.precision.context():
                hidden = model(**inputs).last_hidden_state.float()
            pooled = pool(hidden, inputs["attention_mask"], self.pooling)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after truncation; only needed (and only computed) for token-budget batches."""
        if not self.batch_tokens:
            return [0] * len(texts)
        ids = self.backbone.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [len(row) for row in ids]


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[batch, seq, dim]`` hidden states to ``[batch, dim]``; padding (mask 0) never contributes.

    ``last`` finds each row's last real position from the mask itself, so it is right for left- and
    right-padded batches alike (and gives the same vector as encoding the text alone).
    """
    if pooling == "cls":
        return hidden[:, 0]
    mask = mask.to(hidden.dtype)
    if pooling == "mean":
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        return summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    positions = torch.arange(mask.shape[1], device=mask.device, dtype=hidden.dtype)
    last = (mask * (positions + 1)).argmax(dim=1)  # +1: a row whose only real token is at 0 still wins there
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def _max_length(model_ref: str, requested: int | None, limit: int) -> int:
    """The requested ``max_length``, or 512 capped at the model's limit; longer than the model allows is an error."""
    if requested is None:
        return min(DEFAULT_MAX_LENGTH, limit)
    if requested > limit:
        raise HarnessError(f"hf:{model_ref}: max_length {requested} is outside 1..{limit} (the model's limit)")
    return requested


def _any_model(settings: EncoderSettings[PooledOptions]) -> PooledTransformerEncoder:
    assert settings.argument is not None
    return PooledTransformerEncoder(settings.argument, settings)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "hf:",
        _any_model,
        "a raw transformers model with mean/last/cls pooling: hf:<folder or hub id>",
        options=PooledOptions,
    )
