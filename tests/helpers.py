"""Helpers shared by the tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
"""The tests' folder (test modules sit in subfolders by role; shared helpers, fakes and fixtures sit here)."""
REPO = TESTS.parent


def harness_cli(
    args: list[str],
    *,
    site: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``harness`` command in a subprocess."""
    full_env = dict(os.environ)
    full_env.pop("HARNESS_LOAD_PLUGINS", None)
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), full_env.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        # Never the repository root: its harness/ folder must not shadow the installed package.
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or Path.home(),
        timeout=timeout,
    )


TINY_WORDS = "the a man dog cat plays runs guitar park is in on sleeps sofa".split()
"""The whole vocabulary of the tiny test models (plus BERT's five special tokens)."""


def build_tiny_bert(folder: Path) -> Path:
    """A one-layer random BERT (hidden size 16) with its tokenizer, saved to ``folder``: loads in milliseconds."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS]
    vocab_file = folder.parent / f"{folder.name}-vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(vocab_file)).save_pretrained(folder)
    return folder


def build_tiny_sbert(folder: Path) -> Path:
    """The tiny BERT as a sentence-transformers model (mean pooling, normalised, 32 tokens); returns its folder."""
    from sentence_transformers import SentenceTransformer, models

    hf_dir = build_tiny_bert(folder / "hf")
    transformer = models.Transformer(str(hf_dir), max_seq_length=32)
    width = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    model_dir = folder / "model"
    SentenceTransformer(modules=[transformer, models.Pooling(width(), pooling_mode="mean"), models.Normalize()]).save(
        str(model_dir)
    )
    return model_dir


def schema_validator(name: str) -> Any:
    """A validator for one of the harness's JSON schemas, with format checks (dates) switched on."""
    import jsonschema

    from harness.results.files import SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@dataclass
class CliResult:
    """What one ``harness`` command did: its exit code, what it printed, and the result files it left."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.out + self.err).splitlines() if line.strip()]

    @property
    def error(self) -> str:
        """The one ``harness: error:`` line (asserting there is exactly one, and no traceback)."""
        errors = [line for line in self.err.splitlines() if line.startswith("harness: error: ")]
        assert len(errors) == 1 and "Traceback" not in self.err, self.err
        return errors[0].removeprefix("harness: error: ")

    @property
    def failure(self) -> str:
        """The one ``TASK@SPLIT: FAILED: ...`` line of a run whose task failed (and no traceback)."""
        return failure_line(self.err)

    def __iter__(self) -> Iterator[Any]:
        """``code, out, err = result``."""
        return iter((self.code, self.out, self.err))

    def __getitem__(self, index: int) -> Any:
        return (self.code, self.out, self.err)[index]


def failure_line(err: str) -> str:
    """The one ``TASK@SPLIT: FAILED: ...`` line in a run's stderr, asserting there is exactly one and no traceback."""
    lines = [line for line in err.splitlines() if "FAILED" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def run_harness(capsys: Any, *args: str | Path) -> CliResult:
    """Run ``harness ARGS...`` in-process through its real entry point, capturing what it printed."""
    from harness.cli import main

    capsys.readouterr()  # what came before is not this command's
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def read_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Every result file under ``folder`` as ``{"ENCODER-LABEL/TASK@SPLIT": record}`` (the label as recorded)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).rglob("*@*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[f"{record['encoder']['name']}/{record['task']['name']}@{record['task']['split']}"] = record
    return found


def function_source(reference: str) -> str:
    """The source of the test ``MODULE::NAME`` (``MODULE`` relative to ``tests/``), for the flag and option catalogues."""
    import ast

    module, _, name = reference.partition("::")
    text = (TESTS / module).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(text, node) or ""
    raise AssertionError(f"{reference}: no such test")
