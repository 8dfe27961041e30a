"""Vercel contract commitments: ``GET /v1/billing/contract-commitments`` (FOCUS 1.3 JSON lines).

One line per commitment term (vercel.com/docs/rest-api/billing/list-focus-contract-commitments):
``ContractId``, ``ContractCommitmentId``, ``ContractCommitmentCategory`` (Spend for Pro's $20 a
month, Usage for Enterprise MIUs), ``ContractCommitmentType`` (Pro | Enterprise),
``ContractCommitmentUnit`` (USD | MIUs), ``ContractCommitmentCost`` (required for Spend),
``ContractCommitmentQuantity`` (required for Usage), the term and contract periods (ISO 8601 UTC,
start inclusive, end exclusive) and ``BillingCurrency``. The endpoint takes no time range: the
terms starting inside the collected window are kept (the slice replaced), the rest ignored.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import polars as pl

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.errors import SchemaError
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "vercel"
ENDPOINT = "billing/contract-commitments"
PATH = "/v1/billing/contract-commitments"
TEXT = (
    "ContractId",
    "ContractCommitmentId",
    "ContractCommitmentCategory",
    "ContractCommitmentType",
    "ContractCommitmentUnit",
    "BillingCurrency",
)
TIMES = (
    "ContractCommitmentPeriodStart",
    "ContractCommitmentPeriodEnd",
    "ContractPeriodStart",
    "ContractPeriodEnd",
)
SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "endpoint": pl.String(),
    **{c: pl.String() for c in TEXT},
    "ContractCommitmentCost": pl.Decimal(38, 12),
    "ContractCommitmentQuantity": pl.Decimal(38, 12),
    "ContractCommitmentDescription": pl.String(),
    **{c: pl.Datetime("us", "UTC") for c in TIMES},
}


def fetch_commitments(task: Task, ctx: CollectContext, team_id: str | None) -> SliceWrite:
    """The terms starting in ``task.window`` (one request; the body is small)."""
    params = {"teamId": team_id} if team_id else {}
    client = ctx.clients.client("vercel")
    caller = ctx.clients.caller(PROVIDER)
    body = caller.call(ENDPOINT, lambda: _get(client, params))
    rows = [commitment_row(line, n) for n, line in enumerate(body.splitlines(), 1) if line.strip()]
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row").filter(
        pl.col("ContractCommitmentPeriodStart").is_between(
            task.window.start, task.window.end, "left"
        )
    )
    # Pro/Flex teams get an empty body (the docs): nothing to land.
    raw = [RawPage(dict(params), ctx.now(), body)] if body.strip() else []
    return SliceWrite(PROVIDER, ENDPOINT, task.window, {"contract_commitments": frame}, raw)


def _get(client: httpx.Client, params: dict[str, str]) -> str:
    response = client.get(PATH, params=params)
    response.raise_for_status()
    return response.text


def commitment_row(line: str, number: int) -> tuple[Any, ...]:
    """One JSON line → the ``contract_commitments`` columns; a bad line names its number."""
    try:
        obj = json.loads(line, parse_float=Decimal)
    except ValueError:
        raise _bad(number, "is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _bad(number, "is not an object")
    text = [_text(obj, c, number) for c in TEXT]
    if text[2] not in ("Spend", "Usage"):
        raise _bad(number, f"has ContractCommitmentCategory {text[2]!r} (Spend | Usage)")
    cost = _decimal(obj.get("ContractCommitmentCost"), "ContractCommitmentCost", number)
    qty = _decimal(obj.get("ContractCommitmentQuantity"), "ContractCommitmentQuantity", number)
    if text[2] == "Spend" and cost is None:
        raise _bad(number, "is a Spend commitment without ContractCommitmentCost")
    if text[2] == "Usage" and qty is None:
        raise _bad(number, "is a Usage commitment without ContractCommitmentQuantity")
    times = [_instant(obj.get(c), c, number) for c in TIMES]
    if times[0] >= times[1]:
        raise _bad(number, "has a commitment period that does not end after it starts")
    desc = obj.get("ContractCommitmentDescription")
    return (PROVIDER, ENDPOINT, *text, cost, qty, None if desc is None else str(desc), *times)


def _text(obj: dict[str, Any], name: str, number: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _bad(number, f"has no {name}")
    return value


def _decimal(value: object, name: str, number: int) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _bad(number, f"has {name} {value!r} that is not a number")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise _bad(number, f"has {name} {value!r} that is not a number") from None
    if not out.is_finite() or out < 0:
        raise _bad(number, f"has {name} {value!r} that is not a finite amount >= 0")
    return out


def _instant(value: object, name: str, number: int) -> datetime:
    if not isinstance(value, str):
        raise _bad(number, f"has no {name}")
    try:
        out = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(number, f"has {name} {value!r} that is not ISO 8601") from None
    if out.tzinfo is None:
        raise _bad(number, f"has {name} {value!r} without a UTC offset")
    return out


def _bad(number: int, what: str) -> SchemaError:
    return SchemaError(PROVIDER, ENDPOINT, f"line {number} {what}")
