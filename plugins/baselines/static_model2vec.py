"""``model2vec:<local folder or hub id>``: static embeddings (a token-vector lookup table) through model2vec.

A model2vec model embeds a text as the mean of its tokens' vectors: no transformer runs, so a whole suite
encodes in seconds on a CPU, and a model distilled from a transformer shows how much of its teacher's
score survives without one (``benchmarks/distill_model2vec.py`` makes one).  A local folder (model2vec's
layout: ``config.json``, ``model.safetensors``, ``tokenizer.json``; or a sentence-transformers
``StaticEmbedding`` export) loads as is.  A hub id is fetched with ``huggingface_hub.snapshot_download``, the
call model2vec itself makes, so it needs network or a cached copy; the harness does the fetch itself so that
it knows which snapshot folder it hashes and its revision.

The model's own settings are used unchanged (its ``normalize`` flag and its ``max_length``, 512 tokens
unless its config says otherwise), so scores match ``StaticModel.encode`` called directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import Encoder, EncoderOptions, EncoderRegister, EncoderSettings, HarnessError, TextKind, hookimpl, option
from harness.digests import file_sha256
from harness.environment import installed_version
from harness.errors import one_line

NEEDS = "a local folder must contain config.json, model.safetensors and tokenizer.json; hub ids need network"


class Model2VecOptions(EncoderOptions):
    """A lookup table runs on numpy: no device, no precision, and the vectors do not depend on the batch size."""

    batch_size: int = option(32, "texts per call to StaticModel.encode", ge=1)


class Model2VecEncoder(Encoder):
    """A loaded ``model2vec.StaticModel``; fingerprinted by the hashes of its vectors and tokenizer files."""

    def __init__(self, argument: str, settings: EncoderSettings[Model2VecOptions]) -> None:
        self.argument = argument
        self.batch_size = settings.options.batch_size
        self.folder, self.layout, self._model_id = _resolve(argument)
        self._revision = self.folder.name if self._model_id and self.folder.parent.name == "snapshots" else None
        self.model = _load(argument, self.folder)
        # Hashed once, as loaded: the fingerprint describes these vectors even if the files change later.
        self._vectors_sha256 = file_sha256(self.layout.embeddings)
        self._tokenizer_sha256 = file_sha256(self.layout.tokenizer)

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def fingerprint(self) -> dict[str, Any]:
        # The files identify the vectors wherever they lie; the two config fields that encode() reads change
        # the output of the same files, so they are recorded as the loaded model resolved them.
        return {
            "kind": "model2vec",
            "library": "model2vec",
            "model_id": self._model_id,
            "revision": self._revision,
            "vectors_sha256": self._vectors_sha256,
            "tokenizer_sha256": self._tokenizer_sha256,
            "normalize": bool(self.model.normalize),
            "max_length": self.model.max_length,
            "pooling": "mean of token vectors",
        }

    def metadata(self) -> dict[str, Any]:
        weights = self.model.weights  # per-token weights, only in vocabulary-quantized models
        parameters = int(self.model.embedding.size) + (int(weights.size) if weights is not None else 0)
        return {
            "library": "model2vec",
            "library_version": installed_version("model2vec"),
            "similarity": "cosine",
            "parameters": parameters,
            "vocab_size": len(self.model.tokens),
            "embedding_dtype": self.model.embedding_dtype,
            "base_model": self.model.base_model_name,
        }

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Mean of the token vectors (normalised if the model says so); ``kind`` is ignored on purpose.

        A static model has no prompts or instructions and no context: a text's vector depends on its
        tokens only, so a query and a document with the same text get the same vector by construction.
        """
        out = self.model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


def _resolve(argument: str) -> tuple[Path, Any, str | None]:
    """The folder that holds the model, its file layout, and the hub id (None for a local folder)."""
    local = Path(argument).expanduser()
    if local.exists() or argument.startswith((".", "/", "~")):
        if not local.is_dir():
            raise HarnessError(f"model2vec:{argument}: no model folder at {local}")
        return local, _layout(argument, local), None
    try:
        from huggingface_hub import constants, snapshot_download
        from model2vec.persistence.datamodels import get_all_model2vec_paths

        folder = snapshot_download(
            argument, repo_type="model", allow_patterns=[*get_all_model2vec_paths(), "README.md"]
        )
    except ImportError:
        raise _not_installed(argument) from None
    except Exception as exc:  # the hub client raises many types (offline, not found, bad id, HTTP)
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        reason = f"not a local folder, and the hub id cannot be fetched{offline}: {_why(exc)}"
        raise HarnessError(f"model2vec:{argument}: {reason}; {NEEDS}") from exc
    return Path(folder), _layout(argument, Path(folder)), argument


def _layout(argument: str, folder: Path) -> Any:
    """The first of model2vec's folder layouts whose files are all present (the one it will load)."""
    try:
        from model2vec.persistence.datamodels import FOLDER_LAYOUTS
    except ImportError:
        raise _not_installed(argument) from None
    for layout in FOLDER_LAYOUTS:
        candidate = layout.with_parent(folder)
        if candidate.is_valid():
            return candidate
    raise HarnessError(f"model2vec:{argument}: {folder} is not a model2vec model; {NEEDS}")


def _load(argument: str, folder: Path) -> Any:
    from model2vec import StaticModel

    try:
        return StaticModel.from_pretrained(folder)
    except Exception as exc:  # a damaged file surfaces as safetensors, json, tokenizers or KeyError errors
        raise HarnessError(f"model2vec:{argument}: cannot load {folder}: {_why(exc)}") from exc


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(exc).rstrip('.')}"


def _not_installed(argument: str) -> HarnessError:
    return HarnessError(f"model2vec:{argument} needs the package model2vec (pip install model2vec)")


def _model2vec(settings: EncoderSettings[Model2VecOptions]) -> Model2VecEncoder:
    assert settings.argument  # the registry refuses a family name without an argument
    return Model2VecEncoder(settings.argument, settings)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "model2vec:",
        _model2vec,
        "static embeddings via model2vec: model2vec:<local folder or hub id>",
        options=Model2VecOptions,
    )
