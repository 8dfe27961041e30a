"""The demo Neon API: real request/response shapes, lookback rules, paging, planted patterns."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.collect.base import CollectContext
from contribux_costs.collect.http import HttpClients
from contribux_costs.collect.neon import NeonCollector
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.demo import neon as demo
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
OCT = Month(2026, 10)
PROD, STAGING = demo.PROD.id, demo.STAGING.id


def rfc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api() -> httpx.Client:
    settings = Settings()
    transport = demo_transport(settings, clock=DemoClock(NOW))
    return httpx.Client(transport=transport, base_url=settings.neon_api_url + "/")


def consumption(api: httpx.Client, start: datetime, end: datetime, g: str, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "org_id": demo.ORG_ID,
        "from": rfc(start),
        "to": rfc(end),
        "granularity": g,
        "metrics": ",".join(demo.METRICS),
        **extra,
    }
    return api.get("consumption_history/v2/projects", params=params)


def totals(body: dict[str, Any], project: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in body["projects"]:
        if project and p["project_id"] != project:
            continue
        for period in p["periods"]:
            for bucket in period["consumption"]:
                for m in bucket["metrics"]:
                    out[m["metric_name"]] = out.get(m["metric_name"], 0) + m["value"]
    return out


def buckets(body: dict[str, Any], project: str) -> list[dict[str, Any]]:
    (p,) = [p for p in body["projects"] if p["project_id"] == project]
    return [b for period in p["periods"] for b in period["consumption"]]


# -- routes ---------------------------------------------------------------------------------
def test_organizations_and_projects(api: httpx.Client) -> None:
    orgs = api.get("users/me/organizations").json()["organizations"]
    assert [o["id"] for o in orgs] == ["org-contribux-demo"]
    first = api.get("projects", params={"org_id": demo.ORG_ID, "limit": 1}).json()
    assert [p["name"] for p in first["projects"]] == ["contribux-prod"]
    nxt = api.get(
        "projects",
        params={"org_id": demo.ORG_ID, "limit": 1, "cursor": first["pagination"]["cursor"]},
    ).json()
    assert [p["name"] for p in nxt["projects"]] == ["contribux-staging"]
    assert api.get("projects", params={"org_id": "org-other"}).status_code == 404


def test_consumption_pages_walk_projects(api: httpx.Client) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    seen, cursor = [], None
    for _ in range(3):
        extra = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        body = consumption(api, day, day + timedelta(days=2), "daily", **extra).json()
        seen.append([p["project_id"] for p in body["projects"]])
        cursor = body["pagination"]["cursor"]
    assert seen == [[PROD], [STAGING], []]
    assert cursor == STAGING  # the empty last page repeats the cursor it was given


@pytest.mark.parametrize(
    ("g", "age", "status"),
    [
        ("hourly", timedelta(hours=160), 200),
        ("hourly", timedelta(hours=170), 406),
        ("daily", timedelta(days=59), 200),
        ("daily", timedelta(days=61), 406),
        ("monthly", timedelta(days=330), 200),
        ("monthly", timedelta(days=380), 406),
    ],
)
def test_lookback_per_granularity(api: httpx.Client, g: str, age: timedelta, status: int) -> None:
    response = consumption(api, NOW - age, NOW, g)
    assert response.status_code == status
    if status == 406:
        assert "outside the boundaries" in response.json()["message"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"org_id": "org-someone-else"}, 404),
        ({"metrics": "compute_unit_seconds,cpu_seconds"}, 400),
        ({"granularity": "weekly"}, 400),
        ({"limit": 101}, 400),
        ({"cursor": "no-such-project"}, 400),
    ],
)
def test_bad_requests_are_refused(api: httpx.Client, params: dict[str, Any], status: int) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    query = {"org_id": demo.ORG_ID, "from": rfc(day), "to": rfc(NOW), "granularity": "daily"}
    query |= {"metrics": "compute_unit_seconds"} | params
    assert api.get("consumption_history/v2/projects", params=query).status_code == status


def test_metrics_filter_repeated_or_comma_separated(api: httpx.Client) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    wanted = ["compute_unit_seconds", "extra_branches_month"]
    comma = consumption(api, day, NOW, "daily", metrics=",".join(wanted)).json()
    repeated = consumption(api, day, NOW, "daily", metrics=wanted).json()
    assert comma == repeated
    assert set(totals(comma)) == set(wanted)


def test_from_and_to_are_rounded_down(api: httpx.Client) -> None:
    body = consumption(api, datetime(2026, 11, 20, 10, 45, tzinfo=UTC), NOW, "daily").json()
    days = [b["timeframe_start"] for b in buckets(body, PROD)]
    assert days[0] == "2026-11-20T00:00:00Z" and days[-1] == "2026-11-24T00:00:00Z"


def test_granularities_add_up_to_the_same_totals(api: httpx.Client) -> None:
    start = datetime(2026, 11, 19, tzinfo=UTC)
    end = datetime(2026, 11, 22, tzinfo=UTC)
    hourly = consumption(api, start, end, "hourly").json()
    daily = consumption(api, start, end, "daily").json()
    assert totals(hourly) == totals(daily)
    month = OCT.window
    assert totals(consumption(api, month.start, month.end, "daily").json()) == totals(
        consumption(api, month.start, month.end, "monthly").json()
    )


def test_staging_compute_never_scales_to_zero(api: httpx.Client) -> None:
    body = consumption(api, NOW - timedelta(hours=150), NOW, "hourly").json()
    staging = buckets(body, STAGING)
    assert len(staging) == 150
    assert {
        m["value"]
        for b in staging
        for m in b["metrics"]
        if m["metric_name"] == "compute_unit_seconds"
    } == {900}


def test_prod_is_active_most_hours_and_busiest_on_weekdays() -> None:
    model = DemoModel()
    hours = [OCT.window.start + timedelta(hours=i) for i in range(31 * 24)]
    cu = [demo.hour_metrics(model, PROD, t).get("compute_unit_seconds", 0) for t in hours]
    # The read replica (0.25 CU, never suspends) runs every hour; the read-write compute
    # suspends in some quiet hours: above the replica's CU-seconds is the primary's activity.
    replica = demo.REPLICA_CU * 3600
    assert min(cu) == replica
    active = sum(1 for v in cu if v > replica) / len(cu)
    assert 0.85 < active < 1.0
    weekday = [v for t, v in zip(hours, cu, strict=True) if t.weekday() < 5 and 15 <= t.hour < 22]
    weekend = [v for t, v in zip(hours, cu, strict=True) if t.weekday() >= 5 and 15 <= t.hour < 22]
    assert sum(weekday) / len(weekday) > 1.2 * sum(weekend) / len(weekend)


def test_branch_per_pr_sprawl_keeps_25_to_40_child_branches() -> None:
    model = DemoModel()
    hours = [OCT.window.start + timedelta(hours=i) for i in range(31 * 24)]
    live = [demo.child_branches(model, t)[0] for t in hours]
    assert min(live) >= 20 and max(live) <= 45
    assert 25 <= sum(live) / len(live) <= 40


def test_storage_grows_and_transfer_stays_in_range(api: httpx.Client) -> None:
    start, end = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    body = consumption(api, start, end, "monthly").json()
    avg_gb = []  # average root size: byte-hours over the hours of each month
    for b in buckets(body, PROD):
        hours = (parse(b["timeframe_end"]) - parse(b["timeframe_start"])) / timedelta(hours=1)
        byte_hours = metric(b, "root_branch_bytes_month")
        avg_gb.append(byte_hours / hours / 1e9)
    assert 35 < avg_gb[-1] < 45  # ~40 GB in late 2026
    assert all(1.02 < b / a < 1.04 for a, b in itertools.pairwise(avg_gb))
    for month in {b["timeframe_start"] for b in buckets(body, PROD)}:
        both = [
            b for p in (PROD, STAGING) for b in buckets(body, p) if b["timeframe_start"] == month
        ]
        gb = sum(metric(b, "public_network_transfer_bytes") for b in both) / 1e9
        assert 60 <= gb <= 140, (month, gb)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def metric(bucket: dict[str, Any], name: str) -> int:
    return int(next(m["value"] for m in bucket["metrics"] if m["metric_name"] == name))


def test_answers_are_deterministic(api: httpx.Client) -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    assert consumption(api, day, NOW, "daily").json() == consumption(api, day, NOW, "daily").json()


# -- end to end -----------------------------------------------------------------------------------
def collect_month(store: Store, month: Month) -> None:
    settings = Settings()
    clock = DemoClock(NOW)
    ws = Workspace(["neon"], demo_transport(settings, clock=clock), True, clock)
    report = collect(settings, store, month.window, only=["neon"], workspace=ws)
    assert report.ok, report.summary_lines()


def test_demo_month_collected_end_to_end() -> None:
    store = open_store(":memory:")
    collect_month(store, OCT)
    by = store.query(
        "SELECT resource_name, metric, sum(value) AS v, count(*) AS n FROM usage "
        "WHERE provider = 'neon' GROUP BY ALL"
    )
    got = {(r["resource_name"], r["metric"]): r["v"] for r in by.iter_rows(named=True)}
    assert {name for name, _ in got} == {"contribux-prod", "contribux-staging"}
    assert set(by["n"]) == {31}  # one daily row per metric and project
    assert got[("contribux-staging", "cu_hours")] == pytest.approx(0.25 * 31 * 24)
    assert got[("contribux-prod", "extra_branch_months")] > 10 * OCT.days / 31
    assert ("contribux-staging", "extra_branch_months") not in got
    assert 60 <= got[("contribux-prod", "public_transfer_gb")] <= 140
    before = store.query("SELECT * FROM usage ORDER BY ALL")
    collect_month(store, OCT)  # the same month again: an identical table
    assert store.query("SELECT * FROM usage ORDER BY ALL").equals(before)


def test_small_pages_give_the_same_rows() -> None:
    settings = Settings()
    clock = DemoClock(NOW)
    clients = HttpClients(settings, demo_transport(settings, clock=clock), limiters={})
    ctx = CollectContext(settings, clients, lambda: NOW, clock)
    frames = []
    for limit in (1, 100):
        collector = NeonCollector(page_limit=limit)
        (task,) = collector.tasks(OCT.window, ctx)
        sw = collector.fetch(task, ctx)
        frames.append(
            (sw.tables["usage"].sort("resource_id", "metric", "period_start"), len(sw.raw))
        )
    (small, small_pages), (big, big_pages) = frames
    assert small.equals(big)
    assert (small_pages, big_pages) == (3, 2)


@settings(max_examples=15, deadline=None)
@given(days=st.integers(1, 20), cut=st.integers(1, 19), back=st.integers(21, 55))
def test_totals_do_not_depend_on_how_the_window_is_cut(days: int, cut: int, back: int) -> None:
    transport = demo_transport(Settings(), clock=DemoClock(NOW))
    api = httpx.Client(transport=transport, base_url=Settings().neon_api_url + "/")
    start = datetime(2026, 11, 25, tzinfo=UTC) - timedelta(days=back)
    end, mid = start + timedelta(days=days), start + timedelta(days=min(cut, days))
    whole = totals(consumption(api, start, end, "daily").json())
    parts = [totals(consumption(api, a, b, "daily").json()) for a, b in ((start, mid), (mid, end))]
    assert whole == {k: sum(p.get(k, 0) for p in parts) for k in whole}


def test_demo_pr_branches_have_unique_ids_and_names() -> None:
    """Every alive child branch is its own pull request (two opened the same day once shared
    ``br-pr-N``, so the cleanup advice listed a branch twice)."""
    from datetime import UTC, datetime

    from contribux_costs.demo import neon_branches
    from contribux_costs.demo.model import DemoModel
    from contribux_costs.demo.neon import PROD

    for now in (datetime(2025, 1, 1, 6, tzinfo=UTC), datetime(2025, 2, 1, 6, tzinfo=UTC)):
        children = [b for b in neon_branches.branches(DemoModel(), PROD, now) if b.get("parent_id")]
        assert len(children) > 9  # above the Launch allowance
        assert len({b["id"] for b in children}) == len(children)
        assert len({b["name"] for b in children}) == len(children)
