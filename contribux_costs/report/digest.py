"""The month in at most 20 lines, to paste or post: total and change, projection, top three
actions with dollars, alerts, realised savings, and where the full report is."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from contribux_costs.focus.summary import month_total
from contribux_costs.models import AnalysisResult, severity_rank
from contribux_costs.periods import Month
from contribux_costs.report.html import money
from contribux_costs.store import Store

MAX_LINES = 20
TOP_ACTIONS = 3
LISTED_ALERTS = 4


def report_location(month: Month, reports_dir: Path, url: str | None = None) -> str:
    """The report's URL when one is given, else its path when rendered, else how to render it."""
    if url:
        return url.rstrip("/") + f"/{month}/report.html" if not url.endswith(".html") else url
    page = reports_dir / str(month) / "report.html"
    if page.exists():
        return str(page.resolve())
    return f"not rendered yet: contribux-costs report --month {month}"


def digest(store: Store, month: Month, result: AnalysisResult, report: str) -> list[str]:
    """The digest's lines (never more than :data:`MAX_LINES`)."""
    total, previous = month_total(store, month), month_total(store, month.prev)
    proj = result.projected_monthly_cost
    label = " [DEMO DATA]" if result.demo else ""
    lines = [f"contribux costs {month}{label}"]
    head = f"Total {money(total)}" + ("" if proj.closed else " so far")
    if previous:
        pct = (total - previous) / previous * 100
        head += f", {money(total - previous, signed=True)} ({pct:+.0f}%) vs {month.prev}"
    lines.append(head)
    lines.append(_projection(store, month, result))
    lines += _actions(result)
    lines += _alerts(result)
    done = [t for t in result.tracked_recommendations if t.realised_usd is not None]
    if done:
        realised = sum(t.realised_usd or 0 for t in done)
        lines.append(
            f"Realised this month from {len(done)} done recommendation(s): {money(realised)}"
        )
    lines.append(f"Report: {report}")
    if len(lines) > MAX_LINES:  # keep the report line, whatever else has to go
        lines = lines[: MAX_LINES - 1] + lines[-1:]
    return lines


def _projection(store: Store, month: Month, result: AnalysisResult) -> str:
    proj = result.projected_monthly_cost
    if not proj.closed:
        return (
            f"Projected {month} at month end: {money(proj.projected_usd)} "
            f"(range {money(proj.lower_usd)}–{money(proj.upper_usd)})"
        )
    nm = result.next_month_forecast  # the one next-month forecast (report, JSON, digest)
    if nm is None:
        return f"Projected {month.next}: not enough history"
    error = (
        "" if nm.backtest_error_pct is None else f", backtest error {nm.backtest_error_pct:.0f}%"
    )
    return (
        f"Projected {month.next}: {money(nm.point_usd)} "
        f"({nm.interval:.0%} interval {money(nm.lower_usd)}–{money(nm.upper_usd)}{error})"
    )


def _actions(result: AnalysisResult) -> list[str]:
    recs = [
        r
        for r in result.recommendations
        if r.estimated_monthly_savings_usd > 0 and r.status != "done"
    ]
    recs = sorted(recs, key=lambda r: -r.estimated_monthly_savings_usd)[:TOP_ACTIONS]
    if not recs:
        return ["No saving identified this month."]
    # the open ones only: a done recommendation is no longer an action (its saving shows as
    # realised), a dismissed one is not in the result at all
    todo = sum(
        (r.estimated_monthly_savings_usd for r in result.recommendations
         if r.estimated_monthly_savings_usd > 0 and r.status != "done"),
        Decimal(0),
    )  # fmt: skip
    out = [f"Top actions ({money(todo)}/month identified in all):"]
    for i, r in enumerate(recs, start=1):
        out.append(f"{i}. {money(r.estimated_monthly_savings_usd)}/mo  {r.title} [{r.id[:10]}]")
    return out


def _alerts(result: AnalysisResult) -> list[str]:
    if not result.alerts:
        return ["Alerts: none"]
    alerts = sorted(result.alerts, key=lambda a: -severity_rank(a.severity))
    counts = Counter(a.severity for a in alerts)
    split = ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -severity_rank(kv[0]))
    )
    out = [f"Alerts ({split}):"]
    for a in alerts[:LISTED_ALERTS]:
        out.append(f"- [{a.severity.upper()}] {a.message}")
    if len(alerts) > LISTED_ALERTS:
        out.append(f"- … and {len(alerts) - LISTED_ALERTS} more in the report")
    return out


def slack_text(lines: list[str]) -> dict[str, object]:
    """A Slack-compatible webhook body for the digest (plain text in one mrkdwn section)."""
    return {
        "text": lines[0],
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
    }
