"""The Postgres statistics collector against a real PostgreSQL server started by the test suite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
import pytest
from pydantic import SecretStr

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients
from contribux_costs.collect.postgres.collector import (
    DATABASE,
    MISSING_EXTENSION,
    STATEMENTS,
    LiveSource,
    PostgresCollector,
    make_collector,
)
from contribux_costs.collect.postgres.deltas import (
    buffer_cache_hit_ratio,
    load_database_deltas,
    load_statement_deltas,
)
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store
from tests.pg_fixture import *  # noqa: F403
from tests.pg_fixture import COLLECTOR_PASSWORD, PgDb

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ITEMS_QUERY = "SELECT id, name FROM items WHERE id = $1"


def _settings(dsn: str) -> Settings:
    return Settings(_env_file=None, database_url=SecretStr(dsn))  # type: ignore[call-arg]


def _snapshot(collector: PostgresCollector, store: Store, at: datetime, dsn: str) -> None:
    """Both endpoints at ``at``, written through the store's slice path."""
    ctx = CollectContext(_settings(dsn), HttpClients(_settings(dsn)), now=lambda: at)
    for task in collector.tasks(Month.containing(at.date()).window, ctx):
        sw = collector.fetch(task, ctx)
        store.write_slice(sw, {"run_id": "t", "started_at": at})


def _flush(con: psycopg.Connection[tuple[object, ...]]) -> None:
    # pg_stat_database counters reach shared memory when a backend goes idle (PG 15+).
    con.execute("SELECT pg_stat_force_next_flush()")
    con.execute("SELECT 1")
    time.sleep(0.05)


def _app(db: PgDb) -> psycopg.Connection[tuple[object, ...]]:
    con = db.admin()
    con.execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)")
    con.execute("INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 50) g "
                "ON CONFLICT DO NOTHING")  # fmt: skip
    return con


def _run_items(con: psycopg.Connection[tuple[object, ...]], n: int) -> None:
    for i in range(n):
        con.execute("SELECT id, name FROM items WHERE id = %s", [i + 1])


def _items_row(deltas: pl.DataFrame, db: PgDb) -> pl.DataFrame:
    return deltas.filter((pl.col("datname") == db.name) & (pl.col("query") == ITEMS_QUERY))


def test_two_snapshots_give_the_calls_run_in_between(pg_db: PgDb) -> None:
    store = open_store()
    collector = make_collector(_settings(pg_db.collector_dsn))
    with _app(pg_db) as app:
        _run_items(app, 3)
        _snapshot(collector, store, T0, pg_db.collector_dsn)
        _run_items(app, 7)
        _flush(app)
        _snapshot(collector, store, T0 + timedelta(hours=1), pg_db.collector_dsn)
    deltas = load_statement_deltas(store)
    row = _items_row(deltas, pg_db)
    assert row.height == 1
    assert row["calls"][0] == 7 and row["rows"][0] == 7
    assert row["total_exec_time"][0] > 0 and not row["reset"][0]
    assert row["period_start"][0] == T0 and row["period_end"][0] == T0 + timedelta(hours=1)
    snap = store.query(
        "SELECT count(DISTINCT fetched_at) AS n, any_value(server) AS server "
        "FROM pg_statements_snapshots"
    )
    assert snap["n"][0] == 2 and snap["server"][0] == f"127.0.0.1:{pg_db.server.port}"
    db = load_database_deltas(store).filter(pl.col("datname") == pg_db.name)
    assert db.height == 1
    assert db["xact_commit"][0] >= 7  # our 7 statements, plus the collector's own transactions
    assert db["blks_hit"][0] > 0
    ratio = buffer_cache_hit_ratio(db, pg_db.name)
    assert ratio is not None and 0 < ratio <= 1


def test_reset_between_snapshots_gives_non_negative_deltas(pg_db: PgDb) -> None:
    store = open_store()
    collector = make_collector(_settings(pg_db.collector_dsn))
    with _app(pg_db) as app:
        _run_items(app, 5)
        _flush(app)
        _snapshot(collector, store, T0, pg_db.collector_dsn)
        app.execute("SELECT pg_stat_statements_reset()")
        app.execute("SELECT pg_stat_reset()")
        # More calls after the reset than before it: only the changed stats_reset reveals it.
        _run_items(app, 8)
        _flush(app)
        _snapshot(collector, store, T0 + timedelta(hours=1), pg_db.collector_dsn)
    deltas = load_statement_deltas(store)
    row = _items_row(deltas, pg_db)
    assert row["calls"].to_list() == [8] and row["reset"].to_list() == [True]
    for col in ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read"):
        assert (deltas[col] >= 0).all(), col
    db = load_database_deltas(store).filter(pl.col("datname") == pg_db.name)
    assert db["reset"].to_list() == [True]
    for col in ("xact_commit", "blks_hit", "blks_read", "tup_returned"):
        assert (db[col] >= 0).all(), col


def test_rerun_at_the_same_second_replaces_the_snapshot(pg_db: PgDb) -> None:
    store = open_store()
    collector = make_collector(_settings(pg_db.collector_dsn))
    _snapshot(collector, store, T0, pg_db.collector_dsn)
    once = store.query("SELECT count(*) AS n FROM pg_database_snapshots")["n"][0]
    _snapshot(collector, store, T0.replace(microsecond=500), pg_db.collector_dsn)
    _snapshot(collector, store, T0 + timedelta(hours=1), pg_db.collector_dsn)
    counts = store.query(
        "SELECT fetched_at, count(*) AS n FROM pg_database_snapshots GROUP BY 1 ORDER BY 1"
    )
    assert counts["fetched_at"].to_list() == [T0, T0 + timedelta(hours=1)]
    assert counts["n"].to_list() == [once, once]


def test_collector_connection_is_read_only(pg_db: PgDb) -> None:
    with _app(pg_db):
        pass
    source = LiveSource(SecretStr(pg_db.collector_dsn), [])
    with source.connect(STATEMENTS) as con:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            con.execute("CREATE TABLE stolen (a int)")
        con.rollback()
        shown = con.execute("SHOW transaction_read_only").fetchone()
        assert shown == {"transaction_read_only": "on"}
    # Even a superuser DSN cannot write through the collector's connection.
    su = LiveSource(SecretStr(pg_db.server.dsn(pg_db.name)), [])
    with su.connect(DATABASE) as con, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        con.execute("INSERT INTO items VALUES (999, 'x')")


def test_bad_password_is_a_clear_error_without_the_dsn(pg_db: PgDb) -> None:
    wrong = "Wr0ng-Pa55-XYZZY-8812"
    dsn = pg_db.server.dsn(pg_db.name, "stats_reader", wrong)
    collector = make_collector(_settings(dsn))
    ctx = CollectContext(_settings(dsn), HttpClients(_settings(dsn)), now=lambda: T0)
    with pytest.raises(CollectError) as err:
        collector.fetch(Task(STATEMENTS, Month.parse("2026-11").window), ctx)
    text = str(err.value)
    assert "password authentication failed" in text
    assert "127.0.0.1" in text
    assert wrong not in text and dsn not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_malformed_dsn_never_echoes_its_fragments() -> None:
    dsn = "host=db.example password=Leaky-Secret-991 junk"
    collector = make_collector(_settings(dsn))
    ctx = CollectContext(_settings(dsn), HttpClients(_settings(dsn)), now=lambda: T0)
    with pytest.raises(CollectError, match="not a valid PostgreSQL connection string") as err:
        collector.fetch(Task(DATABASE, Month.parse("2026-11").window), ctx)
    assert "Leaky-Secret-991" not in str(err.value) and "junk" not in str(err.value)


def test_runner_failure_leaves_no_secret_anywhere(pg_db: PgDb) -> None:
    wrong = "Wr0ng-Pa55-QUUX-3301"
    settings = _settings(pg_db.server.dsn(pg_db.name, "stats_reader", wrong))
    store = open_store()
    report = collect(settings, store, Month.parse("2026-11").window)
    result = report.results["postgres"]
    assert result.windows_failed == 2 and result.windows_ok == 0
    assert all("password authentication failed" in e for e in result.errors)
    dump = " ".join(result.errors) + _all_text(store)
    assert wrong not in dump and "postgresql://" not in dump


def _all_text(store: Store) -> str:
    parts = []
    for table in store.tables():
        frame = store.query(f'SELECT * FROM "{table}"')
        parts.append(frame.write_csv())
    return "\n".join(parts)


def test_missing_extension_fails_statements_only(pg_fresh_db: PgDb) -> None:
    pg_db = pg_fresh_db
    with pg_db.admin() as con:
        con.execute("DROP EXTENSION pg_stat_statements")
    store = open_store()
    report = collect(_settings(pg_db.collector_dsn), store, Month.parse("2026-11").window)
    result = report.results["postgres"]
    assert result.windows_ok == 1 and result.windows_failed == 1
    assert result.errors == [f"postgres pg_stat_statements: {MISSING_EXTENSION}"]
    assert "CREATE EXTENSION pg_stat_statements" in result.errors[0]
    names = store.query("SELECT DISTINCT datname FROM pg_database_snapshots")["datname"]
    assert pg_db.name in names.to_list()
    assert store.scalar("SELECT count(*) FROM pg_statements_snapshots") == 0


def test_unnormalized_literals_and_secrets_never_stored(pg_db: PgDb) -> None:
    literal = "Utility-Literal-Pw-5521"
    store = open_store()
    with _app(pg_db) as app:
        app.execute(f"ALTER ROLE stats_reader PASSWORD '{literal}'")
        app.execute(f"ALTER ROLE stats_reader PASSWORD '{COLLECTOR_PASSWORD}'")
    collector = make_collector(_settings(pg_db.collector_dsn))
    _snapshot(collector, store, T0, pg_db.collector_dsn)
    queries = store.query("SELECT query FROM pg_statements_snapshots")["query"].to_list()
    assert any("ALTER ROLE stats_reader PASSWORD '?'" in q for q in queries)
    text = _all_text(store)
    assert literal not in text and COLLECTOR_PASSWORD not in text


def test_live_snapshot_window_is_its_own_second(pg_db: PgDb) -> None:
    collector = make_collector(_settings(pg_db.collector_dsn))
    now = T0.replace(microsecond=123456)
    settings = _settings(pg_db.collector_dsn)
    ctx = CollectContext(settings, HttpClients(settings), now=lambda: now)
    window = Window(T0 - timedelta(days=1), T0 + timedelta(days=1))
    sw = collector.fetch(Task(DATABASE, window), ctx)
    assert sw.window == Window(T0, T0 + timedelta(seconds=1))
    assert set(sw.tables["pg_database_snapshots"]["fetched_at"].to_list()) == {T0}
