"""Upstash collector: real-format payloads, secrets never stored, snapshots, INFO, usage."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from contribux_costs.collect.base import CollectContext
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.upstash.collector import (
    STATS,
    USAGE,
    UpstashCollector,
    make_collector,
    parse_databases,
)
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, SchemaError
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

FIX = Path(__file__).parent / "fixtures" / "upstash"
DATABASES = json.loads((FIX / "databases.json").read_text())
STATS_PAYLOAD = json.loads((FIX / "stats.json").read_text())
API_KEY = "FIXTURE-DEV-API-KEY-q1w2e3r4t5"
EMAIL = "ops@contribux.example"
SECRETS = [
    API_KEY,
    *(d["password"] for d in DATABASES),
    *(d["rest_token"] for d in DATABASES),
    *(d["read_only_rest_token"] for d in DATABASES),
]
REPOS, VECTOR = (d["database_id"] for d in DATABASES)
HOSTS = {d["endpoint"]: d["rest_token"] for d in DATABASES}


class FakeUpstash:
    """The Developer API plus the per-database REST endpoints, serving the fixtures."""

    def __init__(self, info_file: str | None = "info_stats.txt") -> None:
        self.requests: list[httpx.Request] = []
        self.info_file = info_file
        self.info_status = 200
        self.stats: dict[str, dict[str, Any]] = {
            d["database_id"]: json.loads(json.dumps(STATS_PAYLOAD)) for d in DATABASES
        }
        self.info: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host, path = request.url.host, request.url.path
        if host in HOSTS:
            if request.headers.get("authorization") != f"Bearer {HOSTS[host]}":
                return httpx.Response(401, json={"error": "Unauthorized"})
            if self.info_status != 200:
                return httpx.Response(self.info_status, json={"error": "WRONGPASS"})
            text = self.info.get(host) or (FIX / str(self.info_file)).read_text()
            return httpx.Response(200, json={"result": text})
        if path == "/v2/redis/databases":
            return httpx.Response(200, text=(FIX / "databases.json").read_text())
        if path.startswith("/v2/redis/stats/"):
            return httpx.Response(200, json=self.stats[path.rsplit("/", 1)[1]])
        return httpx.Response(404, text="not found")

    def set_counters(self, db: str, requests: int, hits: int | None, misses: int | None) -> None:
        self.stats[db]["total_monthly_requests"] = requests
        host = next(d["endpoint"] for d in DATABASES if d["database_id"] == db)
        lines = ["# Stats", "total_commands_processed:1"]
        if hits is not None:
            lines += [f"keyspace_hits:{hits}", f"keyspace_misses:{misses}"]
        self.info[host] = "\r\n".join(lines) + "\r\n"


def settings() -> Settings:
    return Settings(_env_file=None, upstash_email=EMAIL, upstash_api_key=SecretStr(API_KEY))  # type: ignore[call-arg]


def context(fake: FakeUpstash, now: datetime, store: Store | None = None) -> CollectContext:
    policy = RetryPolicy(max_tries=2, sleep=lambda _s: None)
    clients = HttpClients(settings(), httpx.MockTransport(fake), policy)
    return CollectContext(settings(), clients, lambda: now, None, store=store)


def run(store: Store, fake: FakeUpstash, now: datetime, window: Window | None = None) -> None:
    """What the runner does for one source: every task, each written as one slice."""
    ctx = context(fake, now, store)
    collector = make_collector(settings())
    for task in collector.tasks(window or Month.containing(now.date()).window, ctx):
        store.write_slice(collector.fetch(task, ctx), {"run_id": "t", "started_at": now})


def tables_containing(store: Store, needle: str) -> list[str]:
    hits = []
    for table in store.tables():
        n = store.scalar(
            f'SELECT count(*) FROM "{table}" t WHERE CAST(t AS VARCHAR) LIKE ?', [f"%{needle}%"]
        )
        if n:
            hits.append(table)
    return hits


NOW = datetime(2025, 1, 31, 15, 12, 53, tzinfo=UTC)


def test_secrets_in_the_payload_are_dropped_before_anything_is_stored() -> None:
    fake = FakeUpstash()
    store = open_store(":memory:")
    run(store, fake, NOW)
    # The fixture really carries them, as the real API does…
    body = (FIX / "databases.json").read_text()
    assert all(s in body for s in SECRETS[1:])
    # …and none reaches any table (raw landing, metadata JSON, ledger included).
    assert store.scalar("SELECT count(*) FROM raw_payloads") > 0
    for secret in SECRETS:
        assert tables_containing(store, secret) == [], secret
    meta = json.loads(store.scalar("SELECT metadata FROM upstash_databases LIMIT 1"))
    assert not {"password", "rest_token", "read_only_rest_token"} & set(meta)
    assert meta["endpoint"].endswith(".upstash.io")


def test_requests_sent_basic_auth_and_info_with_each_databases_bearer_token() -> None:
    fake = FakeUpstash()
    run(open_store(":memory:"), fake, NOW)
    api = [r for r in fake.requests if r.url.host == "api.upstash.com"]
    basic = "Basic " + base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode()
    assert {r.headers["authorization"] for r in api} == {basic}
    assert [r.url.path for r in api] == [
        "/v2/redis/databases",
        f"/v2/redis/stats/{REPOS}",
        f"/v2/redis/stats/{VECTOR}",
    ]
    info = [r for r in fake.requests if r.url.host in HOSTS]
    assert [(r.method, str(r.url)) for r in info] == [
        ("POST", f"https://{d['endpoint']}") for d in DATABASES
    ]
    assert all(json.loads(r.content) == ["INFO", "stats"] for r in info)
    assert [r.headers["authorization"] for r in info] == [f"Bearer {t}" for t in HOSTS.values()]


def test_snapshot_rows_scalars_series_and_info() -> None:
    store = open_store(":memory:")
    run(store, FakeUpstash(), NOW)
    snap = store.query("SELECT * FROM upstash_snapshots WHERE database_id = ?", [REPOS])
    assert snap.height == 1
    row = snap.row(0, named=True)
    assert row["fetched_at"] == NOW
    assert row["total_monthly_requests"] == 6120455
    assert row["current_storage"] == 232013824
    assert str(row["total_monthly_billing"]).startswith("12.2409")
    assert row["info_status"] == "ok"
    assert json.loads(row["series"])["days"][0] == "Monday"
    # hits 1.8/1.9/2.0 per second, three points 5 minutes apart: 3 × 300 s covered.
    assert row["series_seconds"] == pytest.approx(900, abs=0.1)
    assert row["series_hits"] == pytest.approx(1.9 * 900, rel=1e-3)
    assert row["series_misses"] == pytest.approx(0.1 * 900, rel=1e-3)
    info = store.query("SELECT * FROM upstash_info WHERE database_id = ?", [REPOS]).row(
        0, named=True
    )
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (8123004, 611388)
    assert json.loads(info["counters"])["instantaneous_output_kbps"] == 1.73
    get = store.query(
        "SELECT ts, value FROM upstash_series WHERE database_id = ? AND series = 'command_counts' "
        "AND label = 'GET' ORDER BY ts",
        [REPOS],
    )
    assert get["value"].to_list() == [570, 600]
    # "15:07:52.76649148" (8 digits, Go trims the trailing zero) → microseconds, truncated.
    assert get["ts"][0] == datetime(2025, 1, 31, 15, 7, 52, 766491, tzinfo=UTC)
    mon = store.query("SELECT count(*) AS n FROM upstash_series WHERE series = 'monitor_count'")
    assert mon["n"][0] == 2  # the object-valued series is one point per database
    nulls = store.query("SELECT count(*) AS n FROM upstash_series WHERE series LIKE '%_throughput'")
    assert nulls["n"][0] == 0  # produce_throughput/consume_throughput are null: no points


def test_odd_but_harmless_values_are_tolerated() -> None:
    """Numeric strings are read as numbers; points without an x and null series are skipped."""
    fake = FakeUpstash()
    fake.stats[REPOS]["total_monthly_requests"] = "6120455"
    fake.stats[REPOS]["hits"].append({"x": None, "y": 3.0})
    fake.stats[REPOS]["command_counts"].append({"metric_identifier": "DEL", "data_points": None})
    store = open_store(":memory:")
    run(store, fake, NOW)
    assert (
        store.scalar(
            "SELECT total_monthly_requests FROM upstash_snapshots WHERE database_id = ?", [REPOS]
        )
        == 6120455
    )
    n = "SELECT count(*) FROM upstash_series WHERE database_id = ? AND series = 'hits'"
    assert store.scalar(n, [REPOS]) == store.scalar(n, [VECTOR]) == 3


def test_rerun_at_the_same_fetch_time_replaces_and_a_later_run_adds() -> None:
    store = open_store(":memory:")
    fake = FakeUpstash()
    run(store, fake, NOW)
    counts = {
        t: store.scalar(f"SELECT count(*) FROM {t}")
        for t in (
            "upstash_snapshots",
            "upstash_series",
            "upstash_info",
            "upstash_databases",
            "raw_payloads",
        )
    }
    run(store, fake, NOW)
    assert {t: store.scalar(f"SELECT count(*) FROM {t}") for t in counts} == counts
    run(store, fake, NOW + timedelta(hours=1))
    assert store.scalar("SELECT count(*) FROM upstash_snapshots") == 2 * counts["upstash_snapshots"]
    assert store.scalar("SELECT count(DISTINCT fetched_at) FROM upstash_snapshots") == 2


def test_usage_end_to_end_across_the_month_start() -> None:
    """Hand-worked: Jan 31 23:55 then Feb 1 23:55; the monthly counter reset in between."""
    store = open_store(":memory:")
    fake = FakeUpstash()
    jan31 = datetime(2025, 1, 31, 23, 55, tzinfo=UTC)
    fake.set_counters(REPOS, 6_120_455, 8_123_004, 611_388)
    run(store, fake, jan31)
    fake.set_counters(REPOS, 180_000, 8_300_000, 620_000)
    feb1 = datetime(2025, 2, 1, 23, 55, tzinfo=UTC)
    run(store, fake, feb1, Window(datetime(2025, 1, 31, tzinfo=UTC), feb1))
    usage = store.query(
        "SELECT billing_date, metric, value, dimensions FROM usage WHERE resource_id = ? "
        "ORDER BY billing_date, metric",
        [REPOS],
    )
    jan = usage.filter(usage["billing_date"] == jan31.date())
    # The first snapshot ever, not on a month's first day: only the storage gauge is known.
    assert jan["metric"].to_list() == ["storage_gb"]
    feb = {
        r["metric"]: r
        for r in usage.filter(usage["billing_date"] == feb1.date()).iter_rows(named=True)
    }
    assert feb["commands"]["value"] == 180_000  # dropped: the new value is the delta since reset
    assert feb["hits"]["value"] == 8_300_000 - 8_123_004
    assert feb["misses"]["value"] == 620_000 - 611_388
    assert json.loads(feb["hits"]["dimensions"]) == {
        "database_type": "Pay as You Go",
        "region": "us-east-1",
        "source": "info",
    }
    assert feb["storage_gb"]["value"] == pytest.approx(0.232013824)
    row = store.query(
        "SELECT * FROM usage WHERE metric = 'commands' AND resource_id = ?", [REPOS]
    ).row(0, named=True)
    assert (row["provider"], row["service"], row["unit"], row["granularity"]) == (
        "upstash",
        "redis",
        "commands",
        "1d",
    )
    assert row["resource_name"] == "contribux-repos-cache"
    assert row["period_end"] - row["period_start"] == timedelta(days=1)
    # Re-running the same fetch time changes nothing.
    before = store.query("SELECT * FROM usage ORDER BY ALL")
    run(store, fake, feb1, Window(datetime(2025, 1, 31, tzinfo=UTC), feb1))
    assert store.query("SELECT * FROM usage ORDER BY ALL").equals(before)


def test_info_without_keyspace_counters_falls_back_to_the_series() -> None:
    store = open_store(":memory:")
    fake = FakeUpstash(info_file="info_stats_no_keyspace.txt")
    day1 = datetime(2025, 2, 1, 23, 55, tzinfo=UTC)
    fake.stats[REPOS]["total_monthly_read_requests"] = 100_000
    run(store, fake, day1)
    status = store.scalar("SELECT DISTINCT info_status FROM upstash_snapshots")
    assert status == "no_counters"
    assert store.scalar("SELECT keyspace_hits FROM upstash_info LIMIT 1") is None
    usage = store.query(
        "SELECT metric, value, dimensions FROM usage WHERE resource_id = ?", [REPOS]
    )
    got = {r["metric"]: r for r in usage.iter_rows(named=True)}
    # Series hit share: 1.9 / (1.9 + 0.1) = 0.95 of the day's 100,000 reads (first day of month).
    assert got["hits"]["value"] == pytest.approx(95_000)
    assert got["misses"]["value"] == pytest.approx(5_000)
    assert json.loads(got["hits"]["dimensions"])["source"] == "series"


def test_info_failure_keeps_the_snapshot_and_never_shows_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store(":memory:")
    fake = FakeUpstash()
    fake.info_status = 401
    with caplog.at_level(logging.WARNING):
        run(store, fake, NOW)
    statuses = store.query("SELECT info_status FROM upstash_snapshots")["info_status"].to_list()
    assert len(statuses) == 2
    assert all(s.startswith("failed: upstash redis/info (HTTP 401)") for s in statuses)
    assert store.scalar("SELECT count(*) FROM upstash_info") == 0
    assert "INFO" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text
        assert tables_containing(store, secret) == []


def test_a_database_without_rest_token_skips_info() -> None:
    dbs = parse_databases([{**DATABASES[0], "rest_token": None, "read_only_rest_token": None}])
    assert dbs[0].token is None
    assert "password" not in dbs[0].record
    assert "FIXTURE" not in repr(dbs[0])


def test_schema_errors_name_provider_and_endpoint() -> None:
    with pytest.raises(SchemaError, match="upstash redis/databases: response is not a JSON array"):
        parse_databases({"databases": []})
    with pytest.raises(SchemaError, match="item 0 has no database_id"):
        parse_databases([{"database_name": "x"}])
    fake = FakeUpstash()
    fake.stats[REPOS] = ["not", "an", "object"]  # type: ignore[assignment]
    ctx = context(fake, NOW, open_store(":memory:"))
    task = UpstashCollector().tasks(Month.parse("2025-01").window, ctx)[0]
    with pytest.raises(SchemaError, match=f"upstash redis/stats: stats of database {REPOS}"):
        UpstashCollector().fetch(task, ctx)


def test_live_tasks_snapshot_now_and_usage_over_whole_days() -> None:
    ctx = context(FakeUpstash(), NOW)
    tasks = UpstashCollector().tasks(Month.parse("2025-01").window, ctx)
    assert [t.endpoint for t in tasks] == [STATS, USAGE]
    assert tasks[0].window.start == NOW and tasks[0].window.end - NOW == timedelta(microseconds=1)
    assert tasks[1].window == Window(
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    )


def test_live_usage_also_covers_the_trailing_days_up_to_today() -> None:
    """A run for January on Feb 3 still writes the usage its new snapshot completes (Feb 3)."""
    store = open_store(":memory:")
    fake = FakeUpstash()
    fake.set_counters(REPOS, 6_000_000, 1000, 100)
    run(store, fake, datetime(2025, 1, 31, 12, tzinfo=UTC))
    fake.set_counters(REPOS, 90_000, 1500, 160)
    feb3 = datetime(2025, 2, 3, 10, tzinfo=UTC)
    ctx = context(fake, feb3, store)
    usage_task = UpstashCollector().tasks(Month.parse("2025-01").window, ctx)[1]
    assert usage_task.window == Window(
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 4, tzinfo=UTC)
    )
    run(store, fake, feb3, Month.parse("2025-01").window)
    got = store.query(
        "SELECT metric, value FROM usage WHERE resource_id = ? AND billing_date = ?",
        [REPOS, feb3.date()],
    )
    assert dict(got.iter_rows()) == {
        "commands": 90_000,
        "hits": 500,
        "misses": 60,
        "storage_gb": pytest.approx(0.232013824),
        "read_requests": pytest.approx(5702113),
        "write_requests": pytest.approx(418342),
        "bandwidth_gb": pytest.approx(24.10612736),
        "billing_usd_estimate": pytest.approx(12.2409),
    }


def test_through_the_runner_no_secret_in_any_table() -> None:
    fake = FakeUpstash()
    fake.info_status = 500  # retried, then degraded to the series: the run still succeeds
    store = open_store(":memory:")
    ws = Workspace(["upstash"], httpx.MockTransport(fake), False)
    report = collect(
        settings(),
        store,
        Month.parse("2025-01").window,
        workspace=ws,
        policy=RetryPolicy(max_tries=2, sleep=lambda _s: None),
    )
    assert report.results["upstash"].ok, report.summary_lines()
    assert store.scalar("SELECT count(*) FROM upstash_snapshots") == 2
    for secret in SECRETS:
        assert tables_containing(store, secret) == [], secret


def test_a_database_deleted_between_list_and_stats_does_not_cost_the_others() -> None:
    fake = FakeUpstash()
    del fake.stats[VECTOR]  # listed, but its stats answer 404 (deleted in between)
    store = open_store(":memory:")

    def gone(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/v2/redis/stats/{VECTOR}":
            return httpx.Response(404, json={"error": "database not found"})
        return fake(request)

    ctx = context(fake, NOW, store)
    ctx.clients = HttpClients(settings(), httpx.MockTransport(gone), ctx.clients.policy)
    collector = make_collector(settings())
    task = next(
        t for t in collector.tasks(Month.containing(NOW.date()).window, ctx) if t.endpoint == STATS
    )
    store.write_slice(collector.fetch(task, ctx), {"run_id": "t", "started_at": NOW})
    ids = store.query("SELECT database_id FROM upstash_snapshots")["database_id"].to_list()
    assert ids == [REPOS]


def test_any_other_stats_failure_still_fails_the_run() -> None:
    fake = FakeUpstash()
    ctx = context(fake, NOW, open_store(":memory:"))

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/v2/redis/stats/{VECTOR}":
            return httpx.Response(403, json={"error": "forbidden"})
        return fake(request)

    ctx.clients = HttpClients(settings(), httpx.MockTransport(broken), ctx.clients.policy)
    collector = make_collector(settings())
    task = next(
        t for t in collector.tasks(Month.containing(NOW.date()).window, ctx) if t.endpoint == STATS
    )
    with pytest.raises(CollectError, match="HTTP 403"):
        collector.fetch(task, ctx)
