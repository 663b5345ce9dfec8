"""Unpacking a verified download into a staging folder, refusing anything that would land outside it.

Every member name is checked before a single byte is written: an absolute path, a ``..`` component, a drive
letter, a symbolic or hard link or a device file refuses the whole archive (a "zip slip" would otherwise write
anywhere the user can).  Members are then mapped through the source's ``place`` table (archive prefix ->
data-root prefix); members no prefix matches are skipped, so one archive can back several datasets.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from harness.errors import DataError


def unpack(archive: Path, kind: str, place: Mapping[str, str], staging: Path, label: str) -> list[str]:
    """Write the placed members of ``archive`` under ``staging``; return their data-root paths."""
    if kind in ("none", "gzip"):
        target = _inside(staging, place[""], label)
        target.parent.mkdir(parents=True, exist_ok=True)
        opener = gzip.open if kind == "gzip" else open
        try:
            with opener(archive, "rb") as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except (OSError, EOFError) as exc:
            raise DataError(label, f"cannot be decompressed ({exc})") from None
        return [place[""]]
    if kind == "zip":
        return _unzip(archive, place, staging, label)
    return _untar(archive, "r:gz" if kind == "tar.gz" else "r:", place, staging, label)


def _mapped(name: str, place: Mapping[str, str]) -> str | None:
    """The data-root path for archive member ``name``, by the longest matching prefix; ``None``: not placed."""
    matches = [prefix for prefix in place if name.startswith(prefix)]
    if not matches:
        return None
    prefix = max(matches, key=len)
    return place[prefix] + name[len(prefix) :]


def _check_member(name: str, label: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DataError(label, f"refused: archive member {name!r} would be written outside the dataset folder")


def _inside(staging: Path, relative: str, label: str) -> Path:
    target = (staging / relative).resolve()
    root = staging.resolve()
    if target != root and root not in target.parents:
        raise DataError(label, f"refused: {relative!r} would be written outside the dataset folder")
    return target


def _unzip(archive: Path, place: Mapping[str, str], staging: Path, label: str) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                _check_member(member.filename, label)
                mode = member.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise DataError(label, f"refused: archive member {member.filename!r} is a symbolic link")
            written = []
            for member in members:
                relative = _mapped(member.filename, place)
                if relative is None or member.is_dir() or relative.endswith("/"):
                    continue
                target = _inside(staging, relative, label)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                written.append(relative)
            return written
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DataError(label, f"not a readable zip archive ({exc})") from None


def _untar(archive: Path, mode: str, place: Mapping[str, str], staging: Path, label: str) -> list[str]:
    try:
        with tarfile.open(archive, mode) as tar:  # type: ignore[call-overload]
            members = tar.getmembers()
            for member in members:
                _check_member(member.name, label)
                if not (member.isfile() or member.isdir()):
                    raise DataError(label, f"refused: archive member {member.name!r} is a link or special file")
            written = []
            for member in (m for m in members if m.isfile()):
                relative = _mapped(member.name, place)
                if relative is None or relative.endswith("/"):
                    continue
                target = _inside(staging, relative, label)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                written.append(relative)
            return written
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(label, f"not a readable tar archive ({exc})") from None
