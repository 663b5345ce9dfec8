"""Facts about the software and hardware a run used, recorded in every result file."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from functools import lru_cache
from typing import Any

RECORDED_PACKAGES = (
    "cpt-harness",
    "numpy",
    "scipy",
    "torch",
    "transformers",
    "sentence-transformers",
    "faiss-cpu",
    "pytrec_eval-terrier",
    "pluggy",
    "bm25s",
    "model2vec",
)


@lru_cache(maxsize=1)
def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def device_description(device: str) -> dict[str, Any]:
    """The device a run asked for, and what it is (GPU name, or CPU model and core count)."""
    described: dict[str, Any] = {"requested": device, "platform": platform.platform()}
    if device.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                described["name"] = torch.cuda.get_device_name(torch.device(device))
        except Exception:  # describing the device must never fail a run
            pass
    else:
        described["name"] = _cpu_model()
        described["cpu_count"] = os.cpu_count()
    return described


@lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return None
