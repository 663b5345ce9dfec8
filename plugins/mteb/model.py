"""The MTEB bridge, harness side: a harness encoder (or a task's ``encode``) as an MTEB 2.x model.

MTEB is an optional dependency (``pip install 'cpt-harness[mteb]'``), so it is
imported inside functions only: ``import harness.plugins.mteb.model`` works
without it, and the first call that needs it says how to install it in one line.

One adapter, :class:`EncodeFnModel`, serves both directions.  It implements
MTEB 2.x's ``EncoderProtocol`` (``encode(DataLoader[BatchedInput], *,
task_metadata, hf_split, hf_subset, prompt_type)``, ``similarity``,
``similarity_pairwise``, ``mteb_model_meta``) on top of a harness
``encode(texts, kind)`` function:

* :func:`as_mteb_model` wraps an :class:`~harness.encoder.Encoder` in an
  :class:`~harness.running.session.EncodingSession`, so texts MTEB hands over are
  deduplicated, length-sorted, chunked and validated exactly as in a harness run;
* the ``mteb:`` task family (:mod:`harness.plugins.mteb.tasks`) wraps the
  ``encode`` function the runner hands a task (itself an ``EncodingSession``),
  so encode time lands in the harness's timings.

MTEB's prompt types map onto :class:`~harness.encoder.TextKind`: ``query`` ->
``QUERY``, ``document`` -> ``DOCUMENT``, none (symmetric tasks) -> ``TEXT``.  An encoder
with prompts (:mod:`harness.prompts`) handed to MTEB by :func:`as_mteb_model` resolves them
for each MTEB task as the harness's ``mteb:`` task of that name would (task name
``mteb:NAME``, its harness family), so one ``prompts`` mapping means the same in both
directions; inside the ``mteb:`` task family the runner's session already works for that task.
Similarity is cosine, the harness convention, computed by MTEB's own functions so
that scores and tie-breaking match what MTEB does for its cosine models.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.encoder import Encoder, TextKind
from harness.errors import HarnessError, one_line
from harness.home import harness_home
from harness.prompts import TaskContext
from harness.results.files import canonical_sha256
from harness.running.session import EncodingSession
from harness.task import EncodeFn

if TYPE_CHECKING:
    from mteb.models.model_meta import FRAMEWORKS, ModelMeta

INSTALL_HINT = "pip install 'cpt-harness[mteb]'"
MTEB_MAJOR = 2
MODEL_ORG = "cpt-harness"
"""MTEB wants model names as ``organization/name``; harness names without a slash get this prefix."""

_FRAMEWORKS: dict[str, FRAMEWORKS] = {
    "numpy": "NumPy",
    "torch": "PyTorch",
    "pytorch": "PyTorch",
    "sentence-transformers": "Sentence Transformers",
    "sentence_transformers": "Sentence Transformers",
    "transformers": "Transformers",
    "gguf": "GGUF",
    "onnx": "ONNX",
    "api": "API",
}
"""``Encoder.metadata()["library"]`` values that name one of MTEB's ``FRAMEWORKS``; others are left out."""


def require_mteb() -> ModuleType:
    """Import mteb 2.x, or fail with one line that says how to install it.

    ``import mteb`` creates its result cache folder (``$MTEB_CACHE`` or
    ``~/.cache/mteb``) at import time; the bridge never uses that cache, so unless
    the user chose a folder, it is pointed inside the harness home instead of the
    user's own ``~/.cache/mteb``.
    """
    if "mteb" not in sys.modules:
        os.environ.setdefault("MTEB_CACHE", str(harness_home() / "mteb-cache"))
    try:
        import mteb
    except ImportError as exc:
        raise HarnessError(
            f"the MTEB bridge needs mteb>=2.0, which is not installed ({one_line(exc)}): {INSTALL_HINT}"
        ) from None
    version = getattr(mteb, "__version__", "0")
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        major = 0
    if major < MTEB_MAJOR:
        raise HarnessError(f"the MTEB bridge needs mteb>=2.0, found mteb {version}: {INSTALL_HINT}")
    return mteb


def mteb_version() -> str:
    return str(require_mteb().__version__)


def text_kind(prompt_type: Any) -> TextKind:
    """MTEB's ``PromptType`` (or its string value, or None) as a harness :class:`TextKind`."""
    if prompt_type is None:
        return TextKind.TEXT
    value = getattr(prompt_type, "value", prompt_type)
    if value == "query":
        return TextKind.QUERY
    if value == "document":
        return TextKind.DOCUMENT
    raise HarnessError(f"MTEB asked for prompt type {value!r}; the harness knows query, document or none")


def mteb_model_name(name: str) -> str:
    """An ``organization/name`` form MTEB's ``ModelMeta`` accepts (it refuses names without a slash)."""
    name = name.strip() or "unnamed"
    return name if "/" in name else f"{MODEL_ORG}/{name}"


def model_meta_for(encoder: Encoder | None, *, name: str | None = None) -> ModelMeta:
    """MTEB's ``ModelMeta`` for a harness encoder, filled with what the harness knows and nothing invented.

    ``revision`` is the sha256 of the encoder's fingerprint: the harness's own notion
    of "same model, same configuration", so two results with the same revision are
    comparable.  Fields the harness cannot know (licence, release date, training
    data) stay None, which MTEB reads as unknown.
    """
    require_mteb()
    from mteb.models.model_meta import ModelMeta, ScoringFunction

    if encoder is None:
        label, revision, dim, metadata = name or "encode-function", None, None, {}
    else:
        if encoder.dim is None:
            raise HarnessError(
                f"encoder {encoder.name!r} has no dense vectors (it ranks a corpus); MTEB needs an embedding model"
            )
        try:
            fingerprint = encoder.fingerprint()
            metadata = dict(encoder.metadata())
        except Exception as exc:
            raise HarnessError(f"encoder {encoder.name!r} failed to describe itself: {one_line(exc)}") from exc
        label = name or encoder.name or type(encoder).__name__
        revision, dim = canonical_sha256(fingerprint), int(encoder.dim)
    parameters = metadata.get("parameters")
    framework = _FRAMEWORKS.get(str(metadata.get("library", "")).lower())
    return ModelMeta(
        loader=None,
        name=mteb_model_name(label),
        revision=revision,
        release_date=None,
        languages=None,
        n_parameters=parameters if isinstance(parameters, int) and not isinstance(parameters, bool) else None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=dim,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=[framework] if framework else [],
        reference=None,
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=None,
        training_datasets=None,
        modalities=["text"],
    )


class EncodeFnModel:
    """A harness ``encode(texts, kind)`` function as an MTEB 2.x encoder (``mteb.models.EncoderProtocol``).

    ``encode`` collects the texts of MTEB's data loader (its batches carry them
    under ``"text"``: sentences, queries with their instruction, ``title + " " +
    body`` documents) and makes a single call, so deduplication and length sorting
    see the whole set.
    """

    def __init__(self, encode: EncodeFn, meta: ModelMeta, *, follow_tasks: bool = False) -> None:
        """``follow_tasks``: tell the session behind ``encode`` which MTEB task each call is for (its prompts)."""
        self._encode = encode
        self._meta = meta
        self._follow_tasks = follow_tasks

    @classmethod
    def from_encode(cls, encode: EncodeFn, *, name: str | None = None) -> EncodeFnModel:
        """Wrap the function a task receives; its encoder (when it is an EncodingSession) names the model."""
        encoder = encode.encoder if isinstance(encode, EncodingSession) else None
        return cls(encode, model_meta_for(encoder, name=name))

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self._meta

    @property
    def session(self) -> EncodingSession | None:
        """The EncodingSession behind this model, for its timings and counts (None for a plain function)."""
        return self._encode if isinstance(self._encode, EncodingSession) else None

    def encode(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        texts: list[str] = []
        for batch in inputs:
            if "text" not in batch:
                raise HarnessError(
                    f"MTEB task {getattr(task_metadata, 'name', '?')!r} handed over {', '.join(batch)} "
                    "without text; the harness bridge encodes text only"
                )
            texts.extend(batch["text"])
        if self._follow_tasks and isinstance(self._encode, EncodingSession):
            self._encode.use_task(mteb_task_context(task_metadata))
        return np.asarray(self._encode(texts, text_kind(prompt_type)), dtype=np.float32)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Cosine similarity of every row of ``embeddings1`` with every row of ``embeddings2`` (a torch tensor)."""
        from mteb.similarity_functions import cos_sim

        return cos_sim(_contiguous(embeddings1), _contiguous(embeddings2))

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Cosine similarity of each row of ``embeddings1`` with the same row of ``embeddings2``."""
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(_contiguous(embeddings1), _contiguous(embeddings2))

    def __repr__(self) -> str:
        return f"EncodeFnModel({self._meta.name!r})"


def mteb_task_context(metadata: Any) -> TaskContext | None:
    """The harness's name for an MTEB task (``mteb:SciFact``, family ``retrieval``), as its ``mteb:`` task has it."""
    name = getattr(metadata, "name", None)
    if not name:
        return None
    from harness.plugins.mteb.tasks import family_for  # tasks imports this module

    try:
        family = family_for(metadata)
    except HarnessError:  # a type the mteb: family does not run: MTEB's own type stands in
        family = str(getattr(metadata, "type", ""))
    return TaskContext(f"mteb:{name}", family)


def _contiguous(array: Any) -> Any:
    """torch refuses numpy views with negative strides (``a[::-1]``); a copy is cheap next to a similarity matrix."""
    return np.ascontiguousarray(array) if isinstance(array, np.ndarray) else array


def as_mteb_model(encoder: Encoder, *, progress: bool | None = False, name: str | None = None) -> EncodeFnModel:
    """A harness encoder as an MTEB 2.x model: ``mteb.evaluate(as_mteb_model(encoder), tasks)``.

    Encoding goes through an :class:`EncodingSession` (deduplication, sorting,
    chunking, output validation), the same path a harness run takes, so a score
    MTEB computes with it is comparable with the harness's own.  ``name``
    overrides the model name MTEB records (default: the encoder's).
    """
    require_mteb()
    return EncodeFnModel(
        EncodingSession(encoder, progress=progress), model_meta_for(encoder, name=name), follow_tasks=True
    )
