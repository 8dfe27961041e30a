"""Report sections for allocation, unit costs and budgets (issue 16), as drill-down widgets.

Each section function takes the page's :class:`~contribux_costs.report.drill.Drill` and the
engine's result and returns HTML, so a notebook cell is one line; every table and chart in it
follows the page's filters. Cost summaries are pivots re-summed from the embedded cost rows (a
total row equals the sum of the rows shown); charts re-draw from rows carrying provider,
environment and owner; fixed tables hide the rows a filter excludes.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

import polars as pl

from contribux_costs.focus.split import round_parts
from contribux_costs.models import AnalysisResult, BudgetView, UnitCost
from contribux_costs.report import charts
from contribux_costs.report.drill import Drill
from contribux_costs.report.html import money

ENV_ORDER = ("production", "preview", "staging", "development", "unallocated")
SCOPE_DIMS = ("provider", "environment", "owner")  # a budget's scope is one of these (or total)


def allocation(drill: Drill, result: AnalysisResult) -> str:
    """Cost by environment and by owner (unallocated always listed), the environment × provider
    chart, shared splits and the preview environment."""
    a = result.allocation
    if a is None:
        return "<h2>Who spends it</h2><p>No allocated cost rows for this month.</p>"
    unallocated = a.by_environment.get("unallocated", Decimal(0))
    note = (
        "Every cost row matched an allocation rule."
        if unallocated == 0
        else f"{money(unallocated)} matched no allocation rule: add a rule to "
        "[allocation] in the analysis config."
    )
    return (
        "<h2>Who spends it: environments and owners</h2>"
        f"<p>By ordered rules (provider, service, resource, tags). {escape(note)}</p>"
        + drill.costs_by("environment", {}, keep=("unallocated",))
        + allocation_chart(drill, result)
        + "<h3>By owner</h3>"
        + drill.costs_by("owner", {}, keep=("unallocated",))
        + _shared_html(drill, result)
        + _preview_html(drill, result)
    )


def allocation_chart(drill: Drill, result: AnalysisResult) -> str:
    """Stacked bars: each environment's month by provider, re-drawn from the cost rows."""
    cur = drill.facts.filter(pl.col("date") >= drill.month.first_day)
    if "environment" not in cur.columns:
        return ""
    frame = cur.group_by("environment", "provider").agg(pl.col("cost").sum())
    fig = charts.stacked_daily(
        frame, "environment", "cost", "provider", f"Cost by environment, {result.month}", "USD"
    )
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(ENV_ORDER))
    return drill.chart(fig, "stack", x="environment", y="cost", series="provider")


def _shared_html(drill: Drill, result: AnalysisResult) -> str:
    a = result.allocation
    if a is None or not a.shared:
        return ""
    frame, dims = shared_rows(drill, result)
    methods = ", ".join(sorted({f"{s.method_id} (rule {s.rule_id})" for s in a.shared}))
    return (
        "<h3>Shared costs, split</h3><p>FOCUS allocated rows (AllocatedMethodId "
        f"{escape(methods)}); each split adds up to its charge exactly.</p>"
        + drill.table(frame, dims, money_cols=("cost",))
    )


def shared_rows(drill: Drill, result: AnalysisResult) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """One row per shared charge and target, tagged with the charge's provider (from the cost
    rows of its service) and the target's environment and owner."""
    a = result.allocation
    providers = _service_providers(drill)
    rows, dims = [], []
    for s in a.shared if a else []:
        for target, part in s.parts.items():
            env, _, owner = target.partition("/")
            rows.append({"shared cost": s.service, "allocated to": target, "cost": part})
            dims.append({"provider": providers.get(s.service), "environment": env, "owner": owner})
    return pl.DataFrame(rows), dims


def _service_providers(drill: Drill) -> dict[str, str]:
    if "service" not in drill.facts.columns:
        return {}
    pairs = drill.facts.select("service", "provider").unique().drop_nulls()
    return {str(s): str(p) for s, p in pairs.iter_rows()}


def _preview_html(drill: Drill, result: AnalysisResult) -> str:
    a = result.allocation
    if a is None:
        return ""
    if a.preview_by_pull_request:
        frame = pl.DataFrame(
            [{"pull request": f"#{p.pull_request}", "provider": p.provider,
              "resources": ", ".join(p.resources), "cost": p.cost_usd}
             for p in a.preview_by_pull_request]
        )  # fmt: skip
        dims = [
            {"provider": p.provider, "environment": "preview"} for p in a.preview_by_pull_request
        ]
        return "<h3>Preview cost per pull request</h3>" + drill.table(frame, dims, ("cost",))
    return (
        f"<h3>Preview environment, {escape(result.month)}</h3><p>No provider named a pull request "
        "on its preview rows this month: the preview environment's cost per provider.</p>"
        + drill.costs_by("provider", {"environment": "preview"})
    )


def _per_unit(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "–"
    return f"${value:,.{places}f}"


def unit_costs(drill: Drill, result: AnalysisResult) -> str:
    """Cost per unit of business: the month per metric, split by provider and by environment
    (the parts add up to the metric's figure as shown), and the daily cost per unit."""
    if not result.unit_costs:
        return (
            "<h2>Cost per unit of business</h2><p>No business volumes: set DATABASE_URL (the "
            "[unit_costs] queries) or unit_costs.csv in the analysis config.</p>"
        )
    frame, dims = unit_table(drill, result)
    sources = ", ".join(sorted({u.source for u in result.unit_costs}))
    return (
        "<h2>Cost per unit of business</h2><p>The month's cost over business volumes from "
        f"{escape(sources)} (active users: per average daily active user), then by provider and "
        "by environment on the same volume (a provider's or an environment's share of the cost "
        "per unit). Trend: slope of the daily cost per unit, per week.</p>"
        + drill.table(frame, dims, money_cols=("cost",))
        + unit_cost_chart(drill, result)
    )


def unit_table(drill: Drill, result: AnalysisResult) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Per metric: an "all" row, one row per provider and one per environment. A part's cost is
    its cost rows on the metric's days; parts are rounded (largest remainder) to the figures
    shown on the "all" row, so they add up to it. Dimensions: a part row names its provider or
    environment and leaves the other empty (it hides under a filter on it); the "all" row hides
    under any filter."""
    rows: list[dict[str, Any]] = []
    dims: list[dict[str, Any]] = []
    none = dict.fromkeys(SCOPE_DIMS)
    for u in result.unit_costs:
        places = 4 if u.cost_per_unit_usd is not None and abs(u.cost_per_unit_usd) < 1 else 2
        trend = "–" if u.trend_pct_per_week is None else f"{u.trend_pct_per_week:+.1f}%"
        rows.append(_unit_line(u, "all", "all", u.cost_usd, u.cost_per_unit_usd, places, trend))
        dims.append(none)
        for dim, keys in (("provider", u.by_provider), ("environment", u.by_environment)):
            costs, per = _unit_parts(u, _day_costs(drill, u, dim, list(keys)), places)
            for key in keys:
                where = ("all", key) if dim == "environment" else (key, "all")
                rows.append(_unit_line(u, *where, costs[key], per[key], places, "–"))
                dims.append(none | {dim: key})
    return pl.DataFrame(rows), dims


def _day_costs(drill: Drill, u: UnitCost, dim: str, keys: list[str]) -> dict[str, Decimal]:
    """The cost of each ``dim`` value on the days the metric has a volume (as the engine)."""
    days = pl.Series(list(u.daily_volume), dtype=pl.Date)
    cur = drill.facts.filter(pl.col("date").is_in(days.implode()))
    sums = dict(cur.group_by(dim).agg(pl.col("cost").sum()).rows()) if dim in cur.columns else {}
    return {k: Decimal(str(sums.get(k, 0.0))) for k in keys}


def _unit_line(
    u: UnitCost,
    provider: str,
    env: str,
    cost: Decimal,
    per: Decimal | None,
    places: int,
    trend: str,
) -> dict[str, Any]:
    return {"per": u.name, "provider": provider, "environment": env,
            "cost per unit": _per_unit(per, places), "cost": cost,
            "volume": f"{u.month_volume:,.0f}", "trend / week": trend}  # fmt: skip


def _unit_parts(
    u: UnitCost, parts: dict[str, Decimal], places: int
) -> tuple[dict[str, Decimal], dict[str, Decimal | None]]:
    """Each part's cost (to the cent, adding up to the metric's cost) and cost per unit (to
    ``places`` decimals, adding up to the metric's figure at that precision)."""
    costs = round_parts(parts, u.cost_usd)
    if u.cost_per_unit_usd is None or not u.month_volume:
        return costs, dict.fromkeys(parts)
    volume = Decimal(str(u.month_volume))
    scale = Decimal(10) ** (places - 2)  # round_parts works in cents: scale to the places shown
    per = round_parts({k: v / volume * scale for k, v in parts.items()},
                      u.cost_per_unit_usd * scale)  # fmt: skip
    return costs, {k: v / scale for k, v in per.items()}


def unit_rows(drill: Drill, result: AnalysisResult) -> pl.DataFrame:
    """date, unit, provider, environment, owner, value: each day's cost of that slice over the
    day's volume. Slices of one day and unit share the volume, so they add up to the day's cost
    per unit; under a filter the chart re-sums the slices selected."""
    keys = [c for c in ("provider", "environment", "owner") if c in drill.facts.columns]
    cur = drill.facts.filter(pl.col("date") >= drill.month.first_day)
    slices = cur.group_by("date", *keys).agg(pl.col("cost").sum())
    parts = []
    for u in result.unit_costs:
        vol = pl.DataFrame(
            {"date": list(u.daily_volume), "volume": list(u.daily_volume.values())},
            schema={"date": pl.Date, "volume": pl.Float64},
        ).filter(pl.col("volume") > 0)
        parts.append(
            slices.join(vol, on="date")
            .select("date", pl.lit(u.name).alias("unit"), *keys,
                    (pl.col("cost") / pl.col("volume")).alias("value"))
        )  # fmt: skip
    if not parts:
        return pl.DataFrame(schema={"date": pl.Date, "unit": pl.String, "value": pl.Float64})
    return pl.concat(parts).sort("unit", "date", *keys)


def unit_cost_chart(drill: Drill, result: AnalysisResult) -> str:
    """Daily cost per unit, one line per metric."""
    rows = unit_rows(drill, result)
    daily = rows.group_by("date", "unit").agg(pl.col("value").sum())
    fig = charts.lines(
        daily, "date", "value", "unit", f"Daily cost per unit, {result.month}", "USD per unit"
    )
    return drill.chart(fig, "lines", rows=rows, x="date", y="value", series="unit")


def budgets(drill: Drill, result: AnalysisResult) -> str:
    """Every budget against actuals and forecast, the run-out day and the levels reached, and
    the burn-down of the selection's budget."""
    if not result.budgets:
        return "<h2>Budgets</h2><p>No budget configured ([budgets] in the analysis config).</p>"
    frame = pl.DataFrame(
        [{"budget": b.name, "scope": b.scope, "amount": b.budget_usd, "actual": b.actual_usd,
          "projected": b.projected_usd, "used": f"{b.used_share:.0%}",
          "runs out": b.run_out_date.isoformat() if b.run_out_date else "–",
          "levels reached": ", ".join(f"{lvl:.0%}" for lvl in b.levels_reached) or "–"}
         for b in result.budgets]
    )  # fmt: skip
    return (
        "<h2>Budgets</h2><p>Per provider, environment and owner: actual to date, projected "
        "month end, the day the budget runs out at the current pace (last 7 days; – = not "
        "within the month), and the alert levels reached. A filter hides the budgets scoped to "
        "another provider, environment or owner. The burn-down follows the selection: "
        "its budget line is the budget of exactly that provider, environment or owner (the total "
        "with no filter), and none shows where no budget matches.</p>"
        + drill.table(
            frame,
            [budget_dims(b) for b in result.budgets],
            money_cols=("amount", "actual", "projected"),
        )
        + budget_chart(drill, result)
    )


def budget_dims(b: BudgetView) -> dict[str, Any]:
    """The dimension a budget is scoped by (none for the total or a group of providers)."""
    if b.scope in ("provider", "providers") and len(b.match) == 1:
        return {"provider": b.match[0]}
    if b.scope in ("environment", "owner"):
        return {b.scope: b.name}
    return {}


def burn_rows(drill: Drill, result: AnalysisResult) -> pl.DataFrame:
    """date, series (actual | forecast | budget), provider, environment, owner, value, exact.

    actual: each slice's cumulative cost from the 1st (every observed day, so the sums never
    dip); forecast: the month's remaining forecast spread over the slices by their share of the
    month to date (as the budgets view does); budget: one flat line per budget with its scope's
    dimension, flagged ``exact`` so it shows only when the filters are exactly its scope."""
    total = next((b for b in result.budgets if b.name == "total"), None) or result.budgets[0]
    keys = [c for c in SCOPE_DIMS if c in drill.facts.columns]
    observed = [d.day for d in total.burn_down if d.actual_cumulative_usd is not None]
    future = [(d.day, d.forecast_cumulative_usd) for d in total.burn_down
              if d.forecast_cumulative_usd is not None]  # fmt: skip
    cur = drill.facts.filter(pl.col("date") >= drill.month.first_day)
    slices = cur.select(keys).unique()
    days = pl.DataFrame({"date": observed}, schema={"date": pl.Date})
    actual = (
        slices.join(days, how="cross")
        .join(cur.group_by("date", *keys).agg(pl.col("cost").sum()), on=["date", *keys], how="left")
        .sort("date")
        .with_columns(pl.col("cost").fill_null(0.0).cum_sum().over(keys).alias("value"))
        .select("date", pl.lit("actual").alias("series"), *keys, "value")
    )
    parts = [actual]
    final = actual.filter(pl.col("date") == observed[-1]) if observed else actual.clear()
    spent = float(final["value"].sum())  # to the last observed day, as the budgets view
    if future and spent:
        for day, cum in future:
            extra = float(cum or 0) - spent
            parts.append(final.with_columns(
                pl.lit(day).alias("date"), pl.lit("forecast").alias("series"),
                pl.col("value") * (1 + extra / spent)))  # fmt: skip
    budget_days = [d.day for d in total.burn_down]
    for b in result.budgets:
        scope = budget_dims(b)
        if b.name != "total" and not scope:
            continue  # a group of providers is no filter selection
        line = {k: [scope.get(k)] * len(budget_days) for k in keys}
        parts.append(pl.DataFrame(
            {"date": budget_days, "series": "budget", **line,
             "value": [float(b.budget_usd)] * len(budget_days)},
            schema=actual.schema))  # fmt: skip
    return pl.concat(parts).with_columns((pl.col("series") == "budget").alias("exact"))


def budget_chart(drill: Drill, result: AnalysisResult) -> str:
    """Burn-down: cumulative actual then forecast of the selection, against its budget."""
    rows = burn_rows(drill, result)
    keys = [c for c in SCOPE_DIMS if c in rows.columns]
    shown = rows.filter(
        ~pl.col("exact") | pl.all_horizontal([pl.col(k).is_null() for k in keys])
    )  # with no filter: the total budget's line
    fig = charts.lines(
        shown.group_by("date", "series").agg(pl.col("value").sum()), "date", "value", "series",
        f"Budget burn-down, {result.month} (cumulative USD)", "USD",
    )  # fmt: skip
    return drill.chart(fig, "lines", rows=rows, x="date", y="value", series="series", exact=keys)
