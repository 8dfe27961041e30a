"""Upstash daily usage from snapshots: month-start and counter resets, fallbacks, parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.collect.upstash.frames import parse_go_times, parse_info
from contribux_costs.collect.upstash.usage import derive_usage, pair_deltas
from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window

FIX = Path(__file__).parent / "fixtures" / "upstash"
WIDE = Window(datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
COLUMNS = {
    "database_id": pl.String,
    "fetched_at": pl.Datetime("us", "UTC"),
    "database_name": pl.String,
    "database_type": pl.String,
    "region": pl.String,
    "total_monthly_requests": pl.Float64,
    "total_monthly_read_requests": pl.Float64,
    "total_monthly_write_requests": pl.Float64,
    "total_monthly_bandwidth": pl.Float64,
    "billing": pl.Float64,
    "current_storage": pl.Float64,
    "series_hits": pl.Float64,
    "series_misses": pl.Float64,
    "series_seconds": pl.Float64,
    "keyspace_hits": pl.Int64,
    "keyspace_misses": pl.Int64,
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def history(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Snapshot history as :func:`snapshot_history` returns it (unset columns are null)."""
    base = {
        "database_id": "db1",
        "database_name": "cache",
        "database_type": "Pay as You Go",
        "region": "us-east-1",
    }
    return pl.DataFrame([{**base, **r} for r in rows], schema=COLUMNS)


def values(usage: pl.DataFrame, metric: str) -> dict[str, float]:
    rows = usage.filter(pl.col("metric") == metric).sort("billing_date")
    return {str(d): v for d, v in zip(rows["billing_date"], rows["value"], strict=True)}


def test_month_to_date_counters_across_the_month_start_hand_worked() -> None:
    h = history(
        [
            {"fetched_at": t("2025-01-30 23:55"), "total_monthly_requests": 1000},
            {"fetched_at": t("2025-01-31 23:55"), "total_monthly_requests": 1100},
            {"fetched_at": t("2025-02-01 23:55"), "total_monthly_requests": 50},  # reset: dropped
            {"fetched_at": t("2025-02-02 23:55"), "total_monthly_requests": 130},
            {"fetched_at": t("2025-02-28 23:55"), "total_monthly_requests": 9000},
            # New month, yet higher than before: still a reset (month changed), not 9500 - 9000.
            {"fetched_at": t("2025-03-01 23:55"), "total_monthly_requests": 9500},
        ]
    )
    got = values(derive_usage(h, WIDE), "commands")
    # Jan 30 is the first snapshot and not a month's first day: no delta is knowable.
    assert got == {
        "2025-01-31": 100,
        "2025-02-01": 50,
        "2025-02-02": 80,
        "2025-02-28": 8870,
        "2025-03-01": 9500,
    }


def test_first_snapshot_on_the_first_day_counts_since_the_reset() -> None:
    h = history(
        [
            {
                "fetched_at": t("2025-03-01 23:55"),
                "total_monthly_requests": 777,
                "total_monthly_bandwidth": 2_500_000_000,
            }
        ]
    )
    usage = derive_usage(h, WIDE)
    assert values(usage, "commands") == {"2025-03-01": 777}
    assert values(usage, "bandwidth_gb") == {"2025-03-01": 2.5}


def test_hourly_snapshots_sum_to_the_day_and_storage_is_the_last_gauge() -> None:
    h = history(
        [
            {
                "fetched_at": t("2025-01-10 22:00"),
                "total_monthly_requests": 100,
                "current_storage": 5e8,
            },
            {
                "fetched_at": t("2025-01-10 23:00"),
                "total_monthly_requests": 130,
                "current_storage": 6e8,
            },
            {
                "fetched_at": t("2025-01-11 00:00"),
                "total_monthly_requests": 150,
                "current_storage": 7e8,
            },
            {
                "fetched_at": t("2025-01-11 09:00"),
                "total_monthly_requests": 190,
                "current_storage": 4e8,
            },
        ]
    )
    usage = derive_usage(h, WIDE)
    assert values(usage, "commands") == {"2025-01-10": 30, "2025-01-11": 60}
    assert values(usage, "storage_gb") == pytest.approx({"2025-01-10": 0.6, "2025-01-11": 0.4})


def test_info_counter_reset_takes_the_new_value_never_negative() -> None:
    h = history(
        [
            {"fetched_at": t("2025-01-10 23:55"), "keyspace_hits": 1000, "keyspace_misses": 100},
            {"fetched_at": t("2025-01-11 23:55"), "keyspace_hits": 1500, "keyspace_misses": 160},
            {"fetched_at": t("2025-01-12 23:55"), "keyspace_hits": 200, "keyspace_misses": 30},
        ]
    )
    usage = derive_usage(h, WIDE)
    assert values(usage, "hits") == {"2025-01-11": 500, "2025-01-12": 200}
    assert values(usage, "misses") == {"2025-01-11": 60, "2025-01-12": 30}
    assert set(
        usage.filter(pl.col("metric") == "hits")["dimensions"]
        .str.json_decode()
        .struct.field("source")
    ) == {"info"}


def test_series_fallback_when_either_side_lacks_info() -> None:
    h = history(
        [
            {
                "fetched_at": t("2025-01-10 23:55"),
                "keyspace_hits": 1000,
                "keyspace_misses": 100,
                "total_monthly_read_requests": 5000,
            },
            {
                "fetched_at": t("2025-01-11 23:55"),
                "total_monthly_read_requests": 7000,
                "series_hits": 540.0,
                "series_misses": 60.0,
                "series_seconds": 3600.0,
            },
        ]
    )
    usage = derive_usage(h, WIDE)
    # INFO missing on the later snapshot: 2,000 reads split 90/10 by the series.
    assert values(usage, "hits") == {"2025-01-11": pytest.approx(1800)}
    assert values(usage, "misses") == {"2025-01-11": pytest.approx(200)}
    dims = usage.filter(pl.col("metric") == "hits")["dimensions"][0]
    assert '"source":"series"' in dims


def test_window_keeps_only_its_days_but_uses_the_baseline_before_it() -> None:
    h = history(
        [
            {"fetched_at": t("2025-01-09 23:55"), "total_monthly_requests": 100},
            {"fetched_at": t("2025-01-10 23:55"), "total_monthly_requests": 250},
        ]
    )
    window = Window(t("2025-01-10 00:00"), t("2025-01-11 00:00"))
    usage = derive_usage(h, window)
    assert values(usage, "commands") == {"2025-01-10": 150}
    assert usage["period_start"].min() == t("2025-01-10 00:00")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=12))
def test_deltas_are_never_negative_whatever_the_counters_do(counters: list[int]) -> None:
    rows = [
        {
            "fetched_at": datetime(2025, 1 + i // 4, 1 + (i % 4) * 7, 23, 55, tzinfo=UTC),
            "total_monthly_requests": c,
            "keyspace_hits": c,
            "keyspace_misses": c // 2,
        }
        for i, c in enumerate(counters)
    ]
    pairs = pair_deltas(history(rows))
    for col in ("commands", "hits", "misses"):
        assert (pairs[col].drop_nulls() >= 0).all()


def test_go_timestamps_with_nanoseconds_and_zone_to_utc_microseconds() -> None:
    x = pl.Series(
        [
            "2025-01-31 15:12:52.799480932 +0000 UTC",
            "2025-09-04 15:12:52.76649148 +0000 UTC",  # Go trims trailing zeros
            "2023-05-22 10:59:23.426 +0000 UTC",
            "2023-05-22 10:59:23 +0000 UTC",  # no fraction at all
            "2025-01-31 15:12:52.000000999 +0200 CEST m=+3.001",  # offset, monotonic suffix
        ]
    )
    assert parse_go_times(x).to_list() == [
        datetime(2025, 1, 31, 15, 12, 52, 799480, tzinfo=UTC),
        datetime(2025, 9, 4, 15, 12, 52, 766491, tzinfo=UTC),
        datetime(2023, 5, 22, 10, 59, 23, 426000, tzinfo=UTC),
        datetime(2023, 5, 22, 10, 59, 23, tzinfo=UTC),
        datetime(2025, 1, 31, 13, 12, 52, 0, tzinfo=UTC),
    ]


def test_go_timestamp_not_in_that_format_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="'2025-01-31T15:12:52Z' is not in Go's time format"):
        parse_go_times(pl.Series(["2025-01-31 15:12:52 +0000 UTC", "2025-01-31T15:12:52Z"]))


def test_parse_info_with_and_without_keyspace_counters() -> None:
    full = parse_info((FIX / "info_stats.txt").read_text())
    assert full["keyspace_hits"] == 8123004 and full["keyspace_misses"] == 611388
    assert full["instantaneous_output_kbps"] == 1.73
    assert "# Stats" not in full and all(isinstance(v, int | float) for v in full.values())
    partial = parse_info((FIX / "info_stats_no_keyspace.txt").read_text())
    assert "keyspace_hits" not in partial
    assert partial["total_commands_processed"] == 9120455
    # Text values and malformed lines are skipped, not fatal.
    assert parse_info("role:master\r\nbroken line\r\nkeyspace_hits:5\r\n") == {"keyspace_hits": 5}
