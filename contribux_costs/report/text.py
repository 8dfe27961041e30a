"""Plain-text views of an analysis result, for the terminal."""

from __future__ import annotations

from decimal import Decimal

from contribux_costs.models import AnalysisResult, Recommendation
from contribux_costs.report.html import money


def format_recommendation(r: Recommendation) -> str:
    """One line: savings (or added cost, for a scale-up), provider, category, title."""
    value = r.estimated_monthly_savings_usd
    money = f"saves ${value:,.2f}/mo" if value >= 0 else f"adds ${-value:,.2f}/mo"
    return f"{money:<20} [{r.provider}/{r.category}] {r.title}"


def format_result(result: AnalysisResult, top: int = 10) -> str:
    """Month, per-provider cost, projection, top recommendations, findings, alerts."""
    p = result.projected_monthly_cost
    lines = [f"contribux costs {result.month}" + ("  [DEMO DATA]" if result.demo else "")]
    # The total printed is the sum of the provider rows printed below (each to the cent).
    rows = sorted(result.current_usage.items(), key=lambda kv: -kv[1].cost_usd)
    shown = sum((u.cost_usd for _, u in rows), Decimal(0))  # each already to the cent
    if p.closed:
        lines.append(f"month total: {money(shown)} (closed: actual)")
    else:
        lines.append(
            f"month to date: {money(shown)}; projected month end: {money(p.projected_usd)} "
            f"(range {money(p.lower_usd)}–{money(p.upper_usd)})"
        )
    nm = result.next_month_forecast
    if nm is not None:  # the report's forecast, with the same interval and error figure
        err = "n/a" if nm.backtest_error_pct is None else f"{nm.backtest_error_pct:.0f}%"
        lines.append(
            f"next month {nm.month}: {money(nm.point_usd)} ({nm.interval:.0%} interval "
            f"{money(nm.lower_usd)}–{money(nm.upper_usd)}, backtest error (WAPE) {err})"
        )
    lines.append("")
    lines.append(f"{'provider':<10} {'cost':>12}  source")
    for name, u in rows:
        lines.append(f"{name:<10} {money(u.cost_usd):>12}  {u.cost_source}")
    recs = sorted(result.recommendations, key=lambda r: -r.estimated_monthly_savings_usd)[:top]
    lines += ["", f"top recommendations ({len(result.recommendations)} in all):"]
    for i, r in enumerate(recs, start=1):
        lines.append(f"{i:>3}. {format_recommendation(r)}")
        lines.append(f"     → {r.action} (confidence {r.confidence}, effort {r.effort})")
    if result.cache_findings:
        lines += ["", "cache hit ratios:"]
        for c in result.cache_findings:
            ratio = "n/a" if c.hit_ratio is None else f"{c.hit_ratio:.1%}"
            lines.append(f"  {c.layer:<16} {c.subject:<28} {ratio:>7}  {c.status}")
    lines += allocation_lines(result)
    if result.anomalies:
        lines += ["", "anomalies:"]
        for a in result.anomalies:
            lines.append(
                f"  {a.start}..{a.end} {a.provider}/{a.service}: {money(a.cost_usd)} vs "
                f"expected {money(a.expected_usd)} (+{a.excess_pct:.0f}%)"
            )
            if a.cause:
                lines.append(f"    {a.cause}")
    if result.alerts:
        lines += ["", "alerts:"]
        lines += [
            f"  [{a.severity.upper()}] "
            + (a.message if a.message.startswith(a.name) else f"{a.name}: {a.message}")
            for a in result.alerts
        ]
    if result.data_quality:
        lines += ["", "data quality:"] + [f"  - {d}" for d in result.data_quality]
    return "\n".join(lines)


def allocation_lines(result: AnalysisResult) -> list[str]:
    """Who spends it (environment, owner), cost per unit, budgets: a few lines each."""
    lines: list[str] = []
    a = result.allocation
    if a is not None:
        envs = "  ".join(f"{k} {money(v)}" for k, v in a.by_environment.items())
        owners = "  ".join(f"{k} {money(v)}" for k, v in a.by_owner.items())
        lines += ["", f"by environment ({money(a.total_usd)}): {envs}", f"by owner: {owners}"]
    if result.unit_costs:
        lines += ["", "cost per unit:"]
        for u in result.unit_costs:
            per = "n/a" if u.cost_per_unit_usd is None else f"${u.cost_per_unit_usd:,.4f}"
            trend = "" if u.trend_pct_per_week is None else f" ({u.trend_pct_per_week:+.1f}%/week)"
            lines.append(f"  per {u.name:<22} {per:>10}{trend}")
    if result.budgets:
        lines += ["", "budgets:"]
        for b in result.budgets:
            out = f", runs out {b.run_out_date}" if b.run_out_date else ""
            lines.append(
                f"  {b.scope:<11} {b.name:<12} {money(b.projected_usd):>11} of "
                f"{money(b.budget_usd):>11} ({b.projected_share:.0%}){out}"
            )
    return lines


def format_lifecycle(result: AnalysisResult) -> str:
    """The month's recommendations with id and status, then the tracked ones with realised
    savings (for `contribux-costs recommendations`)."""
    lines = [f"recommendations for {result.month}" + ("  [DEMO DATA]" if result.demo else "")]
    lines.append(f"{'id':<14} {'status':<10} {'saving/mo':>11}  title")
    recs = sorted(result.recommendations, key=lambda r: -r.estimated_monthly_savings_usd)
    for r in recs:
        saving = money(r.estimated_monthly_savings_usd)
        lines.append(f"{r.id[:14]:<14} {r.status:<10} {saving:>11}  {r.title}")
        if r.status_note:
            lines.append(f"{'':<26}{r.status_note}")
    tracked = result.tracked_recommendations
    if tracked:
        lines += ["", f"{'id':<14} {'status':<10} {'marked':<8} {'estimate':>10} {'realised':>10}"]
        for t in tracked:
            realised = "–" if t.realised_usd is None else money(t.realised_usd)
            why = f"  ({t.reason})" if t.reason else ""
            hidden = "  [hidden until its evidence changes]" if t.hidden else ""
            lines.append(
                f"{t.id[:14]:<14} {t.status:<10} {t.marked_in:<8} {money(t.estimate_usd):>10} "
                f"{realised:>10}  {t.title}{why}{hidden}"
            )
    return "\n".join(lines)
