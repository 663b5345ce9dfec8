"""Mirrors: canonical download URLs rewritten to another server or a local folder, for air-gapped sites.

Two places say where a mirror is, and both map a canonical URL *prefix* to a replacement (the longest prefix
wins; the rest of the URL is appended to the replacement):

* ``$HARNESS_DATA_MIRRORS``: ``PREFIX=REPLACEMENT`` pairs separated by ``;`` or newlines;
* ``$HARNESS_HOME/mirrors.toml``: a ``[mirrors]`` table, ``"PREFIX" = "REPLACEMENT"``.

The environment wins over the file.  A replacement is an ``http(s)://`` base URL, a ``file://`` URL or a local
folder.  Checksums are those of the canonical files, so a mirror can only serve the same bytes.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from harness.errors import DataError
from harness.home import harness_home

MIRRORS_ENV = "HARNESS_DATA_MIRRORS"
MIRRORS_FILE = "mirrors.toml"


def configured_mirrors() -> dict[str, str]:
    """Prefix -> replacement from ``$HARNESS_HOME/mirrors.toml`` and then ``$HARNESS_DATA_MIRRORS``."""
    mirrors: dict[str, str] = {}
    config = harness_home() / MIRRORS_FILE
    if config.is_file():
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8")).get("mirrors", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DataError(config, f"not valid TOML ({exc})") from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise DataError(config, '[mirrors] must map URL prefixes to strings ("PREFIX" = "REPLACEMENT")')
        mirrors.update(table)
    text = os.environ.get(MIRRORS_ENV, "")
    for number, pair in enumerate(p.strip() for p in text.replace("\n", ";").split(";")):
        if not pair:
            continue
        prefix, sep, replacement = pair.partition("=")
        if not sep or not prefix.strip() or not replacement.strip():
            raise DataError(f"${MIRRORS_ENV}", f"entry {number + 1} {pair!r} is not PREFIX=REPLACEMENT")
        mirrors[prefix.strip()] = replacement.strip()
    return mirrors


def mirrored(url: str, mirrors: Mapping[str, str] | None = None) -> str:
    """``url`` with its longest matching canonical prefix replaced; unchanged when no mirror matches."""
    table = configured_mirrors() if mirrors is None else mirrors
    matches = [prefix for prefix in table if url.startswith(prefix)]
    if not matches:
        return url
    prefix = max(matches, key=len)
    replacement = table[prefix]
    rest = url[len(prefix) :]
    if "://" not in replacement:  # a local folder
        return Path(replacement).expanduser().joinpath(rest.lstrip("/")).as_uri()
    if replacement.endswith("/") and rest.startswith("/"):
        rest = rest[1:]
    return replacement + rest
