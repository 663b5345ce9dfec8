"""``--backend onnx|openvino`` for the sentence-transformers encoders: exported once, offline, reused by content.

sentence-transformers runs a model on ONNX Runtime or OpenVINO itself (``SentenceTransformer(path,
backend=...)``, through optimum-onnx and optimum-intel) and ships the quantisation helpers this module uses, so
what runs is the library's own path (``sentence_transformers/backend/load.py``, ``.../backend/quantize.py``):

* ``--backend onnx``: the model exported to ONNX (``export=True``), run by ONNX Runtime on the CPU;
  ``--precision int8`` is ``export_dynamic_quantized_onnx_model`` with optimum's preset for this CPU
  (``avx512_vnni``, ``avx512``, ``avx2`` or ``arm64``): int8 weights per channel, activations quantised on the fly.
* ``--backend openvino``: the model converted to OpenVINO IR; ``--precision int8`` is
  ``export_static_quantized_openvino_model`` (NNCF post-training static quantisation).  Static quantisation
  calibrates activation ranges on sample inputs; the helper's default is GLUE SST-2 from the hub, which an
  offline run cannot load, so the harness passes a local set instead: the distinct sentences of the embedded
  STS-B *dev* split (never a test split the fast path scores), of which optimum-intel draws ``num_samples``
  with its own fixed seed.  Both runtimes are told to compute in float32 (``INFERENCE_PRECISION_HINT=f32``):
  OpenVINO otherwise picks bfloat16 by itself on CPUs that have it, and ``fp32`` would not mean float32.

An export is made once from the local weights (no hub) into ``$HARNESS_HOME/exports/<backend>-<precision>-<id>``,
where ``id`` digests the recipe: the source folder's files, backend, precision, quantisation config,
calibration set and the versions of the libraries that write or run the export.  The folder appears whole or
not at all (built in a hidden sibling, then renamed, like the mpnet unpack); a later run with the same recipe
loads it.  The encoder's fingerprint gains a ``backend`` entry with that id and the sha256 of the exported
model files, so results and cached vectors of different exports never mix.  Both runtimes use as many
threads as torch does (``OMP_NUM_THREADS``), so the fast path's timings compare engines, not thread counts.

Packaging: optimum-onnx 0.1.0 (the newest) needs transformers<4.58 and so sentence-transformers 5.x; the
combination that imports is pinned in ``requirements/fast-path.txt`` (``tox -e fast-path``).  A missing or
broken library is one error line naming the install command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import platform
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from harness.digests import file_sha256
from harness.encoders.precision import InferencePrecision, cpu_has_vnni
from harness.environment import installed_version
from harness.errors import HarnessError
from harness.home import harness_home, remove_stale_partials
from harness.results.files import canonical_sha256

FORMAT = 1
"""Bump when the layout of an export folder or its manifest changes: old exports are then made anew."""
MANIFEST = "export.json"
PIN = '"transformers==4.57.6" "sentence-transformers==5.7.0"'
INSTALL = {
    "onnx": f'pip install "optimum-onnx[onnxruntime]==0.1.0" {PIN}',
    "openvino": f'pip install "optimum-intel[openvino]==1.27.0" {PIN}',
}
"""What works with this harness (requirements/fast-path.txt): in an environment of its own, since it pins transformers."""
MODULES = {
    "onnx": ("onnxruntime", "optimum.onnxruntime"),
    "openvino": ("openvino", "optimum.intel.openvino", "nncf"),
}
LIBRARIES = {
    "onnx": ("torch", "transformers", "sentence-transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime"),
    "openvino": ("torch", "transformers", "sentence-transformers", "optimum", "optimum-intel", "openvino", "nncf"),
}
"""The distributions whose versions write or run an export: part of its recipe (and so of the fingerprint)."""
SKIPPED_SOURCE = ("onnx", "openvino", "README.md")
"""Not part of a model folder's identity: a hub snapshot's own exports and its model card."""
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CALIBRATION_SAMPLES = 300  # optimum-intel's default for OVQuantizationConfig, and the helper's
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


BackendName = Literal["onnx", "openvino"]


@dataclass(frozen=True)
class BackendPlan:
    """A checked ``--backend``/``--precision`` pair: what to export and how; made by :func:`plan_backend`."""

    name: BackendName
    precision: str
    """``fp32`` or ``int8``."""

    @property
    def label(self) -> str:
        return f"{self.name}-{self.precision}"


@dataclass(frozen=True)
class Export:
    """An export folder ready to load: where it is, which file is the model, and its manifest."""

    folder: Path
    model_file: str
    manifest: dict[str, Any]

    def fingerprint(self) -> dict[str, Any]:
        """The encoder fingerprint's ``backend`` entry: the recipe and the exported files' hashes."""
        recipe = self.manifest["recipe"]
        return {
            "name": recipe["backend"],
            "export_id": self.manifest["export_id"],
            "model_file": self.model_file,
            "files_sha256": dict(self.manifest["files_sha256"]),
            "quantization": recipe["quantization"],
            "calibration": recipe["calibration"],
            "runtime": recipe["runtime"],
            "versions": dict(recipe["versions"]),
        }


def plan_backend(backend: str, precision: InferencePrecision, device: str) -> BackendPlan | None:
    """Check ``--backend`` against precision and device before anything loads; ``None`` for torch.

    Every refusal is one line naming what does work; a missing library names the pip command.
    """
    if backend == "torch":
        return None
    if backend not in MODULES:
        raise HarnessError(f"--backend {backend}: unknown backend (choose torch, onnx or openvino)")
    if precision.device_type != "cpu":
        raise HarnessError(f"--backend {backend} runs on the CPU (--device cpu); on {device} use --backend torch")
    if precision.name not in ("fp32", "int8"):
        raise HarnessError(
            f"--precision {precision.name} is torch's autocast; with --backend {backend} use fp32 or int8 "
            "(the backend's own int8 export)"
        )
    require_libraries(backend)
    return BackendPlan(cast(BackendName, backend), precision.name)


def require_libraries(backend: str) -> None:
    """Import what ``backend`` needs; failing that, one line with the reason and the install command."""
    import importlib

    for module in MODULES[backend]:
        try:
            importlib.import_module(module)
        except Exception as exc:  # ImportError, or an optimum built for another transformers failing at import
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HarnessError(
                f"--backend {backend} needs {module}, which does not import here ({reason}); "
                f"{INSTALL[backend]} (its own environment: tox -e fast-path, see README)"
            ) from None


def exports_dir() -> Path:
    return harness_home() / "exports"


def exported(source: Path, plan: BackendPlan, model_name: str) -> Export:
    """The export of ``source`` for ``plan``: reused when its recipe was exported before, else made now."""
    recipe = build_recipe(source, plan)
    export_id = canonical_sha256(recipe)[:16]
    final = exports_dir() / f"{plan.label}-{export_id}"
    if not (final / MANIFEST).is_file():
        print(f"harness: note: exporting {model_name} to {plan.label} once into {final}", file=sys.stderr)
        _build(source, plan, recipe, export_id, final)
    manifest = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
    for relative, expected in manifest["files_sha256"].items():
        path = final / relative
        if not path.is_file() or file_sha256(path) != expected:
            raise HarnessError(f"{final}: {relative} is missing or changed since it was exported; delete the folder")
    return Export(final, manifest["model_file"], manifest)


def build_recipe(source: Path, plan: BackendPlan) -> dict[str, Any]:
    """Everything an export depends on, as JSON: its digest names the export folder."""
    return {
        "format": FORMAT,
        "source_sha256": source_digest(source),
        "backend": plan.name,
        "precision": plan.precision,
        "quantization": quantization_recipe(plan),
        "calibration": calibration_identity() if plan.label == "openvino-int8" else None,
        "runtime": dict(F32) if plan.name == "openvino" else {"provider": "CPUExecutionProvider"},
        "versions": {name: installed_version(name) for name in LIBRARIES[plan.name]},
    }


def source_digest(source: Path) -> str:
    """sha256 over the model folder's files (path and content), so a copy elsewhere is the same model."""
    entries = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and relative.parts[0] not in SKIPPED_SOURCE and not relative.name.startswith("."):
            entries[relative.as_posix()] = file_sha256(path)
    if not any(name in entries for name in WEIGHT_FILES):
        raise HarnessError(f"{source}: no model.safetensors or pytorch_model.bin to export from")
    return canonical_sha256(entries)


def onnx_preset() -> str:
    """optimum's dynamic-quantisation preset for this CPU (the names sentence-transformers accepts)."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    if cpu_has_vnni():
        return "avx512_vnni"
    flags = _cpu_flags()
    return "avx512" if "avx512f" in flags else "avx2"


def _cpu_flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[-1].split())
    return set()


def quantization_recipe(plan: BackendPlan) -> dict[str, Any] | None:
    """The quantisation config as the library builds it, as JSON (``None`` for fp32)."""
    if plan.precision != "int8":
        return None
    if plan.name == "onnx":
        from optimum.onnxruntime.configuration import AutoQuantizationConfig

        preset = onnx_preset()
        config = getattr(AutoQuantizationConfig, preset)(is_static=False)
        fields = {key: _jsonable(value) for key, value in dataclasses.asdict(config).items()}
        return {"method": "export_dynamic_quantized_onnx_model", "preset": preset, "config": fields}
    from optimum.intel import OVQuantizationConfig

    config = OVQuantizationConfig(num_samples=CALIBRATION_SAMPLES)
    return {
        "method": "export_static_quantized_openvino_model",
        "config": {key: _jsonable(value) for key, value in config.to_dict().items()},
        "padding": "max_length 384 (the helper's)",
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return getattr(value, "name", None) or str(value)  # enums by name


def calibration_sentences() -> tuple[list[str], str]:
    """The distinct sentences of STS-B dev (embedded copy), in file order, and that file's sha256."""
    from harness.data.locate import DataLocator
    from harness.plugins.tasks.sts.readers import read_stsbenchmark
    from harness.plugins.tasks.sts.tasks import STSB_FILES

    wanted = STSB_FILES["dev"]
    files = DataLocator.from_settings(None).resolve([wanted])
    pairs = read_stsbenchmark(files, wanted.path)
    sentences = list(dict.fromkeys(text for pair in pairs for text in (pair.sentence1, pair.sentence2)))
    return sentences, files.sha256()[wanted.path]


def calibration_identity() -> dict[str, Any]:
    sentences, sha256 = calibration_sentences()
    return {
        "source": "stsb dev (stsb/original/sts-dev.csv), distinct sentences",
        "file_sha256": sha256,
        "sentences": len(sentences),
        "sentences_sha256": canonical_sha256(sentences),
        "num_samples": CALIBRATION_SAMPLES,
        "drawn_by": "optimum-intel (dataset.shuffle(seed=42).take(num_samples))",
    }


def _build(source: Path, plan: BackendPlan, recipe: dict[str, Any], export_id: str, final: Path) -> None:
    """Export into a hidden sibling, write the manifest, rename into place (the first of two racers wins)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    partial = final.parent / f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        model_file = _export(source, plan, partial)
        files = sorted(p for p in (partial / plan.name).rglob("*") if p.is_file())
        manifest = {
            "export_id": export_id,
            "recipe": recipe,
            "model_file": model_file,
            "files_sha256": {p.relative_to(partial).as_posix(): file_sha256(p) for p in files},
            "parameters": parameter_count(source),
            "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(partial, final)
        except OSError:
            if not (final / MANIFEST).is_file():
                raise HarnessError(f"{final} exists but is not a complete export: delete it and retry") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _export(source: Path, plan: BackendPlan, target: Path) -> str:
    """sentence-transformers' export (and quantisation) of ``source`` into ``target``; the model file's path."""
    from sentence_transformers import SentenceTransformer

    kwargs: dict[str, Any] = {"export": True, **_runtime_kwargs(plan.name)}
    try:
        with _quiet():
            model = SentenceTransformer(
                str(source), backend=plan.name, device="cpu", model_kwargs=kwargs, local_files_only=True
            )
            model.save_pretrained(str(target))
            if plan.precision == "fp32":
                return "onnx/model.onnx" if plan.name == "onnx" else "openvino/openvino_model.xml"
            if plan.name == "onnx":
                return _quantize_onnx(model, target)
            return _quantize_openvino(model, target)
    except HarnessError:
        raise
    except Exception as exc:  # export errors come from torch.onnx, optimum, openvino, nncf: name the step
        raise HarnessError(f"--backend {plan.label}: exporting {source} failed: {str(exc).splitlines()[0]}") from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' chatter (tracer warnings, "save the exported model": the harness does)."""
    import logging

    loggers = [logging.getLogger(name) for name in ("sentence_transformers", "transformers", "optimum", "nncf")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _quantize_onnx(model: Any, target: Path) -> str:
    from sentence_transformers import export_dynamic_quantized_onnx_model

    preset = onnx_preset()
    export_dynamic_quantized_onnx_model(model, preset, str(target))
    (target / "onnx" / "model.onnx").unlink()  # only the quantised model is loaded from this folder
    return f"onnx/model_qint8_{preset}.onnx"


def _quantize_openvino(model: Any, target: Path) -> str:
    from optimum.intel import OVQuantizationConfig
    from sentence_transformers import export_static_quantized_openvino_model

    sentences, _ = calibration_sentences()
    calibration = target / ".calibration"
    calibration.mkdir()
    with (calibration / "train.jsonl").open("w", encoding="utf-8") as handle:
        for sentence in sentences:
            handle.write(json.dumps({"sentence": sentence}) + "\n")
    export_static_quantized_openvino_model(
        model,
        OVQuantizationConfig(num_samples=CALIBRATION_SAMPLES),
        str(target),
        dataset_name=str(calibration),  # a local folder: datasets reads its train.jsonl, no hub
        dataset_config_name="default",
        dataset_split="train",
        column_name="sentence",
    )
    shutil.rmtree(calibration)
    for suffix in (".xml", ".bin"):
        (target / "openvino" / f"openvino_model{suffix}").unlink()
    return "openvino/openvino_model_qint8_quantized.xml"


def _runtime_kwargs(backend: str) -> dict[str, Any]:
    """Float32 arithmetic and torch's thread count, for export and load alike."""
    import torch

    threads = torch.get_num_threads()
    if backend == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        return {"provider": "CPUExecutionProvider", "session_options": options}
    return {"ov_config": {**F32, "INFERENCE_NUM_THREADS": str(threads)}}


def load(export: Export) -> Any:
    """The exported model as a ``SentenceTransformer`` on its backend (nothing is exported again)."""
    from sentence_transformers import SentenceTransformer

    backend = export.manifest["recipe"]["backend"]
    kwargs = {"file_name": export.model_file, **_runtime_kwargs(backend)}
    with _quiet():  # optimum-intel logs that it "could not infer" whether the folder is converted: it is
        return SentenceTransformer(
            str(export.folder), backend=backend, device="cpu", model_kwargs=kwargs, local_files_only=True
        )


def parameter_count(source: Path) -> int | None:
    """Parameters of the source weights, read from the safetensors header (the export has no torch module)."""
    weights = source / "model.safetensors"
    if not weights.is_file():
        return None
    from safetensors import safe_open

    total = 0
    with safe_open(str(weights), framework="np") as handle:
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
            count = 1
            for size in handle.get_slice(key).get_shape():
                count *= int(size)
            total += count
    return total
