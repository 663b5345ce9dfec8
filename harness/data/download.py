"""Downloading one file: resumable (HTTP Range), with a timeout, a progress bar and checksum verification.

Bytes go to ``NAME.part`` beside the destination.  An interrupted transfer (the server closes early, the network
drops, Ctrl-C) leaves the ``.part`` file, and the next attempt asks the server for the rest with a ``Range``
header; a server that ignores ranges sends everything again and the file restarts.  Only when the size and
every pinned checksum match is the ``.part`` renamed to its final name, so a file under its final name is always
a verified one.  A checksum mismatch deletes the ``.part``: those bytes are not the dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from harness import __version__
from harness.errors import DataError

TIMEOUT_ENV = "HARNESS_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
ATTEMPTS = 3
"""Tries per download; each one after the first resumes where the previous stopped."""
BLOCK = 1 << 20


@dataclass(frozen=True)
class Expected:
    """What the finished file must be: any field left ``None`` is not checked."""

    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


def download_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise DataError(f"${TIMEOUT_ENV}", f"must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise DataError(f"${TIMEOUT_ENV}", f"must be positive, got {value!r}")
    return seconds


def download(
    url: str,
    destination: Path,
    expected: Expected,
    *,
    timeout: float | None = None,
    progress: bool | None = None,
    attempts: int = ATTEMPTS,
    label: str = "",
) -> Path:
    """Fetch ``url`` (``http(s)://`` or ``file://``) to ``destination`` and verify it; return ``destination``.

    A verified file already at ``destination`` is kept.  Failures raise :class:`DataError` naming the URL.
    """
    if destination.is_file():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    seconds = download_timeout() if timeout is None else timeout
    if urlparse(url).scheme == "file":
        _copy_local(url, part)
    else:
        _fetch_with_retries(url, part, expected, seconds, progress, attempts, label or destination.name)
    _verify(part, expected, url)
    os.replace(part, destination)
    return destination


def _copy_local(url: str, part: Path) -> None:
    source = Path(unquote(urlparse(url).path))
    if not source.is_file():
        raise DataError(url, "no such file in the local mirror")
    shutil.copyfile(source, part)


def _fetch_with_retries(
    url: str, part: Path, expected: Expected, timeout: float, progress: bool | None, attempts: int, label: str
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            _fetch_once(url, part, expected.size, timeout, progress, label)
            return
        except _Interrupted as exc:
            if attempt == attempts:
                raise DataError(
                    url,
                    f"download interrupted ({exc}) after {attempts} tries; {part.stat().st_size} bytes kept in "
                    f"{part}, and the next fetch resumes from there",
                ) from None
            time.sleep(min(2.0 ** (attempt - 1), 8.0))


class _Interrupted(Exception):
    """A transfer that stopped early but can be resumed."""


def _fetch_once(url: str, part: Path, size: int | None, timeout: float, progress: bool | None, label: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return  # complete already (a crash between the last byte and the rename); verification decides
    headers = {"User-Agent": f"cpt-harness/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only, checked by caller
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is whole (or wrong; verification says)
            return
        if exc.code >= 500 or exc.code == 429:
            raise _Interrupted(f"HTTP {exc.code}") from None
        raise DataError(url, f"HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise DataError(url, f"no response within {timeout:g} s (set ${TIMEOUT_ENV} to wait longer)") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise DataError(url, f"no response within {timeout:g} s (set ${TIMEOUT_ENV} to wait longer)") from None
        raise DataError(url, f"cannot connect ({reason})") from None
    with response:
        resumed = response.status == 206
        mode = "ab" if resumed else "wb"
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else size
        received = start
        with (
            part.open(mode) as out,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                disable=None if progress is None else not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                try:
                    block = response.read(BLOCK)
                except TimeoutError:
                    raise _Interrupted(f"no data for {timeout:g} s at byte {received}") from None
                except (ConnectionError, OSError) as exc:
                    raise _Interrupted(f"{type(exc).__name__} at byte {received}") from None
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
        if total is not None and received < total:
            raise _Interrupted(f"connection closed at byte {received} of {total}")


def _verify(part: Path, expected: Expected, url: str) -> None:
    actual_size = part.stat().st_size
    problems = []
    if expected.size is not None and actual_size != expected.size:
        problems.append(f"size {actual_size} bytes, expected {expected.size}")
    if expected.sha256 or expected.md5:
        sha256, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - the publisher's checksum, not security
        with part.open("rb") as stream:
            for block in iter(lambda: stream.read(BLOCK), b""):
                sha256.update(block)
                md5.update(block)
        if expected.sha256 and sha256.hexdigest() != expected.sha256:
            problems.append(f"sha256 {sha256.hexdigest()[:16]}..., expected {expected.sha256[:16]}...")
        if expected.md5 and md5.hexdigest() != expected.md5:
            problems.append(f"md5 {md5.hexdigest()}, expected {expected.md5}")
    if problems:
        part.unlink(missing_ok=True)
        raise DataError(
            url, "downloaded file failed verification (" + "; ".join(problems) + "); deleted, nothing unpacked"
        )
