"""The demo workspace's HTTP transport: real request shapes in, real response formats out.

Routes are dispatched by host (taken from the settings' base URLs) to each provider's module,
which answers from the seeded :class:`DemoModel`. The collectors cannot tell it from the real APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from contribux_costs.config import Settings
from contribux_costs.demo.context import DemoClock, DemoContext, Handler
from contribux_costs.demo.model import DemoModel

__all__ = ["DemoClock", "DemoContext", "Handler", "default_handlers", "demo_transport"]


def default_handlers() -> dict[str, Handler]:
    # Imported lazily so importing the package does no work (and each provider stays separate).
    from contribux_costs.demo import neon_branches, openai, upstash, vercel

    return {
        "openai": openai.handle,
        "vercel": vercel.handle,
        "neon": neon_branches.handle,
        "upstash": upstash.handle,
    }


def demo_transport(
    settings: Settings,
    model: DemoModel | None = None,
    clock: DemoClock | None = None,
    handlers: Mapping[str, Handler] | None = None,
) -> httpx.MockTransport:
    """An ``httpx`` transport that serves the providers' demo APIs (``handlers``: by provider)."""
    ctx = DemoContext(model or DemoModel(), clock or DemoClock())
    hosts = {
        urlsplit(settings.openai_api_url).hostname: "openai",
        urlsplit(settings.vercel_api_url).hostname: "vercel",
        urlsplit(settings.neon_api_url).hostname: "neon",
        urlsplit(settings.upstash_api_url).hostname: "upstash",
    }
    routes = dict(handlers) if handlers is not None else default_handlers()

    def handle(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        provider = hosts.get(host)
        if provider is None and host.endswith(".upstash.io"):
            provider = "upstash"  # per-database REST endpoints (INFO)
        if provider is None:
            return httpx.Response(404, json={"error": f"demo workspace has no host {host}"})
        if provider not in routes:
            return httpx.Response(404, json={"error": f"demo workspace does not serve {provider}"})
        return routes[provider](request, ctx)

    return httpx.MockTransport(handle)
