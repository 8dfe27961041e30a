"""A real loopback HTTP server that answers through a plain ``httpx.Request -> httpx.Response``
function: scripted fakes (tests' FakeOpenAI, webhook receivers) over real sockets."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


def _make(handle: Handler, origin: list[str]) -> type[BaseHTTPRequestHandler]:
    class Bridge(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            try:
                self._serve_one()
            except OSError:  # the client gave up (its timeout): nothing to answer
                self.close_connection = True

        def _serve_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            request = httpx.Request(
                self.command, origin[0] + self.path, headers=headers, content=body
            )
            response = handle(request)
            data = response.read()
            self.send_response(response.status_code)
            skip = {"content-length", "transfer-encoding", "connection", "content-encoding"}
            for k, v in response.headers.items():
                if k.lower() not in skip:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Bridge


@contextmanager
def serve(handle: Handler) -> Iterator[str]:
    """Serve ``handle`` on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT``)."""
    origin: list[str] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make(handle, origin))
    httpd.daemon_threads = True
    origin.append(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
