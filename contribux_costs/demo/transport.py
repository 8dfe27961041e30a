"""The demo workspace's HTTP transport: real request shapes in, real response formats out.

Routes are dispatched by host (taken from the settings' base URLs) to each provider's module,
which answers from the seeded :class:`DemoModel`. The collectors cannot tell it from the real APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from contribux_costs.config import Settings
from contribux_costs.demo.model import DemoModel

Handler = Callable[[httpx.Request, "DemoContext"], httpx.Response]


class DemoClock:
    """The demo's notion of "now" (settable, so snapshot-only APIs can be replayed per day)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.fixed = now

    def now(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set(self, now: datetime | None) -> None:
        self.fixed = now


class DemoContext:
    def __init__(self, model: DemoModel, clock: DemoClock) -> None:
        self.model, self.clock = model, clock


def _handlers() -> dict[str, Handler]:
    # Imported lazily so importing the package does no work (and each provider stays separate).
    from contribux_costs.demo import neon, openai, upstash, vercel

    return {
        "openai": openai.handle,
        "vercel": vercel.handle,
        "neon": neon.handle,
        "upstash": upstash.handle,
    }


def demo_transport(
    settings: Settings, model: DemoModel | None = None, clock: DemoClock | None = None
) -> httpx.MockTransport:
    """An ``httpx`` transport that serves the four providers' demo APIs."""
    ctx = DemoContext(model or DemoModel(), clock or DemoClock())
    hosts = {
        urlsplit(settings.openai_api_url).hostname: "openai",
        urlsplit(settings.vercel_api_url).hostname: "vercel",
        urlsplit(settings.neon_api_url).hostname: "neon",
        urlsplit(settings.upstash_api_url).hostname: "upstash",
    }
    handlers = _handlers()

    def handle(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        provider = hosts.get(host)
        if provider is None and host.endswith(".upstash.io"):
            provider = "upstash"  # per-database REST endpoints (INFO)
        if provider is None:
            return httpx.Response(404, json={"error": f"demo workspace has no host {host}"})
        return handlers[provider](request, ctx)

    return httpx.MockTransport(handle)
