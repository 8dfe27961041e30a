"""The HTTP seam: client factory, retry policy, server delay hints, rate limiter."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from contribux_costs.collect.http import (
    Caller,
    HttpClients,
    RateLimiter,
    RetryPolicy,
    TruncatedBody,
    get_json,
    server_delay,
)
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, ConfigError, SchemaError

SECRET = "sk-admin-PLANTED-SECRET-123"


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers)


# -- server hints ------------------------------------------------------------------------------
def test_retry_after_seconds() -> None:
    assert server_delay(response(429, {"Retry-After": "12"})) == 12.0
    assert server_delay(response(503, {"Retry-After": "1.5"})) == 1.5


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    delay = server_delay(response(429, {"Retry-After": format_datetime(when, usegmt=True)}))
    assert delay is not None and 27 <= delay <= 30


def test_x_ratelimit_reset_epoch_on_429_only() -> None:
    headers = {"X-RateLimit-Reset": "1000060"}
    assert server_delay(response(429, headers), now=1000000.0) == 60.0
    assert server_delay(response(500, headers), now=1000000.0) is None
    assert server_delay(response(429, {"X-RateLimit-Reset": "999"}), now=1000000.0) == 0.0


def test_no_or_garbage_hint_is_none() -> None:
    assert server_delay(response(429)) is None
    assert server_delay(response(429, {"Retry-After": "soon"})) is None


def test_policy_caps_hints_and_backs_off_within_bounds() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0)
    assert policy.delay_for(response(429, {"Retry-After": "3600"}), 0) == 10.0
    assert policy.delay_for(response(429, {"Retry-After": "2"}), 0) == 2.0
    for attempt, cap in [(0, 1.0), (1, 2.0), (2, 4.0), (6, 10.0)]:
        assert cap / 2 <= policy.backoff(attempt) <= cap
    # Seeded jitter: two fresh policies draw the same delays (reproducible runs and tests).
    a, b = RetryPolicy(), RetryPolicy()
    assert [a.backoff(i) for i in range(4)] == [b.backoff(i) for i in range(4)]


# -- the caller --------------------------------------------------------------------------------
def caller(sleeps: list[float], tries: int = 3, limiter: RateLimiter | None = None) -> Caller:
    return Caller("neon", RetryPolicy(max_tries=tries, sleep=sleeps.append), [SECRET], limiter)


def scripted(outcomes: list[object]) -> Callable[[], object]:
    """An attempt function that raises or returns the next scripted outcome."""

    def attempt() -> object:
        item = outcomes.pop(0)
        if isinstance(item, httpx.Response):
            item.request = httpx.Request("GET", "https://console.neon.tech/api/v2/x")
            item.raise_for_status()
            return item.status_code
        if isinstance(item, Exception):
            raise item
        return item

    return attempt


def test_transport_error_then_success() -> None:
    sleeps: list[float] = []
    fn = scripted([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), "ok"])
    assert caller(sleeps).call("consumption", fn) == "ok"
    assert len(sleeps) == 2


def test_non_retryable_status_raises_at_once_with_a_hint() -> None:
    sleeps: list[float] = []
    with pytest.raises(CollectError) as info:
        caller(sleeps).call("projects", scripted([response(403)]))
    assert (info.value.provider, info.value.endpoint, info.value.status) == (
        "neon",
        "projects",
        403,
    )
    assert "access denied" in str(info.value)
    assert sleeps == []


@pytest.mark.parametrize("status", [401, 503])
def test_an_echoed_key_in_an_error_body_is_masked(status: int) -> None:
    echo = httpx.Response(status, json={"error": {"message": f"Incorrect API key: {SECRET}"}})
    with pytest.raises(CollectError) as info:
        caller([], tries=1).call("projects", scripted([echo]))
    assert SECRET not in str(info.value)
    # A 401/403 body stays out of the message altogether (issue 13): status and code only.
    said = "Incorrect API key: ***" in str(info.value)
    assert said if status == 503 else not said


def test_gives_up_after_max_tries_naming_provider_and_endpoint() -> None:
    sleeps: list[float] = []
    outcomes: list[object] = [httpx.ConnectError(f"refused for {SECRET}")] * 4
    with pytest.raises(CollectError) as info:
        caller(sleeps, tries=4).call("consumption", scripted(outcomes))
    message = str(info.value)
    assert message.startswith("neon consumption: gave up after 4 tries (ConnectError")
    assert SECRET not in message and "***" in message
    assert len(sleeps) == 3  # no sleep after the last try


def test_invalid_json_every_time_is_a_schema_error() -> None:
    sleeps: list[float] = []
    bad = json.JSONDecodeError("Expecting value", "<html>", 0)
    with pytest.raises(SchemaError, match="neon usage: response body is not valid JSON after 2"):
        caller(sleeps, tries=2).call("usage", scripted([bad, bad]))


def test_truncated_body_is_retried() -> None:
    sleeps: list[float] = []
    assert caller(sleeps).call("usage", scripted([TruncatedBody("cut"), 7])) == 7
    assert len(sleeps) == 1


def test_limiter_is_acquired_on_every_attempt() -> None:
    acquired: list[int] = []

    class Counting(RateLimiter):
        def acquire(self) -> None:
            acquired.append(1)

    sleeps: list[float] = []
    fn = scripted([response(502), response(429, {"Retry-After": "4"}), "ok"])
    assert caller(sleeps, limiter=Counting(30)).call("x", fn) == "ok"
    assert len(acquired) == 3
    assert sleeps[1] == 4.0


# -- rate limiter ------------------------------------------------------------------------------
def test_rate_limiter_allows_a_burst_then_spaces_requests() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(per_minute=30, burst=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert sleeps == []
    limiter.acquire()
    limiter.acquire()
    assert sleeps == pytest.approx([2.0, 2.0])  # 30/min = one every 2 s once the burst is spent


# -- client factory ----------------------------------------------------------------------------
def recorder() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "echo": str(request.url)})

    return seen, httpx.MockTransport(handle)


def test_clients_get_base_url_and_auth_from_settings() -> None:
    seen, transport = recorder()
    settings = Settings(
        openai_admin_key=SECRET,  # type: ignore[arg-type]
        vercel_token="vercel-tok-123456",  # type: ignore[arg-type]
        upstash_email="dev@example.com",
        upstash_api_key="upstash-key-123456",  # type: ignore[arg-type]
        neon_api_url="http://127.0.0.1:9/api/v2/",
    )
    clients = HttpClients(settings, transport)
    parsed, text = get_json(
        clients.client("openai"), "organization/costs", {"group_by": ["a", "b"]}
    )
    assert parsed == {"ok": True, "echo": str(seen[0].url)} and json.loads(text) == parsed
    assert str(seen[0].url) == (
        "https://api.openai.com/v1/organization/costs?group_by=a&group_by=b"
    )
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    clients.client("vercel").get("v1/billing/charges")
    assert seen[1].headers["authorization"] == "Bearer vercel-tok-123456"
    clients.client("upstash").get("redis/databases")
    assert seen[2].headers["authorization"].startswith("Basic ")
    clients.client("neon").get("projects")
    assert str(seen[3].url) == "http://127.0.0.1:9/api/v2/projects"
    assert "authorization" not in seen[3].headers  # no key configured: no header
    assert clients.client("openai") is clients.client("openai")
    clients.plain_client().get("https://eu1-x.upstash.io/info")
    assert "authorization" not in seen[4].headers
    assert all(r.headers["user-agent"].startswith("contribux-costs/") for r in seen)
    clients.close()


def test_bad_base_url_is_a_config_error() -> None:
    clients = HttpClients(Settings(openai_api_url="api.openai.com/v1"))
    with pytest.raises(ConfigError, match="OPENAI_API_URL must start with http"):
        clients.client("openai")


def test_caller_from_clients_uses_settings_tries_and_neon_limiter() -> None:
    clients = HttpClients(Settings(http_max_tries=2, neon_api_key="neon-key-123456"))  # type: ignore[arg-type]
    assert clients.caller("neon").policy.max_tries == 2
    assert clients.caller("neon").limiter is not None
    assert clients.caller("openai").limiter is None
    assert "neon-key-123456" in clients.caller("openai").secrets


def test_decoding_error_is_retried_like_a_truncated_body() -> None:
    from contribux_costs.collect.http import Caller, RetryPolicy

    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise httpx.DecodingError("Error -3 while decompressing data")
        return "ok"

    caller = Caller("vercel", RetryPolicy(max_tries=3, sleep=lambda _s: None), [])
    assert caller.call("billing/charges", attempt) == "ok" and len(calls) == 2


def test_close_closes_plain_clients_too() -> None:
    from contribux_costs.collect.http import HttpClients
    from contribux_costs.config import Settings

    clients = HttpClients(Settings(_env_file=None))
    plain = clients.plain_client()
    clients.close()
    assert plain.is_closed


def test_sliding_window_never_exceeds_its_limit_in_any_window() -> None:
    from contribux_costs.collect.http import SlidingWindowLimiter

    now = [0.0]
    sent: list[float] = []

    def sleep(s: float) -> None:
        now[0] += s

    limiter = SlidingWindowLimiter(limit=30, window_s=60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(75):
        limiter.acquire()
        sent.append(now[0])
        now[0] += 0.1  # the request itself
    assert sent[29] < 3.0  # the first 30 go at network speed
    assert sent[30] >= 60.0  # the 31st waits for the first to leave the window
    assert max(sum(1 for t in sent if s <= t < s + 60.0) for s in sent) == 30
