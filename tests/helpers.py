"""Helpers shared by the tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import inspect
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


def build_tiny_bert(folder: Path, *, max_positions: int = 64) -> Path:
    """A one-layer random BERT (hidden size 16) with its tokenizer, saved to ``folder``: loads in milliseconds.

    ``max_positions``: OpenVINO's static int8 calibration pads every sample to 384 tokens, so it needs 384 or more.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )
    BertModel(config).save_pretrained(folder)
    # transformers 5 takes the vocabulary as ``vocab`` (and drops ``vocab_file`` silently: every word was [UNK]);
    # 4.x, which the fast-path env pins, takes ``vocab_file``.
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:
        tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})
    else:
        vocab_file = folder.parent / f"{folder.name}-vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizerFast(vocab_file=str(vocab_file))
    unknown = tokenizer.convert_tokens_to_ids("[UNK]")
    assert unknown not in tokenizer(" ".join(TINY_WORDS[:5]))["input_ids"], "the tiny tokenizer lost its vocabulary"
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_sbert(folder: Path, *, max_positions: int = 64) -> Path:
    """The tiny BERT as a sentence-transformers model (mean pooling, normalised, 32 tokens); returns its folder."""
    from sentence_transformers import SentenceTransformer, models

    hf_dir = build_tiny_bert(folder / "hf", max_positions=max_positions)
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


def chromium() -> str | None:
    """The headless browser the page tests render with (Debian's ``chromium``), or ``None`` where there is none."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class RenderedPage:
    """What headless Chromium made of a page: the DOM after its scripts ran, its console, and a screenshot."""

    dom: str
    console: list[str]
    """Chromium's ``CONSOLE`` log lines (uncaught exceptions among them); the harness's pages log nothing."""
    screenshot: Path
    images: dict[str, tuple[int, int]]
    """Each ``<img>``'s class -> the size Chromium decoded it to (``naturalWidth`` x ``naturalHeight``; 0 x 0: broken)."""

    @property
    def script_errors(self) -> list[str]:
        return [line for line in self.console if "Uncaught" in line or "Error" in line]

    def pixels_near(self, colour: str, tolerance: int = 6) -> int:
        """How many screenshot pixels are within ``tolerance`` (per channel) of ``#rrggbb``: a drawn figure's colour."""
        import numpy as np
        from PIL import Image

        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        image = np.asarray(Image.open(self.screenshot).convert("RGB")).astype(int)
        return int((np.abs(image - target).max(axis=2) <= tolerance).sum())


IMAGE_PROBE = (
    '<script>addEventListener("load", function () { document.querySelectorAll("img").forEach(function (i) '
    '{ i.dataset.decoded = i.naturalWidth + "x" + i.naturalHeight; }); });</script>'
)
"""Appended to a copy of the page for the DOM dump: each image's decoded size lands in the DOM as an attribute."""


def render_in_chromium(page: Path, screenshot: Path, window: tuple[int, int] = (1280, 1000)) -> RenderedPage:
    """Load ``page`` from disk in headless Chromium twice: ``--dump-dom`` (with console logging) and ``--screenshot``.

    ``--enable-logging=stderr`` is what makes Chromium print the page's console (an uncaught exception is a
    ``CONSOLE`` line); without it a script error leaves no trace on stderr.  The DOM is dumped from a copy of the
    page with :data:`IMAGE_PROBE` added, so a figure whose inline PNG does not decode shows as 0 x 0.
    """
    import re

    probe = page.with_name(f".{page.stem}.probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", f"{IMAGE_PROBE}</body>"), encoding="utf-8")
    browser = chromium()
    assert browser is not None, "no Chromium: skip the test with @pytest.mark.skipif(chromium() is None, ...)"
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={window[0]},{window[1]}",
            "--hide-scrollbars"]  # fmt: skip
    dom = subprocess.run([*base, "--enable-logging=stderr", "--v=0", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    probe.unlink()
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = {}
    for tag in re.findall(r"<img\b[^>]*>", dom.stdout):
        css = re.search(r'class="([^"]*)"', tag)
        size = re.search(r'data-decoded="(\d+)x(\d+)"', tag)
        images[css.group(1) if css else ""] = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    shot = subprocess.run([*base, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return RenderedPage(dom.stdout.replace(IMAGE_PROBE, ""), console, screenshot, images)
