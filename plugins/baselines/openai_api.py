"""``openai:<model>``: any OpenAI-compatible ``/v1/embeddings`` endpoint (how the cpt models were served).

Settings are encoder options (:class:`OpenAIOptions`, ``harness run -o dimensions=256``; ``harness info
openai:x`` lists them): ``dimensions`` (the API's shortened embeddings; part of the fingerprint and the result
label), ``timeout``, ``retries``, ``backoff``, ``concurrency``, ``token_budget`` and ``base_url``.  Only the
two settings every OpenAI client reads stay in the environment: ``OPENAI_BASE_URL`` (when ``base_url`` is not
given; default ``https://api.openai.com/v1``) and ``OPENAI_API_KEY``, the secret, which is never an option so
that it cannot reach a command line, a shell history or a result file.

Requests are retried with exponential backoff (honouring ``Retry-After``) on 429,
5xx, timeouts and dropped connections; other errors fail at once.  The key is sent
in a header and never written anywhere: it is not part of the fingerprint or the
metadata, and any error text is scrubbed of it before it is shown.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from harness import Encoder, EncoderOptions, EncoderRegister, EncoderSettings, HarnessError, TextKind, hookimpl, option

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_INPUTS = 2048
KNOWN_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class ApiError(HarnessError):
    """The endpoint failed in a way retrying does not fix, or kept failing."""


class OpenAIOptions(EncoderOptions):
    """How to call the endpoint; only ``dimensions`` changes the vectors."""

    dimensions: int | None = option(
        None, "the API's dimensions: shortened embeddings (none: full width)", label=True, ge=1
    )
    base_url: str | None = option(None, "the endpoint, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)")
    timeout: float = option(60.0, "seconds per request before it counts as failed", gt=0)
    retries: int = option(6, "retries of a request after 429, 5xx, a timeout or a dropped connection", ge=0)
    backoff: float = option(1.0, "seconds before the first retry, doubling after each (Retry-After wins)", ge=0)
    concurrency: int = option(4, "requests in flight at once", ge=1)
    token_budget: int = option(100_000, f"estimated tokens per request (at most {MAX_INPUTS} inputs)", ge=1)


class OpenAIEmbeddings(Encoder):
    def __init__(self, model: str, settings: EncoderSettings[OpenAIOptions]) -> None:
        options = settings.options
        self.model = model
        self.base_url = str(options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._key = os.environ.get("OPENAI_API_KEY") or ""
        self.dimensions = options.dimensions
        self.timeout = options.timeout
        self.retries = options.retries
        self.backoff = options.backoff
        self.concurrency = options.concurrency
        self.token_budget = options.token_budget
        self._dim: int | None = self.dimensions or KNOWN_DIMS.get(model)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._request(["dimension probe"]).shape[1])
        return self._dim

    def fingerprint(self) -> dict[str, Any]:
        # The model and its options fix the vectors; where it is served from (and the key) do not.
        return {"kind": "openai-embeddings-api", "model": self.model, "dimensions": self.dimensions}

    def metadata(self) -> dict[str, Any]:
        parts = urlsplit(self.base_url)
        return {"library": "urllib", "endpoint_host": parts.hostname, "similarity": "cosine"}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        batches = token_budget_batches(texts, self.token_budget)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            parts = list(pool.map(lambda batch: self._request([texts[i] for i in batch]), batches))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for batch, vectors in zip(batches, parts, strict=True):
            if vectors.shape[1] != out.shape[1]:
                raise ApiError(
                    f"openai:{self.model}: the endpoint returned {vectors.shape[1]}-d vectors, expected {out.shape[1]}"
                )
            out[batch] = vectors
        return out

    def _request(self, texts: list[str]) -> np.ndarray:
        # The API rejects empty strings; a single space embeds "nothing" and keeps row order.
        body: dict[str, Any] = {"model": self.model, "input": [t if t.strip() else " " for t in texts]}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(f"{self.base_url}/embeddings", data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return self._parse(response.read(), len(texts))
            except urllib.error.HTTPError as exc:
                detail = self._scrub(exc.read().decode("utf-8", "replace")[:300])
                if exc.code not in RETRY_STATUS or attempt == self.retries:
                    raise ApiError(f"openai:{self.model}: HTTP {exc.code} from {self.base_url}: {detail}") from None
                wait = _retry_after(exc.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    reason = self._scrub(str(getattr(exc, "reason", exc)))
                    raise ApiError(
                        f"openai:{self.model}: no answer from {self.base_url} after {attempt + 1} tries ({reason})"
                    ) from None
                wait = delay
            time.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def _parse(self, raw: bytes, expected: int) -> np.ndarray:
        try:
            payload = json.loads(raw)
            items = sorted(payload["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                f"openai:{self.model}: malformed response from {self.base_url} ({type(exc).__name__}: {self._scrub(str(exc))[:120]})"
            ) from None
        if vectors.ndim != 2 or len(vectors) != expected:
            raise ApiError(
                f"openai:{self.model}: the endpoint returned {len(vectors)} embeddings for {expected} inputs"
            )
        return vectors

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text


def _retry_after(header: str | None, fallback: float) -> float:
    try:
        return max(0.0, min(float(header), 60.0)) if header is not None else fallback
    except ValueError:
        return fallback


def estimated_tokens(text: str) -> int:
    """About four characters per token for English BPE; never less than one."""
    return max(1, math.ceil(len(text) / 4))


def token_budget_batches(texts: Sequence[str], budget: int, max_inputs: int = MAX_INPUTS) -> list[list[int]]:
    """Row indices grouped so each request stays under ``budget`` estimated tokens and ``max_inputs`` texts."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, text in enumerate(texts):
        cost = estimated_tokens(text)
        if current and (used + cost > budget or len(current) >= max_inputs):
            batches.append(current)
            current, used = [], 0
        current.append(index)
        used += cost
    if current:
        batches.append(current)
    return batches


def _factory(settings: EncoderSettings[OpenAIOptions]) -> OpenAIEmbeddings:
    assert settings.argument is not None
    return OpenAIEmbeddings(settings.argument, settings)


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register(
        "openai:",
        _factory,
        "an OpenAI-compatible /v1/embeddings endpoint: openai:<model> ($OPENAI_BASE_URL, $OPENAI_API_KEY)",
        options=OpenAIOptions,
    )
