"""Built-in suites: named task lists."""

from __future__ import annotations

from typing import Any

from harness import hookimpl

DEFAULT_SUITE = ("stsb", "sickr", "sickr@full", "scifact")


@hookimpl
def harness_register_suites(register: Any) -> None:
    register(
        "default",
        DEFAULT_SUITE,
        "runs offline from the embedded data: STS-B, SICK-R (SentEval's test split and MTEB's full set), SciFact",
    )
