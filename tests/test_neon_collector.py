"""Neon consumption v2 collector against payloads in the API's real format."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from contribux_costs.collect import neon
from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RateLimiter, RetryPolicy, default_limiters
from contribux_costs.collect.neon import (
    CONSUMPTION,
    METRICS,
    NeonCollector,
    aligned_window,
    choose_granularity,
    make_collector,
)
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, ConfigError, SchemaError
from contribux_costs.periods import Window

FIXTURES = Path(__file__).parent / "fixtures" / "neon"
KEY = "napi_PLANTED-neon-secret-0123456789"
ORG = "org-ocean-art-12345678"
NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(JAN, JAN + timedelta(days=3))
PATH = "/api/v2/consumption_history/v2/projects"
A, B = "delicate-dawn-54854667", "cold-poetry-09157238"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


Route = dict[str, dict[str, Any]]  # cursor ("" for the first page) → body


class FakeNeon:
    """Serves fixture pages per path and cursor; ``before`` responses go out first."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.before: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before:
            return self.before.pop(0)
        pages = self.routes.get(request.url.path.removeprefix("/api/v2/"))
        if pages is None:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(200, json=pages[request.url.params.get("cursor", "")])

    def to(self, path: str) -> list[httpx.QueryParams]:
        return [r.url.params for r in self.requests if r.url.path == path]


def standard_routes() -> dict[str, Route]:
    return {
        "users/me/organizations": {"": load("organizations")},
        "projects": {"": load("projects_page1"), "quiet-snow-71788278": load("projects_empty")},
        CONSUMPTION: {
            "": load("consumption_daily_p1"),
            A: load("consumption_daily_p2"),
            B: load("consumption_empty"),
        },
    }


def make_ctx(
    fake: Callable[[httpx.Request], httpx.Response],
    org: str | None = ORG,
    now: datetime = NOW,
    sleeps: list[float] | None = None,
    limiters: dict[str, RateLimiter] | None = None,
) -> CollectContext:
    settings = Settings(neon_api_key=KEY, neon_org_id=org)
    record = sleeps.append if sleeps is not None else (lambda _s: None)
    policy = RetryPolicy(max_tries=3, sleep=record)
    clients = HttpClients(settings, httpx.MockTransport(fake), policy, limiters or {})
    return CollectContext(settings, clients, lambda: now)


def fetch(ctx: CollectContext, window: Window = WINDOW) -> pl.DataFrame:
    collector = NeonCollector()
    (task,) = collector.tasks(window, ctx)
    sw = collector.fetch(task, ctx)
    assert sw.provider == "neon" and sw.endpoint == CONSUMPTION
    return sw.tables["usage"]


def value(frame: pl.DataFrame, project: str, metric: str, day: int) -> float:
    row = frame.filter(
        (pl.col("resource_id") == project)
        & (pl.col("metric") == metric)
        & (pl.col("period_start") == JAN + timedelta(days=day - 1))
    )
    assert row.height == 1, row
    return float(row["value"][0])


# -- paging ---------------------------------------------------------------------------------
def test_walks_project_pages_with_the_documented_query() -> None:
    fake = FakeNeon(standard_routes())
    frame = fetch(make_ctx(fake))
    sent = fake.to(PATH)
    assert [q.get("cursor") for q in sent] == [None, A, B]  # the third page is empty: stop
    for q in sent:
        assert q["org_id"] == ORG
        assert q["granularity"] == "daily"
        assert q["from"] == "2026-01-01T00:00:00Z" and q["to"] == "2026-01-04T00:00:00Z"
        assert q["metrics"].split(",") == list(METRICS) and len(METRICS) == 8
        assert q["limit"] == "100"
    assert set(frame["resource_id"]) == {A, B}
    assert frame.height == 6 + 4 + 4 + 3 + 1


def test_project_names_come_from_the_project_list_with_id_fallback() -> None:
    fake = FakeNeon(standard_routes())
    frame = fetch(make_ctx(fake))
    names = dict(frame.select("resource_id", "resource_name").unique().iter_rows())
    assert names == {A: "contribux-prod", B: B}  # B was deleted: it is not listed any more
    listed = fake.to("/api/v2/projects")
    assert [q.get("cursor") for q in listed] == [None, "quiet-snow-71788278"]
    assert all(q["org_id"] == ORG and q["limit"] == "400" for q in listed)


def test_project_list_is_fetched_once_per_run() -> None:
    fake = FakeNeon(standard_routes())
    ctx, collector = make_ctx(fake), NeonCollector()
    for task in collector.tasks(Window(JAN - timedelta(days=10), JAN + timedelta(days=3)), ctx):
        collector.fetch(task, ctx)
    assert len(fake.to("/api/v2/projects")) == 2  # one walk (two pages) for two month tasks
    assert len(fake.to(PATH)) == 6


def test_stops_on_an_empty_page_without_pagination() -> None:
    routes = standard_routes()
    routes[CONSUMPTION][A] = {"projects": []}
    fake = FakeNeon(routes)
    frame = fetch(make_ctx(fake))
    assert [q.get("cursor") for q in fake.to(PATH)] == [None, A]
    assert set(frame["resource_id"]) == {A}


def test_a_cursor_that_does_not_advance_ends_the_walk() -> None:
    routes = standard_routes()
    stuck = load("consumption_daily_p2")
    stuck["pagination"]["cursor"] = A  # the cursor we sent comes back
    routes[CONSUMPTION][A] = stuck
    fake = FakeNeon(routes)
    frame = fetch(make_ctx(fake))
    assert [q.get("cursor") for q in fake.to(PATH)] == [None, A]
    assert value(frame, B, "cu_hours", 1) == pytest.approx(6.0)


def test_a_repeated_page_is_not_counted_twice() -> None:
    routes = standard_routes()
    routes[CONSUMPTION][A] = {**load("consumption_daily_p1"), "pagination": {"cursor": "x"}}
    routes[CONSUMPTION]["x"] = load("consumption_empty")
    frame = fetch(make_ctx(FakeNeon(routes)))
    assert value(frame, A, "cu_hours", 1) == pytest.approx(500_000 / 3600)


def test_a_cursor_that_jumps_back_is_a_schema_error() -> None:
    routes = standard_routes()
    routes[CONSUMPTION][A] = {**load("consumption_daily_p2"), "pagination": {"cursor": B}}
    routes[CONSUMPTION][B] = {**load("consumption_daily_p2"), "pagination": {"cursor": A}}
    with pytest.raises(SchemaError, match="repeated"):
        fetch(make_ctx(FakeNeon(routes)))


# -- units and rows -----------------------------------------------------------------------------
def test_units_are_converted_as_neon_bills_them() -> None:
    frame = fetch(make_ctx(FakeNeon(standard_routes())))
    assert value(frame, A, "cu_hours", 1) == pytest.approx(138.888888889)  # 500,000 CU-s
    assert value(frame, A, "root_branch_gb_months", 1) == pytest.approx(1.0)  # 744e9 B·h
    assert value(frame, A, "child_branch_gb_months", 1) == pytest.approx(2.0)
    assert value(frame, A, "public_transfer_gb", 1) == pytest.approx(2.5)
    assert value(frame, A, "extra_branch_months", 1) == pytest.approx(288 / 744)
    assert value(frame, A, "snapshot_storage_gb_months", 3) == pytest.approx(7500 / 744)
    assert value(frame, A, "private_transfer_gb", 3) == pytest.approx(1.0)
    assert value(frame, A, "cu_hours", 3) == pytest.approx(2.0)
    assert value(frame, B, "cu_hours", 3) == pytest.approx(21600.5 / 3600)


def test_rows_follow_the_usage_conventions() -> None:
    frame = fetch(make_ctx(FakeNeon(standard_routes())))
    units = dict(frame.select("metric", "unit").unique().iter_rows())
    services = dict(frame.select("metric", "service").unique().iter_rows())
    assert units["cu_hours"] == "CU-hours" and services["cu_hours"] == "compute"
    assert (
        units["root_branch_gb_months"] == "GB-months"
        and services["root_branch_gb_months"] == "storage"
    )
    assert units["public_transfer_gb"] == "GB" and services["public_transfer_gb"] == "transfer"
    assert units["extra_branch_months"] == "branch-months"
    assert services["extra_branch_months"] == "branches"
    assert set(frame["granularity"]) == {"daily"}
    day1 = frame.filter((pl.col("resource_id") == A) & (pl.col("metric") == "cu_hours"))
    dims = [json.loads(d) for d in day1.sort("period_start")["dimensions"]]
    assert dims[0] == {"plan": "launch", "source_metric": "compute_unit_seconds"}
    assert dims[1]["plan"] == "scale"  # the plan changed mid-window: each bucket keeps its own
    first = day1.sort("period_start").row(0, named=True)
    assert first["period_end"] - first["period_start"] == timedelta(days=1)
    assert str(first["billing_date"]) == "2026-01-01"


def test_a_metric_neon_adds_later_is_kept_raw() -> None:
    frame = fetch(make_ctx(FakeNeon(standard_routes())))
    new = frame.filter(pl.col("metric") == "object_storage_bytes_month")
    assert new["unit"].to_list() == ["raw"] and new["value"].to_list() == [5.0]


def test_buckets_outside_the_window_are_left_to_the_neighbouring_slice() -> None:
    routes = standard_routes()
    page = load("consumption_daily_p2")
    page["projects"][0]["periods"][0]["consumption"].append(
        {
            "timeframe_start": "2026-01-04T00:00:00Z",  # an inclusive ``to`` would add this
            "timeframe_end": "2026-01-05T00:00:00Z",
            "metrics": [{"metric_name": "compute_unit_seconds", "value": 3600}],
        }
    )
    routes[CONSUMPTION][A] = page
    frame = fetch(make_ctx(FakeNeon(routes)))
    assert frame["period_start"].max() == JAN + timedelta(days=2)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.pop("projects"), "'projects'"),
        (lambda p: p["projects"][0].pop("project_id"), "project_id"),
        (
            lambda p: p["projects"][0]["periods"][0]["consumption"][0].pop("timeframe_start"),
            "timeframe_start",
        ),
        (
            lambda p: p["projects"][0]["periods"][0]["consumption"][0]["metrics"][0].update(
                value="x"
            ),
            "not a number",
        ),
        (lambda p: p.update(pagination="abc"), "pagination"),
    ],
)
def test_malformed_pages_are_schema_errors(
    mutate: Callable[[dict[str, Any]], object], match: str
) -> None:
    routes = standard_routes()
    mutate(routes[CONSUMPTION][""])
    with pytest.raises(SchemaError, match=match):
        fetch(make_ctx(FakeNeon(routes)))


# -- granularity and windows --------------------------------------------------------------------
def test_granularity_follows_the_lookback_limits() -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    ago = lambda **kw: now - timedelta(**kw)  # noqa: E731
    assert choose_granularity(ago(hours=100), now, prefer="hourly") == "hourly"
    assert choose_granularity(ago(hours=170), now, prefer="hourly") == "daily"
    assert choose_granularity(datetime(2026, 11, 1, tzinfo=UTC), now) == "daily"
    assert choose_granularity(datetime(2026, 10, 1, tzinfo=UTC), now) == "daily"  # 55 days
    assert choose_granularity(datetime(2026, 9, 1, tzinfo=UTC), now) == "monthly"  # 85 days
    assert choose_granularity(datetime(2025, 12, 1, tzinfo=UTC), now) == "monthly"
    # the day is rounded down before the check: 60 days minus a few hours is already too old
    assert choose_granularity(ago(days=59, hours=23), now) == "monthly"
    with pytest.raises(CollectError, match="only 1 year") as info:
        choose_granularity(datetime(2025, 11, 1, tzinfo=UTC), now)
    assert info.value.provider == "neon" and info.value.endpoint == CONSUMPTION


def test_windows_align_to_buckets_without_asking_for_the_future() -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    t = lambda d, h=0: datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    assert aligned_window(Window(t(1), now), "daily", now) == Window(t(1), t(25))
    assert aligned_window(Window(t(20, 5), t(22, 7)), "daily", now) == Window(t(20), t(23))
    assert aligned_window(Window(t(25, 1), now), "daily", now) is None
    assert aligned_window(Window(t(25, 1), now), "hourly", now) == Window(t(25, 1), t(25, 10))
    sept = Window(datetime(2026, 9, 10, tzinfo=UTC), datetime(2026, 9, 20, tzinfo=UTC))
    assert aligned_window(sept, "monthly", now) == Window(
        datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    )


def test_tasks_are_calendar_months_cut_at_now() -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    ctx = make_ctx(FakeNeon({}), now=now)
    window = Window(datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    tasks = NeonCollector().tasks(window, ctx)
    assert tasks == [
        Task(CONSUMPTION, Window(window.start, datetime(2026, 11, 1, tzinfo=UTC))),
        Task(CONSUMPTION, Window(datetime(2026, 11, 1, tzinfo=UTC), now)),
    ]


def test_an_old_month_is_fetched_monthly() -> None:
    fake = FakeNeon(
        {
            "projects": standard_routes()["projects"],
            CONSUMPTION: {"": load("consumption_monthly"), A: load("consumption_empty")},
        }
    )
    sept = Window(datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))
    collector = NeonCollector()
    ctx = make_ctx(fake)
    (task,) = collector.tasks(sept, ctx)
    sw = collector.fetch(task, ctx)
    q = fake.to(PATH)[0]
    assert (q["granularity"], q["from"], q["to"]) == (
        "monthly",
        "2025-09-01T00:00:00Z",
        "2025-10-01T00:00:00Z",
    )
    frame = sw.tables["usage"]
    assert set(frame["granularity"]) == {"monthly"}
    assert value_of(frame, "cu_hours") == pytest.approx(500.0)
    assert value_of(frame, "extra_branch_months") == pytest.approx(21600 / 744)


def value_of(frame: pl.DataFrame, metric: str) -> float:
    return float(frame.filter(pl.col("metric") == metric)["value"].sum())


def test_today_alone_is_fetched_hourly() -> None:
    now = datetime(2026, 1, 20, 12, 40, tzinfo=UTC)
    routes = standard_routes()
    routes[CONSUMPTION] = {"": {"projects": []}}
    fake = FakeNeon(routes)
    collector = NeonCollector()
    ctx = make_ctx(fake, now=now)
    (task,) = collector.tasks(Window(datetime(2026, 1, 20, tzinfo=UTC), now), ctx)
    sw = collector.fetch(task, ctx)
    q = fake.to(PATH)[0]
    assert (q["granularity"], q["from"], q["to"]) == (
        "hourly",
        "2026-01-20T00:00:00Z",
        "2026-01-20T12:00:00Z",
    )
    assert sw.window == Window(
        datetime(2026, 1, 20, tzinfo=UTC), datetime(2026, 1, 20, 12, tzinfo=UTC)
    )


def test_a_window_older_than_a_year_fails_before_any_request() -> None:
    fake = FakeNeon(standard_routes())
    ctx = make_ctx(fake)
    old = Window(datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    (task,) = NeonCollector().tasks(old, ctx)
    with pytest.raises(CollectError, match="Neon keeps only 1 year"):
        NeonCollector().fetch(task, ctx)
    assert fake.requests == []


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            406,
            "the requested range is outside the boundaries",
            "2026-01-01T00:00:00Z..2026-01-04T00:00:00Z is outside Neon's consumption lookback "
            "for daily granularity",
        ),
        (403, "This endpoint is not available for your plan", "not the Free plan"),
        (404, "account is not a member of the organization", "not a member of organization " + ORG),
    ],
)
def test_consumption_errors_are_specific_to_neon(status: int, message: str, expected: str) -> None:
    fake = FakeNeon(standard_routes())
    body = {"request_id": "r1", "code": "FORBIDDEN", "message": message}
    fake.before = [httpx.Response(status, json=body)]
    with pytest.raises(CollectError) as info:
        fetch(make_ctx(fake))
    text = str(info.value)
    assert text.startswith(f"neon {CONSUMPTION} (HTTP {status}): ")
    assert expected in text
    # A 403 body stays out of the message beyond Neon's error code (issue 13): it may quote the key.
    if status == 403:
        assert message not in text and text.endswith("Neon error code: FORBIDDEN.")
    else:
        assert message in text
    assert info.value.status == status and KEY not in text
    assert len(fake.requests) == 1  # not retried


def test_404_hint_names_the_setting_to_fix() -> None:
    fake = FakeNeon(standard_routes())
    fake.before = [httpx.Response(404, json={"message": "no"})]
    with pytest.raises(CollectError, match="NEON_ORG_ID"):
        fetch(make_ctx(fake))


def test_429_with_retry_after_then_success() -> None:
    fake = FakeNeon(standard_routes())
    fake.before = [httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})]
    sleeps: list[float] = []
    frame = fetch(make_ctx(fake, sleeps=sleeps))
    assert sleeps == [7.0]
    assert fake.requests[0].url.path == fake.requests[1].url.path == PATH
    assert fake.requests[0].url.params == fake.requests[1].url.params
    assert value(frame, A, "cu_hours", 1) == pytest.approx(500_000 / 3600)


def test_bearer_key_is_sent() -> None:
    fake = FakeNeon(standard_routes())
    fetch(make_ctx(fake))
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {KEY}"}


# -- organization ---------------------------------------------------------------------------------
def test_organization_is_discovered_when_not_configured() -> None:
    fake = FakeNeon(standard_routes())
    fetch(make_ctx(fake, org=None))
    assert len(fake.to("/api/v2/users/me/organizations")) == 1
    assert {q["org_id"] for q in fake.to(PATH)} == {ORG}


def test_configured_organization_skips_discovery() -> None:
    fake = FakeNeon(standard_routes())
    fetch(make_ctx(fake, org="org-configured-1"))
    assert fake.to("/api/v2/users/me/organizations") == []
    assert {q["org_id"] for q in fake.to(PATH)} == {"org-configured-1"}


def test_several_organizations_ask_for_neon_org_id() -> None:
    routes = standard_routes()
    routes["users/me/organizations"] = {"": load("organizations_two")}
    fake = FakeNeon(routes)
    with pytest.raises(ConfigError, match="set NEON_ORG_ID") as info:
        fetch(make_ctx(fake, org=None))
    assert "org-bold-sun-87654321" in str(info.value)
    assert fake.to(PATH) == []


# -- rate limit -----------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_every_neon_request_goes_through_the_rate_limiter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=30, burst=2, clock=clock, sleep=clock.sleep)
    fake = FakeNeon(standard_routes())
    fetch(make_ctx(fake, org=None, limiters={"neon": limiter}))
    assert len(fake.requests) == 6  # organizations, 2 project pages, 3 consumption pages
    # a burst of 2, then one request every 2 s (30 per minute)
    assert clock.sleeps == pytest.approx([2.0, 2.0, 2.0, 2.0])


def test_default_neon_budget_is_30_requests_per_minute() -> None:
    limiter = default_limiters()["neon"]
    assert limiter.rate * 60 == pytest.approx(30)
    clients = HttpClients(Settings(neon_api_key=KEY))
    assert clients.caller("neon").limiter is clients.limiters["neon"]


def test_make_collector_builds_the_neon_collector() -> None:
    collector = make_collector(Settings())
    assert isinstance(collector, NeonCollector) and collector.provider == "neon"
    assert neon.PAGE_LIMIT == 100
