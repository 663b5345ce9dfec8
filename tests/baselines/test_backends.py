"""``--backend onnx|openvino`` for the sentence-transformers encoders: exported once, labelled, fingerprinted.

The backends need optimum-onnx / optimum-intel, which pin transformers<4.58 and so cannot share the main
environment (sentence-transformers 6 needs transformers 5): ``tox -e fast-path`` builds the environment they
import in (``requirements/fast-path.txt``), and there every test here runs.  Elsewhere the tests that export
skip with that reason, while the refusals (a missing library, a torch-only precision) run everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from harness.digests import file_sha256
from harness.errors import HarnessError
from harness.home import harness_home
from harness.plugins.baselines.sbert_backends import MODULES, calibration_sentences, require_libraries
from helpers import REPO, build_tiny_sbert, read_results


def _missing(backend: str) -> str | None:
    try:
        require_libraries(backend)
    except HarnessError as exc:
        return str(exc)
    return None


MISSING = {backend: _missing(backend) for backend in MODULES}


def needs(backend: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        MISSING[backend] is not None,
        reason=f"--backend {backend}: its libraries do not import here (tox -e fast-path has them): {MISSING[backend]}",
    )


@pytest.fixture(scope="module")
def tiny_sbert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer random sentence-transformers model with room for OpenVINO's 384-token calibration inputs."""
    return build_tiny_sbert(tmp_path_factory.mktemp("tiny-sbert-backends"), max_positions=512)


def exports() -> list[Path]:
    folder = harness_home() / "exports"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def stsb_results(out: Path) -> dict[str, dict]:
    """``{result label: stsb@test record}`` for every result under ``out``."""
    return {label.rsplit("/", 1)[0]: record for label, record in read_results(out).items()}


@pytest.mark.parametrize(("backend", "package"), [("onnx", "optimum-onnx[onnxruntime]"), ("openvino", "optimum-intel")])
def test_a_missing_backend_library_is_one_error_line_naming_the_pip_command(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, MODULES[backend][0], None)  # as if it were not installed, in every env
    result = cli("run", "--encoder", "minilm-l6", "--backend", backend, "--tasks", "stsb", "--out", tmp_path)
    assert result.code != 0
    assert f"--backend {backend} needs {MODULES[backend][0]}, which does not import here" in result.error
    assert f'pip install "{package}' in result.error and "tox -e fast-path" in result.error
    assert not read_results(tmp_path) and not exports()  # refused before any model loaded or export began


def test_torch_only_precisions_are_refused_with_a_backend(cli, tmp_path: Path) -> None:
    """bf16 is torch's autocast: with an exported backend it would silently mean something else."""
    run = cli("run", "--encoder", "minilm-l6", "--backend", "onnx", "--precision", "bf16", "--tasks", "stsb")
    assert run.code != 0
    assert run.error.endswith(
        "--precision bf16 is torch's autocast; with --backend onnx use fp32 or int8 (the backend's own int8 export)"
    )
    baseline, results = tmp_path / "baseline.json", tmp_path / "r"
    assert cli("run", "--encoder", "hash-bow", "--tasks", "stsb", "--out", results).code == 0
    assert cli("check", "--baseline", baseline, "--results", results, "--update").code == 0
    check = cli(
        "check", "--baseline", baseline, "--run", "--encoder", "minilm-l6", "--backend", "openvino",
        "--precision", "bf16", "--tasks", "stsb", "--results", results,
    )  # fmt: skip
    assert check.code == 4 and "with --backend openvino use fp32 or int8" in check.out + check.err  # a run error
    assert not exports()


@needs("onnx")
def test_minilm_on_onnx_through_harness_run_scores_as_torch_and_reuses_its_export(cli, tmp_path: Path) -> None:
    out = tmp_path / "results"
    common = ["run", "--encoder", "minilm-l6", "--tasks", "stsb", "--no-cache", "--out", out]
    assert cli(*common).code == 0
    first = cli(*common, "--backend", "onnx")
    assert first.code == 0, first.err
    assert "exporting sentence-transformers/all-MiniLM-L6-v2 to onnx-fp32 once" in first.err
    records = stsb_results(out)
    assert set(records) == {"minilm-l6", "minilm-l6-onnx"}
    torch_run, onnx_run = records["minilm-l6"], records["minilm-l6-onnx"]
    assert abs(onnx_run["main_score"] - torch_run["main_score"]) < 1e-4  # the same float32 model, another engine
    fingerprint = onnx_run["encoder"]["fingerprint"]
    backend = fingerprint.pop("backend")
    assert fingerprint == torch_run["encoder"]["fingerprint"]  # same model: only the backend entry differs
    (folder,) = exports()
    assert folder.name == f"onnx-fp32-{backend['export_id']}"
    assert backend["files_sha256"] == {"onnx/model.onnx": file_sha256(folder / "onnx" / "model.onnx")}
    assert backend["quantization"] is None and backend["versions"]["onnxruntime"]
    assert onnx_run["encoder"]["metadata"]["backend"] == "onnx"
    stamp = (folder / "onnx" / "model.onnx").stat().st_mtime_ns
    again = cli(*common, "--backend", "onnx", "--force")
    assert again.code == 0 and "exporting" not in again.err  # reused, not exported again
    assert exports() == [folder] and (folder / "onnx" / "model.onnx").stat().st_mtime_ns == stamp
    rerun = stsb_results(out)["minilm-l6-onnx"]
    assert rerun["encoder"]["fingerprint_sha256"] == onnx_run["encoder"]["fingerprint_sha256"]
    assert rerun["main_score"] == onnx_run["main_score"]


@pytest.mark.parametrize(
    ("backend", "method", "model_file"),
    [
        pytest.param("onnx", "export_dynamic_quantized_onnx_model", "onnx/model_qint8_", marks=needs("onnx")),
        pytest.param(
            "openvino",
            "export_static_quantized_openvino_model",
            "openvino/openvino_model_qint8_quantized.xml",
            marks=needs("openvino"),
        ),
    ],
)
def test_int8_is_the_backends_own_quantised_export(
    cli, tmp_path: Path, tiny_sbert: Path, backend: str, method: str, model_file: str
) -> None:
    out = tmp_path / "results"
    common = ["run", "--encoder", f"sbert:{tiny_sbert}", "--tasks", "stsb", "--no-cache", "--out", out]
    assert cli(*common).code == 0
    assert cli(*common, "--backend", backend).code == 0
    quantised = cli(*common, "--backend", backend, "--precision", "int8")
    assert quantised.code == 0, quantised.err
    records = stsb_results(out)
    name = f"sbert:{tiny_sbert}"
    assert set(records) == {name, f"{name}-{backend}", f"{name}-{backend}-int8"}  # NAME-BACKEND, NAME-BACKEND-int8
    int8 = records[f"{name}-{backend}-int8"]["encoder"]["fingerprint"]
    assert int8["precision"] == "int8" and int8["backend"]["quantization"]["method"] == method
    assert int8["backend"]["model_file"].startswith(model_file)
    assert len({r["encoder"]["fingerprint_sha256"] for r in records.values()}) == 3
    assert all(np.isfinite(r["main_score"]) for r in records.values())
    folder = next(p for p in exports() if p.name.startswith(f"{backend}-int8-"))
    exported_files = sorted(p.relative_to(folder).as_posix() for p in (folder / backend).iterdir())
    assert set(int8["backend"]["files_sha256"]) == set(exported_files)  # only the quantised model is kept
    assert all("qint8" in name for name in exported_files)
    calibration = int8["backend"]["calibration"]
    if backend == "openvino":  # static quantisation: calibrated offline on the embedded STS-B dev sentences
        sentences, sha256 = calibration_sentences()
        assert calibration["file_sha256"] == sha256 and calibration["sentences"] == len(sentences) > 300
        assert calibration["num_samples"] == 300
    else:  # dynamic quantisation needs no calibration set
        assert calibration is None


@needs("onnx")
def test_a_changed_export_is_refused_with_one_line(cli, tmp_path: Path, tiny_sbert: Path) -> None:
    common = ["run", "--encoder", f"sbert:{tiny_sbert}", "--backend", "onnx", "--tasks", "stsb", "--no-cache"]
    assert cli(*common, "--out", tmp_path / "a").code == 0
    (folder,) = exports()
    with (folder / "onnx" / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    refused = cli(*common, "--out", tmp_path / "b")
    assert refused.code != 0
    assert refused.error.endswith(f"{folder}: onnx/model.onnx is missing or changed since it was exported; "
                                  "delete the folder")  # fmt: skip
    assert not read_results(tmp_path / "b")


def test_the_fast_path_requirements_carry_every_dependency_of_the_harness() -> None:
    """tox -e fast-path installs the harness with --no-deps (model2vec>=0.10 cannot live with transformers 4.57).

    So requirements/fast-path.txt must name each of pyproject's dependencies, and of the test and mteb extras,
    itself: a dependency added to pyproject alone would be missing there, and fail only in that env.
    """
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    wanted += project["optional-dependencies"]["mteb"]
    lines = (REPO / "requirements" / "fast-path.txt").read_text(encoding="utf-8").splitlines()
    listed = {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}
    missing = {canonicalize_name(Requirement(spec).name) for spec in wanted} - listed
    assert not missing, f"requirements/fast-path.txt lacks {sorted(missing)}"
