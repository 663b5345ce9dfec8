"""Whether a passage contains an answer: DPR's ``has_answer`` with the ``string`` match type.

The rule (facebookresearch/DPR at a31212d, ``dpr/data/qa_validation.py``: ``has_answer`` lines 175-193,
``_normalize`` 235-236; the tokenizer is ``dpr/utils/tokenizers.py``, ``SimpleTokenizer`` 157-199, and
``Tokens.words(uncased=True)`` 51-60; Contriever's ``src/evaluation.py`` 22-42 and 101-112 is the same code):

1. passage and answer are normalised to Unicode NFD (so ``é`` is ``e`` + a combining accent, either way it was
   written);
2. each is cut into tokens by ``([\\p{L}\\p{N}\\p{M}]+)|([^\\p{Z}\\p{C}])``: a token is a maximal run of letters,
   numbers and marks, or one character that is neither a separator (Z*) nor "other" (C*: controls, format,
   unassigned), i.e. one punctuation mark or symbol (P*, S*); separators and C* characters are dropped;
3. tokens are lower-cased one by one (after tokenising, as ``words(uncased=True)`` does);
4. the passage has the answer when some answer's token list is a contiguous run of the passage's tokens.

So ``B's`` is ``b ' s`` and matches ``B's`` and ``b 's``, never ``Bs``; ``cat`` does not match ``cats``;
``café`` does not match ``cafe`` (the accent is a token character).  An answer with no tokens at all
(empty, or only spaces) is found in every passage, as DPR's loop (``range(len(text) - 0 + 1)``, and
``[] == []``) finds it.

DPR uses the third-party ``regex`` module for ``\\p{...}``; here the same classes are built once from the
standard library's ``unicodedata`` (this Python's Unicode version; DPR's ran on its ``regex``'s) as ``re``
character classes, and ``tests/tasks/test_open_qa.py`` checks that the two tokenise every assigned code point
alike.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence

ASTRAL = r"(?=[\U00010000-\U0010ffff])"
"""Guards the astral half of each class: ``re`` scans a class with code points beyond U+FFFF range by range,
but a class within the BMP is one bitmap lookup, so BMP characters never reach the slow half."""


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """``[LMN]+`` or one ``[PS]`` character, DPR's SimpleTokenizer classes (built on first use: ~0.3 s)."""
    major = [unicodedata.category(chr(code))[0] for code in range(sys.maxunicode + 1)]

    def one_of(wanted: str, low: int, high: int) -> str:
        ranges: list[str] = []
        start: int | None = None
        for code in range(low, high + 1):
            inside = code < high and major[code] in wanted
            if inside and start is None:
                start = code
            elif not inside and start is not None:
                ranges.append(f"\\U{start:08x}-\\U{code - 1:08x}")
                start = None
        return "[" + "".join(ranges) + "]"

    def either_half(wanted: str) -> str:
        return f"{one_of(wanted, 0, 0x10000)}|{ASTRAL}{one_of(wanted, 0x10000, sys.maxunicode + 1)}"

    return re.compile(f"(?:{either_half('LMN')})+|{either_half('PS')}")


def answer_tokens(text: str) -> list[str]:
    """``text`` as ``has_answer`` compares it: NFD, SimpleTokenizer's tokens, each lower-cased."""
    return [token.lower() for token in _token_pattern().findall(unicodedata.normalize("NFD", text))]


def contains(tokens: Sequence[str], answer: Sequence[str]) -> bool:
    """Whether ``answer`` is a contiguous run of ``tokens`` (an empty ``answer`` always is, as in DPR)."""
    n = len(answer)
    if n == 0:
        return True
    last_start = len(tokens) - n
    start = 0
    while start <= last_start:
        try:
            start = tokens.index(answer[0], start, last_start + 1)
        except ValueError:
            return False
        if tokens[start : start + n] == answer:
            return True
        start += 1
    return False


def has_answer(answers: Iterable[str], text: str) -> bool:
    """DPR's ``has_answer(answers, text, SimpleTokenizer(), "string")``."""
    tokens = answer_tokens(text)
    return any(contains(tokens, answer_tokens(answer)) for answer in answers)


def first_hit(answers: Sequence[Sequence[str]], passages: Iterable[str]) -> int:
    """The 0-based position of the first of ``passages`` holding one of the tokenised ``answers``; -1 if none.

    DPR's ``calculate_matches`` (lines 72-77) checks every retrieved passage and keeps the first hit; stopping
    there gives the same number without tokenising the rest.
    """
    for position, text in enumerate(passages):
        tokens = answer_tokens(text)
        if any(contains(tokens, answer) for answer in answers):
            return position
    return -1


def tokenised(answers: Sequence[str]) -> list[list[str]]:
    """Each answer's tokens, once per question instead of once per passage (the result is the same)."""
    return [answer_tokens(answer) for answer in answers]
