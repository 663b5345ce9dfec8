"""The training-pair format, text and code pair mining, and the ``mine-pairs`` subcommand."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from harness.encoders.training import mining_cli
from harness.encoders.training.mining import MiningReport, demo_text_corpus, mine_code_pairs, mine_text_pairs
from harness.encoders.training.pairs import Pair, read_pairs, write_pairs
from harness.errors import DataError, HarnessError, UsageError

# --------------------------------------------------------------------------- pairs format


def _jsonl(path: Path, *lines: str | bytes) -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(data)
    return path


GOOD = '{"x": "a question", "y": "an answer"}'


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ('{"x": "a", "y": ', "invalid JSON"),
        ('["a", "b"]', "expected a JSON object, found array"),
        ('{"y": "b"}', "missing field 'x'"),
        ('{"x": "a"}', "missing field 'y'"),
        ('{"x": 3, "y": "b"}', "field 'x' must be a string, found number"),
        ('{"x": "a", "y": ""}', "field 'y' is empty"),
        ('{"x": " \\t\\n", "y": "b"}', "field 'x' is only whitespace"),
        ('{"x": "a", "y": "b", "negatives": "c"}', "field 'negatives' must be a list of strings, found string"),
        ('{"x": "a", "y": "b", "negatives": ["c", 1]}', "field 'negatives[1]' must be a string"),
        ('{"x": "a", "y": "b", "negatives": ["c", " "]}', "field 'negatives[1]' is only whitespace"),
        ('{"x": "a", "y": "b", "source": 7}', "field 'source' must be a string"),
        ('{"x": "a", "y": "b", "negative": ["c"]}', "unknown field 'negative'"),
        (b'{"x": "caf\xe9", "y": "b"}', "not UTF-8 (byte 0xe9 at column 11)"),
    ],
)
def test_read_pairs_names_file_line_and_field(tmp_path: Path, bad: str | bytes, expected: str) -> None:
    path = _jsonl(tmp_path / "pairs.jsonl", GOOD, "", bad, GOOD)
    with pytest.raises(DataError) as info:
        read_pairs(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert expected in str(info.value)
    assert info.value.line == 3


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_read_pairs_refuses_an_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"empty\.jsonl: no pairs: the file is empty"):
        read_pairs(path)


def test_read_pairs_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_pairs(tmp_path / "absent.jsonl")


def test_negatives_must_be_none_or_the_same_count_everywhere(tmp_path: Path) -> None:
    two = '{"x": "a", "y": "b", "negatives": ["c", "d"]}'
    one = '{"x": "a", "y": "b", "negatives": ["c"]}'
    path = _jsonl(tmp_path / "ragged.jsonl", "", two, two, one)
    with pytest.raises(DataError) as info:
        read_pairs(path)
    assert info.value.line == 4
    assert "1 hard negative(s), but line 2 has 2" in str(info.value)

    path = _jsonl(tmp_path / "some.jsonl", two, GOOD)
    with pytest.raises(DataError, match=r"some\.jsonl:2: .*0 hard negative\(s\), but line 1 has 2"):
        read_pairs(path)

    path = _jsonl(tmp_path / "even.jsonl", two, '{"x": "e", "y": "f", "negatives": ["g", "h"], "source": "nli"}')
    pairs = read_pairs(path)
    assert [p.negatives for p in pairs] == [("c", "d"), ("g", "h")]
    assert pairs[1].source == "nli"


def test_round_trip_and_atomic_write(tmp_path: Path) -> None:
    pairs = [
        Pair("héllo\nworld", 'say "hi"', source="a.txt:1"),
        Pair("x2", "y2"),
    ]
    out = tmp_path / "sub" / "pairs.jsonl"
    assert write_pairs(iter(pairs), out) == 2
    assert read_pairs(out) == pairs
    assert read_pairs(out)[0].source == "a.txt:1"
    assert "héllo" in out.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert [p.name for p in out.parent.iterdir()] == ["pairs.jsonl"]  # no temp file left

    with_negatives = [{"x": "a", "y": "b", "negatives": ["c"]}, Pair("d", "e", ["f"])]
    assert write_pairs(with_negatives, out) == 2
    assert [p.negatives for p in read_pairs(out)] == [("c",), ("f",)]


def test_write_pairs_refuses_what_read_pairs_would_refuse(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    write_pairs([Pair("old", "file")], out)
    bad_inputs = [
        [Pair("a", "b"), {"x": "a", "y": "  "}],
        [Pair("a", "b", ("n",)), Pair("c", "d")],
        [Pair("a", "b"), Pair("", "d")],
        [],
    ]
    for bad in bad_inputs:
        with pytest.raises(DataError, match=r"pairs\.jsonl: "):
            write_pairs(bad, out)
        assert read_pairs(out) == [Pair("old", "file")]  # the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]


# --------------------------------------------------------------------------- text mining


def _words(tag: str, count: int) -> str:
    """Distinct words made of letters (digits would make the text look like markup)."""
    return " ".join(f"{tag}{_letters(i)}" for i in range(count))


def _letters(number: int) -> str:
    return "".join(chr(ord("a") + int(d)) for d in str(number))


def _text_folder(root: Path) -> Path:
    root.mkdir()
    (root / "b.md").write_text(
        "\n".join(
            [
                "# Title",
                "",
                _words("alpha", 10),
                "",
                "```",
                _words("code", 20),
                "```",
                "",
                "=========",
                "",
                _words("beta", 10),
                "",
                "| a | b | c | d | e | f | g | h | i |",
                "| 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |",
                "",
                _words("gamma", 25),  # cut into two spans of at most 20 words
            ]
        ),
        encoding="utf-8",
    )
    (root / "sub").mkdir()
    (root / "sub" / "a.txt").write_text(f"{_words('one', 8)}\n\nshort\n\n{_words('two', 8)}\n", encoding="utf-8")
    # The same two paragraphs again: identical pairs are mined once.
    (root / "sub" / "copy.rst").write_text(f"{_words('one', 8)}\n\n{_words('two', 8)}\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes(b"caf\xe9 " * 20)
    (root / "ignored.html").write_text(_words("html", 30), encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.txt").write_text(f"{_words('h', 10)}\n\n{_words('i', 10)}", encoding="utf-8")
    return root


def test_text_pairs_are_neighbouring_spans(tmp_path: Path) -> None:
    folder = _text_folder(tmp_path / "corpus")
    report = MiningReport()
    pairs = list(mine_text_pairs(folder, min_words=5, max_words=20, report=report))
    gamma = _words("gamma", 25).split()
    assert [(p.x, p.y) for p in pairs] == [
        (_words("alpha", 10), _words("beta", 10)),
        (_words("beta", 10), " ".join(gamma[:12])),
        (" ".join(gamma[:12]), " ".join(gamma[12:])),
        (_words("one", 8), _words("two", 8)),
    ]
    assert [p.source for p in pairs] == ["b.md:3", "b.md:11", "b.md:16", "sub/a.txt:1"]
    assert report.files_seen == 4  # b.md, latin1.txt, sub/a.txt, sub/copy.rst
    assert report.skipped == {"not UTF-8": 1}
    assert report.skipped_files == [("latin1.txt", "not UTF-8")]
    assert report.duplicates == 1
    assert report.pairs == 4
    assert report.summary("out.jsonl") == "mined 4 pairs from 4 files (1 skipped: 1 not UTF-8) -> out.jsonl"


def test_text_mining_is_deterministic_and_samples_by_seed(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for doc in range(6):
        paragraphs = [_words(f"doc{_letters(doc)}par{_letters(i)}w", 6) for i in range(5)]
        (folder / f"{doc}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    everything = list(mine_text_pairs(folder, min_words=3))
    assert len(everything) == 24
    assert everything == list(mine_text_pairs(folder, min_words=3))

    sample = list(mine_text_pairs(folder, min_words=3, max_pairs=5, seed=1))
    assert sample == list(mine_text_pairs(folder, min_words=3, max_pairs=5, seed=1))
    assert len(sample) == 5
    positions = [everything.index(p) for p in sample]
    assert positions == sorted(positions)  # a sample, in corpus order
    assert positions != list(range(5))  # not just the first files
    assert sample != list(mine_text_pairs(folder, min_words=3, max_pairs=5, seed=2))


def test_text_mining_checks_its_arguments_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        mine_text_pairs(tmp_path / "absent")
    with pytest.raises(UsageError, match="must not exceed"):
        mine_text_pairs(tmp_path, min_words=10, max_words=5)
    with pytest.raises(UsageError, match="max_pairs"):
        mine_text_pairs(tmp_path, max_pairs=0)


def test_demo_text_corpus_always_has_pydoc_topics(tmp_path: Path) -> None:
    folder = demo_text_corpus(tmp_path / "demo", doc_roots=[])
    topics = sorted((folder / "pydoc-topics").glob("*.txt"))
    assert len(topics) > 20
    assert next(mine_text_pairs(folder, max_pairs=1)).x


# --------------------------------------------------------------------------- code mining

MODULE = '''
import asyncio


def no_docstring(a):
    b = a + 1
    return b


@staticmethod
def top(a, b):
    """Add two numbers together.

    Args:
        a: first.
    """

    total = a + b
    return total


class Outer:
    """A class docstring is not a function docstring."""

    def method(self, value):
        """Store the value on the instance."""
        self.value = value
        return self

    class Inner:
        def nested(self):
            """Return the answer to everything.
            Longer explanation on a second line.
            """
            answer = 42
            return answer


async def fetch(url):
    """Fetch a page without blocking."""
    await asyncio.sleep(0)
    return url


def short(a):
    """Too short a body to learn from."""
    return a
'''


def _code_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text(MODULE, encoding="utf-8")
    (root / "pkg" / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    (root / "pkg" / "latin.py").write_bytes(b"x = '\xe9'\n")
    (root / "pkg" / "test_mod.py").write_text(
        'def test_it():\n    """Check that it works fine."""\n    a = 1\n    assert a\n', encoding="utf-8"
    )
    (root / "tests").mkdir()
    (root / "tests" / "helper.py").write_text(MODULE.replace("Add two", "Sum two"), encoding="utf-8")
    return root


def test_code_pairs_from_functions_methods_async_and_nested_classes(tmp_path: Path) -> None:
    tree = _code_tree(tmp_path / "tree")
    report = MiningReport()
    pairs = list(mine_code_pairs(tree, report=report))
    assert [p.source for p in pairs] == [
        "pkg/mod.py:11 top",
        "pkg/mod.py:25 Outer.method",
        "pkg/mod.py:31 Outer.Inner.nested",
        "pkg/mod.py:39 fetch",
    ]
    by_name = {p.source.split()[-1]: p for p in pairs}
    assert by_name["top"].x == "Add two numbers together."
    assert by_name["top"].y == "@staticmethod\ndef top(a, b):\n    total = a + b\n    return total"
    assert by_name["Outer.method"].y == (
        "def method(self, value):\n    self.value = value\n    return self"
    )  # dedented from the class body
    assert by_name["Outer.Inner.nested"].x == "Return the answer to everything. Longer explanation on a second line."
    assert by_name["fetch"].y.startswith("async def fetch(url):\n    await")
    assert all('"""' not in p.y for p in pairs)

    assert report.files_seen == 5
    assert report.skipped == {"not decodable": 1, "syntax error": 1, "test file": 2}
    assert ("pkg/broken.py", "syntax error") in report.skipped_files
    assert report.pairs == 4

    again = list(mine_code_pairs(tree))
    assert again == pairs


def test_code_mining_options(tmp_path: Path) -> None:
    tree = _code_tree(tmp_path / "tree")
    with_tests = list(mine_code_pairs(tree, skip_tests=False))
    sources = [p.source for p in with_tests]
    assert "pkg/test_mod.py:1 test_it" in sources
    assert "tests/helper.py:11 top" in sources
    assert len(with_tests) == 4 + 1 + 1  # helper.py differs only in top's docstring; the rest are duplicates
    assert len(list(mine_code_pairs(tree, max_pairs=2))) == 2
    whole = {p.source.split()[-1]: p for p in mine_code_pairs(tree, first_paragraph=False)}
    assert whole["top"].x == "Add two numbers together.\n\nArgs:\n    a: first."
    assert "short" in {p.source.split()[-1] for p in mine_code_pairs(tree, min_body_lines=1)}
    with pytest.raises(UsageError, match="not a folder"):
        mine_code_pairs(tree / "pkg" / "mod.py")


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness")
    commands = parser.add_subparsers(dest="command", required=True)
    mining_cli.add_arguments(commands.add_parser("mine-pairs"))
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    assert args.command == "mine-pairs"
    return mining_cli.run_command(args)


def test_cli_mines_text_into_a_readable_pairs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _text_folder(tmp_path / "corpus")
    out = tmp_path / "out" / "text.jsonl"
    argv = ["mine-pairs", "text", str(folder), "--out", str(out), "--min-words", "5", "--max-words", "20"]
    assert _run(argv) == 0
    assert capsys.readouterr().out == f"mined 4 pairs from 4 files (1 skipped: 1 not UTF-8) -> {out}\n"
    assert len(read_pairs(out)) == 4

    assert _run([*argv, "--max-pairs", "2", "--seed", "3"]) == 0
    assert len(read_pairs(out)) == 2


def test_cli_mines_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = _code_tree(tmp_path / "tree")
    out = tmp_path / "code.jsonl"
    assert _run(["mine-pairs", "code", str(tree), "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert summary == f"mined 4 pairs from 5 files (4 skipped: 1 not decodable, 1 syntax error, 2 test file) -> {out}\n"
    assert [json.loads(line)["source"] for line in out.read_text().splitlines()][0] == "pkg/mod.py:11 top"
    assert _run(["mine-pairs", "code", str(tree), "--out", str(out), "--include-tests", "--max-pairs", "5"]) == 0
    assert len(read_pairs(out)) == 5


def test_cli_errors(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(UsageError, match="no such folder"):
        _run(["mine-pairs", "text", str(tmp_path / "absent"), "--out", str(out)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError, match=r"mined 0 pairs from 0 files .* not written"):
        _run(["mine-pairs", "code", str(empty), "--out", str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit):
        _parser().parse_args(["mine-pairs", "text", str(empty), "--out", str(out), "--max-pairs", "0"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["mine-pairs", "text", str(empty)])  # --out is required


def test_module_docstrings_document_the_choices() -> None:
    assert "first paragraph" in textwrap.dedent(mine_code_pairs.__doc__ or "")
    assert "max_words" in (mine_text_pairs.__doc__ or "")


def test_mine_pairs_through_the_harness_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "mod.py").write_text(
        'def area(width, height):\n    """Area of a rectangle in square units."""\n    result = width * height\n'
        "    return result\n"
    )
    out = tmp_path / "pairs.jsonl"
    assert main(["mine-pairs", "code", str(tree), "--out", str(out)]) == 0
    assert "mined 1 pairs" in capsys.readouterr().out
    (pair,) = read_pairs(out)
    assert pair.x == "Area of a rectangle in square units." and "return result" in pair.y
    assert main(["mine-pairs", "text", str(tmp_path / "missing"), "--out", str(out)]) == 2
