"""``harness cache``: what the embedding cache holds, per encoder, or empty it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.pluginhost import PluginHost

if TYPE_CHECKING:
    from harness.running.embedding_cache import CorruptCacheIndex, EmbeddingCache


def add_parser(commands: Any) -> None:
    cache_cmd = commands.add_parser("cache", help="the embedding cache: what it holds, or empty it")
    cache_cmd.add_argument("action", choices=("info", "clear"))
    cache_cmd.add_argument("--cache", type=Path, metavar="DIR", help="cache folder (default: in $HARNESS_HOME)")
    cache_cmd.add_argument("--encoder", help="clear: only this encoder's vectors")


def run(host: PluginHost, args: argparse.Namespace) -> int:
    from harness.running.embedding_cache import CorruptCacheIndex, EmbeddingCache

    if args.action == "clear":
        try:
            return _clear(EmbeddingCache(args.cache), args.encoder)
        except CorruptCacheIndex as exc:
            return _clear_unreadable(exc, args.encoder)
    stats = EmbeddingCache(args.cache).stats()
    print(f"embedding cache: {stats.folder}")
    print(f"  {stats.vectors} vectors in {stats.shards} shards, {_size(stats.bytes)} of {_size(stats.max_bytes)}")
    for encoder, (vectors, size) in stats.by_encoder.items():
        print(f"  {encoder}: {vectors} vectors, {_size(size)}")
    return 0


def _clear(cache: EmbeddingCache, encoder: str | None) -> int:
    removed = cache.clear(encoder)
    whose = f" of {encoder}" if encoder else ""
    print(f"removed {removed} shard(s){whose} from {cache.folder}")
    return 0


def _clear_unreadable(corrupt: CorruptCacheIndex, encoder: str | None) -> int:
    """The remedy the error names: an unreadable index cannot say which shards are whose, so all of them go."""
    from harness.running.embedding_cache import discard

    if encoder is not None:
        raise HarnessError(
            f"embedding cache {corrupt.folder}: its index is unreadable, so --encoder cannot pick out one encoder's "
            f"vectors; 'harness cache clear --cache {corrupt.folder}' (without --encoder) empties the whole cache"
        )
    removed = discard(corrupt.folder)
    print(f"removed {removed} shard(s) and the unreadable index from {corrupt.folder}")
    return 0


def _size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while n >= 1024 and step < len(units) - 1:
        n, step = n / 1024, step + 1
    return f"{n:.0f} {units[step]}" if step == 0 else f"{n:.1f} {units[step]}"
