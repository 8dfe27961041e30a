"""A real HTTP server on 127.0.0.1 that plays scripted faults in front of the demo workspace.

Every provider is served under its own path prefix (``/openai/v1``, ``/vercel``, ``/neon/api/v2``,
``/upstash/v2``; Upstash per-database REST endpoints under ``/redis/<host>``). A request is turned
back into the provider's real URL and answered by the demo workspace's handlers (real formats,
honouring query parameters and cursors), then the scripted fault for that provider, if any, is
applied on the wire: a status, a reset socket, a stall, a truncated or cut body, a cursor that
repeats, a body echoing the credential.

The server is bounded: at most ``max_requests`` requests (later ones get a 599), every stall ends
after ``stall_s`` or at shutdown, and the handler threads are daemons.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from contribux_costs.config import Settings
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport

# Path prefix on the loopback server → the provider's real origin (the rest of the path is kept).
PREFIXES = {
    "openai": ("/openai", "https://api.openai.com"),
    "vercel": ("/vercel", "https://api.vercel.com"),
    "neon": ("/neon", "https://console.neon.tech"),
    "upstash": ("/upstash", "https://api.upstash.com"),
}
REST_PREFIX = "/redis/"  # Upstash per-database REST endpoints: /redis/<host> → https://<host>
# Faults that the retry policy must absorb (each played once before the good answer).
TRANSIENT = ("429", "500", "503", "reset", "reset_mid", "stall_head", "stall", "truncated", "cut")
FAULTS = (*TRANSIENT, "repeat_cursor", "same_page", "echo_500", "echo_401", "echo_200", "ok")


# Fake credentials that make the workspace live (not demo).
CREDENTIALS = {
    "OPENAI_ADMIN_KEY": "sk-admin-FAKE-loopback-0001",
    "VERCEL_TOKEN": "vercel-FAKE-loopback-0002",
    "NEON_API_KEY": "neon-FAKE-loopback-0003",
    "UPSTASH_EMAIL": "ops@contribux.example",
    "UPSTASH_API_KEY": "upstash-FAKE-loopback-0004",
}
_SETTINGS = (
    "VERCEL_",
    "OPENAI_",
    "NEON_",
    "UPSTASH_",
    "DATABASE_URL",
    "CONTRIBUX_COSTS_",
    "HTTP_",
    "BILLING_",
    "PAGE_BUDGET",
    "REPULL_DAYS",
)


def _is_setting(name: str) -> bool:
    """An environment variable the package reads (left out of a subprocess's inherited env)."""
    return name.upper().startswith(_SETTINGS)


@dataclass
class Response:
    """A response as it goes on the wire: status, headers, raw (possibly gzip) body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Seen:
    """One request the server received."""

    provider: str
    method: str
    path: str
    fault: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Plan:
    """Faults for one provider: played in order, then ``sticky`` (if set) for every request."""

    queue: list[str] = field(default_factory=list)
    sticky: str | None = None
    match: str = ""  # only requests whose path contains this take faults


class Loopback:
    """The server: start with :func:`serve`; script faults with :meth:`plan` / :meth:`fail`."""

    def __init__(
        self,
        now: datetime | None = None,
        stall_s: float = 1.0,
        max_requests: int = 2000,
    ) -> None:
        # A fixed demo clock: snapshot APIs (Upstash) answer the same numbers on every run.
        fixed = now or datetime.now(UTC).replace(second=0, microsecond=0)
        # The demo's own settings: its routes are dispatched by the providers' real hosts.
        demo_settings = Settings(_env_file=None)
        transport = demo_transport(demo_settings, DemoModel(), DemoClock(fixed))
        self.upstream: Callable[[httpx.Request], httpx.Response] = transport.handler  # type: ignore[assignment]
        self.stall_s, self.max_requests = stall_s, max_requests
        self.plans: dict[str, Plan] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.cursor_turn: dict[str, int] = {}
        self.cache: dict[tuple[str, ...], Response] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    # -- scripting ---------------------------------------------------------------------------
    def plan(self, provider: str, *faults: str, sticky: str | None = None, match: str = "") -> None:
        """Play ``faults`` on ``provider``'s next matching requests (then ``sticky`` forever)."""
        unknown = [f for f in (*faults, sticky) if f is not None and f not in FAULTS]
        assert not unknown, f"unknown fault(s) {unknown}"
        with self.lock:
            self.plans[provider] = Plan(list(faults), sticky, match)

    def fail(self, provider: str, fault: str, match: str = "") -> None:
        """Every matching request of ``provider`` gets ``fault``."""
        self.plan(provider, sticky=fault, match=match)

    def reset(self) -> None:
        """No faults any more (requests seen are kept)."""
        with self.lock:
            self.plans.clear()
            self.cursor_turn.clear()

    def settings(self, **extra: object) -> Settings:
        """Live settings (fake credentials) pointing every provider at this server."""
        values: dict[str, object] = {
            **{k.lower(): v for k, v in CREDENTIALS.items()},
            "http_timeout_s": 0.5,
            # Whatever the surrounding environment holds, nothing else is configured.
            "database_url": None,
            "vercel_team_id": None,
            "neon_org_id": None,
            **self.env_urls(lower=True),
            **extra,
        }
        return Settings(_env_file=None, **values)  # type: ignore[arg-type]

    def env(self, db: object, **extra: str) -> dict[str, str]:
        """Environment for a ``contribux-costs`` subprocess: live, against this server."""
        clean = {k: v for k, v in os.environ.items() if not _is_setting(k)}
        return {
            **clean,
            **CREDENTIALS,
            **self.env_urls(),
            "CONTRIBUX_COSTS_DB": str(db),
            "HTTP_TIMEOUT_S": "10",
            **extra,
        }

    def env_urls(self, lower: bool = False) -> dict[str, str]:
        """The base-URL settings (``OPENAI_API_URL`` …) for this server."""
        urls = {
            "OPENAI_API_URL": f"{self.url}/openai/v1",
            "VERCEL_API_URL": f"{self.url}/vercel",
            "NEON_API_URL": f"{self.url}/neon/api/v2",
            "UPSTASH_API_URL": f"{self.url}/upstash/v2",
        }
        return {k.lower(): v for k, v in urls.items()} if lower else urls

    # -- serving -----------------------------------------------------------------------------
    def _take_fault(self, provider: str, method: str, path: str) -> str:
        with self.lock:
            if len(self.seen) >= self.max_requests:
                fault = "overflow"
            else:
                plan = self.plans.get(provider)
                fault = "ok"
                if plan is not None and plan.match in path:
                    if plan.queue:
                        fault = plan.queue.pop(0)
                    elif plan.sticky is not None:
                        fault = plan.sticky
            self.seen.append(Seen(provider, method, path, fault))
        return fault

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """The demo workspace's answer to the request, as the real provider would send it."""
        url, provider = self.upstream_url(path)
        if url is None:
            return Response(404, {"Content-Type": "text/plain"}, b"no such loopback route")
        # The demo clock is fixed, so an answer never changes: computed once, it is served at
        # wire speed afterwards (the demo's generation time would otherwise eat the timeout).
        key = (method, path, headers.get("Authorization", ""), headers.get("Accept-Encoding", ""))
        with self.lock:
            cached = self.cache.get(key)
        if cached is not None:
            return Response(cached.status, dict(cached.headers), cached.body)
        request = httpx.Request(method, url, headers=headers, content=body)
        got = self.upstream(request)
        assert isinstance(got.stream, httpx.SyncByteStream)
        raw = b"".join(got.stream)  # the body as sent: still gzip when encoded
        out = Response(got.status_code, _wire_headers(got), raw)
        if provider == "upstash" and path.rstrip("/").endswith("/redis/databases"):
            out.body = self._local_endpoints(out.body)
        with self.lock:
            self.cache[key] = out
        return Response(out.status, dict(out.headers), out.body)

    def upstream_url(self, path: str) -> tuple[str | None, str]:
        if path.startswith(REST_PREFIX):
            host, _, rest = path[len(REST_PREFIX) :].partition("/")
            return f"https://{host}/{rest}", "upstash"
        for provider, (prefix, origin) in PREFIXES.items():
            if path.startswith(prefix + "/"):
                return origin + path[len(prefix) :], provider
        return None, ""

    def _local_endpoints(self, body: bytes) -> bytes:
        # Each database's REST host is rewritten to this server, so INFO stays on loopback.
        dbs = json.loads(body)
        for db in dbs:
            if isinstance(db, dict) and db.get("endpoint"):
                db["endpoint"] = f"{self.url}{REST_PREFIX}{db['endpoint']}"
        return json.dumps(dbs).encode()

    def repeat_cursor(self, provider: str, path: str) -> tuple[str, Callable[[bytes], bytes]]:
        """(path to ask the demo, body rewrite) making the provider's cursor come back.

        OpenAI: every page says ``has_more`` with the same ``next_page``. Neon: the cursor
        alternates between two values that are never the one sent, so the walk cycles.
        """
        split = urlsplit(path)
        query = [(k, v) for k, v in parse_qsl(split.query) if k not in ("page", "cursor")]
        first = split.path + ("?" + urlencode(query) if query else "")
        with self.lock:
            turn = self.cursor_turn.get(provider, 0)
            self.cursor_turn[provider] = turn + 1

        def rewrite(body: bytes) -> bytes:
            page = json.loads(body)
            if provider == "openai":
                page["has_more"], page["next_page"] = True, "page_REPEATED"
            elif provider == "neon":
                page["pagination"] = {"cursor": ("cycle-a", "cycle-b")[turn % 2]}
            return json.dumps(page).encode()

        return first, rewrite

    @staticmethod
    def same_page(path: str) -> tuple[str, Callable[[bytes], bytes]]:
        """Neon's own ending: a page asked with a cursor repeats the first page, and its
        ``pagination.cursor`` is the cursor that was sent (the walk must stop, counting each
        project once)."""
        split = urlsplit(path)
        query = parse_qsl(split.query)
        sent = dict(query).get("cursor")
        if sent is None:
            return path, _unchanged
        first = split.path + "?" + urlencode([(k, v) for k, v in query if k != "cursor"])

        def rewrite(body: bytes) -> bytes:
            page = json.loads(body)
            page["pagination"] = {"cursor": sent}
            return json.dumps(page).encode()

        return first, rewrite


def _unchanged(body: bytes) -> bytes:
    return body


def _wire_headers(response: httpx.Response) -> dict[str, str]:
    skip = {"content-length", "transfer-encoding", "connection"}
    return {k: v for k, v in response.headers.items() if k.lower() not in skip}


def _make_handler(server: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # a client that stops talking does not hold a thread forever

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            try:
                self._serve_one()
            except OSError:  # the client gave up (its timeout) or a fault closed the socket
                self.close_connection = True

        def _serve_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            _url, provider = server.upstream_url(self.path)
            fault = server._take_fault(provider, self.command, self.path)
            if fault in ("429", "500", "503", "overflow"):
                self._status(599 if fault == "overflow" else int(fault))
                return
            if fault in ("echo_500", "echo_401", "echo_200"):
                self._echo(int(fault[-3:]))
                return
            if fault == "reset":
                self._rst()
                return
            if fault == "stall_head":  # not even a status line before the client's timeout
                server.stop.wait(server.stall_s)
                self.close_connection = True
                return
            path = self.path
            rewrite: Callable[[bytes], bytes] = _unchanged
            if fault == "repeat_cursor":
                path, rewrite = server.repeat_cursor(provider, self.path)
            elif fault == "same_page":
                path, rewrite = server.same_page(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = server.answer(self.command, path, headers, body)
            if answer.status == 200:
                answer.body = rewrite(answer.body)
            send: Callable[[Response], None] = getattr(
                self, f"_send_{fault if fault in _DELIVERY else 'ok'}"
            )
            send(answer)

        # -- faults without an answer ---------------------------------------------------------
        def _status(self, status: int) -> None:
            data = json.dumps({"error": {"message": f"loopback fault {status}"}}).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _echo(self, status: int) -> None:
            # A provider that quotes the credential back (some do, in auth errors).
            auth = self.headers.get("Authorization", "")
            quoted = auth
            if auth.lower().startswith("basic "):
                quoted += " = " + base64.b64decode(auth.split(" ", 1)[1]).decode(errors="replace")
            message = f"invalid credential {quoted!s} (token={auth.split(' ')[-1]})"
            # One JSON line: a JSON error document, and a JSONL stream whose only line is an
            # error object (what a 200 from a misbehaving export looks like).
            data = json.dumps({"error": {"message": message}}).encode() + b"\n"
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/jsonl" if status == 200 else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _rst(self) -> None:
            # SO_LINGER 0 then close: the peer sees a connection reset, not a clean EOF.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        # -- deliveries of the good answer ----------------------------------------------------
        def _head(self, answer: Response, length: int | None, close: bool = False) -> None:
            self.send_response(answer.status)
            for k, v in answer.headers.items():
                self.send_header(k, v)
            if length is not None:
                self.send_header("Content-Length", str(length))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()

        def _send_ok(self, answer: Response) -> None:
            self._head(answer, len(answer.body))
            self.wfile.write(answer.body)

        def _send_reset_mid(self, answer: Response) -> None:
            self._head(answer, len(answer.body))
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            self._rst()

        def _send_stall(self, answer: Response) -> None:
            self._head(answer, len(answer.body))
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            server.stop.wait(server.stall_s)  # past the client's read timeout
            self.close_connection = True

        def _send_truncated(self, answer: Response) -> None:
            # Content-Length promises the whole body; half of it arrives, then a clean close.
            self._head(answer, len(answer.body), close=True)
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.close_connection = True

        def _send_cut(self, answer: Response) -> None:
            # No length: the body ends where the connection closes, inside a line/the JSON.
            # Decoded first, so the cut lands inside the JSON text itself.
            headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-encoding"}
            plain = _decoded(answer)
            self._head(Response(answer.status, headers, b""), None, close=True)
            self.wfile.write(plain[: _inside_a_line(plain)])
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


_DELIVERY = frozenset({"ok", "reset_mid", "stall", "truncated", "cut"})


def _inside_a_line(body: bytes) -> int:
    """A cut point near the middle that is never just after a newline (JSONL stays detectable)."""
    middle = len(body) // 2
    newline = body.find(b"\n", middle)
    return middle if newline < 0 else max(1, newline - 3)


def _decoded(answer: Response) -> bytes:
    if answer.headers.get("Content-Encoding", answer.headers.get("content-encoding")) == "gzip":
        import gzip

        return gzip.decompress(answer.body)
    return answer.body


@contextmanager
def serve(**kwargs: object) -> Iterator[Loopback]:
    """Start a :class:`Loopback` on a free port; always shut it down."""
    server = Loopback(**kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)
