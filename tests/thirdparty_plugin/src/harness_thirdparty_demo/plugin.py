"""A complete third-party plugin: one encoder, tasks with their own data files (an STS task written from scratch,
a retrieval task on the harness's base class), one suite."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from harness import DatasetFile, Encoder, Task, TaskOutput, TextKind, hookimpl

from .retrieval import DemoRetrievalTask

PAIRS = Path(__file__).with_name("pairs.tsv")
STOPWORDS = {"a", "an", "the", "is", "are", "in", "on", "at", "of", "to"}


class DemoHashEncoder(Encoder):
    """Hashed bag of words. ``DEMO_SLEEP`` (seconds per call) makes it slow for interruption tests."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self) -> dict:
        return {"kind": "demo-hash", "dim": self._dim}

    def encode(self, texts, kind: TextKind) -> np.ndarray:
        time.sleep(float(os.environ.get("DEMO_SLEEP", "0")))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in set(re.findall(r"\w+", text.lower())) - STOPWORDS:
                digest = hashlib.sha256(word.encode()).digest()
                out[row, digest[0] % self._dim] += 1.0
        return out + 1e-3


class DemoStsTask(Task):
    family = "sts"
    main_metric = "cosine_spearman"
    description = "Eight scored sentence pairs shipped with the demo plugin."

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(str(PAIRS))]

    def evaluate(self, encode, files, split: str) -> TaskOutput:
        rows = [line.split("\t") for line in files.lines(str(PAIRS)) if line.strip()]
        left = encode([r[0] for r in rows], TextKind.TEXT)
        right = encode([r[1] for r in rows], TextKind.TEXT)
        cosine = (left * right).sum(1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1))
        rho = float(spearmanr([float(r[2]) for r in rows], cosine).statistic)
        return TaskOutput(metrics={"cosine_spearman": rho}, main_score=rho, n_examples=len(rows))


@hookimpl
def harness_register_encoders(register):
    register("demo-hash", lambda settings: DemoHashEncoder(), "hashed bag of words from a third-party plugin")


@hookimpl
def harness_register_tasks(register):
    for index in range(1, 4):  # three copies, so a run has several tasks to interrupt
        register(
            f"demo-sts{index}" if index > 1 else "demo-sts",
            DemoStsTask,
            "eight scored pairs from a third-party plugin",
        )
    register("demo-retrieval", DemoRetrievalTask, "six documents, three queries: retrieval on the harness's base class")


@hookimpl
def harness_register_suites(register):
    register("demo", ["demo-sts", "demo-sts2", "demo-sts3"], "the demo plugin's tasks")
