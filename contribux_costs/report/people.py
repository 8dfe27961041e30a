"""Report sections for allocation, unit costs and budgets (issue 16), built from the engine's JSON.

Each function returns an HTML fragment or a plotly figure, so a notebook cell is one line. A
breakdown shown beside its total adds up to it (the engine rounds parts by largest remainder).
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

import polars as pl

from contribux_costs.models import AnalysisResult, UnitCost
from contribux_costs.report import charts
from contribux_costs.report.html import money, table

ENV_ORDER = ("production", "preview", "staging", "development", "unallocated")


def _wide(fragment: str) -> str:
    """A wide table scrolls sideways on a phone instead of running off the page."""
    return f'<div style="overflow-x:auto;max-width:100%">{fragment}</div>'


def _per_unit(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def allocation_html(result: AnalysisResult) -> str:
    """Cost by environment × provider (with totals), by owner, shared splits and previews."""
    a = result.allocation
    if a is None:
        return "<h2>Who spends it</h2><p>No allocated cost rows for this month.</p>"
    providers = sorted(a.by_provider_environment)
    matrix = a.by_provider_environment
    rows = [
        {"environment": e, **{p: matrix[p].get(e, Decimal(0)) for p in providers},
         "total": a.by_environment.get(e, Decimal(0))}
        for e in ENV_ORDER
    ]  # fmt: skip
    rows.append(
        {"environment": "total", **{p: sum(a.by_provider_environment[p].values(), Decimal(0))
                                    for p in providers}, "total": a.total_usd}
    )  # fmt: skip
    env = _wide(table(pl.DataFrame(rows), money_cols=(*providers, "total")))
    owners = pl.DataFrame(
        {"owner": [*a.by_owner, "total"], "cost": [*a.by_owner.values(), a.total_usd]}
    )
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
        + env
        + "<h3>By owner</h3>"
        + table(owners, money_cols=("cost",))
        + _shared_html(result)
        + _preview_html(result)
    )


def _shared_html(result: AnalysisResult) -> str:
    a = result.allocation
    if a is None or not a.shared:
        return ""
    rows = [
        {"shared cost": s.service, "allocated to": target, "cost": part}
        for s in a.shared for target, part in s.parts.items()
    ]  # fmt: skip
    methods = ", ".join(sorted({f"{s.method_id} (rule {s.rule_id})" for s in a.shared}))
    return (
        "<h3>Shared costs, split</h3><p>FOCUS allocated rows (AllocatedMethodId "
        f"{escape(methods)}); each split adds up to its charge exactly.</p>"
        + _wide(table(pl.DataFrame(rows), ("cost",)))
    )


def _preview_html(result: AnalysisResult) -> str:
    a = result.allocation
    if a is None:
        return ""
    if a.preview_by_pull_request:
        frame = pl.DataFrame(
            [{"pull request": f"#{p.pull_request}", "provider": p.provider,
              "resources": ", ".join(p.resources), "cost": p.cost_usd}
             for p in a.preview_by_pull_request]
        )  # fmt: skip
        return "<h3>Preview cost per pull request</h3>" + table(frame, ("cost",))
    frame = pl.DataFrame(
        {"provider": [*a.preview_by_provider, "total"],
         "cost": [*a.preview_by_provider.values(), a.by_environment.get("preview", Decimal(0))]}
    )  # fmt: skip
    return (
        f"<h3>Preview environment, {escape(result.month)}</h3><p>No provider named a pull request "
        "on its preview rows this month: the preview environment's cost per provider.</p>"
        + table(frame, ("cost",))
    )


def allocation_chart(result: AnalysisResult) -> Any:
    """Stacked bars: each environment's month by provider."""
    a = result.allocation
    rows = [
        {"environment": e, "provider": p, "cost": float(v)}
        for p, envs in (a.by_provider_environment.items() if a else [])
        for e, v in envs.items()
    ]
    frame = pl.DataFrame(rows, schema={"environment": pl.String, "provider": pl.String,
                                       "cost": pl.Float64})  # fmt: skip
    fig = charts.stacked_daily(
        frame, "environment", "cost", "provider", f"Cost by environment, {result.month}", "USD"
    )
    fig.update_xaxes(title_text="environment", type="category",
                     categoryorder="array", categoryarray=list(ENV_ORDER))  # fmt: skip
    return fig


def unit_cost_html(result: AnalysisResult) -> str:
    """Cost per unit of business for the month: total, per provider, per environment, trend."""
    if not result.unit_costs:
        return (
            "<h2>Cost per unit of business</h2><p>No business volumes: set DATABASE_URL (the "
            "[unit_costs] queries) or unit_costs.csv in the analysis config.</p>"
        )
    summary = [
        {"per": u.name, "volume": f"{u.month_volume:,.0f}", "cost": money(u.cost_usd),
         "cost per unit": _per_unit(u.cost_per_unit_usd),
         "trend / week": "–" if u.trend_pct_per_week is None else f"{u.trend_pct_per_week:+.1f}%"}
        for u in result.unit_costs
    ]  # fmt: skip
    sources = ", ".join(sorted({u.source for u in result.unit_costs}))
    return (
        "<h2>Cost per unit of business</h2><p>The month's cost over business volumes from "
        f"{escape(sources)} (active users: per average daily active user). Trend: slope of the "
        "daily cost per unit, per week.</p>"
        + _wide(table(pl.DataFrame(summary)))
        + "<h3>Cost per unit by provider and environment</h3>"
        + _wide(table(pl.DataFrame([_unit_row(u) for u in result.unit_costs])))
    )


def _unit_row(u: UnitCost) -> dict[str, str]:
    row = {"per": u.name}
    row |= {p: _per_unit(v) for p, v in u.by_provider.items()}
    row |= {e: _per_unit(v) for e, v in u.by_environment.items()}
    return row


def unit_cost_chart(result: AnalysisResult) -> Any:
    """Daily cost per unit, one line per metric."""
    rows = [
        {"date": d, "metric": u.name, "value": float(v)}
        for u in result.unit_costs
        for d, v in u.daily.items()
        if v is not None
    ]
    frame = pl.DataFrame(rows, schema={"date": pl.Date, "metric": pl.String, "value": pl.Float64})
    return charts.lines(
        frame, "date", "value", "metric", f"Daily cost per unit, {result.month}", "USD per unit"
    )


def budget_html(result: AnalysisResult) -> str:
    """Every budget against actuals and forecast, the run-out day and the levels reached."""
    if not result.budgets:
        return "<h2>Budgets</h2><p>No budget configured ([budgets] in the analysis config).</p>"
    rows = [
        {"budget": b.name, "scope": b.scope, "amount": b.budget_usd, "actual": b.actual_usd,
         "projected": b.projected_usd, "used": f"{b.used_share:.0%}",
         "runs out": b.run_out_date.isoformat() if b.run_out_date else "–",
         "levels reached": ", ".join(f"{lvl:.0%}" for lvl in b.levels_reached) or "–"}
        for b in result.budgets
    ]  # fmt: skip
    return (
        "<h2>Budgets</h2><p>Per provider, environment and owner: actual to date, projected "
        "month end, the day the budget runs out at the current pace (last 7 days; – = not "
        "within the month), and the alert levels reached.</p>"
        + _wide(table(pl.DataFrame(rows), ("amount", "actual", "projected")))
    )


def budget_chart(result: AnalysisResult, name: str = "total") -> Any:
    """Burn-down of one budget: cumulative actual, then forecast, against the budget line."""
    import plotly.graph_objects as go

    view = next((b for b in result.budgets if b.name == name), None)
    fig = go.Figure()
    if view is not None:
        days = [b.day for b in view.burn_down]
        actual = [b.actual_cumulative_usd for b in view.burn_down]
        forecast = [b.forecast_cumulative_usd for b in view.burn_down]
        fig.add_trace(go.Scatter(x=days, y=[_f(v) for v in actual], name="actual",
                                 mode="lines", line={"color": charts.PALETTE[0]}))  # fmt: skip
        fig.add_trace(go.Scatter(x=days, y=[_f(v) for v in forecast], name="forecast",
                                 mode="lines", line={"color": charts.PALETTE[0],
                                                     "dash": "dot"}))  # fmt: skip
        fig.add_trace(go.Scatter(x=days, y=[float(view.budget_usd)] * len(days), name="budget",
                                 mode="lines", line={"color": charts.PALETTE[3]}))  # fmt: skip
    title = f"Budget burn-down: {name}, {result.month} (cumulative USD)"
    return charts._layout(fig, title, "USD", "day (UTC)")


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
