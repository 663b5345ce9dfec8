"""A run killed mid-way loses no finished task and leaves no corrupt file; a rerun resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import harness_cli


def test_kill_then_rerun_resumes(thirdparty_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(thirdparty_site), DEMO_SLEEP="1.5")
    env.pop("HARNESS_LOAD_PLUGINS", None)
    proc = subprocess.Popen(
        # --no-cache: the demo tasks share sentences, and cached vectors would finish them before the kill.
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--encoder",
            "demo-hash",
            "--suite",
            "demo",
            "--out",
            str(out),
            "--no-cache",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    first = out / "demo-hash" / "demo-sts@test.json"
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()[1]
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the second task
    proc.wait()

    finished = sorted(p.name for p in (out / "demo-hash").glob("*.json"))
    assert "demo-sts3@test.json" not in finished
    for path in out.rglob("*.json"):
        json.loads(path.read_text())  # every file that exists is whole
    first_record = json.loads(first.read_text())

    rerun = harness_cli(["run", "--encoder", "demo-hash", "--suite", "demo", "--out", str(out)], site=thirdparty_site)
    assert rerun.returncode == 0, rerun.stderr
    assert "demo-sts@test: cosine_spearman" in rerun.stdout and "skipped" in rerun.stdout.splitlines()[0]
    assert json.loads(first.read_text())["date"] == first_record["date"]  # not recomputed
    assert sorted(p.name for p in (out / "demo-hash").glob("*.json")) == [
        "demo-sts2@test.json",
        "demo-sts3@test.json",
        "demo-sts@test.json",
    ]
    assert not list(out.rglob("*.tmp"))
