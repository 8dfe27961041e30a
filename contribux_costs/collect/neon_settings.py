"""Neon per-branch consumption and compute settings: a snapshot of "now" per collection run.

- ``GET /projects/{project_id}/branches`` → ``neon_branches``: each branch's name, parent, age,
  expiration, logical size and Neon's running totals for the current billing period
  (``active_time_seconds``: wall-clock seconds its computes ran; ``compute_time_seconds``:
  CU-seconds). Branch cleanup advice names branches from here.
- ``GET /projects/{project_id}/endpoints`` → ``neon_computes``: each compute's
  ``suspend_timeout_seconds`` (0 = Neon's default 300 s, -1 = never suspends) and autoscaling
  limits. Scale-to-zero and over-provisioning advice read the settings from here.

Both are snapshots (no history in the API): the slice is ``[fetched_at, fetched_at + 1 µs)``, so a
re-run at the same instant replaces and earlier snapshots stay.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from contribux_costs.collect.base import CollectContext
from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window, parse_utc
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "neon"
SETTINGS = "projects/settings"
TS = pl.Datetime("us", "UTC")
_BRANCH_NUMBERS = (
    "active_time_seconds",
    "compute_time_seconds",
    "written_data_bytes",
    "data_transfer_bytes",
)


def settings_slice(
    ctx: CollectContext, projects: list[str], pages: dict[str, tuple[list[Any], list[Any]]]
) -> SliceWrite:
    """The snapshot slice from each project's (branches pages, endpoints pages)."""
    now = ctx.now()
    branches, computes, raw = [], [], []
    for pid in projects:
        b_pages, e_pages = pages[pid]
        for page in b_pages:
            branches += [_branch(pid, b, now) for b in page.items]
            raw.append(RawPage(page.params, page.fetched_at, page.body))
        for page in e_pages:
            computes += [_compute(pid, e, now) for e in page.items]
            raw.append(RawPage(page.params, page.fetched_at, page.body))
    tables = {
        "neon_branches": _frame(branches, {"created_at": TS, "expires_at": TS}),
        "neon_computes": _frame(computes, {"last_active": TS}),
    }
    window = Window(now, now + timedelta(microseconds=1))
    return SliceWrite(PROVIDER, SETTINGS, window, tables, raw)


def _frame(rows: list[dict[str, Any]], extra: dict[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows, schema_overrides={"fetched_at": TS, **extra})


def _branch(project_id: str, b: dict[str, Any], now: datetime) -> dict[str, Any]:
    bid = _text(b, "id", "branches")
    return {
        "provider": PROVIDER,
        "endpoint": SETTINGS,
        "fetched_at": now,
        "project_id": project_id,
        "branch_id": bid,
        "branch_name": b.get("name"),
        "parent_id": b.get("parent_id"),
        "is_default": bool(b.get("default") or b.get("primary")),
        "created_at": _time(b, "created_at", "branches"),
        "expires_at": _time(b, "expires_at", "branches"),
        "logical_size": _int(b, "logical_size", "branches"),
        **{k: _num(b, k, "branches") for k in _BRANCH_NUMBERS},
        "metadata": json.dumps(b),
    }


def _compute(project_id: str, e: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "provider": PROVIDER,
        "endpoint": SETTINGS,
        "fetched_at": now,
        "project_id": project_id,
        "compute_id": _text(e, "id", "endpoints"),
        "branch_id": e.get("branch_id"),
        "compute_type": e.get("type"),
        "autoscaling_limit_min_cu": _num(e, "autoscaling_limit_min_cu", "endpoints"),
        "autoscaling_limit_max_cu": _num(e, "autoscaling_limit_max_cu", "endpoints"),
        "suspend_timeout_seconds": _int(e, "suspend_timeout_seconds", "endpoints"),
        "current_state": e.get("current_state"),
        "last_active": _time(e, "last_active", "endpoints"),
        "metadata": json.dumps(e),
    }


def _where(what: str) -> str:
    return f"projects/{{id}}/{what}"


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise SchemaError(PROVIDER, _where(what), f"an item has no {key!r}")
    return value


def _num(obj: dict[str, Any], key: str, what: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SchemaError(
            PROVIDER, _where(what), f"{obj.get('id')}: {key} {value!r} is not a number"
        )
    return float(value)


def _int(obj: dict[str, Any], key: str, what: str) -> int | None:
    value = _num(obj, key, what)
    return None if value is None else int(value)


def _time(obj: dict[str, Any], key: str, what: str) -> datetime | None:
    text = obj.get(key)
    if text is None:
        return None
    try:
        return parse_utc(str(text))
    except ValueError:
        raise SchemaError(
            PROVIDER, _where(what), f"{obj.get('id')}: {key} {text!r} is not RFC 3339"
        ) from None
