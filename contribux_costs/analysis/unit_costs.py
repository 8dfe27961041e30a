"""Cost per unit of business: the month's cost over business volumes, per day and for the month,
in total, per provider and per environment, with the trend of the daily figure.

Volumes come from ``[unit_costs]`` in the analysis config: each metric's read-only SQL on the
application's Postgres (``DATABASE_URL``), or a CSV (``day,metric,value``); with ``source =
"auto"`` the CSV when one is set, else ``DATABASE_URL``, else — in the demo workspace — the demo's
database. No source is a data-quality note, not an error. The costs are the FOCUS rows' (the same
labels as the allocation), so cost per unit per environment uses the environments' costs.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from contribux_costs.analysis.allocation import month_rows
from contribux_costs.analysis.environments import ENVIRONMENTS
from contribux_costs.analysis.rulebase import RuleContext
from contribux_costs.collect.postgres import volumes as vol
from contribux_costs.errors import ConfigError
from contribux_costs.models import UnitCost

PER_UNIT = Decimal("0.000001")  # cost per unit to a millionth of a dollar


def _metrics(ctx: RuleContext) -> list[dict[str, str]]:
    raw = ctx.cfg.get("unit_costs.metrics") or []
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not m["id"]:
            raise ConfigError(f"analysis config unit_costs.metrics[{i}] needs an id")
        if m.get("aggregate", "sum") not in ("sum", "mean"):
            raise ConfigError(f"analysis config unit_costs.metrics[{i}].aggregate: sum or mean")
        out.append({k: str(v) for k, v in m.items()})
    return out


def volumes(ctx: RuleContext, metrics: list[dict[str, str]]) -> tuple[pl.DataFrame, str]:
    """(``day, metric, value`` for the month, the source's name); empty with a note when the
    config names no source that can be read."""
    from contribux_costs.config import load_settings
    from contribux_costs.focus import summary

    source = str(ctx.cfg.get("unit_costs.source") or "auto")
    csv_path = str(ctx.cfg.get("unit_costs.csv") or "")
    window = ctx.month.window
    if source == "csv" or (source == "auto" and csv_path):
        if not csv_path:
            raise ConfigError("unit_costs.source = 'csv' needs unit_costs.csv (a file path)")
        return vol.read_csv(Path(csv_path), window), "csv"
    settings = load_settings()
    if settings.database_url is not None and source in ("auto", "postgres"):
        from contribux_costs.collect.postgres.collector import dsn_secrets

        queries = [vol.VolumeQuery(m["id"], m["sql"]) for m in metrics if m.get("sql")]
        frame = vol.read_postgres(settings.database_url, dsn_secrets(settings), queries, window)
        return frame, "postgres"
    if source == "auto" and summary.is_demo(ctx.store):
        return vol.read_demo([m["id"] for m in metrics], window), "demo"
    ctx.note("no business volumes (set DATABASE_URL or unit_costs.csv): unit costs not shown")
    return vol.empty(), "none"


def unit_costs(ctx: RuleContext) -> list[UnitCost]:
    """One :class:`UnitCost` per configured metric that has volume in the month."""
    metrics = _metrics(ctx)
    rows = month_rows(ctx)
    if not metrics or not rows.height:
        return []
    frame, source = volumes(ctx, metrics)
    out = []
    for m in metrics:
        daily = frame.filter(pl.col("metric") == m["id"]).sort("day")
        if daily.height and float(daily["value"].sum()) > 0:
            out.append(_unit(rows, m, daily, source))
        elif source != "none":
            ctx.note(f"unit costs: no volume for {m['id']} in the month")
    return out


def _per(cost: Decimal, volume: float) -> Decimal | None:
    return (cost / Decimal(str(volume))).quantize(PER_UNIT) if volume > 0 else None


def _unit(rows: pl.DataFrame, m: dict[str, str], daily: pl.DataFrame, source: str) -> UnitCost:
    values = dict(zip(daily["day"].to_list(), daily["value"].to_list(), strict=True))
    days = sorted(values)
    # Costs of the days that have a volume: a unit cost never divides a day's cost by a month.
    rows = rows.filter(pl.col("day").is_in(days))
    volume = sum(values.values()) / (len(days) if m.get("aggregate") == "mean" else 1)
    cost = Decimal(str(rows["cost"].sum()))
    by_day = {d: Decimal(str(c)) for d, c in rows.group_by("day").agg(pl.col("cost").sum()).rows()}
    per_day = {d: _per(by_day.get(d, Decimal(0)), values[d]) for d in days}
    return UnitCost(
        metric=m["id"],
        name=m.get("name", m["id"]),
        source=source,
        month_volume=volume,
        cost_usd=cost.quantize(Decimal("0.01")),
        cost_per_unit_usd=_per(cost, volume),
        by_provider={p: _per(c, volume) for p, c in _sums(rows, "provider").items()},
        by_environment={
            e: _per(c, volume)
            for e, c in ({e: Decimal(0) for e in ENVIRONMENTS} | _sums(rows, "environment")).items()
        },
        daily=per_day,
        daily_volume={d: float(values[d]) for d in days},
        trend_pct_per_week=_trend([float(v) for v in per_day.values() if v is not None]),
    )


def _sums(rows: pl.DataFrame, key: str) -> dict[str, Decimal]:
    grouped = rows.group_by(key).agg(pl.col("cost").sum()).sort(key)
    return {str(k): Decimal(str(v)) for k, v in grouped.iter_rows()}


def _trend(series: list[float]) -> float | None:
    """Least-squares slope of the daily cost per unit, as % of its mean per 7 days."""
    n = len(series)
    if n < 7:
        return None
    xs = range(n)
    mx, my = (n - 1) / 2, sum(series) / n
    var = sum((x - mx) ** 2 for x in xs)
    if my == 0 or var == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, series, strict=True)) / var
    return round(slope * 7 / my * 100, 2)
