"""A local HTTP server on 127.0.0.1 for the dataset-registry tests: Range requests, 404s, and scripted faults.

Each served path has bytes and an optional fault: ``drop`` (the first response sends half its body and closes
the connection), ``slow`` (waits before answering), or ``no-range`` (ignores Range headers).  The server
records every request's path and Range header, so tests can see a download resume.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Served:
    body: bytes
    fault: str = ""
    delay_s: float = 0.0
    requests: int = 0


@dataclass
class DataServer:
    files: dict[str, Served] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0
    _server: Any = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def serve(self, path: str, body: bytes, fault: str = "", delay_s: float = 0.0) -> str:
        self.files["/" + path.lstrip("/")] = Served(body, fault, delay_s)
        return self.url(path)

    def start(self) -> DataServer:
        files, log = self.files, self.log

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                log.append((self.path, self.headers.get("Range")))
                served = files.get(self.path)
                if served is None:
                    self.send_error(404, "Not Found")
                    return
                served.requests += 1
                if served.fault == "slow":
                    time.sleep(served.delay_s)
                body, start = served.body, 0
                wanted = self.headers.get("Range")
                if wanted and served.fault != "no-range" and wanted.startswith("bytes="):
                    start = int(wanted[len("bytes=") :].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if served.fault == "drop" and served.requests == 1:
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
