"""The report's tables with the dimension values the drill-down filters them by (one function per
table; the notebooks display what these return)."""

from __future__ import annotations

from datetime import timedelta
from html import escape

import polars as pl

from contribux_costs.models import AnalysisResult, Recommendation
from contribux_costs.report import views as rv
from contribux_costs.report.drill import LAYER_PROVIDER, Drill

_REC_MONEY = ("saving / month",)
# an anomaly driver's dimension → the filter it sets in the row link
_DRIVER_FILTER = {"model": "model", "project": "resource", "resource": "resource",
                  "environment": "environment", "owner": "owner"}  # fmt: skip


def recommendations(
    drill: Drill, recs: list[Recommendation], empty: str = "", limit: int | None = None
) -> str:
    """Savings (> $0.00, largest first), each row tagged with provider/resource/model; cost
    increases ahead are listed apart (:func:`increases`), findings worth $0.00 nowhere."""
    recs = rv.split_recommendations(recs)[0]
    frame = rv.recommendation_table(recs)
    if any(r.status != "open" for r in recs):
        frame = frame.with_columns(pl.Series("status", [_status(r) for r in recs]))
    dims = [drill.dims_of_rec(r.provider, r.subject) for r in recs]
    return drill.table(
        frame, dims, money_cols=_REC_MONEY, empty=empty or "No recommendation.", limit=limit
    )


def increases(drill: Drill, recs: list[Recommendation], heading: str = "") -> str:
    """Scale-ups and growth ahead: added cost, listed apart from savings ('' when none)."""
    ahead = rv.split_recommendations(recs)[1]
    if not ahead:
        return ""
    dims = [drill.dims_of_rec(r.provider, r.subject) for r in ahead]
    table = drill.table(rv.increase_table(ahead), dims, money_cols=("added cost / month",))
    return heading + table


def _status(r: Recommendation) -> str:
    return r.status + (f" — {r.status_note}" if r.status_note else "")


def top_recommendations(drill: Drill, result: AnalysisResult) -> str:
    """Every saving of the month (the headline above is their sum), then the cost increases
    ahead apart. Under a filter the rows of the selection show."""
    return recommendations(drill, result.recommendations, "No recommendation this month.") + (
        increases(
            drill,
            result.recommendations,
            "<h2>Cost increases ahead</h2><p>Growth and scale-ups: added cost, not savings.</p>",
        )
    )


def slowest_queries(drill: Drill, frame: pl.DataFrame) -> str:
    """The app database's slowest statements (shown in the Neon section: its database)."""
    dims = [{"provider": "neon"}] * frame.height
    return drill.table(frame, dims, empty="No statement statistics collected for this month.")


def provider_recs(drill: Drill, result: AnalysisResult, provider: str) -> str:
    recs = [r for r in result.recommendations if r.provider == provider]
    saving = recommendations(drill, recs, f"No {provider} recommendation this month.")
    return saving + increases(drill, recs, "<h3>Cost increases ahead</h3>")


def category_recs(drill: Drill, result: AnalysisResult, category: str) -> str:
    recs = [r for r in result.recommendations if r.category == category]
    return recommendations(drill, recs, f"No {category} recommendation this month.")


def alerts(drill: Drill, result: AnalysisResult) -> str:
    frame = rv.alert_table(result)
    dims = [
        {"provider": a.provider, **({"date": a.day.isoformat()} if a.day else {})}
        for a in result.alerts
    ]
    return drill.table(frame, dims, empty="No alert fired for this month.")


def anomalies(drill: Drill, result: AnalysisResult) -> str:
    """Anomaly episodes with their cause and a link that sets the filters to the rows behind it."""
    if not result.anomalies:
        return "<p>No anomaly episode this month.</p>"
    frame = rv.anomaly_table(result).with_columns(
        pl.Series("cause", [a.cause or "spread over many items" for a in result.anomalies]),
    )
    dims = [
        {"provider": a.provider, "service": a.service, "date_from": a.start.isoformat(),
         "date_to": a.end.isoformat()}
        for a in result.anomalies
    ]  # fmt: skip
    table = drill.table(frame, dims, money_cols=("cost", "expected", "excess"))
    links = []
    for a in result.anomalies:
        before = (a.start - timedelta(days=7)).isoformat()
        parts = {"provider": a.provider, "from": max(before, drill.month.first_day.isoformat())}
        parts |= {_DRIVER_FILTER[d.dimension]: d.value for d in a.drivers if d.dimension in
                  _DRIVER_FILTER and _DRIVER_FILTER[d.dimension] in drill.dims}  # fmt: skip
        parts["to"] = a.end.isoformat()
        href = "#cc:" + "&".join(f"{k}={v}" for k, v in parts.items())
        links.append(
            f'<li><a href="{escape(href)}">the rows behind {a.provider} {a.start}</a></li>'
        )
    return table + f"<ul class='cc-links'>{''.join(links)}</ul>"


def cache_findings(drill: Drill, result: AnalysisResult) -> str:
    frame = rv.cache_table(result)
    dims = [_cache_dims(drill, c.layer, c.subject) for c in result.cache_findings]
    return drill.table(frame, dims, empty="No cache data this month.")


def _cache_dims(drill: Drill, layer: str, subject: str) -> dict[str, object]:
    return drill.dims_of_rec(LAYER_PROVIDER.get(layer, layer), subject)


def ttl_what_if(drill: Drill, result: AnalysisResult) -> str:
    frame = rv.ttl_table(result)
    dims = [
        _cache_dims(drill, c.layer, c.subject) for c in result.cache_findings for _ in c.ttl_what_if
    ]
    return drill.table(frame, dims, empty="No TTL what-if (no cache with a configured TTL).")


def reconciliation(drill: Drill, result_rows: pl.DataFrame) -> str:
    dims = (
        [{"provider": p} for p in result_rows["provider"].to_list()] if result_rows.height else []
    )
    return drill.table(
        result_rows, dims, money_cols=("computed", "billed", "variance"), signed=("variance",)
    )


def by_provider(frame: pl.DataFrame, drill: Drill, column: str = "provider") -> str:
    """Any table with a provider column (freshness, slowest queries), filtered by provider."""
    dims = [{"provider": p} for p in frame[column].to_list()] if frame.height else []
    return drill.table(frame, dims)


def tracked(drill: Drill, result: AnalysisResult) -> str:
    """Recommendations with a status: estimate beside the realised saving."""
    rows = [
        {
            "recommendation": t.title,
            "status": t.status + (f" ({t.reason})" if t.reason else ""),
            "marked in": t.marked_in,
            "estimate / month": t.estimate_usd,
            "realised this month": t.realised_usd,
            "baseline": t.baseline_usd,
        }
        for t in result.tracked_recommendations
    ]
    if not rows:
        return (
            "<p>No recommendation has a status yet: mark one with "
            "<code>contribux-costs recommendations set ID --status done</code>.</p>"
        )
    dims = [{"provider": t.provider} for t in result.tracked_recommendations]
    return drill.table(
        pl.DataFrame(rows), dims, money_cols=("estimate / month", "realised this month", "baseline")
    )
