"""What drove an anomaly episode: the dimensions whose change explains most of the excess.

For an episode of one provider/service series, every candidate dimension of its FOCUS rows (model,
project, API key, environment, owner, resource — whichever the rows carry) is split by value, and
each value's spend *during* the episode is compared with its spend *before* it (the daily mean over
the ``BEFORE_DAYS`` days before the start, times the episode's length). A dimension is a driver
when its top value carries more than ``MIN_SHARE`` of the total change; the drivers found together
name one slice ("model gpt-4o in project proj_contribux_prod"), whose own before/after figures go
in the sentence, so the figures shown are exactly the slice named.

Why a "before" window mean and not the detector's same-weekday median: the median is per series,
not per slice; a window mean per slice is cheap, explainable ("$32/day before") and the same for
every dimension, so shares are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from contribux_costs.store import Store

BEFORE_DAYS = 28
MIN_SHARE = 0.5
_DATED = r"-\d{4}-\d{2}-\d{2}$"

# (dimension, SQL over focus_charges, columns it needs). Order = the order in the sentence.
CANDIDATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "model",
        "CASE WHEN x_provider = 'openai' AND SkuId IS NOT NULL AND position(',' IN SkuId) > 0 "
        f"THEN regexp_replace(split_part(SkuId, ',', 1), '{_DATED}', '') END",
        ("SkuId",),
    ),
    (
        "project",
        "coalesce(json_extract_string(Tags, '$.project_id'), "
        "json_extract_string(Tags, '$.ProjectName'))",
        ("Tags",),
    ),
    ("API key", "json_extract_string(Tags, '$.api_key_id')", ("Tags",)),
    ("environment", "x_environment", ("x_environment",)),
    ("owner", "x_owner", ("x_owner",)),
    ("resource", "coalesce(ResourceName, ResourceId)", ("ResourceId", "ResourceName")),
)


@dataclass(frozen=True)
class Driver:
    dimension: str
    value: str
    before_usd: float  # the slice's spend over as many days before the episode
    during_usd: float  # the slice's spend during the episode
    share: float  # of the episode's total change


@dataclass(frozen=True)
class Cause:
    drivers: list[Driver]
    before_usd: float  # the named slice (all drivers at once), before
    during_usd: float  # and during
    share: float  # of the total change
    days: int

    def sentence(self) -> str:
        """ "model gpt-4o in project proj_contribux_prod: $31.90/day before → $127.61/day
        (+$95.71, 98% of the change)"."""
        what = " in ".join(f"{d.dimension} {d.value}" for d in self.drivers)
        per = "" if self.days == 1 else f" over {self.days} days"
        return (
            f"driven by {what}: ${self.before_usd / self.days:,.2f}/day before → "
            f"${self.during_usd / self.days:,.2f}/day during "
            f"(+${self.during_usd - self.before_usd:,.2f}{per}, {self.share:.0%} of the change)"
        )


def episode_rows(store: Store, provider: str, service: str, start: date, end: date) -> pl.DataFrame:
    """The series' FOCUS rows from ``BEFORE_DAYS`` before ``start`` to ``end``: date, cost and
    every candidate dimension whose columns exist (missing ones are simply not candidates)."""
    cols = set(store.query("DESCRIBE focus_charges")["column_name"].to_list())
    dims = [(name, sql) for name, sql, need in CANDIDATES if set(need) <= cols]
    select = ", ".join(f'{sql} AS "{name}"' for name, sql in dims)
    return store.query(
        f"SELECT x_billing_date AS date, BilledCost::DOUBLE AS cost, {select} FROM focus_charges "
        "WHERE x_provider = ? AND coalesce(ServiceName, 'other') = ? AND ChargeCategory = 'Usage' "
        "AND x_billing_date >= ? AND x_billing_date <= ?",
        [provider, service, start - timedelta(days=BEFORE_DAYS), end],
    )


def explain(rows: pl.DataFrame, start: date, end: date) -> Cause | None:
    """The slice that explains most of the episode's change, or None when no dimension's top
    value carries more than ``MIN_SHARE`` of it (the rise is spread out) or there is no rise."""
    days = (end - start).days + 1
    before = rows.filter(pl.col("date") < start)
    n_before = before["date"].n_unique()
    if rows.is_empty() or n_before == 0:
        return None
    during = rows.filter(pl.col("date") >= start)
    scale = days / n_before
    total = float(during["cost"].sum()) - scale * float(before["cost"].sum())
    if total <= 0:
        return None
    drivers: list[Driver] = []
    for dim in [c for c in rows.columns if c not in ("date", "cost")]:
        driver = _top_value(rows, dim, start, scale, total)
        if driver and driver.share > MIN_SHARE and all(d.value != driver.value for d in drivers):
            drivers.append(driver)
    if not drivers:
        return None
    named = rows.filter(pl.all_horizontal(pl.col(d.dimension) == d.value for d in drivers))
    b = scale * float(named.filter(pl.col("date") < start)["cost"].sum())
    a = float(named.filter(pl.col("date") >= start)["cost"].sum())
    return Cause(drivers, b, a, (a - b) / total, days)


def _top_value(
    rows: pl.DataFrame, dim: str, start: date, scale: float, total: float
) -> Driver | None:
    if rows[dim].drop_nulls().n_unique() < 2 and rows[dim].null_count() == 0:
        return None  # one value everywhere explains nothing beyond the series itself
    parts = (
        rows.filter(pl.col(dim).is_not_null())
        .group_by(dim)
        .agg(
            (pl.col("cost").filter(pl.col("date") < start).sum() * scale).alias("before"),
            pl.col("cost").filter(pl.col("date") >= start).sum().alias("during"),
        )
        .with_columns((pl.col("during") - pl.col("before")).alias("change"))
        .sort("change", descending=True)
    )
    if parts.is_empty():
        return None
    top = parts.row(0, named=True)
    return Driver(dim, str(top[dim]), top["before"], top["during"], top["change"] / total)
