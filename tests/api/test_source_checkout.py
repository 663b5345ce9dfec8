"""Commands run from the checkout's root work, and use the checkout's code, whatever kind of install is present.

pyproject maps ``harness/``, ``plugins/`` and ``encoders/`` onto one import package.  From the checkout's root the
source ``harness/`` is imported (cwd first on ``sys.path``; benchmark scripts put the root there), and only
``harness/source_checkout.py`` makes ``harness.plugins`` and ``harness.encoders`` resolve to the folders beside it.
An editable install hides a missing fix (its own finder maps those names), so besides this interpreter the
commands also run in a fresh virtual environment that sees the dependencies but no editable finder: once with no
cpt-harness installed at all (the benchmark scripts), once with a real wheel installed by pip (about 10 s).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from harness.source_checkout import CheckoutFinder, checkout_root, install
from helpers import REPO  # noqa: E402

SCRIPTS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
CHEAP_SCRIPT = REPO / "benchmarks" / "cpt_train_demo.py"
"""Imports ``harness.cli`` and ``harness.encoders.training`` at module level, and loads no torch model for --help."""
SHOW_ORIGINS = (
    "import harness, harness.encoders, harness.plugins.baselines.hashing as h; "
    "print(harness.__file__); print(harness.encoders.__file__); print(h.__file__)"
)


def dependency_paths() -> list[str]:
    """This environment's site-packages folders: on PYTHONPATH, their .pth files (the editable finder) do not run."""
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def run_from_root(python: str, args: list[str], pythonpath: list[str] | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([python, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} (PYTHONPATH={pythonpath}) failed:\n{done.stderr[-3000:]}"
    return done


def check_commands(python: str, pythonpath: list[str] | None) -> None:
    """The four commands from the checkout's root; the modules they import are the checkout's, none from elsewhere."""
    assert run_from_root(python, ["-m", "harness", "--version"], pythonpath).stdout.startswith("harness ")
    listed = run_from_root(python, ["-m", "harness", "list", "encoders"], pythonpath).stdout
    assert "hash-bow" in listed and "[harness.plugins.baselines.hashing]" in listed, listed
    origins = run_from_root(python, ["-c", SHOW_ORIGINS], pythonpath).stdout.split()
    expected = [REPO / "harness" / "__init__.py", REPO / "encoders" / "__init__.py", REPO / "plugins" / "baselines"]
    assert [Path(p).resolve() for p in origins[:2]] == expected[:2], origins
    assert Path(origins[2]).resolve().is_relative_to(expected[2]), origins
    assert "usage:" in run_from_root(python, [str(CHEAP_SCRIPT.relative_to(REPO)), "--help"], pythonpath).stdout


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtual environment without packages or pip: the dependencies come from PYTHONPATH, with no .pth run."""
    folder = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    python = str(folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    finders = run_from_root(python, ["-c", "import sys; print(sys.meta_path)"], dependency_paths()).stdout
    assert "editable" not in finders.lower(), f"an editable finder is active: {finders}"
    return python


def test_commands_from_the_checkout_root_with_this_install() -> None:
    """Editable here (which would hide a missing fix); under tox, its non-editable wheel."""
    check_commands(sys.executable, None)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_benchmark_imports_from_the_checkout_root(bare_python: str, script: Path) -> None:
    """No editable finder and no installed copy: the script finds the checkout's harness and its plugins itself."""
    done = run_from_root(bare_python, [str(script.relative_to(REPO)), "--help"], dependency_paths())
    assert done.stdout.startswith("usage:"), done.stdout


def test_commands_from_the_checkout_root_with_a_wheel_installed(
    bare_python: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """tox's case: a real (non-editable) wheel, here installed with ``pip --target`` and found on PYTHONPATH.

    The wheel is built from a copy of the source files, so the build writes nothing into the shared checkout.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("harness", "plugins", "encoders"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", work / "dist", source], check=True
    )
    (wheel,) = (work / "dist").glob("cpt_harness-*.whl")
    target = work / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", target, wheel], check=True)
    assert (target / "harness" / "plugins" / "mteb" / "tasks.py").is_file(), "the wheel lacks the MTEB plugin"
    pythonpath = [str(target), *dependency_paths()]
    check_commands(bare_python, pythonpath)
    # Away from the checkout the installed copy is used, in its nested layout, with no finder of ours.
    away = subprocess.run(
        [bare_python, "-c", "import sys, harness.plugins.mteb; print(harness.plugins.mteb.__file__, sys.meta_path)"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert away.startswith(str(target / "harness" / "plugins" / "mteb")) and "CheckoutFinder" not in away, away


# -- how a checkout is recognised ---------------------------------------------------------------------------------
def fake_checkout(root: Path, name: str = "cpt-harness", folders: tuple[str, ...] = ("plugins", "encoders")) -> Path:
    (root / "harness").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    for folder in folders:
        (root / folder).mkdir()
        (root / folder / "__init__.py").write_text("", encoding="utf-8")
    return root / "harness"


def test_a_checkout_is_recognised_by_its_layout_and_project_name(tmp_path: Path) -> None:
    assert checkout_root(REPO / "harness") == REPO
    assert checkout_root(fake_checkout(tmp_path / "ok")) == tmp_path / "ok"
    assert checkout_root(fake_checkout(tmp_path / "other", name="other-project")) is None
    assert checkout_root(fake_checkout(tmp_path / "half", folders=("plugins",))) is None
    installed = fake_checkout(tmp_path / "site")
    (installed / "plugins").mkdir()  # a wheel nests plugins/ inside harness/
    assert checkout_root(installed) is None
    broken = fake_checkout(tmp_path / "broken")
    (broken.parent / "pyproject.toml").write_text("[project\n", encoding="utf-8")
    assert checkout_root(broken) is None


def test_the_finder_maps_exactly_two_names_and_is_installed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    package = fake_checkout(tmp_path / "repo")
    finder = install(str(package / "__init__.py"))
    assert isinstance(finder, CheckoutFinder) and sys.meta_path[0] is finder
    assert install(str(package / "__init__.py")) is finder and sys.meta_path.count(finder) == 1
    spec = finder.find_spec("harness.plugins")
    assert spec is not None and spec.submodule_search_locations == [str(tmp_path / "repo" / "plugins")]
    assert finder.find_spec("harness.encoders").origin == str(tmp_path / "repo" / "encoders" / "__init__.py")
    assert finder.find_spec("harness.tests") is None and finder.find_spec("harness.plugins.tasks") is None
    assert install(str(tmp_path / "elsewhere" / "__init__.py")) is None
