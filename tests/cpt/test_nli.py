"""NLI fine-tuning: ``harness mine-pairs nli`` builds (premise, entailment, contradiction) pairs from SNLI and
MultiNLI, and ``harness train --init RUN`` fine-tunes a trained cpt model on them.

``fixtures/snli_1.0_dev_head.jsonl`` is the first 69 lines of SNLI 1.0's ``snli_1.0_dev.jsonl``, unchanged, from a
public copy of the release (Deltaus/sBiMPM ``snli_1.0/snli_1.0_dev.jsonl``): 23 premises, one line with gold label
``-`` (line 67), three premises without an entailment.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from harness.encoders.checkpoint import load_model, weights_sha256
from harness.encoders.training.loss import contrastive_loss
from harness.encoders.training.mining import NLI_TRAIN_FILES, NliReport, mine_nli_pairs
from harness.encoders.training.pairs import Pair, read_pairs
from harness.encoders.training.schedule import PairOrder
from harness.encoders.training.trainer import tokenize_pairs
from harness.pluginhost import get_host
from helpers import read_results

FIXTURE = Path(__file__).parent / "fixtures" / "snli_1.0_dev_head.jsonl"
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
TRAIN = ["--preset", "cpt-micro", "--max-length", "32", "--batch-size", "8", "--lr", "3e-3", "--save-every", "2"]


def lines(*numbers: int) -> list[str]:
    """Lines of the SNLI fixture by their 1-based number."""
    return [LINES[n - 1] for n in numbers]


def write_jsonl(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def triples(pairs: list[Pair]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.x, p.y, p.negatives) for p in pairs]


# --------------------------------------------------------------------------- pair construction, checked by hand


def test_pairs_by_hand_from_real_snli_lines(tmp_path: Path) -> None:
    """One pair per premise: first entailment, first contradiction; '-' lines, repeats and half premises dropped."""
    rows = lines(
        1, 2, 3,  # neutral, entailment, contradiction: a pair
        19, 20, 21,  # one entailment, two contradictions: the first contradiction
        28, 29, 30,  # contradictions only: no pair
        67, 68, 69,  # '-' (the would-be entailment), contradiction, neutral: no pair
        22, 23,  # entailment and neutral, its contradiction (line 24) left out: dropped, as SimCSE drops it
        2,  # line 2 again: a repeat, read once
    )  # fmt: skip
    path = write_jsonl(tmp_path / "snli.jsonl", rows)
    report = NliReport()
    pairs = list(mine_nli_pairs([(path, "snli.jsonl")], report=report))
    cartwheel = "A woman is doing a cartwheel while wearing a bikini in the sand next to the beach."
    assert triples(pairs) == [
        (
            "Two women are embracing while holding to go packages.",
            "Two woman are holding packages.",
            ("The men are fighting outside a deli.",),
        ),
        (cartwheel, "A woman is doing a cartwheel.", ("A woman is fixing her home.",)),
    ]
    assert [p.source for p in pairs] == ["snli.jsonl:2", "snli.jsonl:4"]  # the entailment's line in this file
    assert (report.lines, report.no_consensus, report.repeated, report.files_seen) == (15, 1, 1, 1)
    assert (report.premises, report.without_entailment, report.without_contradiction, report.pairs) == (5, 2, 1, 2)
    assert report.summary().startswith("mined 2 (premise, entailment, contradiction) pairs from 1 files (15 lines")


def test_several_hypotheses_conflicts_and_whitespace(tmp_path: Path) -> None:
    """A real MultiNLI line (its premise starts with a space) grouped with made-up lines of the same premise."""
    mnli = (
        '{"annotator_labels": ["entailment", "neutral", "entailment", "neutral", "entailment"], "genre": "oup", '
        '"gold_label": "entailment", "pairID": "82890e", "promptID": "82890", "sentence1": " From Home Work to '
        'Modern Manufacture", "sentence2": "Modern manufacturing has changed over time."}'
    )

    def line(gold: str, hypothesis: str) -> str:
        return json.dumps(
            {"gold_label": gold, "sentence1": "From Home Work to Modern Manufacture ", "sentence2": hypothesis}
        )

    rows = [
        mnli,
        line("entailment", "Manufacturing has a history."),
        line("neutral", "Both words start with M."),
        line("contradiction", "Both words start with M."),  # under two labels: no choice
        line("contradiction", "Nothing was ever manufactured."),
        line("contradiction", "Homes never had work in them."),
        line("entailment", "   "),  # blank hypothesis
        line("entailment", "From Home Work to Modern Manufacture"),  # the premise itself
    ]
    path = write_jsonl(tmp_path / "mnli.jsonl", rows)
    report = NliReport()
    (pair,) = mine_nli_pairs([(path, "mnli.jsonl")], report=report)
    assert (pair.x, pair.y, pair.negatives) == (
        "From Home Work to Modern Manufacture",
        "Modern manufacturing has changed over time.",
        ("Nothing was ever manufactured.",),
    )
    assert (report.premises, report.unused_entailments, report.conflicting) == (1, 1, 1)
    assert (report.blank, report.same_as_premise) == (1, 1)


# --------------------------------------------------------------------------- harness mine-pairs nli


def test_mine_pairs_nli_writes_pairs_that_train_reads(cli, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    mined = cli("mine-pairs", "nli", FIXTURE, "--out", out)
    assert mined.code == 0, mined.err
    assert "mined 20 (premise, entailment, contradiction) pairs" in mined.out
    assert "1 without a gold label ('-')" in mined.out and "3 without an entailment" in mined.out
    pairs = read_pairs(out)
    assert len(pairs) == 20 and all(len(p.negatives) == 1 for p in pairs)
    assert len({p.x for p in pairs}) == 20
    premises = {json.loads(line)["sentence1"] for line in LINES}
    assert {p.x for p in pairs} <= premises
    assert (
        "The middle eastern woman wearing the pink headscarf is walking beside a woman in a purple headscarf."
        not in {p.x for p in pairs}
    )  # its entailment line has gold label '-'


def test_mine_pairs_nli_finds_the_registry_files_in_the_data_dir(cli, tmp_path: Path, monkeypatch) -> None:
    registry = get_host().catalog.datasets
    for name, relative in NLI_TRAIN_FILES.items():  # the registry entries provide what the miner looks for
        dataset = registry.get(name)
        assert dataset.family == "nli" and dataset.provides(relative) and dataset.pinning == "sha256"
    root = tmp_path / "data"
    (root / "snli_1.0").mkdir(parents=True)
    write_jsonl(root / "snli_1.0" / "snli_1.0_train.jsonl", LINES)
    by_file = tmp_path / "by-file.jsonl"
    assert cli("mine-pairs", "nli", FIXTURE, "--out", by_file).code == 0

    from_root = tmp_path / "from-root.jsonl"
    mined = cli("mine-pairs", "nli", "--datasets", "snli", "--data-dir", root, "--out", from_root)
    assert mined.code == 0, mined.err
    assert triples(read_pairs(from_root)) == triples(read_pairs(by_file))
    assert read_pairs(from_root)[0].source == "snli_1.0/snli_1.0_train.jsonl:2"

    monkeypatch.setenv("HARNESS_DATA_DIR", str(root))
    from_env = tmp_path / "from-env.jsonl"
    assert cli("mine-pairs", "nli", "--datasets", "snli", "--out", from_env).code == 0
    assert from_env.read_bytes() == from_root.read_bytes()

    both = cli("mine-pairs", "nli", "--data-dir", root, "--out", tmp_path / "both.jsonl")  # multinli is missing
    assert both.code == 1 and not (tmp_path / "both.jsonl").exists()
    assert both.error.startswith("multinli_1.0/multinli_1.0_train.jsonl: not found (looked in: ")
    assert "harness data fetch multinli" in both.error and "--download" in both.error

    mixed = cli("mine-pairs", "nli", FIXTURE, "--data-dir", root, "--out", tmp_path / "x.jsonl")
    assert mixed.code == 2 and "give FILEs or --datasets/--data-dir/--download, not both" in mixed.error
    unknown = cli("mine-pairs", "nli", "--datasets", "snli,xnli", "--out", tmp_path / "x.jsonl")
    assert unknown.code == 2 and unknown.error == "--datasets: 'xnli' is not an NLI dataset; known: snli, multinli"


def test_mine_pairs_nli_shards_split_the_premises(cli, tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl"
    assert cli("mine-pairs", "nli", FIXTURE, "--out", whole).code == 0
    parts = tmp_path / "parts"
    for index in range(2):
        mined = cli("mine-pairs", "nli", FIXTURE, "--out", parts, "--shard", f"{index}/2", "--pairs-per-file", "4")
        assert mined.code == 0, mined.err
        assert "of other shards" in mined.out
    shards = [
        [p for part in sorted(parts.glob(f"part-{index:05d}-*.jsonl")) for p in triples(read_pairs(part))]
        for index in range(2)
    ]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(triples(read_pairs(whole)))
    assert all(len(read_pairs(part)) <= 4 for part in parts.iterdir())


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ('{"gold_label": "entailment", "sentence1": "a", ', "invalid JSON"),
        ('["entailment", "a", "b"]', "expected a JSON object, found list"),
        ('{"sentence1": "a", "sentence2": "b"}', "missing field 'gold_label' (an unlabelled test file?"),
        ('{"gold_label": "maybe", "sentence1": "a", "sentence2": "b"}', "field 'gold_label' is 'maybe'; expected"),
        (
            '{"gold_label": "neutral", "sentence1": 3, "sentence2": "b"}',
            "field 'sentence1' must be a string, found int",
        ),
        ('{"gold_label": "neutral", "sentence1": "a"}', "missing field 'sentence2'"),
        (b'{"gold_label": "neutral", "sentence1": "caf\xe9", "sentence2": "b"}', "not UTF-8 (byte 0xe9 at column 44)"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_line_and_field(
    cli, tmp_path: Path, bad: str | bytes, expected: str
) -> None:
    path = tmp_path / "nli.jsonl"
    path.write_bytes(LINES[0].encode() + b"\n" + (bad if isinstance(bad, bytes) else bad.encode()) + b"\n")
    out = tmp_path / "pairs.jsonl"
    result = cli("mine-pairs", "nli", path, "--out", out)
    assert result.code == 1 and result.error.startswith(f"{path}:2: ") and expected in result.error
    assert not out.exists()


# --------------------------------------------------------------------------- harness train --init


def _steps(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if "loss" in r]


def test_init_fine_tunes_from_the_checkpoint_weights(cli, tmp_path: Path) -> None:
    """The --init run's first loss is the checkpoint's loss on that batch; the result evaluates via harness run."""
    pairs = tmp_path / "nli.jsonl"
    assert cli("mine-pairs", "nli", FIXTURE, "--out", pairs).code == 0
    base = tmp_path / "base"
    trained = cli("train", *TRAIN, "--pairs", pairs, "--out", base, "--steps", "4", "--seed", "3")
    assert trained.code == 0, trained.err

    tuned = tmp_path / "tuned"
    result = cli("train", "--init", base, "--pairs", pairs, "--out", tuned, "--steps", "2", "--seed", "5",
                 "--batch-size", "8", "--lr", "1e-3", "--save-every", "2")  # fmt: skip
    assert result.code == 0, result.err

    # The loss the checkpoint gives on the --init run's first batch (seed 5), computed here from base/final.
    model = load_model(base / "final")
    batch = [read_pairs(pairs)[i] for i in PairOrder(20, 8, seed=5).batch(0)]
    tokens = tokenize_pairs(model, batch)
    with torch.no_grad():
        queries, documents = model(**tokens.queries), model(**tokens.documents)
        assert tokens.negatives is not None
        negatives = model(**tokens.negatives)
        expected = float(contrastive_loss(queries, documents, model.scale(), negatives))
    first = _steps(tuned)[0]
    assert first["step"] == 1 and first["loss"] == pytest.approx(expected, abs=2e-6)
    # ... which a bare micro model with the same seed does not give: the weights really came from base.
    bare = tmp_path / "bare"
    assert cli("train", *TRAIN, "--pairs", pairs, "--out", bare, "--steps", "1", "--seed", "5").code == 0
    assert _steps(bare)[0]["loss"] != pytest.approx(expected, abs=1e-3)

    # Fresh optimiser and schedule: steps 1 and 2 of its own, no resume; the start recorded by content.
    log = [json.loads(line) for line in (tuned / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in _steps(tuned)] == [1, 2] and not any(r.get("event") == "resumed" for r in log)
    settings = json.loads((tuned / "train_settings.json").read_text())
    assert settings["init_weights_sha256"] == weights_sha256(base / "final")
    assert (
        settings["init_config_sha256"] == hashlib.sha256((base / "final" / "cpt_config.json").read_bytes()).hexdigest()
    )
    assert settings["init_model_folder"] == str(base / "final") and settings["preset"] is None
    tuned_model = load_model(tuned / "final")
    assert tuned_model.config.preset == "cpt-micro" and tuned_model.config.max_length == 32

    out = tmp_path / "results"
    evaluated = cli("run", "--encoder", "cpt-micro", "--checkpoint", tuned, "--tasks", "stsb", "--out", out)
    assert evaluated.code == 0, evaluated.err
    (record,) = read_results(out).values()
    assert record["encoder"]["fingerprint"]["weights"]["weights_sha256"] == weights_sha256(tuned / "final")
    assert weights_sha256(tuned / "final") != weights_sha256(base / "final")
    assert -1 <= record["main_score"] <= 1

    again = cli("train", "--init", base, "--pairs", pairs, "--out", tuned, "--steps", "3", "--seed", "5",
                "--batch-size", "8", "--lr", "1e-3", "--save-every", "2")  # fmt: skip
    assert again.code == 0, again.err  # the same fine-tune, resumed (from its step-2 checkpoint) and extended
    assert [r["step"] for r in _steps(tuned)] == [1, 2, 3]


def test_init_refusals_are_one_line(cli, tmp_path: Path) -> None:
    pairs = tmp_path / "nli.jsonl"
    assert cli("mine-pairs", "nli", FIXTURE, "--out", pairs).code == 0
    base = tmp_path / "base"
    assert cli("train", *TRAIN, "--pairs", pairs, "--out", base, "--steps", "2").code == 0
    tuned = tmp_path / "tuned"
    assert cli("train", "--init", base, "--pairs", pairs, "--out", tuned, "--steps", "2", "--batch-size", "8").code == 0
    other = tmp_path / "other"
    assert (
        cli("train", "--init", tuned, "--pairs", pairs, "--out", other, "--steps", "2", "--batch-size", "8").code == 0
    )

    def refused(*args: str | Path) -> str:
        result = cli("train", "--pairs", pairs, "--steps", "2", "--batch-size", "8", *args)
        assert result.code in (1, 2), result.err
        return result.error

    (tmp_path / "empty").mkdir()
    assert refused("--init", tmp_path / "empty", "--out", tmp_path / "r1") == (
        f"--init {tmp_path / 'empty'}: not a cpt checkpoint (no cpt_config.json with safetensors weights in it, "
        "in its final/ or in its latest checkpoint); give a folder 'harness train' wrote"
    )
    assert "not a cpt checkpoint" in refused("--init", pairs, "--out", tmp_path / "r1")
    assert refused("--init", tmp_path / "missing", "--out", tmp_path / "r1").endswith("no such file or folder")
    assert "--preset cpt-text-tiny does not match --init" in refused(
        "--init", base, "--preset", "cpt-text-tiny", "--out", tmp_path / "r2"
    )
    assert "--backbone gguf:x does not match" in refused(
        "--init", base, "--backbone", "gguf:x", "--out", tmp_path / "r3"
    )
    assert "--delimiters special does not match" in refused(
        "--init", base, "--delimiters", "special", "--out", tmp_path / "r4"
    )
    # --init starts a new run: into a folder that holds another run it is refused, whichever way round.
    assert refused("--init", tuned, "--out", base) == (
        f"{base} holds a run that did not start from --init; --init starts a new run: use a new --out"
    )
    assert "holds a run fine-tuned from" in refused("--preset", "cpt-micro", "--out", tuned)
    assert f"not from --init {tuned / 'final'}" in refused("--init", tuned, "--out", tuned)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
