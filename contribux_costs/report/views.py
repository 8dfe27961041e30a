"""Tables and first-screen figures built from an analysis result (for the report notebooks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from contribux_costs.focus.reconcile import Reconciliation
from contribux_costs.focus.summary import month_state, month_total
from contribux_costs.models import AnalysisResult, Recommendation
from contribux_costs.periods import Month
from contribux_costs.report.data import daily_total
from contribux_costs.report.html import money, pct
from contribux_costs.store import Store

CENT = Decimal("0.01")
REC_COLUMNS = ("recommendation", "provider", "saving / month", "confidence", "effort", "action")


@dataclass
class FirstScreen:
    kpis: list[tuple[str, str]]
    top_recommendations: pl.DataFrame  # every saving (> $0.00), largest first: the headline's sum
    alerts: pl.DataFrame
    forecast_text: str
    history: pl.DataFrame  # the daily cost the forecast continues (last 8 weeks, complete days)
    forecast: pl.DataFrame  # daily forecast to the next month's end: date, point, lower, upper
    partial: pl.DataFrame  # an open month's today (date, value): drawn apart, still growing
    cost_increases: pl.DataFrame  # scale-ups and growth ahead: added cost, not savings
    comparison: str  # what the change is measured against


def first_screen(store: Store, month: Month, result: AnalysisResult, top: int = 0) -> FirstScreen:
    """Total, change, projection, savings and alerts: what a reader needs before scrolling.

    The total is the sum of the provider rows shown; an open month is compared with the same
    days of the previous month; the next-month forecast is the analysis result's (one forecast).
    ``top`` > 0 limits the savings rows (the headline is always the sum of the rows listed).
    """
    state = month_state(store, month)
    days = state.days_elapsed if state.phase == "open" else None
    total, previous = month_total(store, month), month_total(store, month.prev, days)
    same_days = f" days 1–{days}" if days else ""
    comparison = (
        f"Month to date (today, {state.today}, is partial) against the same days of {month.prev}."
        if days
        else f"The whole month against {month.prev}."
    )
    change = "no data" if previous == 0 else money(total - previous, signed=True)
    nm = result.next_month_forecast
    proj = result.projected_monthly_cost
    savings, increases = split_recommendations(result.recommendations)
    if top:
        savings = savings[:top]
    headline = sum((shown_cents(r) for r in savings), Decimal(0))
    kpis = [
        (f"total {month}" + ("" if proj.closed else " so far"), money(total)),
        (f"vs {month.prev}{same_days} ({money(previous)})", change),
        (f"projected {month.next}", "–" if nm is None else money(nm.point_usd)),
        (f"savings identified / month ({len(savings)} below)", money(headline)),
        ("alerts", str(len(result.alerts))),
    ]
    if not proj.closed:
        kpis.insert(1, (f"projected {month} (month end)", money(proj.projected_usd)))
    history, partial = _actuals(store, month, state.partial_day)
    return FirstScreen(
        kpis,
        recommendation_table(savings),
        alert_table(result),
        forecast_text(result),
        history,
        forecast_frame(result),
        partial,
        increase_table(increases),
        comparison,
    )


def shown_cents(r: Recommendation) -> Decimal:
    return Decimal(str(r.estimated_monthly_savings_usd)).quantize(CENT, ROUND_HALF_UP)


def split_recommendations(
    recs: list[Recommendation],
) -> tuple[list[Recommendation], list[Recommendation]]:
    """(savings > $0.00 shown, largest first; cost increases ahead, largest first). Findings
    that round to $0.00 are in neither: they are no saving."""
    ordered = sorted(recs, key=lambda r: -r.estimated_monthly_savings_usd)
    savings = [r for r in ordered if shown_cents(r) > 0]
    increases = sorted((r for r in recs if shown_cents(r) < 0), key=shown_cents)
    return savings, increases


def forecast_text(result: AnalysisResult) -> str:
    nm = result.next_month_forecast
    if nm is None:
        return "Not enough history to forecast."
    err = nm.backtest_error_pct
    return (
        f"Forecast {money(nm.point_usd)} ({nm.interval:.0%} interval {money(nm.lower_usd)} – "
        f"{money(nm.upper_usd)}), from trend and weekly seasonality of the daily cost through "
        f"{nm.history_end}; rolling-origin backtest error (WAPE) "
        + ("n/a" if err is None else f"{err:.0f}%")
        + "."
    )


def forecast_frame(result: AnalysisResult) -> pl.DataFrame:
    """The result's daily forecast (to the next month's end) as floats for the chart."""
    nm = result.next_month_forecast
    rows = [
        (d.date, float(d.point_usd), float(d.lower_usd), float(d.upper_usd))
        for d in (nm.daily if nm else [])
    ]
    schema = {"date": pl.Date, "point": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _actuals(store: Store, month: Month, partial_day: date | None) -> tuple[pl.DataFrame, ...]:
    """The last 8 weeks of complete days, and today's partial day apart (open month)."""
    daily = daily_total(store, month)
    if daily.height == 0:
        return daily, daily
    last: date = daily["date"].max()  # type: ignore[assignment]
    recent = daily.filter(pl.col("date") > last - timedelta(days=56))
    if partial_day is None:
        return recent, recent.clear()
    return recent.filter(pl.col("date") < partial_day), recent.filter(pl.col("date") == partial_day)


def recommendation_table(recs: list[Recommendation]) -> pl.DataFrame:
    rows = [
        {
            "recommendation": r.title,
            "provider": r.provider,
            "saving / month": shown_cents(r),
            "confidence": r.confidence,
            "effort": r.effort,
            "action": r.action,
        }
        for r in recs
    ]
    if not rows:
        return pl.DataFrame({c: [] for c in REC_COLUMNS})
    return pl.DataFrame(rows)


INCREASE_COLUMNS = ("cost increase ahead", "provider", "added cost / month", "action")


def increase_table(recs: list[Recommendation]) -> pl.DataFrame:
    """Scale-ups and growth forecasts: what will cost more, listed apart from savings."""
    rows = [
        {
            "cost increase ahead": r.title,
            "provider": r.provider,
            "added cost / month": -shown_cents(r),
            "action": r.action,
        }
        for r in recs
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame({c: [] for c in INCREASE_COLUMNS})


def provider_recommendations(result: AnalysisResult, provider: str) -> pl.DataFrame:
    """The provider's savings (> $0.00); its cost increases are in :func:`provider_increases`."""
    recs = [r for r in result.recommendations if r.provider == provider]
    return recommendation_table(split_recommendations(recs)[0])


def provider_increases(result: AnalysisResult, provider: str) -> pl.DataFrame:
    recs = [r for r in result.recommendations if r.provider == provider]
    return increase_table(split_recommendations(recs)[1])


def category_recommendations(result: AnalysisResult, category: str) -> pl.DataFrame:
    recs = [r for r in result.recommendations if r.category == category]
    return recommendation_table(split_recommendations(recs)[0])


def alert_table(result: AnalysisResult) -> pl.DataFrame:
    rows = [
        {"severity": a.severity, "alert": a.name, "day": a.day, "message": a.message}
        for a in result.alerts
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def cache_table(result: AnalysisResult) -> pl.DataFrame:
    rows = [
        {
            "layer": c.layer,
            "cache": c.subject,
            "hit ratio": pct(c.hit_ratio),
            "trend / week": pct(c.trend_per_week, signed=True, digits=2),
            "status": c.status,
            "threshold": c.threshold,
            "note": c.note,
        }
        for c in result.cache_findings
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def ttl_table(result: AnalysisResult) -> pl.DataFrame:
    """One row per TTL what-if; TTLs in whole seconds, the advised one (the TTL the
    recommendation names) marked."""
    rows = [
        {
            "cache": c.subject,
            "current TTL s": None if c.ttl_s is None else round(c.ttl_s),
            "what-if TTL s": round(w.ttl_s),
            "": "advised" if w.advised else "",
            "predicted hit ratio": pct(w.predicted_hit_ratio),
            "observed": pct(c.hit_ratio),
        }
        for c in result.cache_findings
        for w in c.ttl_what_if
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def anomaly_table(result: AnalysisResult) -> pl.DataFrame:
    rows = [
        {
            "from": a.start,
            "to": a.end,
            "provider": a.provider,
            "service": a.service,
            "cost": a.cost_usd,
            "expected": a.expected_usd,
            "excess": a.excess_usd,
            "excess %": round(a.excess_pct, 1),
        }
        for a in result.anomalies
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def recon_table(recon: Reconciliation) -> pl.DataFrame:
    rows = [
        {
            "provider": r.provider,
            "item": r.key,
            "kind": r.kind,
            "computed": r.computed_usd,
            "billed": r.billed_usd,
            "variance": r.variance_usd,
            "variance %": None if r.variance_pct is None else round(r.variance_pct, 1) + 0.0,
            "flagged": "⚑ flagged" if r.flagged else "",
            "detail": r.detail,
        }
        for r in recon.rows
        if r.kind != "quantity" or r.flagged  # volumes that agree add nothing to the table
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()
