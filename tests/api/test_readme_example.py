"""The plugin example in the README works as printed."""

from __future__ import annotations

import re
import types
from pathlib import Path

from harness import pluginhost
from harness.cli import main
from helpers import REPO

README = REPO / "README.md"


def test_readme_plugin_example_runs(tmp_path: Path, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    source = next(b for b in blocks if "harness_register_encoders" in b)
    module = types.ModuleType("my_harness_plugin")
    exec(compile(source, "README.md", "exec"), module.__dict__)
    pluginhost.get_host().register(module, name="my_harness_plugin")
    assert main(["run", "--encoder", "hashed-words", "--tasks", "stsb", "--out", str(tmp_path)]) == 0
    assert "stsb@test: cosine_spearman" in capsys.readouterr().out
    assert main(["run", "--encoder", "hashed-words", "-o", "dim=64", "--tasks", "stsb", "--out", str(tmp_path)]) == 0
    (wide,) = (tmp_path / "hashed-words").glob("stsb@*.json")
    (narrow,) = (tmp_path / "hashed-words-dim-64").glob("stsb@*.json")
    assert '"dim": 64' in narrow.read_text() and '"dim": 256' in wide.read_text()
    assert main(["run", "--encoder", "hashed-words", "-o", "dim=0", "--tasks", "stsb", "--out", str(tmp_path)]) == 2
