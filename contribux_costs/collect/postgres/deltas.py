"""Deltas between consecutive Postgres statistics snapshots, and the figures the engine reads.

``pg_stat_statements`` and ``pg_stat_database`` counters are cumulative since the last reset, so
the activity of an interval is the difference between two snapshots. A reset in between (any
counter going down, or ``stats_reset`` changing: ``pg_stat_statements_reset()``,
``pg_stat_reset()``, a Neon compute restart) is detected and the new cumulative value is taken as
the interval's delta,
never a negative number; the activity between the earlier snapshot and the reset is lost (it was
never observed), so more frequent snapshots lose less. A statement absent from the previous
snapshot is new (or was evicted and re-added): its whole cumulative value is its delta. The first
snapshot of a series has no predecessor and only serves as the baseline.

Each delta row covers ``(period_start, period_end]`` = (previous snapshot, this snapshot] and
belongs to the day of ``period_end`` (the first column): the snapshot that observed it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from contribux_costs.collect.postgres.collector import DATABASE, PROVIDER, STATEMENTS, TABLES
from contribux_costs.periods import Window
from contribux_costs.store import Store

# The guide's rule "Neon slow queries > 10" needs a definition of slow: a statement whose mean
# execution time over the period exceeds the guide's slow-request threshold (domain notes: "Slow
# API request: > 1000 ms"), since one such query alone makes the request slow. Configurable by
# passing ``slow_ms``.
SLOW_QUERY_MS = 1000.0
# Series are per server: counters of different servers are never diffed against each other.
STATEMENT_KEY = ("server", "dbid", "userid", "queryid", "toplevel")
STATEMENT_LABELS = ("datname", "rolname", "query")
STATEMENT_COUNTERS = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read")
DATABASE_KEY = ("server", "datid")
DATABASE_LABELS = ("datname", "numbackends")
# fmt: off
DATABASE_COUNTERS = (
    "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
    "tup_inserted", "tup_updated", "tup_deleted", "temp_files", "temp_bytes", "deadlocks",
    "blk_read_time", "blk_write_time",
)
# fmt: on


def diff_snapshots(
    snapshots: pl.DataFrame, key: Sequence[str], labels: Sequence[str], counters: Sequence[str]
) -> pl.DataFrame:
    """Per key and interval: counter deltas, with ``reset`` and ``new_entry`` flags."""
    out_cols = ["period_end", "period_start", *key, *labels, *counters, "reset", "new_entry"]
    if snapshots.is_empty():
        return pl.DataFrame(schema={c: snapshots.schema.get(c, pl.Null()) for c in out_cols})
    # Each server's previous snapshot: a key missing from it is a new entry.
    times = (
        snapshots.select("server", "fetched_at")
        .unique()
        .sort("server", "fetched_at")
        .with_columns(pl.col("fetched_at").shift(1).over("server").alias("period_start"))
    )
    keys = list(key)
    prev = {c: pl.col(c).shift(1).over(keys) for c in [*counters, "fetched_at", "stats_reset"]}
    s = (
        snapshots.sort([*keys, "fetched_at"])
        .with_columns(**{f"_prev_{c}": e for c, e in prev.items()})
        .join(times, on=["server", "fetched_at"], how="left")
        .filter(pl.col("period_start").is_not_null())
    )
    went_down = pl.any_horizontal(
        [(pl.col(c) < pl.col(f"_prev_{c}")).fill_null(False) for c in counters]
    )
    new_entry = pl.col("_prev_fetched_at").is_null() | (
        pl.col("_prev_fetched_at") != pl.col("period_start")
    )
    reset = ~new_entry & (went_down | pl.col("stats_reset").ne_missing(pl.col("_prev_stats_reset")))
    restart = new_entry | reset
    return (
        s.with_columns(
            *[
                pl.when(restart)
                .then(pl.col(c))
                .otherwise(pl.col(c) - pl.col(f"_prev_{c}"))
                .alias(c)
                for c in counters
            ],
            reset.alias("reset"),
            new_entry.alias("new_entry"),
            pl.col("fetched_at").alias("period_end"),
        )
        .select(out_cols)
        .sort(["period_end", *keys])
    )


def statement_deltas(snapshots: pl.DataFrame) -> pl.DataFrame:
    """``pg_stat_statements`` deltas per statement and interval, with the interval's mean time."""
    d = diff_snapshots(snapshots, STATEMENT_KEY, STATEMENT_LABELS, STATEMENT_COUNTERS)
    return d.with_columns(_ratio("total_exec_time", "calls").alias("mean_exec_time"))


def database_deltas(snapshots: pl.DataFrame) -> pl.DataFrame:
    """``pg_stat_database`` deltas per database and interval, with the buffer-cache hit ratio."""
    d = diff_snapshots(snapshots, DATABASE_KEY, DATABASE_LABELS, DATABASE_COUNTERS)
    return d.with_columns(hit_ratio_expr().alias("hit_ratio"))


def hit_ratio_expr() -> pl.Expr:
    """Buffer-cache hit ratio ``blks_hit / (blks_hit + blks_read)``; null when nothing was read."""
    total = pl.col("blks_hit") + pl.col("blks_read")
    return pl.when(total > 0).then(pl.col("blks_hit") / total).otherwise(None)


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


# -- reading the store ------------------------------------------------------------------------
def load_snapshots(store: Store, endpoint: str, window: Window | None = None) -> pl.DataFrame:
    """Stored snapshots of one view; with ``window``, plus the last one before it (the baseline)."""
    table = TABLES[endpoint]
    if window is None:
        return store.query(
            f"SELECT * EXCLUDE (provider, endpoint) FROM {table} WHERE provider = ? "
            "AND endpoint = ? ORDER BY fetched_at",
            [PROVIDER, endpoint],
        )
    # Per server: its last snapshot before the window is the baseline of the first interval.
    return store.query(
        f"SELECT t.* EXCLUDE (provider, endpoint) FROM {table} t WHERE t.provider = $p "
        "AND t.endpoint = $e AND t.fetched_at < $end AND t.fetched_at >= coalesce(("
        f"SELECT max(b.fetched_at) FROM {table} b WHERE b.provider = $p AND b.endpoint = $e "
        "AND b.server = t.server AND b.fetched_at < $start), $start) ORDER BY t.fetched_at",
        {"p": PROVIDER, "e": endpoint, "start": window.start, "end": window.end},
    )


def load_statement_deltas(store: Store, window: Window | None = None) -> pl.DataFrame:
    """Statement deltas of the intervals ending inside ``window`` (all when ``None``)."""
    return statement_deltas(load_snapshots(store, STATEMENTS, window))


def load_database_deltas(store: Store, window: Window | None = None) -> pl.DataFrame:
    """Database deltas of the intervals ending inside ``window`` (all when ``None``)."""
    return database_deltas(load_snapshots(store, DATABASE, window))


# -- summaries --------------------------------------------------------------------------------
def query_summary(deltas: pl.DataFrame, slow_ms: float = SLOW_QUERY_MS) -> pl.DataFrame:
    """One row per statement over all intervals: load, mean time, share of time, ``is_slow``.

    Sorted by total execution time (the statements worth optimizing first).
    """
    total_all = deltas["total_exec_time"].sum() if deltas.height else 0.0
    return (
        deltas.group_by(list(STATEMENT_KEY))
        .agg(
            *[pl.col(c).drop_nulls().last() for c in STATEMENT_LABELS],
            *[pl.col(c).sum() for c in STATEMENT_COUNTERS],
        )
        .with_columns(
            _ratio("total_exec_time", "calls").alias("mean_exec_time"),
            (
                pl.col("total_exec_time") / total_all if total_all else pl.lit(None, pl.Float64)
            ).alias("share_of_total_time"),
            (
                pl.col("shared_blks_hit") / (pl.col("shared_blks_hit") + pl.col("shared_blks_read"))
            ).alias("hit_ratio"),
        )
        .with_columns((pl.col("mean_exec_time") > slow_ms).fill_null(False).alias("is_slow"))
        .sort("total_exec_time", descending=True)
    )


def slow_queries(deltas: pl.DataFrame, slow_ms: float = SLOW_QUERY_MS) -> pl.DataFrame:
    """Statements whose mean execution time over the period exceeds ``slow_ms``."""
    return query_summary(deltas, slow_ms).filter(pl.col("is_slow"))


def daily_query_load(deltas: pl.DataFrame) -> pl.DataFrame:
    """Per UTC day (of the interval's end): calls, execution time, rows and blocks."""
    return (
        deltas.group_by(pl.col("period_end").dt.date().alias("day"))
        .agg(*[pl.col(c).sum() for c in STATEMENT_COUNTERS])
        .with_columns(_ratio("total_exec_time", "calls").alias("mean_exec_time"))
        .sort("day")
    )


def daily_database(db_deltas: pl.DataFrame) -> pl.DataFrame:
    """Per UTC day, server and database: transactions, blocks and the buffer-cache hit ratio."""
    return (
        db_deltas.group_by(pl.col("period_end").dt.date().alias("day"), "server", "datname")
        .agg(*[pl.col(c).sum() for c in DATABASE_COUNTERS], pl.col("numbackends").max())
        .with_columns(hit_ratio_expr().alias("hit_ratio"))
        .sort("day", "server", "datname")
    )


def cache_hit_ratios(db_deltas: pl.DataFrame) -> pl.DataFrame:
    """Per server and database over all intervals: blocks hit and read, and the hit ratio."""
    return (
        db_deltas.group_by("server", "datname")
        .agg(pl.col("blks_hit").sum(), pl.col("blks_read").sum())
        .with_columns(hit_ratio_expr().alias("hit_ratio"))
        .sort("server", "datname")
    )


def buffer_cache_hit_ratio(db_deltas: pl.DataFrame, datname: str | None = None) -> float | None:
    """One hit ratio over the period (one database, or all of them); ``None`` without reads."""
    d = db_deltas if datname is None else db_deltas.filter(pl.col("datname") == datname)
    hit, read = int(d["blks_hit"].sum() or 0), int(d["blks_read"].sum() or 0)
    return hit / (hit + read) if hit + read else None
