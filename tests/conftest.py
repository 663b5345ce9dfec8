from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# No test may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from fakes import FakePlugin  # noqa: E402
from harness import pluginhost  # noqa: E402
from helpers import CliResult, run_harness  # noqa: E402

TESTS = Path(__file__).parent
REPO = TESTS.parent
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", REPO.parent / "shared" / "data"))
# Code under test that finds the data folder by itself (the MTEB bridge's local tasks, read when their module is
# imported) must read the same folder as the tests, also from an installed (non-editable) package.
os.environ["HARNESS_SHARED_DATA"] = str(SHARED_DATA)
# Those local tasks are benchmark code (benchmarks/mteb_local.py), not part of the package: the tests import them,
# and name them in `--tasks mteb:mteb_local:<Class>`, as `mteb_local`. Appended, so it shadows nothing installed.
BENCHMARKS = str(REPO / "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)


@pytest.fixture(autouse=True)
def isolated_host(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Each test gets a fresh plugin host that loads built-ins only.

    Third-party plugins installed in the environment must not change what the
    suite sees; tests that want entry points opt in through ``HARNESS_LOAD_PLUGINS``.
    """
    monkeypatch.setenv("HARNESS_LOAD_PLUGINS", "")
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    # Checkpoints and converted backbones go to a private home, never the user's.
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path_factory.mktemp("harness-home")))
    pluginhost.reset_host()
    yield
    pluginhost.reset_host()


@pytest.fixture
def fake_plugin():
    host = pluginhost.get_host()
    host.register(FakePlugin(), name="fake")
    yield host
    host.unregister("fake")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``harness ARGS...`` in-process through its real entry point (``harness.cli.main``): a :class:`CliResult`."""
    return lambda *args: run_harness(capsys, *args)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "SHA256SUMS").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA} (CI must have it)")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def thirdparty_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo third-party plugin, built and installed by pip into a private folder.

    A real distribution with real entry points: ``harness`` finds it exactly as
    it would on a user's machine once that folder is on ``PYTHONPATH``.
    """
    source = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(TESTS / "thirdparty_plugin", source)
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target
