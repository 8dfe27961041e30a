"""What every demo route shares: the seeded model and the demo's clock.

Kept apart from :mod:`.transport` so the provider route modules never import the transport that
dispatches to them (no import circle).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from contribux_costs.demo.model import DemoModel


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


Handler = Callable[[httpx.Request, DemoContext], httpx.Response]
