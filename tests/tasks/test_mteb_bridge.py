"""The MTEB bridge both ways: harness encoders as MTEB models, MTEB tasks as harness tasks.

Offline: the MTEB tasks used are the harness's own (``benchmarks/mteb_local.py``, importable as ``mteb_local``
because conftest puts ``benchmarks/`` on sys.path), mirroring MTEB's STSBenchmark, SICK-R and SciFact metadata but
reading the shared data folder, so both sides score the very same files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

mteb = pytest.importorskip("mteb")

from datasets import Dataset  # noqa: E402
from mteb.abstasks.retrieval import AbsTaskRetrieval  # noqa: E402
from mteb.tasks.retrieval.eng.sci_fact_retrieval import SciFact  # noqa: E402

from harness import Encoder, TextKind  # noqa: E402
from harness.catalog import TaskRef  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.data.locate import DataLocator  # noqa: E402
from harness.errors import HarnessError, UsageError  # noqa: E402
from harness.pluginhost import get_host  # noqa: E402
from harness.plugins.mteb import EncodeFnModel, as_mteb_model, require_mteb  # noqa: E402
from harness.plugins.mteb.model import text_kind  # noqa: E402
from harness.running.session import EncodingSession  # noqa: E402
from helpers import schema_validator  # noqa: E402

LOCAL_STSB = "mteb:mteb_local:LocalSTSBenchmark"
LOCAL_SICKR = "mteb:mteb_local:LocalSICKR"
LOCAL_SCIFACT = "mteb:mteb_local:LocalSciFact"
SPEARMAN_TIES = 1e-4
"""hash-bow gives many pairs the same cosine (no shared word: 0; same words: 1).  Float rounding breaks those
ties differently in MTEB's float32 sklearn cosine and the harness's float64 one, which moves Spearman by ~1e-5;
Pearson, which has no ranks, agrees to 1e-9.  A dense model has no such ties (see the MiniLM test)."""


@pytest.fixture
def bridge(shared_data: Path) -> Any:
    """The local task module (``mteb:`` itself is a built-in task family), reading the shared data folder."""
    assert "mteb:" in get_host().catalog.tasks
    import mteb_local

    assert mteb_local.DATA.resolve() == shared_data.resolve(), "the local tasks read another data folder"
    return mteb_local


def build(name: str) -> Encoder:
    return get_host().catalog.build_encoder(name, {})


def native(task: str, encode: Any, data: Path) -> Any:
    """The harness's own task on the shared data, as the runner would run it."""
    built = get_host().catalog.build_task(TaskRef(task))
    return built.evaluate(encode, DataLocator.from_settings(data).resolve(built.dataset_files("test")), "test")


def mteb_scores(model: Any, task: Any) -> dict[str, Any]:
    result = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False)
    (entry,) = result.task_results[0].scores["test"]
    return entry


def validate(record: dict[str, Any]) -> None:
    schema_validator("result.schema.json").validate(record)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("harness: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


# -- (a) harness run --tasks mteb:... ------------------------------------------------------------------------
def test_run_writes_a_valid_result_matching_the_native_task(bridge: Any, shared_data: Path, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--encoder",
            "hash-bow",
            "--tasks",
            f"{LOCAL_STSB},stsb",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(shared_data),
            "--no-progress",
        ]
    )
    assert code == 0
    records = {
        r["task"]["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "hash-bow").glob("*.json"))
    }
    bridged, own = records[LOCAL_STSB], records["stsb"]
    validate(bridged)
    assert bridged["task"]["family"] == "sts" and bridged["task"]["main_metric"] == "cosine_spearman"
    assert bridged["main_score"] == bridged["metrics"]["cosine_spearman"]
    assert bridged["n_examples"] == own["n_examples"] == 1379
    assert bridged["main_score"] == pytest.approx(own["main_score"], abs=SPEARMAN_TIES)
    assert bridged["metrics"]["cosine_pearson"] == pytest.approx(own["metrics"]["cosine_pearson"], abs=1e-6)
    details = bridged["details"]
    assert details["mteb_version"] == mteb.__version__ and details["mteb_task"] == "LocalSTSBenchmark"
    assert details["dataset"]["path"].endswith("sts-test.csv") and len(details["dataset"]["revision"]) == 64
    assert bridged["timings"]["texts_encoded"] < bridged["timings"]["texts_requested"]  # the session deduplicated
    assert bridged["task"]["dataset"]["identity"]["revision"] == details["dataset"]["revision"]


def test_sickr_through_the_bridge_matches_native_full(bridge: Any, shared_data: Path, tmp_path: Path) -> None:
    """MTEB's SICK-R is all 9927 pairs of SICK, the harness's ``sickr@full``: same pairs, same scores."""
    args = ["run", "--encoder", "hash-bow", "--tasks", f"{LOCAL_SICKR},sickr@full", "--out", str(tmp_path)]
    assert main([*args, "--data-dir", str(shared_data), "--no-progress"]) == 0
    records = {
        r["task"]["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "hash-bow").glob("*.json"))
    }
    bridged, own = records[LOCAL_SICKR], records["sickr"]
    validate(bridged)
    assert own["task"]["split"] == "full" and bridged["task"]["main_metric"] == "cosine_spearman"
    assert bridged["n_examples"] == own["n_examples"] == 9927
    assert bridged["main_score"] == pytest.approx(own["main_score"], abs=SPEARMAN_TIES)
    for metric in ("cosine_pearson", "euclidean_pearson", "manhattan_pearson"):
        assert bridged["metrics"][metric] == pytest.approx(own["metrics"][metric], abs=1e-6), metric
    assert bridged["details"]["mteb_task"] == "LocalSICKR" and len(bridged["details"]["dataset"]["revision"]) == 64


def test_a_missing_local_file_is_named(bridge: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge, "SICK_FILES", [tmp_path / "SICK_train.txt"])
    with pytest.raises(HarnessError, match=r"SICK_train\.txt: LocalSICKR: dataset file not found"):
        bridge.LocalSICKR().load_data()


def test_rerun_skips_the_same_mteb_data_and_redoes_a_new_revision(
    bridge: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["run", "--encoder", "hash-bow", "--tasks", LOCAL_STSB, "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    assert main(args) == 0
    assert "skipped: already done" in capsys.readouterr().out
    task = bridge.LocalSTSBenchmark
    new = task.metadata.model_copy(update={"dataset": {**task.metadata.dataset, "revision": "0" * 64}})
    monkeypatch.setattr(task, "metadata", new)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out and "cosine_spearman" in out
    (record,) = (json.loads(p.read_text()) for p in (tmp_path / "hash-bow").glob("*.json"))
    assert record["task"]["dataset"]["identity"]["revision"] == "0" * 64


# -- (b) as_mteb_model + mteb.evaluate -------------------------------------------------------------------------
def test_as_mteb_model_scores_like_the_native_task(bridge: Any, shared_data: Path) -> None:
    encoder = build("hash-bow")
    model = as_mteb_model(encoder)
    assert isinstance(model, mteb.models.EncoderProtocol)
    meta = model.mteb_model_meta
    assert meta.name == "cpt-harness/hash-bow" and meta.embed_dim == encoder.dim and len(meta.revision) == 64
    scores = mteb_scores(model, bridge.LocalSTSBenchmark())
    own = native("stsb", EncodingSession(encoder, progress=False), shared_data)
    print(f"hash-bow STS-B test: native {own.main_score:.7f}, mteb {scores['cosine_spearman']:.7f}")
    assert scores["cosine_spearman"] == pytest.approx(own.main_score, abs=SPEARMAN_TIES)
    for metric in ("cosine_pearson", "euclidean_pearson", "manhattan_pearson"):
        assert scores[metric] == pytest.approx(own.metrics[metric], abs=1e-6), metric
    assert model.session is not None and model.session.texts_encoded < model.session.texts_requested


class Memo(Encoder):
    """Encodes each text once across runs, so one slow model serves the native and the MTEB evaluation."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.seen = inner, inner.name, {}

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def fingerprint(self) -> dict[str, Any]:
        return self.inner.fingerprint()

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        todo = [t for t in texts if (t, kind) not in self.seen]
        if todo:
            self.seen.update(zip(((t, kind) for t in todo), self.inner.encode(todo, kind), strict=True))
        return np.stack([self.seen[(t, kind)] for t in texts])


@pytest.mark.slow  # ~20 s of encoding alone; 90 s on two shared cores
def test_as_mteb_model_matches_native_with_minilm(bridge: Any, shared_data: Path) -> None:
    try:
        encoder = Memo(build("minilm-l6"))
    except HarnessError as exc:
        pytest.skip(f"minilm-l6 unavailable: {exc}")
    own = native("stsb", EncodingSession(encoder, progress=False), shared_data)
    scores = mteb_scores(as_mteb_model(encoder), bridge.LocalSTSBenchmark())
    print(f"minilm-l6 STS-B test: native {own.main_score:.7f}, mteb {scores['cosine_spearman']:.7f}")
    assert scores["cosine_spearman"] == pytest.approx(own.main_score, abs=1e-6)
    assert scores["cosine_spearman"] == pytest.approx(0.82032, abs=5e-6)  # MTEB's published number


# -- (c) prompt types reach the encoder as TextKind ---------------------------------------------------------------
class Recorder(Encoder):
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[TextKind, tuple[str, ...]]] = []

    @property
    def dim(self) -> int:
        return 8

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "recorder"}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        self.calls.append((kind, tuple(texts)))
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, [len(w) % 8 for w in text.split()]] += 1.0
        return out


class TinyRetrieval(AbsTaskRetrieval):
    """Three documents and two queries: enough to see which prompt type reaches the encoder for which side."""

    metadata = SciFact.metadata.model_copy(
        update={"name": "TinyRetrieval", "dataset": {"path": "tiny", "revision": "0"}, "superseded_by": None}
    )
    QUERIES = {"q1": "what colour is the sky", "q2": "what do cats eat"}
    DOCUMENTS = {"d1": "The sky is blue.", "d2": "Cats eat fish.", "d3": "Grass is green."}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus = {
            "id": list(self.DOCUMENTS),
            "title": [""] * len(self.DOCUMENTS),
            "text": list(self.DOCUMENTS.values()),
        }
        self.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_dict(corpus),
                    "queries": Dataset.from_dict({"id": list(self.QUERIES), "text": list(self.QUERIES.values())}),
                    "relevant_docs": {"q1": {"d1": 1}, "q2": {"d2": 1}},
                    "top_ranked": None,
                }
            }
        }
        self.data_loaded = True


def test_prompt_types_reach_the_encoder_as_text_kinds(bridge: Any) -> None:
    recorder = Recorder()
    mteb_scores(as_mteb_model(recorder), TinyRetrieval())
    seen = {kind: set(texts) for kind, texts in recorder.calls}
    assert set(seen) == {TextKind.QUERY, TextKind.DOCUMENT}
    assert seen[TextKind.QUERY] == set(TinyRetrieval.QUERIES.values())
    assert seen[TextKind.DOCUMENT] == set(TinyRetrieval.DOCUMENTS.values())

    from mteb.types import PromptType

    model = as_mteb_model(Recorder())
    for prompt_type, kind in [
        (None, TextKind.TEXT),
        (PromptType.query, TextKind.QUERY),
        ("document", TextKind.DOCUMENT),
    ]:
        out = model.encode(
            [{"text": ["a b", "c"]}], task_metadata=None, hf_split="test", hf_subset="default", prompt_type=prompt_type
        )
        assert out.shape == (2, 8) and out.dtype == np.float32
        assert model.session.encoder.calls[-1][0] is kind
    with pytest.raises(HarnessError):
        text_kind("passage")


def test_the_task_side_adapter_wraps_any_encode_function() -> None:
    kinds: list[TextKind] = []

    def encode(texts: Sequence[str], kind: TextKind) -> np.ndarray:
        kinds.append(kind)
        return np.ones((len(texts), 3), dtype=np.float32)

    model = EncodeFnModel.from_encode(encode)
    assert model.mteb_model_meta.name == "cpt-harness/encode-function" and model.session is None
    model.encode(
        [{"text": ["x"]}, {"text": ["y"]}], task_metadata=None, hf_split="t", hf_subset="d", prompt_type="query"
    )
    assert kinds == [TextKind.QUERY]
    a = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    assert np.allclose(np.asarray(model.similarity(a, a)), np.eye(2))
    assert np.allclose(np.asarray(model.similarity_pairwise(a, a[::-1])), [0.0, 0.0])


# -- (d) errors are one line ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("mteb:STSBenchmarkk", "unknown MTEB task 'mteb:STSBenchmarkk'"),
        ("mteb:no_such_module_xyz:Task", "cannot import 'no_such_module_xyz'"),
        ("mteb:mteb_local:Missing", "has no 'Missing'"),
        ("mteb:mteb_local:data_dir", "is not an mteb AbsTask subclass"),
        ("mteb:TwentyNewsgroupsClustering", "the bridge supports STS, Retrieval"),
    ],
)
def test_bad_task_names_give_one_line_errors(
    bridge: Any, tmp_path: Path, capsys: Any, task: str, expected: str
) -> None:
    code = main(["run", "--encoder", "hash-bow", "--tasks", task, "--out", str(tmp_path), "--no-progress"])
    line = one_error_line(capsys.readouterr().err)
    assert code == 2 and expected in line, line


def test_unreachable_mteb_data_fails_the_task_in_one_line(bridge: Any, tmp_path: Path, capsys: Any) -> None:
    # HF_HUB_OFFLINE=1 (conftest) and no datasets cache for it: MTEB cannot load STSBenchmark.
    code = main(
        ["run", "--encoder", "hash-bow", "--tasks", "mteb:STSBenchmark", "--out", str(tmp_path), "--no-progress"]
    )
    err = capsys.readouterr().err
    if code == 0:
        pytest.skip("STSBenchmark is in the local Hugging Face cache")
    assert code == 1 and "Traceback" not in err
    (failed,) = [line for line in err.splitlines() if line.startswith("mteb:STSBenchmark@test: FAILED")]
    assert "could not load dataset 'mteb/stsbenchmark-sts'" in failed
    one_error_line(err)


def test_missing_mteb_is_a_harness_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mteb", None)
    with pytest.raises(HarnessError, match=r"pip install 'cpt-harness\[mteb\]'"):
        require_mteb()


def test_task_types_map_onto_harness_families(bridge: Any) -> None:
    from harness.plugins.mteb.tasks import family_for

    assert family_for(mteb.get_task("STSBenchmark").metadata) == "sts"
    assert family_for(mteb.get_task("SciFact").metadata) == "retrieval"
    assert family_for(mteb.get_task("CodeSearchNetRetrieval").metadata) == "code-search"
    assert family_for(mteb.get_task("Banking77Classification").metadata) == "classification"
    assert family_for(mteb.get_task("SprintDuplicateQuestions").metadata) == "classification"
    with pytest.raises(UsageError, match="MTEB type 'Clustering'"):
        family_for(mteb.get_task("TwentyNewsgroupsClustering").metadata)
    task = get_host().catalog.build_task(TaskRef("mteb:STSBenchmark"))
    assert task.splits == ("test",) and task.dataset_files("test") == []


# -- optional: retrieval through the bridge against the native scifact task ---------------------------------------
def test_scifact_through_the_bridge_matches_native(bridge: Any, shared_data: Path, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--encoder",
            "hash-bow",
            "--tasks",
            f"{LOCAL_SCIFACT},scifact",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(shared_data),
            "--no-progress",
        ]
    )
    assert code == 0
    records = {
        r["task"]["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "hash-bow").glob("*.json"))
    }
    bridged, own = records[LOCAL_SCIFACT], records["scifact"]
    validate(bridged)
    print(f"hash-bow SciFact nDCG@10: native {own['main_score']:.7f}, mteb {bridged['main_score']:.7f}")
    assert bridged["task"]["family"] == "retrieval" and bridged["n_examples"] == own["n_examples"] == 300
    assert bridged["main_score"] == pytest.approx(own["main_score"], abs=1e-4)
