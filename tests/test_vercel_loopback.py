"""The Vercel collector over a real loopback socket: every transient fault is retried."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.vercel import ENDPOINT, make_collector
from contribux_costs.config import Settings
from contribux_costs.errors import SchemaError
from contribux_costs.periods import Month

BODY = (Path(__file__).parent / "fixtures" / "vercel" / "charges_2025_01.jsonl").read_bytes()


class Script:
    """The faults to play, one per request, then the good answer."""

    def __init__(self, *faults: str) -> None:
        self.faults = list(faults)
        self.paths: list[str] = []


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            script.paths.append(self.path)
            fault = script.faults.pop(0) if script.faults else "ok"
            getattr(self, f"_{fault}")()

        def _ok(self) -> None:
            data = gzip.compress(BODY)
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonl")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _truncated(self) -> None:
            # No length, then a clean close in the middle of a line.
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonl")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.close_connection = True

        def _unavailable(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _reset(self) -> None:
            # RST instead of an answer: SO_LINGER 0 then close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.connection.close()
            self.close_connection = True

        def _stall(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonl")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:100])
            self.wfile.flush()
            time.sleep(1.0)  # past the client's read timeout
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def fetch(url: str, tries: int) -> tuple[int, list[float]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, vercel_token="vercel_tok_FAKE_1234", vercel_api_url=url, http_timeout_s=0.3
    )
    sleeps: list[float] = []
    clients = HttpClients(settings, policy=RetryPolicy(max_tries=tries, sleep=sleeps.append))
    ctx = CollectContext(settings, clients)
    try:
        sw = make_collector(settings).fetch(Task(ENDPOINT, Month(2025, 1).la_window), ctx)
    finally:
        clients.close()
    return sw.tables["charges"].height, sleeps


def test_every_transient_fault_is_retried_then_the_window_completes(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.faults[:] = ["truncated", "unavailable", "reset", "stall"]
    rows, sleeps = fetch(url, tries=5)
    assert rows == 9
    assert len(script.paths) == 5 and len(sleeps) == 4
    assert all(p.startswith("/v1/billing/charges?from=2025-01-01T00") for p in script.paths)


def test_a_stream_that_stays_truncated_fails_with_a_clear_error(server: tuple[Script, str]) -> None:
    script, url = server
    script.faults[:] = ["truncated"] * 3
    with pytest.raises(SchemaError, match=r"vercel billing/charges: .*after 3 tries"):
        fetch(url, tries=3)
    assert len(script.paths) == 3
