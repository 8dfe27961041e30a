"""Demo Neon branches and computes: ``GET /projects/{id}/branches`` and ``/endpoints``.

Staging's compute and prod's read replica never suspend (``suspend_timeout_seconds`` -1); prod's
read-write compute keeps Neon's default (0 = suspend after 300 s). Prod lists the PR branches
alive at the clock's "now" (the planted sprawl), each named ``preview/pr-<n>``. The root branch
carries the current billing period's consumption, from the same hourly model as the
consumption API, so both agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.neon import (
    HISTORY_START,
    HOUR,
    PROD,
    PROJECTS,
    REPLICA_CU,
    STAGING,
    STAGING_CU,
    DemoProject,
    _branches_on,
    _error,
    _floor,
    _rfc,
    _suspended_hours,
    hour_metrics,
)
from contribux_costs.demo.neon import handle as consumption_handle

if TYPE_CHECKING:
    from contribux_costs.demo.context import DemoContext


def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    """Branch and compute routes here; everything else to the consumption demo."""
    parts = request.url.path.rstrip("/").split("/")
    if len(parts) < 3 or parts[-3] != "projects" or parts[-1] not in ("branches", "endpoints"):
        return consumption_handle(request, ctx)
    project = next((p for p in PROJECTS if p.id == parts[-2]), None)
    now = ctx.clock.now()
    if project is None or project.created_at > now:
        return _error(404, "project not found")
    if parts[-1] == "branches":
        return httpx.Response(200, json={"branches": branches(ctx.model, project, now)})
    return httpx.Response(200, json={"endpoints": computes(project, now)})


# -- branches and computes (GET /projects/{id}/branches, /projects/{id}/endpoints) -----------------
def _period_totals(model: DemoModel, p: DemoProject, now: datetime) -> tuple[float, float]:
    """(CU-seconds, active seconds of the read-write compute) from the period start to ``now``."""
    t = max(_floor(now, "monthly"), p.created_at)
    end = _floor(now, "hourly")
    cu = active = 0.0
    while t < end:
        m = hour_metrics(model, p.id, t)
        cu += m.get("compute_unit_seconds", 0)
        if p is STAGING or t.hour not in _suspended_hours(model, t.date()):
            active += 3600
        t += HOUR
    return cu, active


def branches(model: DemoModel, p: DemoProject, now: datetime) -> list[dict[str, Any]]:
    """The root branch (with the period's consumption) and, on prod, the PR branches alive now."""
    cu, active = _period_totals(model, p, now)
    root = {
        "id": f"br-{p.name}-main",
        "project_id": p.id,
        "name": "main",
        "current_state": "ready",
        "logical_size": round(
            hour_metrics(model, p.id, _floor(now, "hourly") - HOUR).get(
                "root_branch_bytes_month", 0
            )
        ),
        "creation_source": "console",
        "default": True,
        "protected": False,
        "active_time_seconds": round(active),
        "compute_time_seconds": round(cu),
        "cpu_used_sec": round(cu),
        "written_data_bytes": 0,
        "data_transfer_bytes": 0,
        "created_at": _rfc(p.created_at),
        "updated_at": _rfc(_floor(now, "hourly")),
    }
    out = [root]
    if p is PROD:
        alive = [b for b in _branches_on(model, now.date()) if b[0] <= now < b[1]]
        for created, _deleted, delta in sorted(alive):
            # One pull request per branch: numbered by the branch's creation minute, so two
            # branches opened within hours of each other never share an id or a name.
            number = 1000 + int((created - HISTORY_START) / timedelta(minutes=1))
            out.append(
                {
                    "id": f"br-pr-{number}",
                    "project_id": p.id,
                    "parent_id": root["id"],
                    "name": f"preview/pr-{number}",
                    "current_state": "ready",
                    "logical_size": round(delta),
                    "creation_source": "vercel",
                    "default": False,
                    "active_time_seconds": 0,
                    "compute_time_seconds": 0,
                    "written_data_bytes": round(delta),
                    "data_transfer_bytes": 0,
                    "created_at": _rfc(created),
                    "updated_at": _rfc(created),
                }
            )
    return out


def computes(p: DemoProject, now: datetime) -> list[dict[str, Any]]:
    """Each compute with its settings: staging and prod's replica never suspend (-1)."""

    def ep(suffix: str, kind: str, lo: float, hi: float, suspend: int) -> dict[str, Any]:
        return {
            "id": f"ep-{p.name}-{suffix}",
            "project_id": p.id,
            "branch_id": f"br-{p.name}-main",
            "type": kind,
            "autoscaling_limit_min_cu": lo,
            "autoscaling_limit_max_cu": hi,
            "suspend_timeout_seconds": suspend,
            "current_state": "active",
            "region_id": p.region_id,
            "host": f"ep-{p.name}-{suffix}.{p.region_id}.aws.neon.tech",
            "last_active": _rfc(_floor(now, "hourly")),
            "created_at": _rfc(p.created_at),
            "updated_at": _rfc(p.created_at),
        }

    if p is STAGING:
        return [ep("primary", "read_write", STAGING_CU, STAGING_CU, -1)]
    return [
        ep("primary", "read_write", 0.25, 2, 0),  # Neon's default: suspends after 300 s idle
        ep("replica", "read_only", REPLICA_CU, REPLICA_CU, -1),
    ]
