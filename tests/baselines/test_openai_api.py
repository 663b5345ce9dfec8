"""``openai:<model>`` against a local OpenAI-compatible server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness import TextKind
from harness.cli import main
from harness.errors import HarnessError
from harness.pluginhost import get_host
from harness.plugins.baselines.openai_api import token_budget_batches

KEY = "sk-test-5ecret-0123456789"


def vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    values = np.random.default_rng(seed).normal(size=dim)
    return (values / np.linalg.norm(values)).tolist()


class Server:
    """Scripted responses: each request pops the next behaviour; when none are left, it answers normally."""

    def __init__(self) -> None:
        self.script: list[Callable[[BaseHTTPRequestHandler, dict], bool]] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                    behaviour = server.script.pop(0) if server.script else None
                if behaviour is not None and behaviour(self, body):
                    return
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    return reply(
                        self, 401, {"error": {"message": f"Incorrect API key: {self.headers.get('Authorization')}"}}
                    )
                dim = body.get("dimensions", 8)
                data = [{"index": i, "embedding": vector(t, dim)} for i, t in enumerate(body["input"])]
                reply(self, 200, {"data": list(reversed(data)), "model": body["model"]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def reply(handler: BaseHTTPRequestHandler, status: int, payload: object, headers: dict | None = None) -> bool:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)
    return True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    running = Server()
    monkeypatch.setenv("OPENAI_BASE_URL", running.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield running
    running.httpd.shutdown()


FAST_RETRIES = {"backoff": 0.01, "retries": 3, "timeout": 2}


def encoder(**options: object):
    return get_host().catalog.build_encoder("openai:test-embed", {**FAST_RETRIES, **options})


def test_success_in_order_with_dimensions(server: Server) -> None:
    model = encoder(dimensions=16)
    texts = ["alpha", "beta", "", "gamma"]
    vectors = model.encode(texts, TextKind.QUERY)
    assert vectors.shape == (4, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[1], vector("beta", 16), rtol=1e-6)  # rows follow "index", not reply order
    body = server.requests[-1]["body"]
    assert body["dimensions"] == 16 and body["model"] == "test-embed" and body["input"][2] == " "
    assert model.fingerprint() == {"kind": "openai-embeddings-api", "model": "test-embed", "dimensions": 16}


def test_rate_limit_is_retried_after_the_servers_delay(server: Server) -> None:
    server.script = [lambda h, b: reply(h, 429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})] * 2
    started = time.monotonic()
    vectors = encoder(dimensions=8).encode(["one", "two"], TextKind.DOCUMENT)
    assert vectors.shape == (2, 8)
    assert len(server.requests) == 3 and time.monotonic() - started >= 0.4


def test_server_errors_are_retried_then_reported(server: Server) -> None:
    server.script = [lambda h, b: reply(h, 500, {"error": "boom"})]
    assert encoder(dimensions=8).encode(["x"], TextKind.TEXT).shape == (1, 8)
    server.script = [lambda h, b: reply(h, 503, {"error": "down"})] * 10
    with pytest.raises(HarnessError, match="HTTP 503") as info:
        encoder(dimensions=8).encode(["x"], TextKind.TEXT)
    assert "\n" not in str(info.value)


def test_client_errors_are_not_retried(server: Server) -> None:
    server.script = [lambda h, b: reply(h, 400, {"error": {"message": "bad model"}})]
    with pytest.raises(HarnessError, match="HTTP 400.*bad model"):
        encoder(dimensions=8).encode(["x"], TextKind.TEXT)
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(handler: BaseHTTPRequestHandler, body: dict) -> bool:
        time.sleep(0.6)
        return reply(handler, 200, {"data": []})

    server.script = [slow, slow]
    with pytest.raises(HarnessError, match="no answer .* after 2 tries"):
        encoder(dimensions=8, timeout=0.2, retries=1).encode(["x"], TextKind.TEXT)


@pytest.mark.parametrize(
    "payload",
    [b"not json", {"data": "nope"}, {"data": [{"index": 0}]}, {"data": [{"index": 0, "embedding": [0.1] * 8}] * 2}],
)
def test_malformed_responses_are_one_line_errors(server: Server, payload: object) -> None:
    server.script = [lambda h, b: reply(h, 200, payload)]
    with pytest.raises(HarnessError) as info:
        encoder(dimensions=8).encode(["x"], TextKind.TEXT)
    message = str(info.value)
    assert ("malformed response" in message or "embeddings for 1 inputs" in message) and "\n" not in message


def test_the_key_never_reaches_results_logs_or_errors(server: Server, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "results"
    assert main(["run", "--encoder", "openai:test-embed", "--tasks", "stsb", "--out", str(out)]) == 0
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    written = "".join(p.read_text() for p in out.rglob("*.json"))
    assert "stsb" in written and KEY not in written and "5ecret" not in written
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "-wrong")  # the server echoes a wrong key back in its 401
    code = main(["run", "--encoder", "openai:test-embed", "--tasks", "sickr", "--out", str(out), "-o", "backoff=0"])
    captured = capsys.readouterr()
    assert code == 1 and "HTTP 401" in captured.err
    assert "5ecret" not in captured.err + captured.out and "[redacted]" in captured.err


def test_base_url_timeout_and_retries_on_the_command_line(server: Server, tmp_path: Path, monkeypatch, capsys) -> None:
    url = os.environ["OPENAI_BASE_URL"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there: base_url must win
    args = ["run", "--encoder", "openai:test-embed", "--tasks", "stsb", "--out", str(tmp_path / "out")]
    assert main([*args, "-o", f"base_url={url}", "-o", "dimensions=8"]) == 0 and server.requests

    def slow(handler: BaseHTTPRequestHandler, body: dict) -> bool:
        time.sleep(0.6)
        return reply(handler, 200, {"data": []})

    server.script = [slow] * 3
    asked = [*args, "-o", f"base_url={url}", "-o", "timeout=0.2", "-o", "retries=1", "-o", "backoff=0", "--force"]
    capsys.readouterr()
    assert main(asked) == 1
    err = capsys.readouterr().err
    assert f"no answer from {url} after 2 tries" in err, err


def test_options_on_the_command_line_reach_the_requests_and_name_the_results(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["run", "--encoder", "openai:test-embed", "--tasks", "stsb", "--out", str(out)]
    assert main([*args, "-o", "dimensions=16", "-o", "token-budget=50", "-o", "concurrency=1"]) == 0
    assert {r["body"]["dimensions"] for r in server.requests} == {16}
    assert max(len(r["body"]["input"]) for r in server.requests) < 30  # about 50 estimated tokens per request
    (path,) = out.rglob("stsb@test.json")
    record = json.loads(path.read_text())
    assert record["encoder"]["name"] == "openai:test-embed-dimensions-16"
    assert record["encoder"]["fingerprint"]["dimensions"] == 16
    assert record["encoder"]["options"]["token_budget"] == 50 and "api_key" not in record["encoder"]["options"]


def test_requests_respect_the_token_budget_and_input_limit() -> None:
    texts = ["x" * 400, "y" * 400, "z" * 40, "w"]  # about 100, 100, 10 and 1 tokens
    assert token_budget_batches(texts, budget=150) == [[0], [1, 2, 3]]
    assert token_budget_batches(["a"] * 5, budget=1000, max_inputs=2) == [[0, 1], [2, 3], [4]]
    assert token_budget_batches(["x" * 4000], budget=10) == [[0]]  # a text over budget goes alone
