"""Demo corpora from what is already on this machine: documentation as text, the standard library as code.

They let ``harness mine-pairs`` and the training demo run offline on any machine with Python; none of
it is evaluation data.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from harness.encoders.training.mining.shared import matching_files
from harness.encoders.training.mining.text import DEFAULT_TEXT_PATTERNS

_DOC_EXCLUDE = re.compile(
    r"change|news|licen[cs]e|copying|copyright|authors|thanks|history|release|relnotes|cmakelists|requirements",
    re.IGNORECASE,
)


def demo_code_tree() -> Path:
    """Python's own standard library sources: a sizeable, local, documented code tree.

    Its ``site-packages`` (third-party packages installed into this Python) is
    never mined, see :mod:`harness.encoders.training.mining`.
    """
    return Path(sysconfig.get_paths()["stdlib"])


def demo_text_corpus(
    dest: str | os.PathLike[str], *, doc_roots: Sequence[str | os.PathLike[str]] | None = None
) -> Path:
    """Materialise a folder of plain text from documentation already on this machine; returns ``dest``.

    None of it is evaluation data.  Sources, each used when present:

    * ``pydoc_data.topics`` of the running Python: the language reference and
      library topics as plain text (about 80 topics, 0.45 MB); part of every
      CPython, so the demo never comes out empty.  Written as
      ``dest/pydoc-topics/<topic>.txt``.
    * Documentation folders (``doc_roots``; by default ``/usr/share/doc`` and
      CMake's ``Help`` folders): their ``.txt``, ``.md`` and ``.rst`` files,
      plus gzipped ``README*`` files unpacked, copied under
      ``dest/<root name>/``.  Change logs, news, licences and author lists are
      left out: they are lists of items, not neighbouring prose; so are build
      files that happen to end in ``.txt`` (``CMakeLists.txt``,
      ``requirements.txt``).
    * Man pages are not used: they are roff source, which would need ``groff``
      to become text.

    Existing files in ``dest`` are overwritten; nothing outside ``dest`` changes.
    """
    out = Path(dest)
    topics_dir = out / "pydoc-topics"
    topics_dir.mkdir(parents=True, exist_ok=True)
    from pydoc_data.topics import topics

    for name, text in sorted(topics.items()):
        (topics_dir / f"{_safe_name(name)}.txt").write_text(text, encoding="utf-8")
    roots = [Path(p) for p in doc_roots] if doc_roots is not None else _default_doc_roots()
    for root in roots:
        if root.is_dir():
            _copy_docs(root, out / _safe_name("-".join(root.parts[-2:])))
    return out


def _default_doc_roots() -> list[Path]:
    roots = [Path("/usr/share/doc")]
    roots += sorted(p for p in Path("/usr/share").glob("cmake*/Help") if p.is_dir())
    return roots


def _copy_docs(root: Path, target: Path) -> None:
    for path, relative in matching_files(root, (*DEFAULT_TEXT_PATTERNS, "README*.gz")):
        if _DOC_EXCLUDE.search(relative):
            continue
        destination = target / relative
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".gz":
                with gzip.open(path, "rb") as packed, open(destination.with_suffix(".txt"), "wb") as plain:
                    shutil.copyfileobj(packed, plain)
            else:
                shutil.copyfile(path, destination)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue  # a broken system file is not the demo's problem


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"
