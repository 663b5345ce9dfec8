"""Encoder options: one typed path from every front end to an encoder.

Each encoder registers a schema of the options it reads, a pydantic model (the way
llm's ``Options`` and tox's typed hooks work): name, type, default and a one-line
help per field.  ``harness run -o key=value``, the common flags (``--device``,
``--batch-size``, ``--batch-tokens``, ``--precision``, ``--checkpoint``,
``--max-length``, ``--pooling``, ...), ``harness check --run``, the Python API
(:class:`harness.running.runner.RunOptions`) and the pytest plugin's ``harness_check(**options)``
all hand the same ``{name: value}`` mapping to :func:`resolve_options`, which
validates it against the encoder's schema.  An option the encoder does not
declare, or a value of the wrong type, is a usage error that lists what the
encoder does accept, so a setting can never be recorded without being applied.

The result label (the folder results are filed under) is derived here, in one
place, from the options marked ``label=True``: the ones that change the vectors
without changing the model's name (``--precision int8`` files results under
``minilm-l6-int8``, beside the float32 ones).  pydantic does the parsing and
coercion (``"32"`` to 32, ``"true"`` to True) because it is what llm and FastAPI
use for exactly this; nothing here re-implements a type system.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import UsageError

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
Backend = Literal["torch", "onnx", "openvino"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "openvino")


def option(
    default: Any,
    help: str,
    *,
    label: bool | Literal["value", "digest"] = False,
    unlabelled: tuple[Any, ...] = (),
    **constraints: Any,
) -> Any:
    """A declared option: its default, one line of help, and whether a non-default value names the results.

    ``label`` marks an option that changes the vectors while the encoder's name stays the same; any value other
    than the default and those in ``unlabelled`` (``fp32`` is the same as ``auto`` for most encoders) is
    appended to the result label: as ``name-value`` (``max-length-128``; a flag as its name, ``untrained``), or
    with ``label="value"`` as the value alone (``int8``, ``last``), or with ``label="digest"`` as the name and the
    first 8 hex digits of the value's sha256 (``prompts-1a2b3c4d``: a mapping too long for a folder name).
    ``constraints`` are pydantic's (``ge=1``).
    """
    extra: dict[str, Any] = {"label": label, "unlabelled": list(unlabelled)} if label else {}
    return Field(default, description=help, json_schema_extra=extra or None, **constraints)


class EncoderOptions(BaseModel):
    """The options an encoder reads; the base declares none (an encoder with no settings, like ``hash-bow``).

    Subclass it (or the mixins below) and declare fields with :func:`option`.  Unknown names are refused,
    values are validated on construction, and an instance never changes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def label_suffix(self) -> str:
        """``-int8``, ``-untrained``, ``-max-length-128``: what the label adds for the label-marked options set."""
        parts: list[str] = []
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if not extra.get("label"):
                continue
            value = getattr(self, name)
            unlabelled = extra.get("unlabelled")  # a list whenever option() set a label
            if value == info.default or (isinstance(unlabelled, list) and value in unlabelled):
                continue
            if extra["label"] == "digest":
                parts.append(_label_part(name, _digest(value)))
            else:
                parts.append(str(value) if extra["label"] == "value" else _label_part(name, value))
        return "".join(f"-{part}" for part in parts)

    def to_record(self) -> dict[str, Any]:
        """The options as applied, for the result file (JSON values)."""
        return self.model_dump(mode="json")


def _label_part(name: str, value: Any) -> str:
    spelled = name.replace("_", "-")
    return spelled if value is True else f"{spelled}-{value}"


def _digest(value: Any) -> str:
    """8 hex digits of the sha256 of ``value`` as canonical JSON: the same mapping always names the same folder."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


class DeviceOption(EncoderOptions):
    """For encoders that run a model on a torch device."""

    device: str = option("cpu", "where the model runs: cpu, cuda or cuda:N")

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if device == "cpu":
            return device
        if not re.fullmatch(r"cuda(:\d+)?", device):
            raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"{device}: no CUDA device is available (torch {torch.__version__})")
        return device


class BatchOptions(EncoderOptions):
    """For encoders that batch their input themselves."""

    batch_size: int = option(32, "texts per forward pass (with batch_tokens: the most rows a batch holds)", ge=1)
    batch_tokens: int | None = option(
        None, "fill each batch up to this many padded tokens, longest texts first (none: fixed batch_size)", ge=1
    )


class PrecisionOption(EncoderOptions):
    """Reduced-precision inference; ``auto`` and ``fp32`` give the reference float32 scores."""

    precision: Precision = option(
        "auto",
        "auto, fp32, bf16, fp16 (CUDA) or int8 (CPU); other than fp32, results are filed under NAME-PRECISION",
        label="value",
        unlabelled=("fp32",),
    )


class BackendOption(EncoderOptions):
    """Which engine runs the model (sentence-transformers' ``backend=``); ``torch`` gives the reference scores.

    Name it after ``ModelOptions`` among a schema's bases: pydantic orders fields from the last base first, so
    ``backend`` then precedes ``precision`` and the label reads ``NAME-openvino-int8``.
    """

    backend: Backend = option(
        "torch",
        "torch, onnx or openvino (CPU; exported once into $HARNESS_HOME/exports; --precision int8 is the backend's "
        "own quantised export); other than torch, results are filed under NAME-BACKEND",
        label="value",
    )


class ModelOptions(DeviceOption, BatchOptions, PrecisionOption):
    """What every neural encoder here reads: device, batching and precision."""


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``-o key=value`` items as a mapping (``max-length`` and ``max_length`` are the same name)."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"-o {item!r}: expected KEY=VALUE")
        if key in parsed:
            raise UsageError(f"-o {key}: given twice")
        parsed[key] = value.strip()
    return parsed


def resolve_options(schema: type[EncoderOptions], given: Mapping[str, Any], encoder: str) -> EncoderOptions:
    """``given`` validated against ``schema``; a name it does not declare or a bad value is a usage error."""
    unknown = sorted(set(given) - set(schema.model_fields))
    if unknown:
        names = ", ".join(unknown)
        raise UsageError(f"encoder {encoder!r} has no option {names}; {describe_briefly(schema)}")
    try:
        return schema(**dict(given))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "options"
        message = str(first["msg"]).removeprefix("Value error, ")
        value = given.get(str(first["loc"][0])) if first["loc"] else None
        shown = f" (got {value!r})" if value is not None and "got" not in message else ""
        raise UsageError(f"encoder {encoder!r}: option {field}: {message}{shown}; {describe_briefly(schema)}") from None


def describe_briefly(schema: type[EncoderOptions]) -> str:
    """``its options: batch_size (int, 32), precision (...)`` for error messages."""
    if not schema.model_fields:
        return "it takes no options"
    items = [
        f"{name} ({type_name(info.annotation)}, default {info.default!r})" for name, info in schema.model_fields.items()
    ]
    return "its options: " + ", ".join(items) + " (harness info NAME describes them)"


def describe(schema: type[EncoderOptions]) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, help)`` rows, for ``harness info``."""
    return [
        (name, type_name(info.annotation), repr(info.default), info.description or "")
        for name, info in schema.model_fields.items()
    ]


def type_name(annotation: Any) -> str:
    """``int``, ``int | None``, ``auto|fp32|bf16``: a type as a user reads it."""
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    if text:
        return text
    args = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is dict:
        return "JSON object"
    if getattr(annotation, "__origin__", None) is Literal:
        return "|".join(str(arg) for arg in args)
    if args:
        return " | ".join("None" if arg is type(None) else type_name(arg) for arg in args)
    return str(annotation).replace("typing.", "")
