"""Prompts per text kind, task family or task name, resolved the way MTEB resolves them.

Instruction-tuned embedding models (e5, bge, gte, nomic, ...) want a prompt before each text: ``"query: "``
before a query, ``"passage: "`` before a document, sometimes a task's own instruction.  MTEB users set these
as a mapping from a name to the prompt text (``model_prompts`` in ``mteb/models/sentence_transformer_wrapper.py``,
or the ``prompts`` a sentence-transformers model saves in ``config_sentence_transformers.json``), and MTEB picks
one entry per task and text kind (``AbsEncoder.get_prompt_name`` in ``mteb/models/abs_encoder.py``), trying, in
this order:

1. ``{task}-{kind}`` (``scifact-query``),
2. ``{task}`` (``scifact``),
3. ``{family}-{kind}`` (``retrieval-query``),
4. ``{family}`` (``retrieval``),
5. ``{kind}`` (``query``).

The harness follows that order with its own names: the task's name as ``harness list tasks`` shows it, without
``@split`` (MTEB's names carry no split either; ``scifact``, ``beir-nfcorpus``, ``beir:/data/x``), its family
(``retrieval``, ``sts``, ``classification``, ``code-search``, ``zero-shot``) and the :class:`~harness.encoder.TextKind`
(``query``, ``document``, ``text``).  Names match exactly, as in MTEB (``Retrieval`` is not ``retrieval``).  Two
differences from MTEB, both documented in the README: symmetric tasks have the kind ``text`` (MTEB passes no
prompt type there and tries only the task and its type), and a mapping given as an option is merged over the
model's own prompts (MTEB replaces them); an entry whose text is empty stops the search and applies no prompt,
which is how a model's own entry is switched off.

The first entry that matches wins.  An encoder that takes prompts declares :class:`PromptOptions`, answers
:meth:`harness.encoder.Encoder.prompt` and implements :meth:`harness.encoder.Encoder.encode_with_prompt`; the
:class:`~harness.running.session.EncodingSession` asks it once per task and kind, keys the embedding cache by the
prompt's text and records what was applied in the result file.  Encoders that know nothing of prompts are not
asked for anything and keep their plain ``encode(texts, kind)``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import field_validator

from harness.errors import UsageError
from harness.options import EncoderOptions, option

KINDS: tuple[str, ...] = ("query", "document", "text")
"""The text kinds (:class:`harness.encoder.TextKind` values), the last part of a ``{name}-{kind}`` key."""


@dataclass(frozen=True)
class TaskContext:
    """The task an encoding session works for, as prompt resolution sees it: its name (no split) and family."""

    name: str
    family: str


@dataclass(frozen=True)
class Prompt:
    """A prompt as applied: the entry of the mapping that matched (``scifact-query``) and its text."""

    key: str
    text: str

    def to_record(self) -> dict[str, str]:
        return {"key": self.key, "text": self.text}


def candidates(task: TaskContext | None, kind: str) -> list[str]:
    """The names tried for ``kind`` texts of ``task``, best first (MTEB's order; see the module docstring)."""
    names: list[str] = []
    if task is not None:
        names += [f"{task.name}-{kind}", task.name, f"{task.family}-{kind}", task.family]
    names.append(str(kind))
    return names


def lookup(prompts: Mapping[str, str], task: TaskContext | None, kind: str) -> tuple[str, str] | None:
    """The first entry of ``prompts`` that names ``kind`` texts of ``task``: ``(key, text)``, or None.

    An entry with an empty text is a match too (it stops the search); :func:`resolve` turns it into no prompt.
    """
    for name in candidates(task, kind):
        if name in prompts:
            return name, prompts[name]
    return None


def resolve(prompts: Mapping[str, str], task: TaskContext | None, kind: str) -> Prompt | None:
    """The prompt ``prompts`` gives ``kind`` texts of ``task``; None when no entry matches or its text is empty."""
    found = lookup(prompts, task, kind)
    return Prompt(*found) if found is not None and found[1] else None


def fingerprint_part(prompts: Mapping[str, str]) -> dict[str, Any]:
    """``{"prompts": {...}}`` for an encoder's fingerprint when prompts were given, else nothing.

    Nothing for no prompts, so the fingerprints of encoders run without them stay what they were.
    """
    return {"prompts": dict(sorted(prompts.items()))} if prompts else {}


class PromptOptions(EncoderOptions):
    """For encoders that prepend prompts: ``-o prompts='{"query": "query: ", "scifact-query": "..."}'``."""

    prompts: dict[str, str] = option(
        {},
        "JSON {name: prompt}, names tried as MTEB does: TASK-KIND, TASK, FAMILY-KIND, FAMILY, KIND "
        "(query|document|text); merged over the model's own; results are filed under NAME-prompts-HASH",
        label="digest",
    )

    @field_validator("prompts", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):  # -o prompts='{...}': JSON on the command line
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg} at character {exc.pos}); give a JSON object") from None
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a JSON object of {{name: prompt text}}, not {type(value).__name__}")
        for key, text in value.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError("every name must be a non-empty string")
            if not isinstance(text, str):
                raise ValueError(f"the prompt for {key!r} is {type(text).__name__}, not a string")
        return dict(value)


def check_names(prompts: Mapping[str, str], tasks: Iterable[str], families: Iterable[str], encoder: str) -> None:
    """Refuse a given name that no task, task family or text kind has: a typo would silently apply nothing.

    ``tasks`` are the catalogue's task names; one ending in ``:`` is a task family with an argument
    (``beir:``), matching every name that starts with it.  MTEB's ``validate_task_to_prompt_name`` checks the
    same way (task names, task types and prompt types, with an optional ``-{kind}`` suffix).
    """
    task_names = set(tasks)
    prefixes = tuple(name for name in task_names if name.endswith(":"))
    known = set(KINDS) | set(families) | {name for name in task_names if not name.endswith(":")}
    for key in prompts:
        stems = [key.removesuffix(f"-{kind}") for kind in KINDS if key.endswith(f"-{kind}")]
        if key in known or _member(key, prefixes) or any(_names_a_task(s, known, prefixes) for s in stems):
            continue
        close = difflib.get_close_matches((stems or [key])[0], sorted(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(
            f"encoder {encoder!r}: option prompts: {key!r} names no task, task family ({', '.join(sorted(families))}) "
            f"or text kind ({', '.join(KINDS)}), alone or as NAME-KIND{hint}"
        )


def _names_a_task(stem: str, known: set[str], prefixes: tuple[str, ...]) -> bool:
    """Whether ``stem`` (of a ``NAME-KIND`` key) is a task or family: a kind before a kind names nothing."""
    return (stem in known and stem not in KINDS) or _member(stem, prefixes)


def _member(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``name`` is a member of a task family (``beir:/data/x`` of ``beir:``)."""
    return any(name.startswith(prefix) and len(name) > len(prefix) for prefix in prefixes)
