"""Helpers for pricing, FOCUS and reconciliation tests: tidy usage and charges rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from contribux_costs.store import Store

ENDPOINTS = {"neon": "consumption", "upstash": "stats", "vercel": "charges", "openai": "usage"}
SERVICES = {"neon": "compute", "upstash": "redis", "vercel": "Function Invocations"}


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def usage(
    provider: str,
    metric: str,
    unit: str,
    d: date,
    value: float,
    *,
    resource_id: str = "r1",
    service: str | None = None,
    dims: dict[str, Any] | None = None,
    resource_name: str | None = None,
) -> dict[str, Any]:
    """One tidy daily usage row (the conventions of 001_core.sql)."""
    return {
        "provider": provider,
        "endpoint": ENDPOINTS[provider],
        "service": service or SERVICES.get(provider, "x"),
        "resource_id": resource_id,
        "resource_name": resource_name or resource_id,
        "metric": metric,
        "unit": unit,
        "period_start": midnight(d),
        "period_end": midnight(d) + timedelta(days=1),
        "granularity": "1d",
        "value": float(value),
        "dimensions": json.dumps(dims or {}),
        "billing_date": d,
    }


def charge(
    provider: str,
    d: date,
    amount: str,
    *,
    service: str = "Function Invocations",
    category: str = "Usage",
    line_item: str | None = None,
    qty: str | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """One billed charge row (FOCUS names, as the Vercel / OpenAI collectors write them)."""
    return {
        "provider": provider,
        "endpoint": "charges" if provider == "vercel" else "costs",
        "BilledCost": Decimal(amount),
        "EffectiveCost": Decimal(amount),
        "BillingCurrency": "USD",
        "ChargePeriodStart": midnight(d),
        "ChargePeriodEnd": midnight(d) + timedelta(days=1),
        "ChargeCategory": category,
        "ServiceName": service,
        "ServiceProviderName": "Vercel" if provider == "vercel" else "OpenAI",
        "SkuId": line_item,
        "ConsumedQuantity": Decimal(qty) if qty else None,
        "ConsumedUnit": unit,
        "x_billing_date": d,
        "x_line_item": line_item,
    }


def write(store: Store, table: str, rows: list[dict[str, Any]] | pl.DataFrame) -> None:
    frame = (
        rows
        if isinstance(rows, pl.DataFrame)
        else pl.DataFrame(rows, schema_overrides=_SCHEMAS.get(table), infer_schema_length=None)
    )
    with store.transaction() as con:
        store.insert_frame(con, table, frame)


_MONEY = pl.Decimal(38, 12)
_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "charges": {
        "BilledCost": _MONEY,
        "EffectiveCost": _MONEY,
        "ConsumedQuantity": _MONEY,
        "SkuId": pl.String(),
        "ConsumedUnit": pl.String(),
        "x_line_item": pl.String(),
    },
}


def money(value: object) -> Decimal:
    """A cost rounded to the cent, for comparisons with hand-worked figures."""
    return Decimal(str(value)).quantize(Decimal("0.01"))
