"""Month figures that the report and the CLI show: totals, per provider, per day, freshness.

Costs come from the FOCUS table (``focus_charges``) once it is built for the month, else from the
provider-billed ``charges`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from contribux_costs.periods import Month
from contribux_costs.store import Store


@dataclass(frozen=True)
class CostSource:
    table: str
    provider_col: str
    cost_col: str
    day_col: str


BILLED = CostSource("charges", "provider", "BilledCost", "x_billing_date")
FOCUS = CostSource("focus_charges", "x_provider", "BilledCost", "x_billing_date")


def cost_source(store: Store, month: Month) -> CostSource:
    if "focus_charges" in store.tables():
        n = store.scalar(
            "SELECT count(*) FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ?",
            [month.first_day, month.next.first_day],
        )
        if n:
            return FOCUS
    return BILLED


def daily_by_provider(store: Store, month: Month) -> pl.DataFrame:
    """One row per (day, provider): cost in USD (Decimal)."""
    src = cost_source(store, month)
    return store.query(
        f"SELECT {src.day_col} AS day, {src.provider_col} AS provider, "
        f"sum({src.cost_col}) AS cost FROM {src.table} "
        f"WHERE {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL ORDER BY day, provider",
        [month.first_day, month.next.first_day],
    )


def provider_totals(store: Store, month: Month) -> pl.DataFrame:
    """Per provider: this month, the previous month, and the change."""
    cur = _totals(store, month).rename({"cost": "cost"})
    prev = _totals(store, month.prev).rename({"cost": "previous"})
    joined = cur.join(prev, on="provider", how="full", coalesce=True).with_columns(
        pl.col("cost").fill_null(Decimal(0)), pl.col("previous").fill_null(Decimal(0))
    )
    return joined.with_columns((pl.col("cost") - pl.col("previous")).alias("change")).sort(
        "cost", descending=True
    )


def _totals(store: Store, month: Month) -> pl.DataFrame:
    src = cost_source(store, month)
    frame = store.query(
        f"SELECT {src.provider_col} AS provider, sum({src.cost_col}) AS cost FROM {src.table} "
        f"WHERE {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL",
        [month.first_day, month.next.first_day],
    )
    if frame.height == 0:
        return pl.DataFrame(schema={"provider": pl.String, "cost": pl.Decimal(38, 12)})
    return frame.with_columns(pl.col("cost").cast(pl.Decimal(38, 12)))


def month_total(store: Store, month: Month) -> Decimal:
    src = cost_source(store, month)
    value = store.scalar(
        f"SELECT coalesce(sum({src.cost_col}), 0) FROM {src.table} "
        f"WHERE {src.day_col} >= ? AND {src.day_col} < ?",
        [month.first_day, month.next.first_day],
    )
    return Decimal(value).quantize(Decimal("0.01"))


def is_demo(store: Store) -> bool:
    return bool(store.scalar("SELECT value FROM workspace WHERE key = 'mode'") == "demo")


def freshness(store: Store, month: Month) -> pl.DataFrame:
    """The latest run per source/endpoint touching the month: status, rows, when, error."""
    return store.query(
        "SELECT provider, endpoint, arg_max(status, finished_at) AS status, "
        "arg_max(rows, finished_at) AS rows, max(finished_at) AS collected_at, "
        "arg_max(error, finished_at) AS last_error, bool_or(demo) AS demo "
        "FROM ingest_ledger WHERE window_start < ? AND window_end > ? GROUP BY ALL "
        "ORDER BY provider, endpoint",
        [month.window.end, month.window.start],
    )


def has_data(store: Store, month: Month) -> bool:
    n = store.scalar(
        "SELECT count(*) FROM ingest_ledger "
        "WHERE status = 'ok' AND window_start < ? AND window_end > ?",
        [month.window.end, month.window.start],
    )
    return bool(n)
