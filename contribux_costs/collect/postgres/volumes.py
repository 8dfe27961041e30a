"""Business volumes for unit costs: configured read-only SQL on the application's Postgres, a CSV,
or the demo's database.

Each metric's query runs over ``DATABASE_URL`` in a ``READ ONLY`` transaction with a local
``statement_timeout`` (the same connection rules as the statistics collector) and must return
``day`` and ``value`` columns; ``%(start)s`` and ``%(end)s`` are the window's bounds (UTC). Every
value is checked at this boundary: a day that is no date, a value that is not a finite number
≥ 0, or a missing column fails with one line naming the metric (or the CSV file and line).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from pydantic import SecretStr

from contribux_costs.collect.postgres.collector import PROVIDER, LiveSource
from contribux_costs.errors import CollectError, ConfigError
from contribux_costs.periods import Window

ENDPOINT = "business_volumes"
SCHEMA = {"day": pl.Date, "metric": pl.String, "value": pl.Float64}


@dataclass(frozen=True)
class VolumeQuery:
    """A business metric and the SQL that counts it per day."""

    id: str
    sql: str


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def read_postgres(
    dsn: SecretStr, secrets: list[str], queries: list[VolumeQuery], window: Window
) -> pl.DataFrame:
    """``day, metric, value`` for every query over ``window``, read in one READ ONLY
    transaction."""
    source = LiveSource(dsn, secrets)
    rows: list[tuple[date, str, float]] = []
    params = {"start": window.start, "end": window.end}
    try:
        with source.connect(ENDPOINT) as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {int(source.statement_timeout_ms)}")
            for q in queries:
                try:
                    got = conn.execute(q.sql, params).fetchall()
                except psycopg.Error as exc:
                    raise CollectError(
                        PROVIDER, ENDPOINT, f"volume query {q.id!r} failed: {source._text(exc)}"
                    ) from None
                for r in got:
                    day, value = _checked(q.id, r)
                    rows.append((day, q.id, value))
    except psycopg.Error as exc:
        raise source.query_error(ENDPOINT, exc) from None
    return _frame(rows)


def _checked(metric: str, row: dict[str, Any]) -> tuple[date, float]:
    if "day" not in row or "value" not in row:
        raise CollectError(
            PROVIDER, ENDPOINT, f"volume query {metric!r} must return columns day and value"
        )
    return _day(row["day"], f"volume query {metric!r}"), _value(row["value"], metric)


def _day(raw: object, where: str) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise CollectError(PROVIDER, ENDPOINT, f"{where}: day {raw!r} is not a date")


def _value(raw: object, where: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise CollectError(
            PROVIDER, ENDPOINT, f"{where}: value {raw!r} is not a finite number >= 0"
        )
    return value


def _frame(rows: list[tuple[date, str, float]]) -> pl.DataFrame:
    if not rows:
        return empty()
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    # Two rows for one (day, metric) add up (a query grouped finer than by day).
    return frame.group_by("day", "metric").agg(pl.col("value").sum()).sort("day", "metric")


def read_csv(path: Path, window: Window) -> pl.DataFrame:
    """``day,metric,value`` rows of a CSV file within ``window``."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"day", "metric", "value"} <= set(reader.fieldnames or []):
                raise ConfigError(f"{path}: a volume CSV needs the columns day,metric,value")
            rows = []
            for n, rec in enumerate(reader, start=2):
                where = f"{path} line {n}"
                try:
                    rows.append(
                        (_day(rec["day"], where), rec["metric"], _value(rec["value"], where))
                    )
                except CollectError as exc:
                    raise ConfigError(str(exc).split(": ", 1)[-1]) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the volume CSV {path}: {exc.strerror}") from None
    frame = _frame(rows)
    first, end = window.start.date(), window.end.date()
    return frame.filter((pl.col("day") >= first) & (pl.col("day") < end))


def read_demo(metrics: list[str], window: Window) -> pl.DataFrame:
    """The demo database's volumes (what the default queries count there)."""
    from contribux_costs.demo.model import DemoModel
    from contribux_costs.demo.postgres import business_volumes

    model = DemoModel()
    rows = []
    day = window.start.date()
    while day < window.end.date():
        for metric, value in business_volumes(model, day).items():
            if metric in metrics:
                rows.append((day, metric, value))
        day = date.fromordinal(day.toordinal() + 1)
    return _frame(rows)
