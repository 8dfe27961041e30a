"""Which sources to collect and through which transport: real providers, or the demo workspace.

When no provider is configured the demo workspace serves all four providers (and a Postgres
statistics source) through the same collectors. When any provider is configured, only configured
ones are collected and demo data is never mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from contribux_costs.config import PROVIDERS, Settings
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.errors import ConfigError


@dataclass
class Workspace:
    sources: list[str]
    transport: httpx.BaseTransport | None
    demo: bool
    clock: DemoClock | None = None


def resolve(settings: Settings, only: list[str] | None = None) -> Workspace:
    """The sources to collect (optionally narrowed to ``only``) and the transport to use."""
    if settings.is_demo:
        clock = DemoClock()
        ws = Workspace(
            [*PROVIDERS, "postgres"], demo_transport(settings, DemoModel(), clock), True, clock
        )
    else:
        sources: list[str] = list(settings.configured())
        if settings.database_url is not None:
            sources.append("postgres")
        ws = Workspace(sources, None, False)
    if only:
        # A name that is no source at all (``aws``) is a typo, not a missing credential.
        known = (*PROVIDERS, "postgres")
        typos = [p for p in only if p not in known]
        if typos:
            raise ConfigError(
                f"unknown provider {', '.join(repr(p) for p in typos)}: choose from "
                f"{', '.join(known)}"
            )
        unknown = [p for p in only if p not in ws.sources]
        if unknown:
            raise ConfigError(
                f"provider(s) {', '.join(unknown)} not configured: set their credentials "
                f"(see .env.example); configured: {', '.join(ws.sources) or 'none'}"
            )
        ws.sources = [p for p in ws.sources if p in only]
    return ws
