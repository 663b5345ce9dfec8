"""The embedding cache: reuse across sessions, keys, corrupt shards recomputed, size limit, sharing, CLI."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakes import FakePlugin, HashingEncoder
from harness import TextKind
from harness.cli import main
from harness.running.embedding_cache import EmbeddingCache, text_key
from harness.running.session import EncodingSession

TEXTS = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(50)]


def session(encoder: HashingEncoder, cache: EmbeddingCache, fingerprint: str = "f" * 64) -> EncodingSession:
    return EncodingSession(encoder, progress=False, chunk_texts=16, cache=cache, fingerprint_sha256=fingerprint)


def test_a_second_session_reads_every_vector_from_the_cache(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    first_encoder = HashingEncoder()
    first = session(first_encoder, cache)(TEXTS + TEXTS[:5], TextKind.QUERY)
    assert first_encoder.calls and sum(n for n, _ in first_encoder.calls) == len(TEXTS)

    second_encoder = HashingEncoder()
    second_session = session(second_encoder, cache)
    second = second_session(TEXTS[::-1], TextKind.QUERY)
    assert second_encoder.calls == []
    assert second_session.texts_from_cache == len(TEXTS) and second_session.texts_encoded == 0
    np.testing.assert_array_equal(second, first[: len(TEXTS)][::-1])


def test_kind_and_fingerprint_are_part_of_the_key(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    session(HashingEncoder(), cache)(TEXTS, TextKind.QUERY)
    for kind, fingerprint in ((TextKind.DOCUMENT, "f" * 64), (TextKind.QUERY, "e" * 64)):
        encoder = HashingEncoder()
        session(encoder, cache, fingerprint)(TEXTS, kind)
        assert sum(n for n, _ in encoder.calls) == len(TEXTS)
    assert text_key("f" * 64, TextKind.QUERY, "ab") != text_key("f" * 64, TextKind.QUERY, "a" + "b" * 1)[:-1] + "x"
    # Length-prefixed parts: moving a boundary changes the key.
    assert text_key("f" * 64, TextKind.TEXT, "q") != text_key("f" * 64 + "q", TextKind.TEXT, "")


def shard_files(cache: EmbeddingCache) -> list[Path]:
    return sorted(cache.shard_dir.glob("*.npy"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:-7]),  # truncated
        lambda path: path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x80\x7f"),  # one value changed
        lambda path: path.unlink(),  # gone
        lambda path: path.write_bytes(b"not a numpy file"),
    ],
    ids=["truncated", "altered", "missing", "garbage"],
)
def test_a_damaged_shard_is_recomputed_never_trusted(tmp_path: Path, damage) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    expected = session(HashingEncoder(), cache)(TEXTS, TextKind.TEXT)
    damaged = shard_files(cache)[0]
    damage(damaged)
    encoder = HashingEncoder()
    again = session(encoder, cache)(TEXTS, TextKind.TEXT)
    np.testing.assert_array_equal(again, expected)
    assert 0 < sum(n for n, _ in encoder.calls) < len(TEXTS)  # only the damaged shard's texts
    assert cache.dropped_shards == 1
    assert not any(p.name == damaged.name and p.read_bytes() == b"not a numpy file" for p in shard_files(cache))


def test_a_pickled_shard_is_refused(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    session(HashingEncoder(), cache)(TEXTS[:4], TextKind.TEXT)
    (shard,) = shard_files(cache)
    np.save(shard, np.array([{"evil": 1}] * 4, dtype=object), allow_pickle=True)
    import hashlib

    with sqlite3.connect(cache.folder / "index.sqlite") as db:  # make the checksum match: only allow_pickle stops it
        db.execute("UPDATE shards SET sha256 = ?", (hashlib.sha256(shard.read_bytes()).hexdigest(),))
    encoder = HashingEncoder()
    session(encoder, cache)(TEXTS[:4], TextKind.TEXT)
    assert sum(n for n, _ in encoder.calls) == 4 and cache.dropped_shards == 1


def test_the_size_limit_evicts_least_recently_used_shards(tmp_path: Path) -> None:
    one_shard = 16 * 64 * 4 + 128  # rows x dim x float32 + the .npy header
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=2 * one_shard)
    session(HashingEncoder(), cache)(TEXTS[:48], TextKind.TEXT)  # 3 shards of 16
    stats = cache.stats()
    assert stats.shards == 2 and stats.bytes <= 2 * one_shard and stats.vectors == 32
    assert len(shard_files(cache)) == 2


def _worker(folder: str, offset: int) -> None:
    cache = EmbeddingCache(Path(folder))
    encoder = HashingEncoder()
    for round_ in range(5):
        texts = [f"shared text {i}" for i in range(offset + round_ * 10, offset + round_ * 10 + 40)]
        out = EncodingSession(encoder, progress=False, chunk_texts=7, cache=cache, fingerprint_sha256="a" * 64)(
            texts, TextKind.TEXT
        )
        np.testing.assert_array_equal(out, HashingEncoder().encode(texts, TextKind.TEXT))


def test_two_processes_share_one_cache_safely(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    EmbeddingCache(folder)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(str(folder), offset)) for offset in (0, 25)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    texts = [f"shared text {i}" for i in range(0, 105)]
    encoder = HashingEncoder()
    out = EncodingSession(encoder, progress=False, cache=EmbeddingCache(folder), fingerprint_sha256="a" * 64)(
        texts, TextKind.TEXT
    )
    np.testing.assert_array_equal(out, HashingEncoder().encode(texts, TextKind.TEXT))
    assert encoder.calls == []  # every text was stored by one of the two


def _open_together(folder: str, start: Any) -> None:
    start.wait()
    EmbeddingCache(Path(folder)).put("hashing", "a" * 64, TextKind.TEXT, ["t"], np.ones((1, 3), dtype=np.float32))


def test_processes_that_open_a_new_cache_at_once_all_get_it(tmp_path: Path) -> None:
    """Ranks of one torchrun job open the same fresh cache at the same moment; none may find it 'locked'.

    (Turning a new index to WAL and creating its tables each need the write lock; a connection that upgrades a
    read lock is refused at once instead of waiting, so opening must take the write lock first and retry.)
    """
    context = multiprocessing.get_context("spawn")
    for attempt in range(4):
        folder = tmp_path / f"cache-{attempt}"
        start = context.Barrier(6)
        workers = [context.Process(target=_open_together, args=(str(folder), start)) for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [w.exitcode for w in workers] == [0] * 6
        assert EmbeddingCache(folder).stats().vectors == 1


def test_runs_reuse_vectors_and_the_cache_command(capsys, fake_plugin, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    run = ["run", "--encoder", "hashing", "--tasks", "stsb,sickr", "--no-progress", "--cache", str(cache_dir)]
    assert main([*run, "--out", str(tmp_path / "a")]) == 0
    assert main([*run, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    cold = json.loads((tmp_path / "a" / "hashing" / "stsb@test.json").read_text())["timings"]
    warm = json.loads((tmp_path / "b" / "hashing" / "stsb@test.json").read_text())["timings"]
    assert cold["texts_encoded"] > 1000
    assert warm["texts_encoded"] == 0
    assert warm["texts_from_cache"] == cold["texts_encoded"] + cold["texts_from_cache"]
    assert FakePlugin.encoders["hashing"].calls == []  # the second run's encoder never ran
    assert main(["cache", "info", "--cache", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "hashing:" in out and "vectors" in out
    assert main(["cache", "clear", "--cache", str(cache_dir)]) == 0
    assert "removed" in capsys.readouterr().out and EmbeddingCache(cache_dir).stats().vectors == 0


def test_no_cache_reads_and_writes_nothing(fake_plugin, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    args = ["run", "--encoder", "hashing", "--tasks", "stsb", "--no-progress", "--out", str(tmp_path / "r")]
    assert main([*args, "--no-cache"]) == 0
    assert not cache_dir.exists()
    record = json.loads((tmp_path / "r" / "hashing" / "stsb@test.json").read_text())
    assert record["timings"]["texts_from_cache"] == 0


def test_an_unusable_cache_folder_is_one_line(capsys, fake_plugin, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["run", "--encoder", "hashing", "--tasks", "stsb", "--cache", str(blocker / "cache")])
    err = capsys.readouterr().err
    assert code != 0 and "embedding cache" in err and "--no-cache" in err and err.count("\n") == 1
