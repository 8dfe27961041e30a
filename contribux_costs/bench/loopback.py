"""A loopback HTTP server that serves the demo workspace's provider APIs with added latency.

Collectors keep their real base URLs (``api.openai.com`` …); :class:`RedirectTransport` sends
every request over a real socket to ``127.0.0.1`` and names the original host in a header, and
the server answers through the demo transport's own handlers (``contribux_costs.demo``) after
sleeping ``delay_s``. The server logs each request (provider, time, status), so the bench can
count requests per provider and the most any provider received in one minute.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from contribux_costs.config import Settings
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport

HOST_HEADER = "x-bench-host"
NOW_HEADER = "x-bench-now"  # the demo's "now" for this request (snapshot APIs replayed per day)
SKIP = {"content-length", "transfer-encoding", "connection"}


class RedirectTransport(httpx.HTTPTransport):
    """A real HTTP transport that sends every request to the loopback server instead."""

    def __init__(self, port: int, now: datetime | None = None) -> None:
        super().__init__()
        self.port, self.now = port, now

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers[HOST_HEADER] = request.url.host
        if self.now is not None:
            request.headers[NOW_HEADER] = self.now.isoformat()
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        request.headers["host"] = f"127.0.0.1:{self.port}"
        return super().handle_request(request)


class Loopback:
    """The server: start it, point :class:`RedirectTransport` at ``port``, stop it."""

    def __init__(self, settings: Settings, now: datetime, delay_s: float = 0.05) -> None:
        self.settings, self.now, self.delay_s = settings, now, delay_s
        self.model = DemoModel()
        self.log: list[tuple[str, float, int]] = []
        self._lock = threading.Lock()
        self._transports: dict[str, httpx.MockTransport] = {}
        self.hosts = {
            urlsplit(getattr(settings, f"{p}_api_url")).hostname: p
            for p in ("openai", "vercel", "neon", "upstash")
        }
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs

            def do_GET(self) -> None:
                owner.answer(self)

            def do_POST(self) -> None:
                owner.answer(self)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def transport(self, now: datetime | None = None) -> RedirectTransport:
        return RedirectTransport(self.port, now)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        """Forward one request to the demo handlers, wait the latency, write the response."""
        host = handler.headers.get(HOST_HEADER, "")
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in {HOST_HEADER, NOW_HEADER}
        }
        request = httpx.Request(
            handler.command, f"https://{host}{handler.path}", headers=headers, content=body
        )
        response = self._demo(handler.headers.get(NOW_HEADER)).handle_request(request)
        skip = SKIP
        try:
            raw = b"".join(response.iter_raw())
        except httpx.StreamConsumed:  # built from bytes/json: already read (and decoded)
            raw, skip = response.content, SKIP | {"content-encoding"}
        time.sleep(self.delay_s)
        # Logged before the answer goes out: once a client has its response, it is counted.
        provider = self.hosts.get(host) or ("upstash" if host.endswith(".upstash.io") else host)
        with self._lock:
            self.log.append((provider, time.monotonic(), response.status_code))
        handler.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in skip:
                handler.send_header(key, value)
        handler.send_header("content-length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _demo(self, now: str | None) -> httpx.MockTransport:
        key = now or ""
        with self._lock:
            if key not in self._transports:
                when = datetime.fromisoformat(now) if now else self.now
                clock = DemoClock(when)
                self._transports[key] = demo_transport(self.settings, self.model, clock)
            return self._transports[key]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per provider: requests, the most in any 60 s, and 429 answers."""
        times: dict[str, list[float]] = defaultdict(list)
        limited: dict[str, int] = defaultdict(int)
        with self._lock:
            for provider, at, status in self.log:
                times[provider].append(at)
                limited[provider] += status == 429
        return {
            p: {"requests": len(ts), "max_per_minute": max_per_window(ts, 60.0), "429": limited[p]}
            for p, ts in sorted(times.items())
        }


def max_per_window(times: list[float], window_s: float) -> int:
    """The most timestamps inside any window of ``window_s`` seconds."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
