"""Upstash snapshot rows: the database list, stats scalars and series, INFO counters.

Everything here works on payloads whose secret keys were already dropped (see :mod:`.upstash`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "upstash"
STATS = "redis/stats"
SCALARS = (
    "daily_net_commands",
    "daily_read_requests",
    "daily_write_requests",
    "dailybandwidth",
    "total_monthly_requests",
    "total_monthly_read_requests",
    "total_monthly_write_requests",
    "total_monthly_bandwidth",
    "total_monthly_storage",
    "current_storage",
)
INFO_COUNTERS = (
    "keyspace_hits",
    "keyspace_misses",
    "total_commands_processed",
    "total_connections_received",
    "total_net_input_bytes",
    "total_net_output_bytes",
    "expired_keys",
    "evicted_keys",
)
TS: pl.DataType = pl.Datetime("us", "UTC")


@dataclass
class Database:
    """One database from the list; ``token`` stays in memory only (never stored, never shown)."""

    record: dict[str, Any]
    token: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return str(self.record["database_id"])


@dataclass
class Snapshot:
    fetched_at: datetime
    db: Database
    stats: dict[str, Any]
    info: str | None
    info_status: str


def parse_info(text: str) -> dict[str, int | float]:
    """Every numeric ``name:value`` line of an INFO report (sections, blanks and text skipped)."""
    out: dict[str, int | float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        try:
            out[key.strip()] = int(value)
        except ValueError:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                continue
    return out


# -- frames --------------------------------------------------------------------------------------
def snapshot_slice(window: Window, snaps: list[Snapshot], raw: list[RawPage]) -> SliceWrite:
    series = series_frame(snaps)
    tables = {
        "upstash_databases": databases_frame(snaps),
        "upstash_snapshots": snapshots_frame(snaps, series),
        "upstash_series": series,
        "upstash_info": info_frame(snaps),
    }
    return SliceWrite(PROVIDER, STATS, window, tables, raw)


def _base(s: Snapshot) -> dict[str, Any]:
    return {
        "provider": PROVIDER,
        "endpoint": STATS,
        "fetched_at": s.fetched_at,
        "database_id": s.db.id,
    }


# Per-database limits the Developer API reports (GET /v2/redis/database/{id} documents them).
LIMITS = (
    "db_disk_threshold",
    "db_memory_threshold",
    "db_daily_bandwidth_limit",
    "db_max_commands_per_second",
    "db_request_limit",
    "db_max_request_size",
    "db_max_entry_size",
    "db_max_clients",
)


def _limit(record: dict[str, Any], key: str) -> float | int | None:
    """A limit as a number; absent → None; anything else fails naming the database and field."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SchemaError(
            PROVIDER, "redis/databases", f"{record.get('database_id')}: {key} {value!r} is not a "
            "non-negative number"
        )  # fmt: skip
    if key == "db_request_limit":
        return float(value)
    return int(value) if value < 2**63 else None


def databases_frame(snaps: list[Snapshot]) -> pl.DataFrame:
    rows = []
    for s in snaps:
        r = s.db.record
        created = r.get("creation_time")
        rows.append(
            {
                **_base(s),
                "database_name": r.get("database_name"),
                "database_type": r.get("database_type"),
                "region": r.get("region"),
                "state": r.get("state"),
                "db_endpoint": r.get("endpoint"),
                "tls": r.get("tls"),
                "creation_time": datetime.fromtimestamp(created, UTC)
                if isinstance(created, int | float)
                else None,
                "metadata": json.dumps(r),
                **{k: _limit(r, k) for k in LIMITS},
            }
        )
    schema: dict[str, pl.DataType] = {"fetched_at": TS, "creation_time": TS, "tls": pl.Boolean()}
    schema.update({k: pl.Float64() if k == "db_request_limit" else pl.Int64() for k in LIMITS})
    return pl.DataFrame(rows, schema_overrides=schema) if rows else pl.DataFrame()


def _number(value: object) -> float | None:
    """A JSON number (or a numeric string: be lenient with a counter's type); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _billing(s: Snapshot) -> Decimal | None:
    """``total_monthly_billing`` as Decimal: the account bills in USD (Upstash prices only in
    USD), so the check is that it is a finite amount ≥ 0 (Upstash reports no credits here)."""
    value = s.stats.get("total_monthly_billing")
    if _number(value) is None:
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise SchemaError(
            PROVIDER,
            STATS,
            f"database {s.db.id} has total_monthly_billing {value!r}, not a finite amount ≥ 0; "
            "the window was not loaded",
        )
    return amount


def snapshots_frame(snaps: list[Snapshot], series: pl.DataFrame) -> pl.DataFrame:
    if not snaps:
        return pl.DataFrame()
    rows = []
    for s in snaps:
        st = s.stats
        billing = _billing(s)
        rows.append(
            {
                **_base(s),
                "database_name": s.db.record.get("database_name"),
                **{k: _number(st.get(k)) for k in SCALARS},
                "total_monthly_billing": billing,
                "info_status": s.info_status,
                "scalars": json.dumps(
                    {k: v for k, v in st.items() if not isinstance(v, list | dict)}
                ),
                "series": json.dumps({k: v for k, v in st.items() if isinstance(v, list | dict)}),
            }
        )
    schema: dict[str, pl.DataType] = {"fetched_at": TS, "total_monthly_billing": pl.Decimal(38, 12)}
    frame = pl.DataFrame(rows, schema_overrides=schema)
    return frame.join(series_integrals(series), on=["database_id", "fetched_at"], how="left")


def series_integrals(series: pl.DataFrame) -> pl.DataFrame:
    """hits/misses per-second series → events over their span (their ratio is the INFO fallback)."""
    empty = pl.DataFrame(
        schema={
            "database_id": pl.String(),
            "fetched_at": TS,
            "series_hits": pl.Float64(),
            "series_misses": pl.Float64(),
            "series_seconds": pl.Float64(),
        }
    )
    if series.height == 0:
        return empty
    rates = (
        series.filter(pl.col("series").is_in(["hits", "misses"]) & pl.col("value").is_not_null())
        .group_by("database_id", "fetched_at", "series")
        .agg(
            n=pl.len(),
            mean=pl.col("value").mean(),
            span=(pl.col("ts").max() - pl.col("ts").min()).dt.total_microseconds() / 1e6,
        )
        .filter((pl.col("n") > 1) & (pl.col("span") > 0))
        # n points spaced span/(n-1) apart cover n intervals.
        .with_columns(seconds=pl.col("span") * pl.col("n") / (pl.col("n") - 1))
        .with_columns(events=pl.col("mean") * pl.col("seconds"))
    )
    if rates.height == 0:
        return empty
    wide = rates.pivot("series", index=["database_id", "fetched_at"], values="events")
    secs = rates.group_by("database_id", "fetched_at").agg(series_seconds=pl.col("seconds").max())
    for name in ("hits", "misses"):
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    return (
        wide.rename({"hits": "series_hits", "misses": "series_misses"})
        .join(secs, on=["database_id", "fetched_at"])
        .select(empty.columns)
    )


def series_frame(snaps: list[Snapshot]) -> pl.DataFrame:
    """Every series point, ``x`` parsed from Go's time format to UTC microseconds."""
    cols: dict[str, list[Any]] = {
        k: [] for k in ("fetched_at", "database_id", "series", "label", "x", "value")
    }
    for s in snaps:
        for name, value in s.stats.items():
            for label, point in _points(name, value):
                for k, v in zip(
                    cols,
                    (s.fetched_at, s.db.id, name, label, point.get("x"), _number(point.get("y"))),
                    strict=True,
                ):
                    cols[k].append(v)
    if not cols["x"]:
        return pl.DataFrame()
    frame = pl.DataFrame(
        cols,
        schema_overrides={
            "fetched_at": TS,
            "label": pl.String,
            "value": pl.Float64,
            "x": pl.String,
        },
    )
    return frame.with_columns(
        ts=parse_go_times(frame["x"]), provider=pl.lit(PROVIDER), endpoint=pl.lit(STATS)
    ).drop("x")


def _is_point(p: object) -> bool:
    return isinstance(p, dict) and isinstance(p.get("x"), str)


def _points(name: str, value: object) -> list[tuple[str | None, dict[str, Any]]]:
    """(label, point) pairs of one stats field; points without an ``x`` string are skipped."""
    if _is_point(value):  # monitor_count arrives as a single point
        return [(None, value)]  # type: ignore[list-item]
    if not isinstance(value, list):
        return []
    out: list[tuple[str | None, dict[str, Any]]] = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("data_points"), list):  # command_counts
            label = str(item.get("metric_identifier"))
            out += [(label, p) for p in item["data_points"] if _is_point(p)]
        elif _is_point(item):
            out.append((None, item))
    return out


def parse_go_times(x: pl.Series) -> pl.Series:
    """``2025-01-31 15:12:52.799480932 +0000 UTC`` (Go ``time.String()``) → UTC, µs (truncated).

    The fraction has 0–9 digits (Go trims trailing zeros); a monotonic ``m=+…`` suffix and the
    zone abbreviation are ignored, the numeric offset is applied.
    """
    cleaned = x.str.replace(r" m=[+-][0-9.]+$", "").str.replace(r" [A-Za-z_/]+$", "")
    parsed = cleaned.str.strptime(
        pl.Datetime("ns", "UTC"), "%Y-%m-%d %H:%M:%S%.f %z", strict=False
    ).dt.cast_time_unit("us")
    bad = x.filter(parsed.is_null() & x.is_not_null())
    if bad.len():
        raise SchemaError(
            PROVIDER, STATS, f"series timestamp {bad[0]!r} is not in Go's time format"
        )
    return parsed


def info_frame(snaps: list[Snapshot]) -> pl.DataFrame:
    rows = []
    for s in snaps:
        if s.info is None:
            continue
        counters = parse_info(s.info)
        ints = {k: int(counters[k]) if k in counters else None for k in INFO_COUNTERS}
        rows.append({**_base(s), **ints, "counters": json.dumps(counters)})
    schema: dict[str, pl.DataType] = {"fetched_at": TS, **dict.fromkeys(INFO_COUNTERS, pl.Int64())}
    return pl.DataFrame(rows, schema_overrides=schema) if rows else pl.DataFrame()
