"""Tables and first-screen figures built from an analysis result (for the report notebooks)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from contribux_costs.focus.reconcile import Reconciliation
from contribux_costs.focus.summary import month_total
from contribux_costs.models import AnalysisResult, Recommendation
from contribux_costs.periods import Month
from contribux_costs.report.data import next_month_forecast
from contribux_costs.report.html import money
from contribux_costs.store import Store

REC_COLUMNS = ("recommendation", "provider", "saving / month", "confidence", "effort", "action")


@dataclass
class FirstScreen:
    kpis: list[tuple[str, str]]
    top_recommendations: pl.DataFrame
    alerts: pl.DataFrame
    forecast_text: str
    history: pl.DataFrame  # the daily cost the forecast continues (last 8 weeks)
    forecast: pl.DataFrame  # the next month's daily forecast: date, point, lower, upper


def first_screen(store: Store, month: Month, result: AnalysisResult, top: int = 5) -> FirstScreen:
    """Total, change, projection, savings and alerts: what a reader needs before scrolling."""
    total, previous = month_total(store, month), month_total(store, month.prev)
    change = "no data" if previous == 0 else money(total - previous, signed=True)
    history, points, wape = next_month_forecast(store, month)
    nxt = float(points["point"].sum()) if points.height else float("nan")
    lo = float(points["lower"].sum()) if points.height else float("nan")
    hi = float(points["upper"].sum()) if points.height else float("nan")
    proj = result.projected_monthly_cost
    kpis = [
        (f"total {month}" + ("" if proj.closed else " so far"), money(total)),
        (f"vs {month.prev} ({money(previous)})", change),
        (f"projected {month.next}", "–" if points.height == 0 else money(nxt)),
        ("savings identified / month", money(result.total_savings_usd)),
        ("alerts", str(len(result.alerts))),
    ]
    if not proj.closed:
        kpis.insert(1, (f"projected {month} (month end)", money(proj.projected_usd)))
    text = (
        "Not enough history to forecast."
        if points.height == 0
        else f"Forecast {money(nxt)} (80% interval {money(lo)} – {money(hi)}), from trend and "
        f"weekly seasonality of the daily cost; rolling-origin backtest error (WAPE) "
        + ("n/a" if math.isnan(wape) else f"{wape:.0%}")
        + "."
    )
    recs = sorted(result.recommendations, key=lambda r: -r.estimated_monthly_savings_usd)[:top]
    return FirstScreen(kpis, recommendation_table(recs), alert_table(result), text, history, points)


def recommendation_table(recs: list[Recommendation]) -> pl.DataFrame:
    rows = [
        {
            "recommendation": r.title,
            "provider": r.provider,
            "saving / month": r.estimated_monthly_savings_usd,
            "confidence": r.confidence,
            "effort": r.effort,
            "action": r.action,
        }
        for r in recs
    ]
    if not rows:
        return pl.DataFrame({c: [] for c in REC_COLUMNS})
    return pl.DataFrame(rows)


def provider_recommendations(result: AnalysisResult, provider: str) -> pl.DataFrame:
    recs = [r for r in result.recommendations if r.provider == provider]
    return recommendation_table(sorted(recs, key=lambda r: -r.estimated_monthly_savings_usd))


def category_recommendations(result: AnalysisResult, category: str) -> pl.DataFrame:
    recs = [r for r in result.recommendations if r.category == category]
    return recommendation_table(sorted(recs, key=lambda r: -r.estimated_monthly_savings_usd))


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
            "hit ratio": None if c.hit_ratio is None else f"{c.hit_ratio:.1%}",
            "trend / week": None if c.trend_per_week is None else f"{c.trend_per_week:+.2%}",
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
            "predicted hit ratio": f"{w.predicted_hit_ratio:.1%}",
            "observed": None if c.hit_ratio is None else f"{c.hit_ratio:.1%}",
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
