"""Demo neon API (to be filled in by the neon collector work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from contribux_costs.demo.transport import DemoContext


def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    return httpx.Response(404, json={"error": "neon demo routes are not built yet"})
