"""Neon consumption history v2 (usage-based plans: Launch, Scale, Agent, Enterprise).

``GET /consumption_history/v2/projects`` pages over *projects* (``limit`` ≤ 100 per page, each page
holds the whole time series of its projects) with ``pagination.cursor`` = the last project's id.
Neon returns a cursor on the last page too, so the walk stops on an empty page or a cursor that
does not advance. Lookback per granularity: hourly 168 h, daily 60 days, monthly 1 year (older →
406), so every calendar month is fetched at the finest granularity still allowed for it (daily
while it fits in 60 days, else monthly). Raw units are converted to billing units: CU-seconds →
CU-hours (/3600); ``*_bytes_month`` byte-hours → GB-months (/744/1e9, Neon's fixed 744-hour
month, decimal GB); transfer bytes → GB (/1e9); ``extra_branches_month`` branch-hours of *all*
child branches → branch-months (/744; the plan allowance is subtracted by pricing, not here).

``metrics`` is sent as one comma-separated value (the form Neon's own examples use). Requests
share the ``neon`` rate limiter of :class:`HttpClients` (~30 requests/minute per account).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import AUTH_STATUSES, get_json
from contribux_costs.collect.neon_settings import SETTINGS, settings_slice
from contribux_costs.collect.paginate import CursorPaginator
from contribux_costs.errors import CollectError, ConfigError, SchemaError
from contribux_costs.periods import Window, parse_utc
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "neon"
CONSUMPTION = "consumption_history/v2/projects"
ORGS = "users/me/organizations"
PROJECTS = "projects"
Granularity = Literal["hourly", "daily", "monthly"]
ORDER: tuple[Granularity, ...] = ("hourly", "daily", "monthly")
LOOKBACK: dict[Granularity, timedelta] = {
    "hourly": timedelta(hours=168),
    "daily": timedelta(days=60),
    "monthly": timedelta(days=365),
}
PAGE_LIMIT = 100  # projects per consumption page (the API maximum)
PROJECTS_PAGE_LIMIT = 400  # projects per page of GET /projects (the API maximum)
HOURS_PER_MONTH = 744  # Neon's fixed billing month (31 × 24 h), whatever the calendar says
GB = 1e9
BYTE_MONTH = HOURS_PER_MONTH * GB  # byte-hours in one GB-month
# source metric → (tidy metric, unit, service, divisor from the raw unit)
CONVERSIONS: dict[str, tuple[str, str, str, float]] = {
    "compute_unit_seconds": ("cu_hours", "CU-hours", "compute", 3600.0),
    "root_branch_bytes_month": ("root_branch_gb_months", "GB-months", "storage", BYTE_MONTH),
    "child_branch_bytes_month": ("child_branch_gb_months", "GB-months", "storage", BYTE_MONTH),
    "instant_restore_bytes_month": (
        "instant_restore_gb_months",
        "GB-months",
        "storage",
        BYTE_MONTH,
    ),
    "snapshot_storage_bytes_month": (
        "snapshot_storage_gb_months",
        "GB-months",
        "storage",
        BYTE_MONTH,
    ),
    "public_network_transfer_bytes": ("public_transfer_gb", "GB", "transfer", GB),
    "private_network_transfer_bytes": ("private_transfer_gb", "GB", "transfer", GB),
    "extra_branches_month": (
        "extra_branch_months",
        "branch-months",
        "branches",
        float(HOURS_PER_MONTH),
    ),
}
METRICS = tuple(CONVERSIONS)
HINTS = {
    406: (
        "{from}..{to} is outside Neon's consumption lookback for {granularity} granularity "
        "(hourly: last 168 h, daily: last 60 days, monthly: last year). Collect a more recent "
        "month; Neon keeps only 1 year of consumption history."
    ),
    403: (
        "the plan of organization {org_id} is not eligible for the consumption history API: it "
        "serves Launch, Scale, Agent and Enterprise plans, not the Free plan."
    ),
    404: (
        "the API key is not a member of organization {org_id}: check NEON_ORG_ID (or unset it to "
        "discover the organization from /users/me/organizations)."
    ),
}


@dataclass(frozen=True)
class Page:
    """One response page: its items, the body as received, what was asked and when."""

    items: list[dict[str, Any]]
    body: str
    params: dict[str, object]
    fetched_at: datetime


# -- windows and granularity ------------------------------------------------------------------
def floor_to(t: datetime, g: Granularity) -> datetime:
    """Start of the ``g`` bucket holding ``t`` (UTC), as Neon rounds ``from``/``to``."""
    t = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if g in ("daily", "monthly"):
        t = t.replace(hour=0)
    return t.replace(day=1) if g == "monthly" else t


def next_bucket(t: datetime, g: Granularity) -> datetime:
    """Start of the bucket after the one starting at ``t``."""
    if g == "hourly":
        return t + timedelta(hours=1)
    if g == "daily":
        return t + timedelta(days=1)
    return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)


def choose_granularity(
    start: datetime, now: datetime, prefer: Granularity = "daily"
) -> Granularity:
    """The finest granularity from ``prefer`` whose lookback still covers ``start``.

    >>> choose_granularity(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
    'daily'
    """
    for g in ORDER[ORDER.index(prefer) :]:
        if floor_to(start, g) >= now - LOOKBACK[g]:
            return g
    raise CollectError(
        PROVIDER,
        CONSUMPTION,
        f"{start:%Y-%m-%d} is older than 1 year: Neon keeps only 1 year of consumption history "
        "(monthly granularity), so this window cannot be collected any more.",
    )


def aligned_window(window: Window, g: Granularity, now: datetime) -> Window | None:
    """``window`` on ``g`` bucket bounds: the start rounded down; the end rounded up when that
    bucket has fully ended by ``now``, else down (the bucket in progress comes next run)."""
    start = floor_to(window.start, g)
    end = floor_to(window.end, g)
    if end < window.end and next_bucket(end, g) <= now:
        end = next_bucket(end, g)
    return Window(start, end) if end > start else None


def month_pieces(window: Window) -> list[Window]:
    """``window`` cut at UTC month starts (each month gets its own granularity)."""
    out, cur = [], window.start
    while cur < window.end:
        nxt = min(next_bucket(floor_to(cur, "monthly"), "monthly"), window.end)
        out.append(Window(cur, nxt))
        cur = nxt
    return out


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the collector ------------------------------------------------------------------------------
@dataclass
class NeonCollector:
    """Collects per-project consumption (converted to billing units) for one organization."""

    page_limit: int = PAGE_LIMIT
    provider: str = PROVIDER
    # Also snapshot branches and compute settings (one task per run); the runner's collector
    # does, a bare consumption collector (tests, benches) does not.
    snapshot_settings: bool = False
    _org: str | None = field(default=None, repr=False)
    _names: dict[str, str] | None = field(default=None, repr=False)

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        window = window.clamp_end(ctx.now())
        tasks = [Task(CONSUMPTION, piece) for piece in month_pieces(window)]
        if not self.snapshot_settings:
            return tasks
        # Branches and compute settings are a snapshot of "now": one per run.
        now = ctx.now()
        return [*tasks, Task(SETTINGS, Window(now, now + timedelta(microseconds=1)))]

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        if task.endpoint == SETTINGS:
            return self.fetch_settings(ctx)
        now = ctx.now()
        g = choose_granularity(task.window.start, now)
        window = aligned_window(task.window, g, now)
        if window is None and g == "daily":  # only today so far: hours are available
            g = "hourly"
            window = aligned_window(task.window, g, now)
        if window is None:
            return SliceWrite(PROVIDER, CONSUMPTION, task.window, {"usage": pl.DataFrame()})
        org = self.org_id(ctx)
        params: dict[str, object] = {
            "org_id": org,
            "from": rfc3339(window.start),
            "to": rfc3339(window.end),
            "granularity": g,
            "metrics": ",".join(METRICS),
            "limit": self.page_limit,
        }
        try:
            pages = walk(ctx, CONSUMPTION, params, "projects")
        except CollectError as exc:
            raise neon_error(exc, params) from None
        projects = unique_projects([p for page in pages for p in page.items])
        frame = usage_frame(projects, self.project_names(ctx, org), g, window)
        raw = [RawPage(p.params, p.fetched_at, p.body) for p in pages]
        return SliceWrite(PROVIDER, CONSUMPTION, window, {"usage": frame}, raw)

    def fetch_settings(self, ctx: CollectContext) -> SliceWrite:
        """Every project's branches (with their consumption) and computes (with settings)."""
        org = self.org_id(ctx)
        ids = sorted(self.project_names(ctx, org))
        pages = {
            pid: (
                walk(ctx, f"projects/{pid}/branches", {}, "branches"),
                walk(ctx, f"projects/{pid}/endpoints", {}, "endpoints"),
            )
            for pid in ids
        }
        return settings_slice(ctx, ids, pages)

    def org_id(self, ctx: CollectContext) -> str:
        """``NEON_ORG_ID``, else the single organization the key belongs to."""
        if ctx.settings.neon_org_id:
            return ctx.settings.neon_org_id
        if self._org is None:
            client, caller = ctx.clients.client("neon"), ctx.clients.caller(PROVIDER)
            parsed, _ = caller.call(ORGS, lambda: get_json(client, ORGS))
            orgs = _list_of_objects(parsed, "organizations", ORGS)
            ids = [str(o.get("id")) for o in orgs if o.get("id")]
            if len(ids) != 1:
                found = f"{len(ids)} organizations ({', '.join(ids)})" if ids else "none"
                raise ConfigError(
                    f"neon: cannot pick the organization to collect, the API key sees {found}: "
                    "set NEON_ORG_ID in the environment or .env"
                )
            self._org = ids[0]
        return self._org

    def project_names(self, ctx: CollectContext, org: str) -> dict[str, str]:
        """Project id → name, listed once per run (``GET /projects``, cursor paging)."""
        if self._names is None:
            pages = walk(ctx, PROJECTS, {"org_id": org, "limit": PROJECTS_PAGE_LIMIT}, "projects")
            self._names = {
                str(p["id"]): str(p.get("name") or p["id"])
                for page in pages
                for p in page.items
                if p.get("id")
            }
        return self._names


def walk(ctx: CollectContext, path: str, params: dict[str, object], key: str) -> list[Page]:
    """Every page of a Neon cursor-paged list.

    Neon answers every page, the last one included, with ``pagination.cursor`` = the last item's
    id; the list ends with an empty page or a cursor equal to the one sent. A cursor that jumps
    back to an earlier one is an error (:class:`CursorPaginator`).
    """
    client, caller = ctx.clients.client("neon"), ctx.clients.caller(PROVIDER)
    paginator = CursorPaginator(PROVIDER, path)
    pages: list[Page] = []
    for cursor in paginator:
        sent = dict(params) if cursor is None else {**params, "cursor": cursor}
        parsed, body = caller.call(path, lambda s=sent: get_json(client, path, s))  # type: ignore[misc]
        items = _list_of_objects(parsed, key, path)
        nxt = _cursor(parsed, path)
        pages.append(Page(items, body, sent, ctx.now()))
        paginator.advance(None if not items or nxt == cursor else nxt)
    return pages


def neon_error(exc: CollectError, params: dict[str, object]) -> CollectError:
    """The retry policy's error, made specific to Neon's consumption API for 403/404/406."""
    hint = HINTS.get(exc.status or 0)
    if hint is None:
        return exc
    # Keep Neon's own words (the body), not the generic hint the retry policy put first; an auth
    # failure's body never reaches a message (it may quote the key): only Neon's error code.
    text = str(exc)
    if exc.status in AUTH_STATUSES:
        code = text.partition("Provider error code: ")[2]
        msg = hint.format(**params) + (f" Neon error code: {code}" if code else "")
        return CollectError(PROVIDER, exc.endpoint, msg, exc.status)
    detail = text.split(": ", 1)[-1].split("Response: ", 1)[-1]
    msg = hint.format(**params) + f" Neon said: {detail}"
    return CollectError(PROVIDER, exc.endpoint, msg, exc.status)


def _list_of_objects(parsed: object, key: str, endpoint: str) -> list[dict[str, Any]]:
    items = parsed.get(key) if isinstance(parsed, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SchemaError(PROVIDER, endpoint, f"response has no {key!r} list of objects")
    return items


def _cursor(parsed: object, endpoint: str) -> str | None:
    pagination = parsed.get("pagination") if isinstance(parsed, dict) else None
    if pagination is None:
        return None
    if not isinstance(pagination, dict):
        raise SchemaError(PROVIDER, endpoint, "'pagination' is not an object")
    cursor = pagination.get("cursor")
    return str(cursor) if cursor else None


def unique_projects(projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each project once (a page repeated by a misbehaving cursor must not count twice)."""
    seen: set[str] = set()
    out = []
    for p in projects:
        pid = p.get("project_id")
        if not isinstance(pid, str) or not pid:
            raise SchemaError(PROVIDER, CONSUMPTION, "a project has no 'project_id'")
        if pid not in seen:
            seen.add(pid)
            out.append(p)
    return out


# -- rows -----------------------------------------------------------------------------------------
_RAW_SCHEMA: dict[str, pl.DataType] = {
    "resource_id": pl.String(),
    "plan": pl.String(),
    "source_metric": pl.String(),
    "raw_value": pl.Float64(),
    "period_start": pl.Datetime("us", "UTC"),
    "period_end": pl.Datetime("us", "UTC"),
}


def usage_frame(
    projects: list[dict[str, Any]], names: dict[str, str], granularity: str, window: Window
) -> pl.DataFrame:
    """Nested projects → tidy ``usage`` rows in billing units, one per (project, bucket, metric).

    Buckets outside ``window`` belong to the neighbouring slice and are left to it.
    """
    cols: dict[str, list[Any]] = {k: [] for k in _RAW_SCHEMA}
    stamps: dict[str, datetime] = {}
    for project in projects:
        for period in _objects(project, "periods"):
            plan = period.get("period_plan")
            for bucket in _objects(period, "consumption"):
                start = _stamp(bucket, "timeframe_start", stamps)
                end = _stamp(bucket, "timeframe_end", stamps)
                for m in _objects(bucket, "metrics"):
                    name, raw_value = _metric(m)
                    cols["resource_id"].append(project["project_id"])
                    cols["plan"].append(None if plan is None else str(plan))
                    cols["source_metric"].append(name)
                    cols["raw_value"].append(raw_value)
                    cols["period_start"].append(start)
                    cols["period_end"].append(end)
    raw = pl.DataFrame(cols, schema=_RAW_SCHEMA).filter(
        pl.col("period_start").is_between(window.start, window.end, closed="left")
    )
    if raw.height == 0:
        return pl.DataFrame()
    return _tidy(raw, names, granularity)


def _tidy(raw: pl.DataFrame, names: dict[str, str], granularity: str) -> pl.DataFrame:
    conv = pl.DataFrame(
        {
            "source_metric": list(CONVERSIONS),
            "metric": [c[0] for c in CONVERSIONS.values()],
            "unit": [c[1] for c in CONVERSIONS.values()],
            "service": [c[2] for c in CONVERSIONS.values()],
            "divisor": [c[3] for c in CONVERSIONS.values()],
        }
    )
    # A metric Neon adds later is kept in its raw unit rather than dropped.
    joined = raw.join(conv, on="source_metric", how="left").with_columns(
        pl.col("metric").fill_null(pl.col("source_metric")),
        pl.col("unit").fill_null(pl.lit("raw")),
        pl.col("service").fill_null(pl.lit("other")),
        pl.col("divisor").fill_null(1.0),
    )
    return joined.select(
        pl.lit(PROVIDER).alias("provider"),
        pl.lit(CONSUMPTION).alias("endpoint"),
        pl.col("service"),
        pl.col("resource_id"),
        pl.col("resource_id")
        .replace_strict(names, default=pl.col("resource_id"))
        .alias("resource_name"),
        pl.col("metric"),
        pl.col("unit"),
        pl.col("period_start"),
        pl.col("period_end"),
        pl.lit(granularity).alias("granularity"),
        (pl.col("raw_value") / pl.col("divisor")).alias("value"),
        pl.struct("plan", "source_metric").struct.json_encode().alias("dimensions"),
        pl.col("period_start").dt.date().alias("billing_date"),
    )


def _objects(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    # Neon omits empty lists in places; a missing list is an empty one.
    items = parent.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SchemaError(PROVIDER, CONSUMPTION, f"{key!r} is not a list of objects")
    return items


def _stamp(bucket: dict[str, Any], key: str, cache: dict[str, datetime]) -> datetime:
    text = bucket.get(key)
    if not isinstance(text, str):
        raise SchemaError(PROVIDER, CONSUMPTION, f"a consumption bucket has no {key!r}")
    if text not in cache:
        try:
            cache[text] = parse_utc(text)
        except ValueError:
            raise SchemaError(PROVIDER, CONSUMPTION, f"{key} {text!r} is not RFC 3339") from None
    return cache[text]


def _metric(m: dict[str, Any]) -> tuple[str, float]:
    name, value = m.get("metric_name"), m.get("value")
    if not isinstance(name, str) or not name:
        raise SchemaError(PROVIDER, CONSUMPTION, "a metric has no 'metric_name'")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(PROVIDER, CONSUMPTION, f"{name} value {value!r} is not a number")
    return name, float(value)


def make_collector(settings: object) -> NeonCollector:
    """The Neon consumption collector (daily buckets while Neon keeps them, monthly after)."""
    return NeonCollector(snapshot_settings=True)
