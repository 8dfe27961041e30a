"""Demo Neon API for the contribux organization: consumption v2, organizations, projects.

Every value is a pure function of (seed, project, UTC hour), so buckets of any granularity, any
window and any page size add up to the same totals. Planted on purpose:

- branch-per-pull-request sprawl on ``contribux-prod``: every PR gets a child branch that lives
  5–14 days, so ~25–40 child branches are alive at any hour (the Launch plan includes 10 per
  project, root included);
- ``contribux-staging`` never scales to zero: 0.25 CU around the clock, traffic or not (its
  compute's ``suspend_timeout_seconds`` is -1, "never");
- ``contribux-prod`` runs a read replica that never suspends either (0.25 CU, -1): production,
  so scale-to-zero advice must leave it alone;
- ``contribux-prod`` is active most hours (weekday daytime peaks) and suspends in quiet weekend
  hours; its root branch (~40 GB in late 2026) grows ~3% a month; public transfer 60–140 GB/month.

The API's behaviour is mirrored: ``from``/``to`` rounded down to the granularity, 406 outside the
lookback (relative to the demo clock), ``metrics`` repeated or comma-separated, zero metrics and
empty buckets omitted, ``limit`` projects per page with ``pagination.cursor`` = the last project's
id (present on the last page too; the page after it is empty).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from contribux_costs.demo.model import EPOCH, MONTHLY_GROWTH, DemoModel

if TYPE_CHECKING:
    from contribux_costs.demo.context import DemoContext

ORG_ID = "org-contribux-demo"
PLAN = "launch"
HOUR = timedelta(hours=1)
HISTORY_START = datetime(2024, 3, 1, tzinfo=UTC)  # Neon keeps consumption from this day on
LOOKBACK = {
    "hourly": timedelta(hours=168),
    "daily": timedelta(days=60),
    "monthly": timedelta(days=365),
}
METRICS = (
    "compute_unit_seconds",
    "root_branch_bytes_month",
    "child_branch_bytes_month",
    "instant_restore_bytes_month",
    "snapshot_storage_bytes_month",
    "public_network_transfer_bytes",
    "private_network_transfer_bytes",
    "extra_branches_month",
)
SNAPSHOTS_FROM = datetime(2026, 5, 1, tzinfo=UTC)  # scheduled snapshots enabled with billing
BRANCH_LIFE_DAYS = (5, 14)  # a PR branch lives this many days (uniform)
STAGING_CU = 0.25
REPLICA_CU = 0.25  # prod's read replica: fixed size, never suspends


@dataclass(frozen=True)
class DemoProject:
    id: str
    name: str
    created_at: datetime
    region_id: str = "aws-us-east-2"


PROD = DemoProject("quiet-river-40512877", "contribux-prod", datetime(2024, 2, 1, tzinfo=UTC))
STAGING = DemoProject(
    "misty-meadow-73920154", "contribux-staging", datetime(2024, 1, 10, tzinfo=UTC)
)
PROJECTS = (PROD, STAGING)  # the API's order: newest project first


# -- the hourly model -------------------------------------------------------------------------
def _growth(t: datetime) -> float:
    """~3%/month compounding from the demo epoch, continuous in time (no daily steps)."""
    months = (t - datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC)) / timedelta(days=30.44)
    return float((1 + MONTHLY_GROWTH) ** months)


@lru_cache(maxsize=4096)
def _hour_noise(model: DemoModel, day: date, stream: str) -> tuple[float, ...]:
    return tuple(float(v) for v in np.clip(model.rng(day, stream).normal(1.0, 0.08, 24), 0.6, 1.4))


@lru_cache(maxsize=4096)
def _suspended_hours(model: DemoModel, day: date) -> frozenset[int]:
    """Quiet hours in which prod's compute scales to zero (weekend nights, some weeknights)."""
    rng = model.rng(day, "neon:suspend")
    quiet = range(8, 12) if day.weekday() >= 5 else range(9, 11)
    share = 1.0 if day.weekday() >= 5 else 0.3
    return frozenset(h for h in quiet if rng.random() < share)


@lru_cache(maxsize=4096)
def _opened_branches(model: DemoModel, day: date) -> tuple[tuple[datetime, datetime, float], ...]:
    """PR branches opened on ``day``: (created, deleted, delta size in bytes)."""
    rng = model.rng(day, "neon:prs")
    count = int(rng.integers(4, 6)) if day.weekday() < 5 else 1
    out = []
    for _ in range(count):
        created = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            hours=float(rng.uniform(13, 24))
        )
        life = timedelta(days=float(rng.uniform(*BRANCH_LIFE_DAYS)))
        out.append((created, created + life, float(rng.uniform(0.1e9, 0.8e9))))
    return tuple(out)


@lru_cache(maxsize=2048)
def _branches_on(model: DemoModel, day: date) -> tuple[tuple[datetime, datetime, float], ...]:
    """Every PR branch alive at some point of ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return tuple(
        b
        for back in range(BRANCH_LIFE_DAYS[1] + 1)
        for b in _opened_branches(model, day - timedelta(days=back))
        if b[0] < end and b[1] > start
    )


def child_branches(model: DemoModel, t: datetime) -> tuple[float, float]:
    """(branch-hours, byte-hours) of prod's child branches in the hour starting at ``t``."""
    hours = size = 0.0
    for created, deleted, delta in _branches_on(model, t.date()):
        overlap = (min(deleted, t + HOUR) - max(created, t)) / HOUR
        if overlap > 0:
            hours += overlap
            size += overlap * delta
    return hours, size


@lru_cache(maxsize=200_000)
def hour_metrics(model: DemoModel, project_id: str, t: datetime) -> dict[str, int]:
    """Raw consumption of one project in the UTC hour starting at ``t`` (zeros omitted)."""
    project = next(p for p in PROJECTS if p.id == project_id)
    if t < project.created_at:
        return {}
    day, hour = t.date(), t.hour
    diurnal = model.hour_share(hour) * 24  # 0.2 … 1.8 around 1
    if project is STAGING:
        root = 6e9 * _growth(t) ** 0.5
        values = {
            "compute_unit_seconds": STAGING_CU * 3600,  # never suspends: the planted waste
            "root_branch_bytes_month": root,
            "instant_restore_bytes_month": 0.05 * root,
            "public_network_transfer_bytes": 0.03e9
            / 24
            * _hour_noise(model, day, "neon:stg")[hour],
        }
    else:
        root = 14.5e9 * _growth(t)
        cu = 0.25 + 0.2 * model.growth(day) * model.weekly(day) * diurnal
        cu = min(2.0, cu * _hour_noise(model, day, "neon:cu")[hour])
        active = 0.0 if hour in _suspended_hours(model, day) else 1.0
        branch_hours, branch_bytes = child_branches(model, t)
        transfer = 1.4e9 * model.level(day, "neon:egress") * model.hour_share(hour)
        values = {
            "compute_unit_seconds": cu * 3600 * active + REPLICA_CU * 3600,
            "root_branch_bytes_month": root,
            "child_branch_bytes_month": branch_bytes,
            "instant_restore_bytes_month": 0.12 * root,
            "snapshot_storage_bytes_month": 0.1 * root if t >= SNAPSHOTS_FROM else 0.0,
            "public_network_transfer_bytes": transfer,
            "extra_branches_month": branch_hours,
        }
    return {k: round(v) for k, v in values.items() if round(v) > 0}


def bucket_metrics(
    model: DemoModel, project_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Sum of the hourly values over [start, end)."""
    totals: dict[str, int] = {}
    t = start
    while t < end:
        for k, v in hour_metrics(model, project_id, t).items():
            totals[k] = totals.get(k, 0) + v
        t += HOUR
    return totals


# -- HTTP routes ------------------------------------------------------------------------------
def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    path = request.url.path.rstrip("/")
    if path.endswith("/consumption_history/v2/projects"):
        return _consumption(request, ctx)
    if path.endswith("/users/me/organizations"):
        return httpx.Response(200, json={"organizations": [_org()]})
    if path.endswith("/projects"):
        return _projects(request)
    return _error(404, f"no route {path}")


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"request_id": str(uuid.uuid4()), "message": message})


def _org() -> dict[str, Any]:
    return {
        "id": ORG_ID,
        "name": "contribux",
        "handle": "contribux-demo",
        "plan": PLAN,
        "created_at": "2024-01-05T09:12:44Z",
        "managed_by": "console",
        "updated_at": "2025-08-13T00:00:00Z",
    }


def _page(
    q: httpx.QueryParams, max_limit: int, items: tuple[DemoProject, ...]
) -> tuple[DemoProject, ...] | httpx.Response:
    """The slice of ``items`` after ``cursor`` (a project id), ``limit`` long."""
    try:
        limit = int(q.get("limit") or 10)
    except ValueError:
        return _error(400, "limit must be an integer")
    if not 1 <= limit <= max_limit:
        return _error(400, f"limit must be between 1 and {max_limit}")
    cursor = q.get("cursor")
    ids = [p.id for p in items]
    if cursor and cursor not in ids:
        return _error(400, f"invalid cursor {cursor!r}")
    offset = ids.index(cursor) + 1 if cursor else 0
    return items[offset : offset + limit]


def _pagination(chunk: tuple[DemoProject, ...], q: httpx.QueryParams) -> dict[str, Any]:
    cursor = chunk[-1].id if chunk else q.get("cursor")
    return {"cursor": cursor} if cursor else {}


def _projects(request: httpx.Request) -> httpx.Response:
    q = request.url.params
    org = q.get("org_id")
    if not org:
        return _error(400, "org_id is required for a personal API key")
    if org != ORG_ID:
        return _error(404, "organization not found or you are not a member")
    chunk = _page(q, 400, PROJECTS)
    if isinstance(chunk, httpx.Response):
        return chunk
    body = {
        "projects": [_project_object(p) for p in chunk],
        "pagination": _pagination(chunk, q),
        "applications": {},
        "integrations": {},
    }
    return httpx.Response(200, json=body)


def _project_object(p: DemoProject) -> dict[str, Any]:
    return {
        "id": p.id,
        "platform_id": "aws",
        "region_id": p.region_id,
        "name": p.name,
        "provisioner": "k8s-neonvm",
        "default_endpoint_settings": {
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 2,
            "suspend_timeout_seconds": 0,
        },
        "pg_version": 17,
        "proxy_host": "us-east-2.aws.neon.tech",
        "store_passwords": True,
        "creation_source": "console",
        "history_retention_seconds": 86400,
        "created_at": _rfc(p.created_at),
        "updated_at": "2026-01-01T00:00:00Z",
        "owner_id": "demo-owner",
        "org_id": ORG_ID,
    }


def _rfc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _floor(t: datetime, g: str) -> datetime:
    t = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if g != "hourly":
        t = t.replace(hour=0)
    return t.replace(day=1) if g == "monthly" else t


def _next(t: datetime, g: str) -> datetime:
    if g == "monthly":
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    return t + (HOUR if g == "hourly" else timedelta(days=1))


def _consumption(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    q = request.url.params
    parsed = _consumption_query(q, ctx.clock.now())
    if isinstance(parsed, httpx.Response):
        return parsed
    start, end, g, metrics = parsed
    chunk = _page(q, 100, _selected(q))
    if isinstance(chunk, httpx.Response):
        return chunk
    # Data lands with a delay: only hours that have ended count.
    cutoff = min(end, _floor(ctx.clock.now(), "hourly"))
    projects = [
        {"project_id": p.id, "periods": _periods(ctx.model, p, start, end, cutoff, g, metrics)}
        for p in chunk
    ]
    return httpx.Response(200, json={"projects": projects, "pagination": _pagination(chunk, q)})


def _consumption_query(
    q: httpx.QueryParams, now: datetime
) -> tuple[datetime, datetime, str, list[str]] | httpx.Response:
    org = q.get("org_id")
    if not org:
        return _error(400, "org_id is required")
    if org != ORG_ID:
        return _error(404, "account is not a member of the organization specified by org_id")
    g = q.get("granularity", "")
    if g not in LOOKBACK:
        return _error(400, "granularity must be one of hourly, daily, monthly")
    metrics = [m for value in q.get_list("metrics") for m in value.split(",") if m]
    unknown = sorted(set(metrics) - set(METRICS))
    if not metrics or unknown:
        return _error(400, f"metrics is required; unknown metric(s): {', '.join(unknown) or '-'}")
    try:
        start = _floor(_parse(q["from"]), g)
        end = _floor(_parse(q["to"]), g)
    except (KeyError, ValueError):
        return _error(400, "from and to are required RFC 3339 date-times")
    if start < now - LOOKBACK[g] or start < HISTORY_START:
        return _error(406, f"the requested range is outside the boundaries of the {g} granularity")
    return start, end, g, metrics


def _parse(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(text)
    return t.astimezone(UTC)


def _selected(q: httpx.QueryParams) -> tuple[DemoProject, ...]:
    wanted = {i for v in q.get_list("project_ids") for i in v.split(",") if i}
    return tuple(p for p in PROJECTS if not wanted or p.id in wanted)


def _periods(
    model: DemoModel,
    p: DemoProject,
    start: datetime,
    end: datetime,
    cutoff: datetime,
    g: str,
    metrics: list[str],
) -> list[dict[str, Any]]:
    """Billing periods (calendar months) holding the non-empty buckets of [start, end)."""
    periods: dict[datetime, dict[str, Any]] = {}
    t = start
    while t < end and t < cutoff:
        values = bucket_metrics(model, p.id, max(t, p.created_at), min(_next(t, g), cutoff))
        chosen = [{"metric_name": m, "value": values[m]} for m in metrics if m in values]
        if chosen:
            month = _floor(t, "monthly")
            period = periods.setdefault(month, _period(p, month, cutoff))
            period["consumption"].append(
                {"timeframe_start": _rfc(t), "timeframe_end": _rfc(_next(t, g)), "metrics": chosen}
            )
        t = _next(t, g)
    return list(periods.values())


def _period(p: DemoProject, month: datetime, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "period_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"neon-demo:{p.id}:{month:%Y-%m}")),
        "period_plan": PLAN,
        "period_start": _rfc(max(month, p.created_at)),
    }
    end = _next(month, "monthly")
    if end <= now:  # the period in progress has no end yet
        out["period_end"] = _rfc(end)
    out["consumption"] = []
    return out
