"""Running from a source checkout: ``harness.plugins`` and ``harness.encoders`` come from the checkout's folders.

pyproject maps three top-level folders onto one import package: ``harness`` -> ``harness/``, ``harness.plugins`` ->
``plugins/`` and ``harness.encoders`` -> ``encoders/``.  A wheel nests them (``site-packages/harness/plugins``) and
an editable install adds a finder for the mapping, so an installed harness imports fine.  But whenever the
checkout's root is on ``sys.path`` ahead of the installed copy (``python -m harness`` or ``python -m pytest`` from the
root, a benchmark script, pytest's rootdir insertion), Python imports the source ``harness/`` folder, which has no
``plugins/`` or ``encoders/`` inside it: with a non-editable install (``pip install .``, as tox does), ``import
harness.plugins`` then fails with ``ModuleNotFoundError``.

:func:`install` closes that gap for a source checkout only: a meta-path finder that knows exactly those two names
and points them at the checkout's folders; everything below them then resolves through their ``__path__`` as
usual.  It goes first on ``sys.meta_path`` so that the source ``harness`` never mixes with another copy's plugins
(say an editable install of a second checkout).  A finder rather than adding the root to ``harness.__path__``,
which would also make ``harness.tests``, ``harness.benchmarks`` and ``harness.harness`` importable.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import tomllib
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

DISTRIBUTION = "cpt-harness"
SUBPACKAGES: dict[str, str] = {"harness.plugins": "plugins", "harness.encoders": "encoders"}
"""Import name -> folder beside ``harness/`` in a checkout (pyproject's ``[tool.setuptools.package-dir]``)."""


def checkout_root(package_dir: Path) -> Path | None:
    """The checkout's root when ``package_dir`` is the ``harness/`` folder of a cpt-harness source tree, else None.

    A source tree is recognised by its layout, not guessed: no ``plugins/`` inside ``harness/`` (an installed copy
    has one), the parent holding ``plugins/__init__.py``, ``encoders/__init__.py`` and a pyproject.toml whose
    project is cpt-harness.
    """
    if (package_dir / "plugins").is_dir():
        return None
    root = package_dir.parent
    if not all((root / folder / "__init__.py").is_file() for folder in SUBPACKAGES.values()):
        return None
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return root if isinstance(project, dict) and project.get("name") == DISTRIBUTION else None


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``harness.plugins`` and ``harness.encoders`` in a checkout's ``plugins/`` and ``encoders/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None) -> ModuleSpec | None:
        folder = SUBPACKAGES.get(fullname)
        if folder is None:
            return None
        location = self.root / folder
        return importlib.util.spec_from_file_location(
            fullname, location / "__init__.py", submodule_search_locations=[str(location)]
        )

    def __repr__(self) -> str:
        return f"CheckoutFinder({str(self.root)!r})"


def install(package_file: str) -> CheckoutFinder | None:
    """Put a :class:`CheckoutFinder` first on ``sys.meta_path`` when ``package_file`` (harness's
    ``__init__.py``) is in a source checkout; do nothing for an installed copy.  Idempotent."""
    root = checkout_root(Path(package_file).resolve().parent)
    if root is None:
        return None
    for finder in sys.meta_path:
        if isinstance(finder, CheckoutFinder) and finder.root == root:
            return finder
    finder = CheckoutFinder(root)
    sys.meta_path.insert(0, finder)
    return finder
