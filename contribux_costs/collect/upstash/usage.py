"""Daily Upstash usage rows derived from the stored snapshot history (see :mod:`.upstash`).

Pure functions: :func:`snapshot_history` reads the snapshots a window needs (its own plus, per
database, the last one before it: the baseline), :func:`derive_usage` turns consecutive snapshot
pairs into deltas and sums them per database and UTC day into tidy ``usage`` rows.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from contribux_costs.periods import Window
from contribux_costs.store import Store

PROVIDER = "upstash"
ENDPOINT = "usage"
SERVICE = "redis"
BYTES_PER_GB = 1_000_000_000
# usage metric → (month-to-date snapshot column, unit, scale)
MONTHLY = {
    "commands": ("total_monthly_requests", "commands", 1.0),
    "read_requests": ("total_monthly_read_requests", "commands", 1.0),
    "write_requests": ("total_monthly_write_requests", "commands", 1.0),
    "bandwidth_gb": ("total_monthly_bandwidth", "GB", 1 / BYTES_PER_GB),
    "billing_usd_estimate": ("billing", "USD", 1.0),
}
UNITS = {
    **{k: v[1] for k, v in MONTHLY.items()},
    "storage_gb": "GB",
    "hits": "keys",
    "misses": "keys",
}

_HISTORY_SQL = """
SELECT s.database_id, s.fetched_at,
       coalesce(d.database_name, s.database_name) AS database_name,
       d.database_type, d.region,
       s.total_monthly_requests, s.total_monthly_read_requests, s.total_monthly_write_requests,
       s.total_monthly_bandwidth, CAST(s.total_monthly_billing AS DOUBLE) AS billing,
       s.current_storage, s.series_hits, s.series_misses, s.series_seconds,
       i.keyspace_hits, i.keyspace_misses
FROM upstash_snapshots s
LEFT JOIN upstash_databases d
  ON d.provider = s.provider AND d.database_id = s.database_id AND d.fetched_at = s.fetched_at
LEFT JOIN upstash_info i
  ON i.provider = s.provider AND i.database_id = s.database_id AND i.fetched_at = s.fetched_at
WHERE s.provider = ? AND s.fetched_at < ?
  AND s.fetched_at >= coalesce(
      (SELECT max(p.fetched_at) FROM upstash_snapshots p
       WHERE p.provider = s.provider AND p.database_id = s.database_id AND p.fetched_at < ?), ?)
ORDER BY s.database_id, s.fetched_at
"""


def snapshot_history(store: Store, window: Window) -> pl.DataFrame:
    """Snapshots inside ``window`` plus each database's last snapshot before it."""
    params = [PROVIDER, window.end, window.start, window.start]
    return store.query(_HISTORY_SQL, params)


def _month(col: str) -> pl.Expr:
    return pl.col(col).dt.truncate("1mo")


def monthly_delta(col: str) -> pl.Expr:
    """Delta of a month-to-date counter that resets at the UTC month start (never negative)."""
    cur, prev = pl.col(col), pl.col(f"prev_{col}")
    first = pl.col("prev_fetched_at").is_null()
    return (
        pl.when(first & (pl.col("fetched_at").dt.day() == 1))
        .then(cur)
        .when(first)
        .then(None)
        .when(_month("fetched_at") != _month("prev_fetched_at"))
        .then(cur)
        .when(cur < prev)
        .then(cur)
        .otherwise(cur - prev)
    )


def counter_delta(col: str) -> pl.Expr:
    """Delta of a cumulative counter; a drop is a reset, so the new value is the delta."""
    cur, prev = pl.col(col), pl.col(f"prev_{col}")
    return (
        pl.when(cur.is_null() | prev.is_null())
        .then(None)
        .when(cur < prev)
        .then(cur)
        .otherwise(cur - prev)
    )


def pair_deltas(history: pl.DataFrame) -> pl.DataFrame:
    """One row per snapshot: the deltas since the previous snapshot of the same database."""
    lagged = ["fetched_at", *(v[0] for v in MONTHLY.values()), "keyspace_hits", "keyspace_misses"]
    frame = history.sort("database_id", "fetched_at").with_columns(
        pl.col(c).shift(1).over("database_id").alias(f"prev_{c}") for c in lagged
    )
    out = frame.with_columns(
        *(
            monthly_delta(src).cast(pl.Float64).mul(scale).alias(metric)
            for metric, (src, _, scale) in MONTHLY.items()
        ),
        counter_delta("keyspace_hits").cast(pl.Float64).alias("info_hits"),
        counter_delta("keyspace_misses").cast(pl.Float64).alias("info_misses"),
    )
    info_ok = pl.col("info_hits").is_not_null() & pl.col("info_misses").is_not_null()
    # Fallback: the interval's read requests split by the series' hit share (last hour). The
    # reads are counted over the whole interval; only the ratio comes from the short series.
    lookups = pl.col("series_hits") + pl.col("series_misses")
    share = pl.when(lookups > 0).then(pl.col("series_hits") / lookups)
    return out.with_columns(
        pl.when(info_ok)
        .then(pl.col("info_hits"))
        .otherwise(pl.col("read_requests") * share)
        .alias("hits"),
        pl.when(info_ok)
        .then(pl.col("info_misses"))
        .otherwise(pl.col("read_requests") * (1 - share))
        .alias("misses"),
        pl.when(info_ok).then(pl.lit("info")).otherwise(pl.lit("series")).alias("source"),
        (pl.col("current_storage") / BYTES_PER_GB).alias("storage_gb"),
        pl.col("fetched_at").dt.truncate("1d").alias("day"),
    )


def derive_usage(history: pl.DataFrame, window: Window) -> pl.DataFrame:
    """Tidy daily ``usage`` rows for the UTC days in ``window`` (empty frame if none)."""
    if history.height == 0:
        return pl.DataFrame()
    pairs = pair_deltas(history).filter(
        (pl.col("day") >= window.start) & (pl.col("day") < window.end)
    )
    if pairs.height == 0:
        return pl.DataFrame()
    summed = [*MONTHLY, "hits", "misses"]
    daily = pairs.group_by("database_id", "day").agg(
        *(pl.when(pl.col(m).is_not_null().any()).then(pl.col(m).sum()).alias(m) for m in summed),
        pl.col("storage_gb").sort_by("fetched_at").last(),
        pl.col("source").sort_by("fetched_at").last(),
        *(
            pl.col(c).drop_nulls().last().alias(c)
            for c in ("database_name", "database_type", "region")
        ),
    )
    return tidy(daily)


def tidy(daily: pl.DataFrame) -> pl.DataFrame:
    """Wide daily metrics → one usage row per (database, day, metric)."""
    dims = pl.struct("database_type", "region").struct.json_encode()
    keyed = pl.struct("database_type", "region", "source").struct.json_encode()
    metrics = [*MONTHLY, "storage_gb", "hits", "misses"]
    long = daily.unpivot(
        on=metrics,
        index=["database_id", "day", "database_name", "database_type", "region", "source"],
        variable_name="metric",
        value_name="value",
    ).filter(pl.col("value").is_not_null())
    return long.select(
        pl.lit(PROVIDER).alias("provider"),
        pl.lit(ENDPOINT).alias("endpoint"),
        pl.lit(SERVICE).alias("service"),
        pl.col("database_id").alias("resource_id"),
        pl.col("database_name").alias("resource_name"),
        pl.col("metric"),
        pl.col("metric").replace_strict(UNITS).alias("unit"),
        pl.col("day").alias("period_start"),
        (pl.col("day") + timedelta(days=1)).alias("period_end"),
        pl.lit("1d").alias("granularity"),
        pl.col("value").cast(pl.Float64),
        pl.when(pl.col("metric").is_in(["hits", "misses"]))
        .then(keyed)
        .otherwise(dims)
        .alias("dimensions"),
        pl.col("day").dt.date().alias("billing_date"),
    ).sort("resource_id", "period_start", "metric")
