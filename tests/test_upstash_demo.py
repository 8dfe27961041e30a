"""Demo Upstash API and the demo month replay (one snapshot per database per simulated day)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from contribux_costs.collect.upstash.frames import parse_go_times, parse_info
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.demo import upstash as demo
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
SECRETS = [
    db.secret(k)
    for db in demo.DATABASES
    for k in ("password", "rest_token", "read_only_rest_token")
]
VECTOR, REPOS, API = "contribux-vector-cache", "contribux-repos-cache", "contribux-api-cache"


def client_at(now: datetime) -> httpx.Client:
    return httpx.Client(transport=demo_transport(SETTINGS, DemoModel(), DemoClock(now)))


def stats_at(now: datetime, db: demo.DemoDatabase) -> dict[str, object]:
    with client_at(now) as c:
        return c.get(f"https://api.upstash.com/v2/redis/stats/{db.database_id}").json()  # type: ignore[no-any-return]


def test_database_list_carries_fake_secrets_like_the_real_api() -> None:
    with client_at(datetime(2025, 1, 15, tzinfo=UTC)) as c:
        listed = c.get("https://api.upstash.com/v2/redis/databases").json()
    # The three planted caches first, then eight small ones: 11 databases, one past the 10
    # Upstash includes; the sandbox is Free and reports the Free caps as its limits.
    names = [d["database_name"] for d in listed]
    assert names[:3] == [REPOS, VECTOR, API] and len(names) == 11
    types = {d["database_name"]: d["database_type"] for d in listed}
    assert {n for n, t in types.items() if t == "Free"} == {"contribux-dev-sandbox"}
    assert set(types.values()) == {"Pay as You Go", "Free"}
    sandbox = next(d for d in listed if d["database_type"] == "Free")
    assert sandbox["db_request_limit"] == 500000 and sandbox["db_disk_threshold"] == 268435456
    assert all(d["password"] and d["rest_token"] and d["read_only_rest_token"] for d in listed)
    assert all(d["endpoint"].endswith(".upstash.io") for d in listed)


def test_month_to_date_counters_reset_at_the_month_start() -> None:
    db = demo.DATABASES[0]
    end_jan = stats_at(datetime(2025, 1, 31, 23, 55, tzinfo=UTC), db)
    early_feb = stats_at(datetime(2025, 2, 1, 0, 30, tzinfo=UTC), db)
    mid_feb = stats_at(datetime(2025, 2, 1, 12, 0, tzinfo=UTC), db)
    for key in ("total_monthly_requests", "total_monthly_read_requests", "total_monthly_bandwidth"):
        assert early_feb[key] < end_jan[key]  # type: ignore[operator]
        assert early_feb[key] < mid_feb[key]  # type: ignore[operator]
    assert (
        mid_feb["daily_net_commands"] == mid_feb["total_monthly_requests"]
    )  # day 1 = month so far


def test_stats_series_use_go_timestamps_and_command_counts() -> None:
    now = datetime(2025, 1, 15, 23, 55, tzinfo=UTC)
    s = stats_at(now, demo.DATABASES[1])
    xs = pl.Series([p["x"] for p in s["hits"]])  # type: ignore[attr-defined]
    go = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,8}[1-9])? \+0000 UTC"
    assert all(re.fullmatch(go, x) for x in xs), xs.to_list()
    parsed = parse_go_times(xs)
    assert parsed.max() <= now.replace(second=1) and parsed.min() >= now.replace(hour=22)
    assert [c["metric_identifier"] for c in s["command_counts"]] == ["GET", "SET", "DEL"]  # type: ignore[attr-defined]
    assert len(s["days"]) == 5 and s["days"][-1] == "Wednesday"  # type: ignore[arg-type,index]
    assert isinstance(s["monitor_count"], dict) and s["produce_throughput"] is None


def test_info_needs_the_databases_token_and_counts_since_the_planted_restart() -> None:
    db = demo.DATABASES[1]
    url = f"https://{db.endpoint}"
    with client_at(datetime(2025, 1, 9, 23, 55, tzinfo=UTC)) as c:
        assert c.post(url, json=["INFO", "stats"]).status_code == 401
        auth = {"Authorization": f"Bearer {db.secret('rest_token')}"}
        before = parse_info(c.post(url, json=["INFO", "stats"], headers=auth).json()["result"])
    with client_at(datetime(2025, 1, 10, 23, 55, tzinfo=UTC)) as c:
        after = parse_info(c.post(url, json=["INFO", "stats"], headers=auth).json()["result"])
    assert before["keyspace_hits"] > 0 and before["keyspace_misses"] > 0
    assert after["keyspace_hits"] < before["keyspace_hits"]  # restarted on the 10th at 00:05


def test_planted_rates_match_the_ttl_model() -> None:
    vector = demo.KEY_CLASSES["vector_search"]
    lt = demo.PLANTED_REQUEST_RATE_PER_KEY_S["vector_search"] * vector.ttl_s
    assert vector.planted_hit_ratio == pytest.approx(lt / (1 + lt))
    assert vector.planted_hit_ratio < 0.6 < 0.9 < demo.KEY_CLASSES["repositories"].planted_hit_ratio
    # the planted caches' TTLs, and the small databases' one-hour keys
    assert {c.ttl_s for c in demo.KEY_CLASSES.values()} == {300, 600, 1800, 3600}


@pytest.fixture(scope="module")
def replayed() -> tuple[Store, DemoClock]:
    clock = DemoClock(datetime(2025, 2, 1, 6, 0, tzinfo=UTC))
    store = open_store(":memory:")
    ws = Workspace(["upstash"], demo_transport(SETTINGS, DemoModel(), clock), True, clock)
    report = collect(SETTINGS, store, Month.parse("2025-01").window, workspace=ws)
    assert report.results["upstash"].ok, report.summary_lines()
    return store, clock


def test_replay_stores_one_snapshot_per_database_per_day(replayed: tuple[Store, DemoClock]) -> None:
    store, clock = replayed
    per_day = store.query(
        "SELECT database_id, CAST(fetched_at AS DATE) AS day, count(*) AS n, "
        "min(strftime(fetched_at, '%H:%M')) AS hhmm FROM upstash_snapshots GROUP BY ALL"
    )
    assert per_day.height == len(demo.DATABASES) * 31 == 11 * 31
    assert set(per_day["n"]) == {1} and set(per_day["hhmm"]) == {"23:55"}
    assert clock.now() == datetime(2025, 2, 1, 6, 0, tzinfo=UTC)  # the shared clock untouched
    assert set(store.query("SELECT info_status FROM upstash_snapshots")["info_status"]) == {"ok"}


def test_replay_hit_ratios_from_the_stored_deltas(replayed: tuple[Store, DemoClock]) -> None:
    store, _ = replayed
    ratio = store.query(
        "SELECT resource_name, sum(value) FILTER (metric = 'hits') / "
        "sum(value) FILTER (metric IN ('hits', 'misses')) AS r, "
        "count(DISTINCT billing_date) AS days "
        "FROM usage WHERE provider = 'upstash' GROUP BY ALL"
    )
    r = dict(zip(ratio["resource_name"], ratio["r"], strict=True))
    assert r[VECTOR] < 0.7
    assert r[REPOS] > 0.9
    assert 0.8 < r[API] < 0.9
    assert set(ratio["days"]) == {31}
    assert r[VECTOR] == pytest.approx(demo.KEY_CLASSES["vector_search"].planted_hit_ratio, abs=0.02)


def test_replay_stores_no_secret(replayed: tuple[Store, DemoClock]) -> None:
    store, _ = replayed
    for table in store.tables():
        for secret in SECRETS:
            n = store.scalar(
                f'SELECT count(*) FROM "{table}" t WHERE CAST(t AS VARCHAR) LIKE ?', [f"%{secret}%"]
            )
            assert n == 0, (table, secret)


def _content(store: Store) -> dict[str, pl.DataFrame]:
    """Every row this source writes (other sources' tables are theirs to check)."""
    tables = [t for t in store.tables() if t.startswith("upstash_")]
    out = {t: store.query(f'SELECT * FROM "{t}" ORDER BY ALL') for t in tables}
    for t in ("usage", "raw_payloads"):
        out[t] = store.query(f"SELECT * FROM {t} WHERE provider = 'upstash' ORDER BY ALL")
    return out


def test_collecting_the_same_demo_month_twice_gives_an_identical_database(
    replayed: tuple[Store, DemoClock],
) -> None:
    store, clock = replayed
    before = _content(store)
    ws = Workspace(["upstash"], demo_transport(SETTINGS, DemoModel(), clock), True, clock)
    assert (
        collect(SETTINGS, store, Month.parse("2025-01").window, workspace=ws).results["upstash"].ok
    )
    after = _content(store)
    assert before.keys() == after.keys()
    for table, frame in before.items():
        assert frame.equals(after[table]), table
    assert json.loads(store.query("SELECT metadata FROM upstash_databases LIMIT 1")["metadata"][0])


def test_the_demo_month_bills_one_database_past_ten(replayed: tuple[Store, DemoClock]) -> None:
    # 11 databases in January 2025: one past the 10 included → $0.50 (upstash pricing.mdx).
    from contribux_costs.pricing import load_pricebook, price_usage

    store, _ = replayed
    lines, _ = price_usage(store, load_pricebook(), Month.parse("2025-01"), ["upstash"])
    extra = lines.filter(lines["sku"] == "upstash/extra-databases")
    assert extra.height == 1 and float(extra["cost"][0]) == 0.5
    # The Free sandbox bills nothing.
    sandbox = next(d for d in demo.DATABASES if d.plan == "Free")
    assert float(lines.filter(lines["resource_id"] == sandbox.database_id)["cost"].sum()) == 0
