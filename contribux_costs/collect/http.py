"""The one seam for HTTP: a client factory, a retry policy and a per-provider rate limiter.

Tests and the demo workspace pass an ``httpx`` transport in; production uses the default one.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from contribux_costs.config import Provider, Settings
from contribux_costs.errors import CollectError, ConfigError, SchemaError
from contribux_costs.redact import redact

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "contribux-costs/0.1"


@dataclass
class RetryPolicy:
    """Bounded tries with full-jitter exponential backoff; server hints win when present."""

    max_tries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def backoff(self, attempt: int) -> float:
        cap = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return self.rng.uniform(cap / 2, cap)

    def delay_for(self, response: httpx.Response | None, attempt: int) -> float:
        hinted = server_delay(response) if response is not None else None
        if hinted is not None:
            return min(self.max_delay_s, hinted)
        return self.backoff(attempt)


def server_delay(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``."""
    ra = response.headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                when = parsedate_to_datetime(ra)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset and response.status_code == 429:
        try:
            return max(0.0, float(reset) - (now if now is not None else time.time()))
        except ValueError:
            return None
    return None


class RateLimiter:
    """A token bucket shared by every request of one provider (thread-safe)."""

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(per_minute // 6)))
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.last = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            self.tokens -= 1
        if wait > 0:
            self.sleep(wait)


class SlidingWindowLimiter(RateLimiter):
    """At most ``limit`` requests in any ``window_s`` seconds (Neon: 30 per minute).

    Unlike a token bucket with a burst, a run of up to ``limit`` requests goes at network speed,
    and no window ever holds more than ``limit`` (a 30/min bucket with burst 5 allows 35).
    """

    def __init__(
        self,
        limit: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(per_minute=limit * 60.0 / window_s, burst=limit, clock=clock, sleep=sleep)
        self.limit, self.window_s = limit, window_s
        self.sent: list[float] = []

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.sent = [t for t in self.sent if now - t < self.window_s]
                if len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                wait = self.window_s - (now - self.sent[0])
            self.sleep(max(wait, 0.001))


class Caller:
    """Runs one logical request under the retry policy and names provider/endpoint on failure."""

    def __init__(
        self,
        provider: str,
        policy: RetryPolicy,
        secrets: list[str],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.provider, self.policy, self.secrets, self.limiter = provider, policy, secrets, limiter

    def call(self, endpoint: str, attempt_fn: Callable[[], T]) -> T:
        """``attempt_fn`` sends the request *and reads the body*; it raises on a bad status."""
        last: Exception | None = None
        for attempt in range(self.policy.max_tries):
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                return attempt_fn()
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status not in RETRY_STATUSES:
                    raise self._status_error(endpoint, exc.response) from None
                last = exc
                delay = self.policy.delay_for(exc.response, attempt)
            except (
                httpx.TransportError,
                httpx.DecodingError,  # a gzip stream cut short decodes badly: like truncation
                json.JSONDecodeError,
                TruncatedBody,
            ) as exc:
                last = exc
                delay = self.policy.backoff(attempt)
            if attempt + 1 < self.policy.max_tries:
                self.policy.sleep(delay)
        raise self._gave_up(endpoint, last)

    def _status_error(self, endpoint: str, response: httpx.Response) -> CollectError:
        hint = STATUS_HINTS.get(response.status_code, "")
        if response.status_code in AUTH_STATUSES:
            # An auth failure's body is where providers quote the credential back: only the
            # status and the provider's own error code leave this function.
            code = provider_error_code(response)
            code = redact(code, self.secrets) if code else None
            said = f" Provider error code: {code}." if code else ""
            return CollectError(self.provider, endpoint, hint + said, status=response.status_code)
        body = redact(_short_body(response), self.secrets)
        msg = f"{hint} Response: {body}" if hint else f"unexpected response: {body}"
        return CollectError(self.provider, endpoint, msg, status=response.status_code)

    def _gave_up(self, endpoint: str, last: Exception | None) -> CollectError:
        tries = self.policy.max_tries
        if isinstance(last, httpx.HTTPStatusError):
            status = last.response.status_code
            body = redact(_short_body(last.response), self.secrets)
            return CollectError(
                self.provider, endpoint, f"still failing after {tries} tries: {body}", status
            )
        what = redact(f"{type(last).__name__}: {last}", self.secrets)
        if isinstance(last, json.JSONDecodeError | TruncatedBody):
            return SchemaError(
                self.provider,
                endpoint,
                f"response body is not valid JSON after {tries} tries ({what})",
            )
        return CollectError(self.provider, endpoint, f"gave up after {tries} tries ({what})")


class TruncatedBody(Exception):
    """A streamed body ended before its documented end (retryable)."""


STATUS_HINTS = {
    401: "the credential was rejected: check the key in your environment or .env.",
    403: "access denied: the key lacks the permission or plan for this endpoint.",
    404: "not found: check the organisation/team id and the base URL override.",
    406: "the requested window is outside the provider's lookback for this granularity.",
}


AUTH_STATUSES = frozenset({401, 403})
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def provider_error_code(response: httpx.Response) -> str | None:
    """The provider's machine-readable error code from a JSON error body, if it has one:
    ``error.code`` (OpenAI, Vercel), ``code`` (Neon), else ``error.type``. Only a short token
    is returned, never free text (which may quote the credential)."""
    try:
        parsed = json.loads(response.text)
    except (ValueError, httpx.ResponseNotRead, httpx.StreamError):
        return None
    if not isinstance(parsed, dict):
        return None
    error = parsed.get("error")
    nested = error if isinstance(error, dict) else {}
    for value in (nested.get("code"), parsed.get("code"), nested.get("type")):
        ok = isinstance(value, str | int) and not isinstance(value, bool)
        if ok and _CODE.match(str(value)):
            return str(value)
    return None


def _short_body(response: httpx.Response) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, httpx.StreamError):
        return "(streamed body)"
    return text[:300].replace("\n", " ")


class HttpClients:
    """Builds every provider's ``httpx.Client`` from settings: base URL, auth, timeouts.

    ``transport`` is the seam: tests and the demo workspace pass one in.
    """

    def __init__(
        self,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        limiters: dict[str, RateLimiter] | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = policy or RetryPolicy(max_tries=settings.http_max_tries)
        self.limiters = limiters if limiters is not None else default_limiters()
        self._clients: dict[str, httpx.Client] = {}
        self._plain: list[httpx.Client] = []
        self._lock = threading.Lock()

    def client(self, provider: Provider) -> httpx.Client:
        with self._lock:
            if provider not in self._clients:
                self._clients[provider] = self._build(provider)
            return self._clients[provider]

    def caller(self, provider: str) -> Caller:
        return Caller(
            provider, self.policy, self.settings.secret_values(), self.limiters.get(provider)
        )

    def plain_client(self) -> httpx.Client:
        """A client without base URL or auth (Upstash per-database REST endpoints, webhooks)."""
        client = httpx.Client(
            transport=self.transport,
            timeout=self.settings.http_timeout_s,
            headers={"User-Agent": USER_AGENT},
        )
        with self._lock:
            self._plain.append(client)  # closed with the others by close()
        return client

    def _build(self, provider: Provider) -> httpx.Client:
        s = self.settings
        headers = {"User-Agent": USER_AGENT}
        auth: httpx.Auth | None = None
        base = {
            "openai": s.openai_api_url,
            "vercel": s.vercel_api_url,
            "neon": s.neon_api_url,
            "upstash": s.upstash_api_url,
        }[provider]
        token = {"openai": s.openai_admin_key, "vercel": s.vercel_token, "neon": s.neon_api_key}
        if provider == "upstash":
            if s.upstash_email and s.upstash_api_key:
                auth = httpx.BasicAuth(s.upstash_email, s.upstash_api_key.get_secret_value())
        elif token[provider] is not None:
            headers["Authorization"] = f"Bearer {token[provider].get_secret_value()}"  # type: ignore[union-attr]
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"{provider.upper()}_API_URL must start with http:// or https://")
        return httpx.Client(
            base_url=base.rstrip("/") + "/",
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(s.http_timeout_s),
            transport=self.transport,
        )

    def close(self) -> None:
        for c in [*self._clients.values(), *self._plain]:
            c.close()
        self._clients.clear()
        self._plain.clear()


def default_limiters() -> dict[str, RateLimiter]:
    # Neon documents ~30 requests/minute per account, shared by the consumption endpoints.
    return {"neon": SlidingWindowLimiter(limit=30, window_s=60.0)}


def get_json(client: httpx.Client, path: str, params: object = None) -> tuple[object, str]:
    """One attempt: GET, raise for status, return (parsed JSON, body text)."""
    response = client.get(path, params=params)  # type: ignore[arg-type]
    response.raise_for_status()
    text = response.text
    return json.loads(text), text
