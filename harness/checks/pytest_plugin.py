"""A pytest plugin (entry point ``pytest11``) for model developers: "no regression on these tasks".

In a model's own test suite::

    @pytest.mark.harness_baseline("baselines/my-model.json", encoder="my-model")
    def test_quality_holds(harness_check):
        harness_check()                      # runs the baseline's tasks, fails with a table on regression

    def test_sts_only(harness_check):
        harness_check("baselines/my-model.json", encoder="my-model", tasks=["stsb"], tolerance=0.002)

    def test_trained_checkpoint(harness_check):
        harness_check("baselines/cpt.json", encoder="cpt-text-s", checkpoint="runs/final", batch_size=64)

Keyword arguments other than the check's own are the encoder's options, exactly as ``harness run -o``
takes them (``checkpoint``, ``precision``, ``batch_tokens``, ...): validated against the encoder's schema,
and the results are filed (and looked up in the baseline) under the same derived label as ``harness run``'s.

A relative baseline path is looked up next to the test file first, then from the
current directory.  ``pytest --harness-update`` rewrites the baselines from the
run instead of checking (for an intended change of scores).  The check is
:mod:`harness.checks.baseline`'s: incomparable results (another dataset or encoder
fingerprint) and run errors fail too, each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

MARKER = "harness_baseline"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "cpt-harness regression checks")
    group.addoption(
        "--harness-update", action="store_true", help="rewrite harness baselines from this run instead of checking"
    )
    group.addoption("--harness-data-dir", default=None, help="datasets folder for harness_check runs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path, encoder=None, tasks=None, tolerance=None, config=None): baseline for the harness_check fixture",
    )


@pytest.fixture
def harness_check(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """A function that runs an encoder on a baseline's tasks and fails the test unless the check passes."""
    marker = request.node.get_closest_marker(MARKER)
    defaults: dict[str, Any] = {}
    if marker is not None:
        defaults.update(dict(zip(("baseline", "encoder", "tasks", "tolerance", "config"), marker.args, strict=False)))
        defaults.update({("baseline" if k == "path" else k): v for k, v in marker.kwargs.items()})
    test_dir = Path(str(request.path)).parent

    def check(
        baseline: str | Path | None = None,
        *,
        encoder: str | None = None,
        tasks: Sequence[str] | None = None,
        tolerance: float | None = None,
        config: str | Path | None = None,
        label: str | None = None,
        **encoder_options: Any,
    ) -> Any:
        from harness.catalog import TaskRef
        from harness.checks import baseline as checking
        from harness.pluginhost import get_host
        from harness.running.runner import RunOptions, run

        baseline = baseline or defaults.get("baseline")
        encoder = encoder or defaults.get("encoder")
        tasks = tasks or defaults.get("tasks")
        tolerance = tolerance if tolerance is not None else defaults.get("tolerance")
        config = config or defaults.get("config")
        if baseline is None or encoder is None:
            raise pytest.UsageError(f"harness_check needs a baseline and an encoder (arguments or @{MARKER})")
        path = _locate(Path(baseline), test_dir)
        update = request.config.getoption("--harness-update")
        entries = [] if update and not path.is_file() else checking.read_baseline(path)
        catalog = get_host().catalog
        who = label or catalog.result_label(encoder, encoder_options)  # bad options fail here, as in harness run
        entries = [e for e in entries if e["encoder"] == who]
        refs = list(tasks) if tasks else [f"{e['task']}@{e['split']}" for e in entries]
        if not refs:
            raise pytest.UsageError(f"{path}: no entries for encoder {who!r}; give tasks= and run --harness-update")
        results = tmp_path / "harness-results"
        options = RunOptions(
            out_dir=results, encoder_options=encoder_options, label=label, progress=False,
            data_dir=request.config.getoption("--harness-data-dir"), cache=False,  # a check recomputes
        )  # fmt: skip
        outcome = run(catalog, encoder, catalog.task_refs(refs, None), options)
        errors = [f"{o.ref}: {o.error}" for o in outcome.failed]
        if update and not errors:
            checking.update_baseline(path, results, who)
            return checking.CheckReport([])
        tolerances = checking.Tolerances.load(_locate(Path(config), test_dir) if config else None, tolerance)
        wanted = {catalog.qualified(TaskRef.parse(r)) for r in refs}
        selected = [e for e in entries if f"{e['task']}@{e['split']}" in wanted]
        report = checking.check(selected, checking.current_results(results), tolerances, run_errors=errors)
        if report.exit_code != checking.EXIT_PASS:
            pytest.fail(checking.markdown_report(report), pytrace=False)
        return report

    return check


def _locate(path: Path, test_dir: Path) -> Path:
    if path.is_absolute():
        return path
    beside = test_dir / path
    return beside if beside.exists() or not path.exists() else path
