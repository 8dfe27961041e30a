"""The demo Postgres source: live row shapes, a month of daily snapshots, the planted findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import SecretStr

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients
from contribux_costs.collect.postgres.collector import (
    DATABASE,
    SCHEMAS,
    STATEMENTS,
    LiveSource,
    make_collector,
    snapshot_frame,
)
from contribux_costs.collect.postgres.deltas import (
    SLOW_QUERY_MS,
    buffer_cache_hit_ratio,
    daily_query_load,
    database_deltas,
    load_database_deltas,
    load_statement_deltas,
    query_summary,
    slow_queries,
    statement_deltas,
)
from contribux_costs.config import Settings
from contribux_costs.demo.postgres import APP_DB, RESET_DAY, DemoPostgres
from contribux_costs.errors import ConfigError
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

MONTH = Month.parse("2026-10")
NO_CREDENTIALS = dict.fromkeys(
    ["vercel_token", "openai_admin_key", "neon_api_key", "upstash_email", "upstash_api_key",
     "database_url"]
)  # fmt: skip


def demo_settings() -> Settings:
    return Settings(_env_file=None, **NO_CREDENTIALS)  # type: ignore[arg-type]


def replay(month: Month) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Statement and database snapshots of a month, straight from the demo source."""
    source = DemoPostgres()
    times = source.snapshot_times(month.window, month.window.end + timedelta(hours=6))
    frames = {
        e: pl.concat([snapshot_frame(e, source.read(e, t), t) for t in times])
        for e in (STATEMENTS, DATABASE)
    }
    return frames[STATEMENTS], frames[DATABASE]


@pytest.fixture(scope="module")
def demo_store() -> Store:
    store = open_store()
    report = collect(demo_settings(), store, MONTH.window, only=["postgres"])
    assert report.results["postgres"].ok, report.results["postgres"].errors
    return store


def test_rows_have_the_live_views_shape() -> None:
    source = DemoPostgres()
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    for endpoint in (STATEMENTS, DATABASE):
        rows = source.read(endpoint, at)
        assert rows and all(set(r) == set(SCHEMAS[endpoint]) for r in rows)
    assert LiveSource(SecretStr("postgresql://u:p@h/d"), []).replays_window is False


def test_one_snapshot_per_day_of_the_month(demo_store: Store) -> None:
    times = demo_store.query("SELECT DISTINCT fetched_at FROM pg_statements_snapshots ORDER BY 1")[
        "fetched_at"
    ].to_list()
    assert len(times) == MONTH.days + 1  # the window's start (baseline) and each day's end
    assert times[0] == MONTH.window.start
    assert times[1] == datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC)
    assert times[-1] == datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    db_times = demo_store.query("SELECT DISTINCT fetched_at FROM pg_database_snapshots")
    assert db_times.height == len(times)


def test_planted_slow_queries_fire_the_guides_rule(demo_store: Store) -> None:
    deltas = load_statement_deltas(demo_store, MONTH.window)
    slow = slow_queries(deltas)
    assert slow.height == 13 and slow.height > 10  # the guide: "slow queries > 10"
    assert (slow["mean_exec_time"] > SLOW_QUERY_MS).all()
    assert slow_queries(deltas, slow_ms=100.0).height == 15
    texts = " ".join(slow["query"].to_list())
    assert "FROM contributions c WHERE c.repo_id = $1 AND c.created_at > $2" in texts
    vector = query_summary(deltas).filter(pl.col("query").str.contains("embedding <=> \\$1"))
    assert vector.height == 2 and not vector["is_slow"].any()


def test_buffer_cache_hit_ratio_is_under_95_percent(demo_store: Store) -> None:
    deltas = load_database_deltas(demo_store, MONTH.window)
    ratio = buffer_cache_hit_ratio(deltas, APP_DB)
    assert ratio is not None and 0.88 < ratio < 0.95
    assert (deltas.filter(pl.col("datname") == APP_DB)["hit_ratio"] < 0.95).all()


def test_the_mid_month_reset_is_detected_and_never_negative(demo_store: Store) -> None:
    stmts = load_statement_deltas(demo_store, MONTH.window)
    dbs = load_database_deltas(demo_store, MONTH.window)
    checks = [
        (stmts, ("calls", "total_exec_time", "rows", "shared_blks_hit")),
        (dbs, ("xact_commit", "blks_hit", "blks_read", "tup_returned")),
    ]
    for frame, cols in checks:
        reset_days = frame.filter(pl.col("reset"))["period_end"].dt.day().unique().to_list()
        assert reset_days == [RESET_DAY]
        for col in cols:
            assert (frame[col] >= 0).all(), col
    # The reset day keeps the activity after the reset (03:00 UTC): most of the day, not zero.
    daily = daily_query_load(stmts)
    reset_day = daily.filter(pl.col("day").dt.day() == RESET_DAY)["calls"][0]
    day_before = daily.filter(pl.col("day").dt.day() == RESET_DAY - 1)["calls"][0]
    assert 0.7 * day_before < reset_day < day_before


def test_weekly_seasonality_and_growth() -> None:
    stmts, _ = replay(MONTH)
    daily = daily_query_load(statement_deltas(stmts)).filter(pl.col("day").dt.day() != RESET_DAY)
    weekend = daily.filter(pl.col("day").dt.weekday() >= 6)["calls"].mean()
    weekday = daily.filter(pl.col("day").dt.weekday() < 6)["calls"].mean()
    assert isinstance(weekend, float) and isinstance(weekday, float)
    assert weekday > 1.3 * weekend
    year_ago, _ = replay(Month.parse("2025-10"))
    now_calls = statement_deltas(stmts)["calls"].sum()
    then_calls = statement_deltas(year_ago)["calls"].sum()
    assert 1.3 < now_calls / then_calls < 1.6  # ~3% a month


def test_deterministic_and_rerun_never_duplicates(demo_store: Store) -> None:
    def tables(store: Store) -> list[pl.DataFrame]:
        return [
            store.query(f"SELECT * FROM {t} ORDER BY ALL")
            for t in ("pg_statements_snapshots", "pg_database_snapshots")
        ]

    before = tables(demo_store)
    other = open_store()
    collect(demo_settings(), other, MONTH.window, only=["postgres"])
    assert all(a.equals(b) for a, b in zip(before, tables(other), strict=True))
    collect(demo_settings(), other, MONTH.window, only=["postgres"])
    assert all(a.equals(b) for a, b in zip(before, tables(other), strict=True))


def test_partial_day_snapshot_up_to_now() -> None:
    source = DemoPostgres()
    now = datetime(2026, 11, 3, 14, 30, 15, 999, tzinfo=UTC)
    window = Month.parse("2026-11").window.clamp_end(now)
    times = source.snapshot_times(window, now)
    assert times[0] == window.start and len(times) == 4
    assert times[-1] == datetime(2026, 11, 3, 14, 30, 14, tzinfo=UTC)  # inside [start, now)
    stmts = pl.concat([snapshot_frame(STATEMENTS, source.read(STATEMENTS, t), t) for t in times])
    deltas = daily_query_load(statement_deltas(stmts))
    full, partial = deltas["calls"][1], deltas["calls"][2]
    assert 0.2 * full < partial < 0.8 * full


def test_database_deltas_from_a_replay_match_the_store(demo_store: Store) -> None:
    _, dbs = replay(MONTH)
    direct = database_deltas(dbs).select("period_end", "datname", "xact_commit").sort(pl.all())
    stored = load_database_deltas(demo_store, MONTH.window)
    assert direct.equals(stored.select("period_end", "datname", "xact_commit").sort(pl.all()))


def _with(**kw: str) -> Settings:
    return Settings(_env_file=None, **NO_CREDENTIALS | kw)  # type: ignore[arg-type]


def test_make_collector_chooses_the_source() -> None:
    assert isinstance(make_collector(demo_settings()).source, DemoPostgres)
    collector = make_collector(_with(database_url="postgresql://u:pw9x@h/d"))
    assert isinstance(collector.source, LiveSource) and "pw9x" in collector.secrets
    assert "kvpw55" in make_collector(_with(database_url="host=h password=kvpw55")).secrets
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        make_collector(_with(openai_admin_key="sk-x"))


def test_snapshot_window_is_the_task_window_for_the_replay() -> None:
    collector = make_collector(demo_settings())
    window = Window(MONTH.window.start, MONTH.window.start + timedelta(days=3))
    settings = demo_settings()
    later = window.end + timedelta(days=9)
    ctx = CollectContext(settings, HttpClients(settings), now=lambda: later)
    sw = collector.fetch(Task(DATABASE, window), ctx)
    assert sw.window == window
    assert sw.tables["pg_database_snapshots"]["fetched_at"].n_unique() == 4
