"""Builders of small synthetic stores for the engine and rule tests (real table conventions)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from contribux_costs.config import Settings
from contribux_costs.store import Store, open_store

CREDENTIALS = (
    "vercel_token", "openai_admin_key", "neon_api_key", "upstash_email", "upstash_api_key",
    "database_url",
)  # fmt: skip


def demo_settings() -> Settings:
    """Settings with no credentials and no .env: the demo workspace."""
    return Settings(_env_file=None, **dict.fromkeys(CREDENTIALS))  # type: ignore[call-arg]


def new_store(path: Path | str = ":memory:", mode: str = "live") -> Store:
    store = open_store(path)
    with store.transaction() as con:
        con.execute("INSERT INTO workspace VALUES ('mode', ?)", [mode])
    return store


def insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk insert rows (by column name) in one transaction."""
    if not rows:
        return
    frame = pl.DataFrame(rows, infer_schema_length=None)
    with store.transaction() as con:
        store.insert_frame(con, table, frame)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def usage_row(
    provider: str,
    service: str,
    metric: str,
    value: float,
    day: date,
    resource_id: str | None = None,
    resource_name: str | None = None,
    unit: str = "units",
    granularity: str = "1d",
    hour: int | None = None,
    dimensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    start = _midnight(day) + timedelta(hours=hour or 0)
    width = timedelta(hours=1) if hour is not None else timedelta(days=1)
    return {
        "provider": provider,
        "endpoint": f"test/{service}",
        "service": service,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "metric": metric,
        "unit": unit,
        "period_start": start,
        "period_end": start + width,
        "granularity": granularity,
        "value": float(value),
        "dimensions": json.dumps(dimensions or {}),
        "billing_date": day,
    }


def charge_row(
    provider: str, cost: Decimal | str, day: date, service: str = "svc",
    line_item: str | None = None, project: str | None = None, category: str = "Usage",
) -> dict[str, Any]:  # fmt: skip
    start = _midnight(day)
    return {
        "provider": provider,
        "endpoint": "test/costs",
        "BilledCost": Decimal(str(cost)),
        "EffectiveCost": Decimal(str(cost)),
        "BillingCurrency": "USD",
        "ChargePeriodStart": start,
        "ChargePeriodEnd": start + timedelta(days=1),
        "ChargeCategory": category,
        "ServiceName": service,
        "ServiceProviderName": provider,
        "x_billing_date": day,
        "x_project_id": project,
        "x_line_item": line_item,
    }


PRICES = {  # USD per 1M tokens (input, cached input, output), the list prices of the config
    "gpt-4o-2024-08-06": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini-2024-07-18": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "text-embedding-3-small": (Decimal("0.02"), Decimal("0.02"), Decimal("0")),
}


def openai_day(
    day: date, project: str, model: str, requests: int, inp: int, cached: int, out: int,
    service: str = "completions",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Usage rows and billed charge rows (at PRICES) for one (day, project, model)."""
    metrics = {"num_model_requests": requests, "input_tokens": inp}
    if service == "completions":
        metrics |= {"input_cached_tokens": cached, "output_tokens": out}
    usage = [
        usage_row("openai", service, k, v, day, project, model, "tokens")
        for k, v in metrics.items()
    ]
    p_in, p_cached, p_out = PRICES[model]
    lines = {
        "input": (inp - cached) * p_in,
        "cached input": cached * p_cached,
        "output": out * p_out,
    }
    charges = [
        charge_row("openai", v / Decimal(1_000_000), day, "OpenAI API", f"{model}, {k}", project)
        for k, v in lines.items()
        if service == "completions" or k == "input"
    ]
    return usage, charges


def month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]
