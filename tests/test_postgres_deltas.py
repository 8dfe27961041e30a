"""Snapshot diffs: resets, new and evicted statements, the baseline, store round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.collect.postgres.collector import DATABASE, STATEMENTS, snapshot_frame
from contribux_costs.collect.postgres.deltas import (
    buffer_cache_hit_ratio,
    cache_hit_ratios,
    database_deltas,
    load_database_deltas,
    load_snapshots,
    query_summary,
    slow_queries,
    statement_deltas,
)
from contribux_costs.periods import Window
from contribux_costs.store import SliceWrite, open_store

T = [datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]
R0 = datetime(2026, 9, 11, 3, tzinfo=UTC)
R1 = datetime(2026, 10, 1, 2, 30, tzinfo=UTC)


def stmt(queryid: int, calls: int, ms: float, reset: datetime = R0, **kw: Any) -> dict[str, Any]:
    row = {
        "dbid": 5, "datname": "neondb", "userid": 10, "rolname": "app", "queryid": queryid,
        "toplevel": True, "query": f"SELECT {queryid} FROM t WHERE id = $1", "calls": calls,
        "total_exec_time": ms, "mean_exec_time": ms / calls if calls else None, "rows": calls,
        "shared_blks_hit": calls * 9, "shared_blks_read": calls, "stats_reset": reset,
    }  # fmt: skip
    return row | kw


def dbrow(commits: int, hit: int, read: int, reset: datetime | None = R0) -> dict[str, Any]:
    row = {
        "datid": 5,
        "datname": "neondb",
        "numbackends": 3,
        "xact_commit": commits,
        "xact_rollback": 0,
        "blks_hit": hit,
        "blks_read": read,
        "stats_reset": reset,
    }
    return row


def snaps(endpoint: str, series: list[list[dict[str, Any]]]) -> pl.DataFrame:
    return pl.concat([snapshot_frame(endpoint, rows, T[i]) for i, rows in enumerate(series)]).drop(
        "provider", "endpoint"
    )


def test_plain_deltas_and_baseline() -> None:
    d = statement_deltas(snaps(STATEMENTS, [[stmt(1, 10, 50.0)], [stmt(1, 17, 85.0)]]))
    assert d.height == 1  # the first snapshot is only the baseline
    row = d.row(0, named=True)
    assert (row["calls"], row["total_exec_time"], row["rows"]) == (7, 35.0, 7)
    assert row["mean_exec_time"] == 5.0 and not row["reset"] and not row["new_entry"]
    assert (row["period_start"], row["period_end"]) == (T[0], T[1])


def test_counter_going_down_is_a_reset_not_a_negative_delta() -> None:
    d = statement_deltas(snaps(STATEMENTS, [[stmt(1, 100, 500.0)], [stmt(1, 4, 20.0)]]))
    assert d["calls"].to_list() == [4] and d["total_exec_time"].to_list() == [20.0]
    assert d["reset"].to_list() == [True]


def test_changed_stats_reset_with_higher_counters_is_a_reset() -> None:
    series = [[stmt(1, 100, 500.0)], [stmt(1, 130, 650.0, reset=R1)]]
    d = statement_deltas(snaps(STATEMENTS, series))
    assert d["calls"].to_list() == [130] and d["reset"].to_list() == [True]


def test_new_and_evicted_statements() -> None:
    series = [
        [stmt(1, 10, 10.0)],
        [stmt(1, 12, 12.0), stmt(2, 3, 30.0)],  # 2 appears: its whole count is new
        [stmt(1, 15, 15.0)],  # 2 evicted
        [stmt(1, 16, 16.0), stmt(2, 5, 50.0)],  # 2 re-added: not diffed against T[1]
    ]
    d = statement_deltas(snaps(STATEMENTS, series))
    two = d.filter(pl.col("queryid") == 2).sort("period_end")
    assert two["calls"].to_list() == [3, 5]
    assert two["new_entry"].to_list() == [True, True]
    assert two["period_start"].to_list() == [T[0], T[2]]
    assert d.filter(pl.col("queryid") == 1)["calls"].to_list() == [2, 3, 1]


def test_database_deltas_hit_ratio_and_reset() -> None:
    series = [[dbrow(100, 900, 100)], [dbrow(160, 1800, 200)], [dbrow(20, 95, 5, reset=R1)]]
    d = database_deltas(snaps(DATABASE, series))
    assert d["xact_commit"].to_list() == [60, 20]
    assert d["hit_ratio"].to_list() == [0.9, 0.95]
    assert d["reset"].to_list() == [False, True]
    assert buffer_cache_hit_ratio(d) == (900 + 95) / (900 + 95 + 100 + 5)
    assert cache_hit_ratios(d)["hit_ratio"].to_list() == [buffer_cache_hit_ratio(d)]


def test_null_stats_reset_never_triggers_a_reset() -> None:
    series = [[dbrow(100, 900, 100, reset=None)], [dbrow(160, 1800, 200, reset=None)]]
    assert database_deltas(snaps(DATABASE, series))["reset"].to_list() == [False]


def test_summary_flags_slow_queries_by_mean_over_the_period() -> None:
    series = [
        [stmt(1, 10, 100.0), stmt(2, 10, 10.0)],
        [stmt(1, 20, 15_100.0), stmt(2, 1010, 100_010.0)],
    ]
    d = statement_deltas(snaps(STATEMENTS, series))
    summary = query_summary(d)
    assert summary["queryid"].to_list() == [2, 1]  # by total time: 100000 ms vs 15000 ms
    assert slow_queries(d)["queryid"].to_list() == [1]  # 1500 ms mean vs 100 ms
    assert slow_queries(d, slow_ms=50.0).height == 2
    assert abs(summary["share_of_total_time"].sum() - 1.0) < 1e-12


def test_empty_snapshots_give_empty_deltas() -> None:
    empty = snapshot_frame(STATEMENTS, [], T[0]).drop("provider", "endpoint")
    d = statement_deltas(empty)
    assert d.height == 0 and "calls" in d.columns


def test_store_round_trip_uses_the_snapshot_before_the_window_as_baseline() -> None:
    store = open_store()
    for i, commits in enumerate([100, 150, 230]):
        frame = snapshot_frame(DATABASE, [dbrow(commits, 10 * commits, commits)], T[i])
        sw = SliceWrite("postgres", DATABASE, Window(T[i], T[i] + timedelta(seconds=1)),
                        {"pg_database_snapshots": frame})  # fmt: skip
        store.write_slice(sw, {"run_id": "t", "started_at": T[i]})
    window = Window(T[1], T[5])
    assert load_snapshots(store, DATABASE, window)["fetched_at"].to_list() == T[:3]
    d = load_database_deltas(store, window)
    assert d["xact_commit"].to_list() == [50, 80]
    assert load_database_deltas(store, Window(T[2], T[5]))["xact_commit"].to_list() == [80]
    assert load_database_deltas(store)["xact_commit"].to_list() == [50, 80]


def test_stored_query_text_masks_literals_and_secrets() -> None:
    rows = [
        stmt(1, 1, 1.0, query="ALTER ROLE app PASSWORD 'hunter2-x'"),
        stmt(2, 1, 1.0, query="SELECT * FROM t WHERE note = $1 -- sk-Planted-Secret-77"),
    ]
    frame = snapshot_frame(STATEMENTS, rows, T[0], ["sk-Planted-Secret-77"])
    assert frame["query"].to_list() == [
        "ALTER ROLE app PASSWORD '?'",
        "SELECT * FROM t WHERE note = $1 -- ***",
    ]


@given(
    steps=st.lists(
        st.tuples(st.integers(0, 10_000), st.booleans()), min_size=1, max_size=len(T) - 1
    ),
    with_reset_time=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_property_deltas_never_negative_and_exact_when_resets_are_dated(
    steps: list[tuple[int, bool]], with_reset_time: bool
) -> None:
    """Cumulative counters with random resets: deltas are never negative; with ``stats_reset``
    (PG 14+) every interval's delta is exactly its activity."""
    cum, reset_at, series = 50, R0, [[stmt(1, 50, 50.0)]]
    for i, (activity, reset) in enumerate(steps, start=1):
        if reset:
            cum, reset_at = 0, T[i] - timedelta(minutes=30)
        cum += activity
        series.append([stmt(1, cum, float(cum), reset=reset_at if with_reset_time else None)])
    if not with_reset_time:
        series[0] = [stmt(1, 50, 50.0, reset=None)]
    series = [rows if rows[0]["calls"] else [] for rows in series]  # calls 0: no entry yet
    frames = [snapshot_frame(STATEMENTS, rows, T[i]) for i, rows in enumerate(series)]
    d = statement_deltas(pl.concat(frames).drop("provider", "endpoint"))
    assert (d["calls"] >= 0).all() and (d["total_exec_time"] >= 0).all()
    if with_reset_time:
        got = dict(zip(d["period_end"].to_list(), d["calls"].to_list(), strict=True))
        for i, (activity, _) in enumerate(steps, start=1):
            assert got.get(T[i], 0) == activity


def test_servers_are_separate_series() -> None:
    """A switch of DATABASE_URL to another server never diffs one server against the other."""
    frames = [
        snapshot_frame(DATABASE, [dbrow(1000, 100, 10)], T[0], server="a:5432"),
        snapshot_frame(DATABASE, [dbrow(10, 50, 5)], T[1], server="b:5432"),
        snapshot_frame(DATABASE, [dbrow(1300, 400, 40)], T[2], server="a:5432"),
        snapshot_frame(DATABASE, [dbrow(25, 80, 8)], T[3], server="b:5432"),
    ]
    d = database_deltas(pl.concat(frames).drop("provider", "endpoint")).sort("server")
    assert d["server"].to_list() == ["a:5432", "b:5432"]
    assert d["xact_commit"].to_list() == [300, 15]
    assert d["period_start"].to_list() == [T[0], T[1]]
    assert not d["reset"].any() and not d["new_entry"].any()
    assert cache_hit_ratios(d)["server"].to_list() == ["a:5432", "b:5432"]
