"""``harness check``: exit codes, comparability, tolerances, reports, and the pytest plugin."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import TextKind, hookimpl
from harness.checks.baseline import Tolerances, read_baseline
from harness.cli import main
from harness.pluginhost import get_host
from harness.plugins.baselines.hashing import HashedBagOfWords

NOISE_VARIABLE = "HARNESS_TEST_NOISE"


class NoisyBagOfWords(HashedBagOfWords):
    """hash-bow with noise the fingerprint does not show: a planted bug, as a regression looks in real life."""

    def encode(self, texts, kind: TextKind) -> np.ndarray:
        vectors = super().encode(texts, kind)
        sigma = float(os.environ.get(NOISE_VARIABLE, "0"))
        if sigma:
            rng = np.random.default_rng(0)
            vectors = vectors + rng.normal(0, sigma, vectors.shape).astype(np.float32)
        return vectors


class NoisyPlugin:
    @hookimpl
    def harness_register_encoders(self, register: Any) -> None:
        register("noisy-bow", lambda settings: NoisyBagOfWords(), "hash-bow plus noise from $HARNESS_TEST_NOISE")


@pytest.fixture
def noisy_plugin():
    host = get_host()
    host.register(NoisyPlugin(), name="noisy")
    yield host
    host.unregister(name="noisy")


@pytest.fixture
def user_sts(tmp_path: Path) -> Path:
    rows = [
        ("A man is playing a guitar.", "A person plays the guitar.", 4.6),
        ("A dog runs in the park.", "The stock market fell today.", 0.2),
        ("Kids are swimming in a lake.", "Children swim in a lake.", 4.8),
        ("A woman slices an onion.", "Someone is cutting an onion.", 4.2),
        ("The train left the station.", "A cat sleeps on the sofa.", 0.1),
        ("Two men are boxing.", "Two men fight in a ring.", 3.9),
    ]
    path = tmp_path / "mini-sts.jsonl"
    path.write_text("".join(json.dumps({"sentence1": a, "sentence2": b, "score": s}) + "\n" for a, b, s in rows))
    return path


def make_baseline(tmp_path: Path, encoder: str, tasks: str) -> Path:
    results = tmp_path / "baseline-results"
    assert main(["run", "--encoder", encoder, "--tasks", tasks, "--out", str(results), "--no-progress"]) == 0
    baseline = tmp_path / "baseline.json"
    assert main(["check", "--baseline", str(baseline), "--results", str(results), "--update"]) == 0
    return baseline


def check(baseline: Path, tmp_path: Path, encoder: str, *extra: str) -> int:
    out = tmp_path / "current"
    shutil.rmtree(out, ignore_errors=True)
    return main(["check", "--baseline", str(baseline), "--run", "--encoder", encoder, "--results", str(out), *extra])


def test_unchanged_run_passes_and_planted_noise_is_a_regression(
    noisy_plugin, tmp_path: Path, monkeypatch, capsys
) -> None:
    baseline = make_baseline(tmp_path, "noisy-bow", "stsb,sickr")
    entries = read_baseline(baseline)
    assert {(e["task"], e["split"]) for e in entries} == {("stsb", "test"), ("sickr", "test")}
    capsys.readouterr()

    assert check(baseline, tmp_path, "noisy-bow") == 0
    assert "2 ok (exit 0)" in capsys.readouterr().out

    monkeypatch.setenv(NOISE_VARIABLE, "0.08")
    code = check(baseline, tmp_path, "noisy-bow", "--report", "md", str(tmp_path / "r.md"))
    out = capsys.readouterr().out
    assert code == 1
    assert "regression" in out and "stsb@test" in out
    drops = [line for line in out.splitlines() if "regression" in line and "stsb@test" in line]
    assert drops and "-0." in drops[0], out  # the drop is printed, signed
    assert "❌ regression | noisy-bow | stsb@test" in (tmp_path / "r.md").read_text()


def test_changed_dataset_is_incomparable_not_a_regression(tmp_path: Path, user_sts: Path, capsys) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", f"sts:{user_sts}")
    lines = user_sts.read_text().splitlines()
    user_sts.write_text("\n".join(lines[:-1]) + "\n")  # one pair fewer: another dataset
    capsys.readouterr()
    code = check(baseline, tmp_path, "hash-bow", "--report", "json", str(tmp_path / "r.json"))
    out = capsys.readouterr().out
    assert code == 3
    assert "incomparable" in out and "dataset files differ" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 3 and report["findings"][0]["status"] == "incomparable"


def test_other_encoder_fingerprint_is_incomparable(tmp_path: Path, capsys) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    data = json.loads(baseline.read_text())
    data["entries"][0]["fingerprint_sha256"] = "0" * 64
    baseline.write_text(json.dumps(data))
    assert check(baseline, tmp_path, "hash-bow") == 3
    assert "encoder fingerprint differs" in capsys.readouterr().out


def test_improvements_are_reported_and_never_fail(tmp_path: Path, capsys) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    data = json.loads(baseline.read_text())
    data["entries"][0]["main_score"] -= 0.05
    baseline.write_text(json.dumps(data))
    assert check(baseline, tmp_path, "hash-bow") == 0
    assert "improved" in capsys.readouterr().out


def test_missing_result_and_failed_run_are_run_errors(tmp_path: Path, capsys) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    empty = tmp_path / "empty"
    (empty / "x").mkdir(parents=True)
    assert main(["check", "--baseline", str(baseline), "--results", str(empty)]) == 4
    assert "missing" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["check", "--baseline", str(tmp_path / "none.json"), "--results", str(tmp_path)]) == 2
    assert "baseline not found (create one with --update)" in capsys.readouterr().err
    not_baseline = tmp_path / "b.json"
    not_baseline.write_text('{"entries": []}')
    assert main(["check", "--baseline", str(not_baseline), "--results", str(tmp_path)]) == 2
    assert "not a harness baseline" in capsys.readouterr().err
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    bad_config = tmp_path / "tol.toml"
    bad_config.write_text("[tolerance\n")
    assert check(baseline, tmp_path, "hash-bow", "--config", str(bad_config)) == 2
    assert "invalid TOML" in capsys.readouterr().err
    assert check(baseline, tmp_path, "hash-bow", "--report", "html", "x") == 2


def test_tolerances_by_task_family_and_seed_noise(tmp_path: Path) -> None:
    config = tmp_path / "check.toml"
    config.write_text(
        "[tolerance]\ndefault = 0.004\nnoise_sigmas = 2\n[tolerance.family]\nretrieval = 0.01\n"
        '[tolerance.task]\n"sickr@full" = 0.001\nstsb = 0.002\n'
    )
    tolerances = Tolerances.load(config)
    entry = {"task": "scifact", "split": "test", "family": "retrieval"}
    assert tolerances.for_entry(entry) == (0.01, "family retrieval")
    assert tolerances.for_entry({"task": "sickr", "split": "full", "family": "sts"}) == (0.001, "task sickr@full")
    assert tolerances.for_entry({"task": "stsb", "split": "dev", "family": "sts"}) == (0.002, "task stsb")
    assert tolerances.for_entry({"task": "sts12", "split": "test", "family": "sts"}) == (0.004, "default")
    noisy = {"task": "mr", "split": "test", "family": "classification", "seed_std": 0.006}
    assert tolerances.for_entry(noisy) == (pytest.approx(0.012), "2 x seed std")
    assert Tolerances.load(config, default=0.02).default == 0.02
    assert Tolerances(noise_aware=False).for_entry(noisy)[0] == 0.005


def test_all_metrics_checks_every_score(tmp_path: Path, capsys) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    data = json.loads(baseline.read_text())
    data["entries"][0]["metrics"]["manhattan_pearson"] += 0.1
    baseline.write_text(json.dumps(data))
    assert check(baseline, tmp_path, "hash-bow") == 0
    assert check(baseline, tmp_path, "hash-bow", "--all-metrics") == 1
    assert "manhattan_pearson" in capsys.readouterr().out


def test_pytest_plugin_guards_a_model_test_suite(pytester: pytest.Pytester, tmp_path: Path) -> None:
    baseline = make_baseline(tmp_path, "hash-bow", "stsb")
    shutil.copy(baseline, pytester.path / "baseline.json")
    tampered = json.loads(baseline.read_text())
    tampered["entries"][0]["main_score"] += 0.05
    (pytester.path / "raised.json").write_text(json.dumps(tampered))
    pytester.makepyfile(
        test_model="""
        import pytest

        @pytest.mark.harness_baseline("baseline.json", encoder="hash-bow")
        def test_no_regression(harness_check):
            report = harness_check()
            assert report.count("ok") == 1

        def test_against_a_higher_baseline(harness_check):
            harness_check("raised.json", encoder="hash-bow", tasks=["stsb"])
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*regression | hash-bow | stsb@test*"])


def test_encoder_settings_are_not_needed_for_hash_bow() -> None:
    encoder = get_host().catalog.build_encoder("hash-bow", {})
    vectors = encoder.encode(["the cat sat", "the cat sat", ""], TextKind.TEXT)
    assert np.allclose(vectors[0], vectors[1]) and not vectors[2].any()
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
