"""Capacity and plan rules: Vercel allowances and function load, Upstash plan break-even and
storage limits, the guide's database scaling flow, and time-to-limit for plan quotas.

A scale-up recommendation carries a **negative** ``estimated_monthly_savings_usd``: the added
monthly cost of the change (see :mod:`contribux_costs.models`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl

from contribux_costs.analysis import forecast as fc
from contribux_costs.analysis.database import database_project, neon_daily, statement_deltas
from contribux_costs.analysis.rulebase import Candidate, Rule, RuleContext, fnum, usd
from contribux_costs.models import TimeToLimit

ALLOWANCES = {
    "Fast Data Transfer": "included_transfer_gb",
    "Edge Requests": "included_edge_requests",
}
UNITS = {"Fast Data Transfer": "GB", "Edge Requests": "requests"}
INVOCATIONS = "Function Invocations"


def vercel_daily(ctx: RuleContext) -> pl.DataFrame:
    """Team-wide quantity and billed cost per Vercel service and LA billing day."""
    if "vercel_daily" not in ctx.cache:
        ctx.cache["vercel_daily"] = ctx.store.query(
            "WITH q AS (SELECT service, billing_date AS date, sum(value) AS quantity FROM usage "
            "WHERE provider = 'vercel' AND billing_date >= $first AND billing_date < $end "
            "GROUP BY ALL), c AS (SELECT ServiceName AS service, x_billing_date AS date, "
            "sum(BilledCost) AS cost FROM charges WHERE provider = 'vercel' "
            "AND x_billing_date >= $first AND x_billing_date < $end GROUP BY ALL) "
            "SELECT q.*, coalesce(c.cost, 0) AS cost FROM q LEFT JOIN c USING (service, date) "
            "ORDER BY service, date",
            {"first": ctx.first, "end": ctx.end},
        )
    frame: pl.DataFrame = ctx.cache["vercel_daily"]
    return frame


def _service(ctx: RuleContext, name: str) -> pl.DataFrame:
    return vercel_daily(ctx).filter(pl.col("service") == name)


def _month_end(ctx: RuleContext, series: pl.DataFrame) -> float:
    """Projected month total of a daily series (the actual total for a closed month)."""
    if series.is_empty():
        return 0.0
    frame = series.select("date", pl.col("quantity").alias("value"))
    return fc.month_end_projection(frame, ctx.month, ctx.as_of).projected


def vercel_allowances(ctx: RuleContext) -> list[Candidate]:
    """Fast Data Transfer and Edge Requests against the plan's monthly allowances.

    An overage is a cost, not a saving (issue 14 item 11): it is listed as a cost ahead (the
    projected overage at the list price, less what is left of the monthly usage credit) with no
    dollars claimed. Edge caching moves no Fast Data Transfer (the bytes still reach the users);
    the part a measured change removes is claimed by ``vercel.edge_cache`` on Fast Origin Transfer.
    """
    from contribux_costs.analysis.vercel_rules import credit_left, overage_cost

    if not ctx.usage("vercel"):
        return []
    warn = ctx.cfg.num("vercel.allowance_share")
    out = []
    for service, key in ALLOWANCES.items():
        days = _service(ctx, service)
        included = ctx.cfg.num(f"vercel.{key}")
        projected = _month_end(ctx, days)
        if days.is_empty() or included <= 0 or projected < warn * included:
            continue
        cost = Decimal(str(days["cost"].sum() or 0))
        used = float(days["quantity"].sum())
        ahead = overage_cost(ctx, service, projected, included, cost, used)
        credit = credit_left(ctx)
        net = max(ahead - credit, Decimal(0))
        out.append(
            Candidate(
                "vercel.allowance", "vercel", service, "scaling",
                f"{service} at {projected / included:.0%} of the plan's included "
                f"{included:,.0f} {UNITS[service]} this month: ${usd(net)} overage ahead",
                "Budget the overage; to shrink it, compress and resize images and move large "
                "downloads off the app domain (edge caching does not reduce data transfer to "
                "users), then compare next month's GB per request",
                Decimal(0), cost, f"vercel:{service}", "medium",
                "no measured change removes this overage: a cost ahead, not a saving",
                "medium", f"projected use ≥ {warn:.0%} of the allowance",
                {"used": used, "projected_month_end": projected, "included": included,
                 "overage_cost_usd": float(usd(cost)), "projected_overage_usd": float(usd(ahead)),
                 "usage_credit_left_usd": float(usd(credit))},
                cost_ahead=net,
            )
        )  # fmt: skip
    return out


def function_load(ctx: RuleContext) -> list[Candidate]:
    """Guide's function flow: request load vs threshold → scale up / keep / scale down, and
    invocation growth faster than the configured monthly rate."""
    days = _service(ctx, INVOCATIONS)
    if days.height < 7:
        return []
    # The trend comes from up to 90 days (one month alone is too noisy for a few % a month).
    frame = ctx.store.query(
        "SELECT billing_date AS date, sum(value) AS value FROM usage WHERE provider = 'vercel' "
        "AND service = ? AND billing_date >= ? AND billing_date < ? GROUP BY 1 ORDER BY 1",
        [INVOCATIONS, ctx.end - timedelta(days=90), ctx.end],
    )
    f = fc.forecast(frame, 30, backtest_origins=0, fit_days=90)
    level = fnum(frame["value"].tail(7).mean())
    growth = 100 * f.slope_per_day * 30 / level if level > 0 else 0.0
    peak = max((p.point for p in f.points), default=level)
    load = peak / ctx.cfg.num("vercel.function_invocations_limit_per_day")
    compute = _compute_cost(ctx)
    if load >= ctx.cfg.num("vercel.function_load_scale_up") or (
        growth > ctx.cfg.num("vercel.invocation_growth_pct")
    ):
        added = compute * Decimal(str(max(growth, 0) / 100))
        return [_function_candidate(ctx, "up", load, growth, compute, -added, days)]
    if load <= ctx.cfg.num("vercel.function_load_scale_down") and growth < 1.0:  # flat
        return [_function_candidate(ctx, "down", load, growth, compute, Decimal(0), days)]
    return []


def _compute_cost(ctx: RuleContext) -> Decimal:
    frame = vercel_daily(ctx).filter(
        pl.col("service").is_in([INVOCATIONS, "Fluid Active CPU", "Fluid Provisioned Memory"])
    )
    return Decimal(str(frame["cost"].sum() or 0))


def _function_candidate(
    ctx: RuleContext, way: str, load: float, growth: float, compute: Decimal, value: Decimal,
    days: pl.DataFrame,
) -> Candidate:  # fmt: skip
    up = way == "up"
    return Candidate(
        "vercel.function_load", "vercel", INVOCATIONS, "scaling",
        f"Function invocations grow {growth:.1f}% a month (load {load:.0%} of the threshold)"
        if up else f"Function load is {load:.0%} of the threshold and not growing",
        "Plan for the growth: raise function concurrency/memory limits, cache responses "
        "(ISR, edge caching) and budget the added compute" if up
        else "Lower provisioned memory / max duration of the functions",
        value, compute, f"vercel:functions:{way}", "medium",
        "trend fitted on the month's daily invocations (weekday-adjusted)", "medium",
        f"growth > {ctx.cfg.num('vercel.invocation_growth_pct'):.0f}%/month or load ≥ "
        f"{ctx.cfg.num('vercel.function_load_scale_up'):.0%}" if up
        else f"load ≤ {ctx.cfg.num('vercel.function_load_scale_down'):.0%}",
        {"invocations": float(days["quantity"].sum()), "growth_pct_per_month": growth,
         "load_share": load, "function_compute_cost_usd": float(usd(compute)),
         "added_monthly_cost_usd": float(usd(-value))},
    )  # fmt: skip


def database_scaling(ctx: RuleContext) -> list[Candidate]:
    """Guide's database flow: forecast CU near the configured max → larger compute (added cost)."""
    target = database_project(ctx)
    if target is None:
        return []
    pid, cost = target
    days = neon_daily(ctx).filter(pl.col("project_id") == pid)
    frame = days.select("date", (pl.col("cu_hours") / 24).alias("value"))
    if frame.height < 7:
        return []
    peak = max((p.upper for p in fc.forecast(frame, 30, backtest_origins=0).points), default=0.0)
    limit = ctx.cfg.num("neon.max_cu") * ctx.cfg.num("neon.cu_limit_share")
    if peak < limit:
        return []
    added = cost * Decimal(str(peak / limit - 1))
    return [
        Candidate(
            "neon.compute_scale_up", "neon", pid, "scaling",
            f"Forecast compute ({peak:.2f} CU average) reaches the configured limit",
            "Raise the autoscaling maximum (larger compute); add a read replica if reads dominate",
            -added, cost, f"neon:scale:{pid}", "low",
            "30-day forecast of daily average CU (upper bound)", "low",
            f"forecast CU ≥ {ctx.cfg.num('neon.cu_limit_share'):.0%} of max_cu",
            {"forecast_peak_cu": peak, "limit_cu": limit},
        )
    ]  # fmt: skip


def read_replica(ctx: RuleContext) -> list[Candidate]:
    """Guide's database flow: forecast query load over the configured limit → a read replica."""
    target = database_project(ctx)
    if target is None:
        return []
    from contribux_costs.collect.postgres import deltas as pgd

    deltas = statement_deltas(ctx)
    if deltas.is_empty():
        return []
    load = pgd.daily_query_load(deltas).select(
        pl.col("day").alias("date"), (pl.col("calls") / 86_400).alias("value")
    )
    if load.height < 7:
        return []
    peak = max((p.upper for p in fc.forecast(load, 30, backtest_origins=0).points), default=0.0)
    limit = ctx.cfg.num("neon.query_load_limit_calls_per_s")
    if peak < limit:
        return []
    pid, cost = target
    return [
        Candidate(
            "neon.read_replica", "neon", pid, "scaling",
            f"Forecast query load {peak:,.0f} calls/s passes the configured {limit:,.0f}",
            "Add a Neon read replica and route read-only queries (analytics, search) to it",
            -cost, cost, f"neon:replica:{pid}", "low",
            "30-day forecast of daily average calls/s (upper bound); a replica is priced at "
            "the primary's compute", "medium", f"forecast calls/s ≥ {limit:,.0f}",
            {"forecast_calls_per_s": peak, "limit_calls_per_s": limit,
             "added_monthly_cost_usd": float(usd(cost))},
        )
    ]  # fmt: skip


RULES: tuple[Rule, ...] = (vercel_allowances, function_load, database_scaling, read_replica)


def time_to_limits(ctx: RuleContext) -> list[TimeToLimit]:
    """Days until each plan quota is reached at the forecast pace: Vercel allowances (cumulative
    in the month) and Upstash storage (a gauge) against plan sizes."""
    return [*_vercel_limits(ctx), *_upstash_limits(ctx)]


def _upstash_limits(ctx: RuleContext) -> list[TimeToLimit]:
    from contribux_costs.analysis import upstash_plans as up

    out = []
    for db in up.databases(ctx):
        limit = up.storage_cap_gb(ctx, db)
        if limit is None:
            continue  # pay-as-you-go without a reported limit: no storage quota to run into
        series = up.storage_series(ctx, db.database_id).filter(pl.col("date") < ctx.as_of)
        if series.is_empty():
            continue
        ttl = fc.time_to_limit(series, limit, kind="gauge", horizon_days=365)
        out.append(
            TimeToLimit(
                provider="upstash", resource=db.name, metric="storage_gb", limit=limit,
                used=ttl.current, projected_month_end=db.storage_now_gb,
                days_to_limit=None if ttl.days is None else float(ttl.days),
                limit_date=ttl.crossing_date,
            )
        )  # fmt: skip
    return out


def _vercel_limits(ctx: RuleContext) -> list[TimeToLimit]:
    out = []
    for service, key in ALLOWANCES.items():
        days = _service(ctx, service).filter(pl.col("date") < ctx.as_of)
        if days.is_empty():
            continue
        included = ctx.cfg.num(f"vercel.{key}")
        frame = days.select("date", pl.col("quantity").alias("value"))
        ttl = fc.time_to_limit(frame, included, kind="cumulative", horizon_days=ctx.month.days)
        crossed = frame.filter(pl.col("value").cum_sum() >= included)["date"]
        out.append(
            TimeToLimit(
                provider="vercel", resource=service, metric="consumed_quantity", limit=included,
                used=ttl.current, projected_month_end=_month_end(ctx, days),
                days_to_limit=None if ttl.days is None else float(ttl.days),
                # Already used up: the billing day it happened; else the forecast's day.
                limit_date=crossed[0] if crossed.len() else ttl.crossing_date,
            )
        )  # fmt: skip
    return out
