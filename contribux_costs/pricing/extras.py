"""Charges that belong to the billing period, not to a day: monthly minimums and plan fees."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from contribux_costs.periods import Month
from contribux_costs.pricing.book import PriceBook, PriceEntry

MONEY = pl.Decimal(38, 12)


def minimum_lines(priced: pl.DataFrame, book: PriceBook, month: Month) -> pl.DataFrame:
    """A shortfall line per provider whose plan has a monthly minimum above the month's usage.

    Example: Neon Launch bills at least $5 a month; $3.20 of usage adds a $1.80 line.
    """
    out = []
    for provider in priced["provider"].unique().to_list() if priced.height else []:
        mine = priced.filter(pl.col("provider") == provider)
        plans = set(mine["plan"].drop_nulls().to_list())
        found = _period_entries(book, provider, "minimum", plans, month.first_day)
        if not found:
            continue
        # One minimum per account: projects on Launch and Scale do not owe two.
        entry = max(found, key=lambda e: e.price)
        total = Decimal(str(mine["cost"].sum() or 0))
        if total < entry.price:
            out.append(_line(entry, month, None, entry.price - total, "minimum shortfall"))
    return _frame(out)


def count_lines(priced: pl.DataFrame, book: PriceBook, month: Month) -> pl.DataFrame:
    """A line per provider whose count of resources in the month passes an included number.

    Example: Upstash bills $0.50 a month for each database beyond the first 10: 13 databases →
    3 × $0.50 = $1.50 (upstash/docs redis/overall/pricing.mdx, "Number of Databases").
    """
    out = []
    for provider in priced["provider"].unique().to_list() if priced.height else []:
        mine = priced.filter(pl.col("provider") == provider)
        plans = set(mine["plan"].drop_nulls().to_list()) | {"*"}
        for entry in _period_entries(book, provider, "count", plans, month.first_day):
            n = mine.filter(pl.col("plan").str.contains("^" + entry.plan.replace("*", ".*") + "$"))
            count = n["resource_id"].drop_nulls().n_unique()
            extra = max(Decimal(count) - entry.included, Decimal(0))
            if extra > 0:
                line = _line(entry, month, None, entry.price * extra, f"{count} resources")
                line.update(
                    qty=Decimal(count),
                    billable=extra,
                    allowance_used=Decimal(count) - extra,
                    pricing_qty=extra,
                    unit_price=entry.price,
                    list_unit_price=entry.price,
                )
                out.append(line)
    return _frame(out)


def fixed_fee_lines(priced: pl.DataFrame, book: PriceBook, month: Month) -> pl.DataFrame:
    """One monthly fee line per resource on a fixed-price plan (e.g. Upstash Fixed 1 GB, $20)."""
    if not priced.height:
        return _frame([])
    out = []
    pairs = (
        priced.select("provider", "resource_id", "resource_name", "plan")
        .unique()
        .sort("resource_id")
    )
    for r in pairs.iter_rows(named=True):
        plans = {str(r["plan"])}
        for entry in _period_entries(book, r["provider"], "recurring", plans, month.first_day):
            resource = (r["resource_id"], r["resource_name"])
            out.append(_line(entry, month, resource, entry.price, "monthly plan fee"))
    return _frame(out)


def _period_entries(
    book: PriceBook, provider: str, kind: str, plans: set[str], day: date
) -> list[PriceEntry]:
    # The period's price is the one valid on its first day: a fee is not split across a change.
    return [
        e
        for e in book.entries
        if e.provider == provider
        and e.kind == kind
        and e.covers(day)
        and any(e.matches_plan(p) for p in plans)
        and not any(
            o.origin == "override" and o.sku == e.sku and o.plan == e.plan and o.covers(day)
            for o in book.entries
            if o is not e
        )
    ]


def _line(
    entry: PriceEntry,
    month: Month,
    resource: tuple[str | None, str | None] | None,
    amount: Decimal,
    what: str,
) -> dict[str, object]:
    window = month.window
    return {
        "provider": entry.provider,
        "endpoint": "pricebook",
        "service": entry.sku.split("/", 1)[1],
        "resource_id": resource[0] if resource else None,
        "resource_name": resource[1] if resource else None,
        "metric": what,
        "unit": entry.pricing_unit,
        "period_start": window.start,
        "period_end": window.end,
        "billing_date": month.first_day,
        "sku": entry.sku,
        "plan": entry.plan,
        "entry_id": entry.id,
        "list_entry_id": entry.id,
        "pricing_unit": entry.pricing_unit,
        "qty": Decimal(1),
        "billable": Decimal(1),
        "allowance_used": Decimal(0),
        "pricing_qty": Decimal(1),
        "unit_price": amount,
        "list_unit_price": amount,
        "cost": amount,
        "list_cost": amount,
        "charge_category": "Purchase",
        "charge_frequency": "Recurring",
    }


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    money = [
        "qty",
        "billable",
        "allowance_used",
        "pricing_qty",
        "unit_price",
        "list_unit_price",
        "cost",
        "list_cost",
    ]
    schema: dict[str, pl.DataType] = {c: MONEY for c in money}
    schema.update(
        {
            "period_start": pl.Datetime("us", "UTC"),
            "period_end": pl.Datetime("us", "UTC"),
            "billing_date": pl.Date(),
        }
    )
    return pl.DataFrame(rows, schema_overrides=schema) if rows else pl.DataFrame()
