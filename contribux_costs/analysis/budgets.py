"""Budgets as a view: each budget against the month's actuals and forecast, burning down.

Budgets come from ``[budgets]`` in the analysis config: the provider budgets the alerts already
use (``total``, a provider's name, ``database`` = ``database_providers``), plus
``[budgets.environments]`` and ``[budgets.owners]`` (USD per month per environment / owner, on the
allocation's labels). For each: the actual cost to date, the projection (a provider scope's own
forecast; an environment or owner takes its share of the month's remaining forecast, at its
month-to-date share of the spend), the burn-down per day (actual, then forecast, cumulative, and
the budget left), the day the budget runs out at the current pace (the mean of the last seven
observed days), and the 50/80/100% levels reached — the levels of ``[alerts.budget_levels]``,
raised as alerts by :func:`contribux_costs.analysis.alerts.budget_levels`.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from contribux_costs.analysis.alerts import configured_budgets
from contribux_costs.analysis.allocation import month_rows
from contribux_costs.analysis.rulebase import CENT, RuleContext
from contribux_costs.errors import ConfigError
from contribux_costs.models import BudgetDay, BudgetView, Projection

PACE_DAYS = 7


def budget_views(ctx: RuleContext, projection: Projection) -> list[BudgetView]:
    """Every configured budget as a view (provider budgets first, then environments, owners)."""
    rows = month_rows(ctx)
    if not rows.height:
        return []
    levels = sorted(float(x) for x in ctx.cfg.get("alerts.budget_levels.levels") or [])
    out = []
    for name, providers in configured_budgets(ctx.cfg).items():
        scope = "total" if name == "total" else "provider" if providers == [name] else "providers"
        part = rows.filter(pl.col("provider").is_in(providers)) if providers else rows
        budget = Decimal(str(ctx.cfg.num(f"budgets.{name}")))
        remaining = _provider_remaining(projection, providers)
        out.append(_view(ctx, (name, scope, providers), part, remaining, budget, levels))
    total_actual = Decimal(str(rows["cost"].sum()))
    for scope in ("environment", "owner"):
        for name, budget in _table(ctx, f"budgets.{scope}s").items():
            part = rows.filter(pl.col(scope) == name)
            actual = Decimal(str(part["cost"].sum())) if part.height else Decimal(0)
            share = actual / total_actual if total_actual else Decimal(0)
            remaining = projection.remaining_usd * share
            out.append(_view(ctx, (name, scope, [name]), part, remaining, budget, levels))
    return out


def _table(ctx: RuleContext, key: str) -> dict[str, Decimal]:
    raw = ctx.cfg.get(key) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"analysis config [{key}] must be a table of USD amounts")
    out = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"analysis config {key}.{name} must be a positive USD amount")
        out[str(name)] = Decimal(str(value))
    return out


def _provider_remaining(projection: Projection, providers: list[str]) -> Decimal:
    if projection.closed:
        return Decimal(0)
    if not providers:  # the total: the month's own forecast, as shown everywhere else
        return projection.remaining_usd
    return sum(
        (f.remaining_usd for f in projection.forecasts if not providers or f.provider in providers),
        Decimal(0),
    )


def _view(
    ctx: RuleContext,
    what: tuple[str, str, list[str]],
    part: pl.DataFrame,
    remaining: Decimal,
    budget: Decimal,
    levels: list[float],
) -> BudgetView:
    name, scope, match = what
    daily = {
        d: Decimal(str(v))
        for d, v in part.group_by("day").agg(pl.col("cost").sum()).sort("day").iter_rows()
    }
    days = [ctx.first + timedelta(days=i) for i in range((ctx.end - ctx.first).days)]
    observed = [d for d in days if d < ctx.as_of]
    future = [d for d in days if d >= ctx.as_of]
    actual = sum((daily.get(d, Decimal(0)) for d in observed), Decimal(0))
    projected = actual + remaining
    burn = _burn(observed, future, daily, remaining, budget)
    return BudgetView(
        name=name,
        scope=scope,
        match=match,
        budget_usd=budget,
        actual_usd=actual.quantize(CENT),
        projected_usd=projected.quantize(CENT),
        used_share=float(actual / budget),
        projected_share=float(projected / budget),
        run_out_date=_run_out(burn, budget, actual, _pace(observed, daily)),
        levels_reached=[lvl for lvl in levels if projected / budget >= Decimal(str(lvl))],
        burn_down=burn,
    )


def _burn(
    observed: list[date],
    future: list[date],
    daily: dict[date, Decimal],
    remaining: Decimal,
    budget: Decimal,
) -> list[BudgetDay]:
    out, cum = [], Decimal(0)
    for d in observed:
        cum += daily.get(d, Decimal(0))
        left = (budget - cum).quantize(CENT)
        out.append(BudgetDay(day=d, actual_cumulative_usd=cum.quantize(CENT), remaining_usd=left))
    step = remaining / len(future) if future else Decimal(0)
    for d in future:
        cum += step
        left = (budget - cum).quantize(CENT)
        out.append(BudgetDay(day=d, forecast_cumulative_usd=cum.quantize(CENT), remaining_usd=left))
    return out


def _pace(observed: list[date], daily: dict[date, Decimal]) -> Decimal:
    last = observed[-PACE_DAYS:]
    if not last:
        return Decimal(0)
    return sum((daily.get(d, Decimal(0)) for d in last), Decimal(0)) / len(last)


def _run_out(burn: list[BudgetDay], budget: Decimal, spent: Decimal, pace: Decimal) -> date | None:
    """The first day the actual cumulative cost reaches the budget; else, at the current pace
    from the last observed day, the day it would (None when that is after the month's end)."""
    actual = [b for b in burn if b.actual_cumulative_usd is not None]
    for b in actual:
        if b.actual_cumulative_usd is not None and b.actual_cumulative_usd >= budget:
            return b.day
    if pace <= 0 or not burn:
        return None
    last_day = actual[-1].day if actual else burn[0].day - timedelta(days=1)
    day = last_day + timedelta(days=math.ceil((budget - spent) / pace))
    return day if day <= burn[-1].day else None
