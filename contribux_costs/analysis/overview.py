"""The month at a glance: current usage per provider, the projected monthly cost with forecasts
per provider and service, and cost anomalies (one per episode)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import polars as pl

from contribux_costs.analysis import anomalies as an
from contribux_costs.analysis import causes
from contribux_costs.analysis import forecast as fc
from contribux_costs.analysis.rulebase import RuleContext, pricebook, usage_cte, usd
from contribux_costs.errors import CostsError
from contribux_costs.models import (
    Anomaly,
    AnomalyDriver,
    DailyForecast,
    Forecast,
    NextMonthForecast,
    Projection,
    ProviderUsage,
)

HISTORY_DAYS = 56
# Gauges are levels, not flows: a month's figure is the last/peak level, never a sum.
GAUGES = ("storage_gb",)


def refresh_focus(ctx: RuleContext) -> None:
    """Build the month's FOCUS rows when none exist yet. The runner rebuilds them after every
    collection, so existing rows are current; a store filled another way (or collected before
    pricing existed) is priced here once. Without the pricing step, billed charges only."""
    try:
        from contribux_costs.focus import build_focus
    except ImportError:
        ctx.note("pricing step unavailable: costs are provider-billed charges only")
        return
    if (_has_focus(ctx) and not _unlabelled(ctx)) or not _has_month_data(ctx):
        return
    try:
        from contribux_costs.analysis.environments import rules_of

        build_focus(ctx.store, ctx.month, pricebook(ctx), rules_of(ctx))
    except (CostsError, duckdb.Error) as exc:
        # The analysis still runs on what the store holds; the note says what is missing.
        ctx.note(f"FOCUS build failed ({type(exc).__name__}: {exc}); costs may be incomplete")
    ctx.__dict__.pop("tables", None)
    ctx.__dict__.pop("daily_costs", None)


def _unlabelled(ctx: RuleContext) -> bool:
    """Rows built before allocation existed (migration 080): rebuilt once to label them."""
    return bool(
        ctx.store.scalar(
            "SELECT count(*) FROM focus_charges WHERE x_environment IS NULL "
            "AND x_billing_date >= ? AND x_billing_date < ?",
            [ctx.first, ctx.end],
        )
    )


def _has_month_data(ctx: RuleContext) -> bool:
    params = [ctx.first, ctx.end]
    return bool(
        ctx.store.scalar(
            "SELECT (SELECT count(*) FROM usage WHERE billing_date >= ? AND billing_date < ?) "
            "+ (SELECT count(*) FROM charges WHERE x_billing_date >= ? AND x_billing_date < ?)",
            params + params,
        )
    )


def cost_series(ctx: RuleContext, start: date, end: date, usage_only: bool = False) -> pl.DataFrame:
    """Daily cost (float, for forecasting) per provider and service over [start, end);
    ``usage_only`` leaves out purchases and credits (a monthly seat fee is no anomaly)."""
    table, prov = ("focus_charges", "x_provider") if _has_focus(ctx) else ("charges", "provider")
    kind = "AND ChargeCategory = 'Usage' " if usage_only else ""
    return ctx.store.query(
        f"SELECT {prov} AS provider, coalesce(ServiceName, 'other') AS service, "
        "x_billing_date AS date, sum(BilledCost)::DOUBLE AS value "
        f"FROM {table} WHERE x_billing_date >= ? AND x_billing_date < ? {kind}"
        "GROUP BY ALL ORDER BY ALL",
        [start, end],
    )


def _has_focus(ctx: RuleContext) -> bool:
    if "focus_charges" not in ctx.tables:
        return False
    return bool(
        ctx.store.scalar(
            "SELECT count(*) FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ?",
            [ctx.first, ctx.end],
        )
    )


def current_usage(ctx: RuleContext) -> dict[str, ProviderUsage]:
    """Per provider: cost (total, by service, by billing day) and key volumes."""
    costs = ctx.daily_costs
    volumes = _volumes(ctx)
    out: dict[str, ProviderUsage] = {}
    providers = sorted(set(costs["provider"].to_list()) | set(volumes))
    for p in providers:
        mine = costs.filter(pl.col("provider") == p)
        by_service = mine.group_by("service").agg(pl.col("cost").sum()).sort("service")
        by_day = mine.group_by("day").agg(pl.col("cost").sum()).sort("day")
        sources = sorted({s for v in mine["source"].to_list() for s in str(v).split("+")})
        out[p] = ProviderUsage(
            provider=p,
            cost_usd=usd(mine["cost"].sum()) if mine.height else Decimal(0),
            cost_source="+".join(sources) if sources else "none",
            cost_by_service={s: usd(c) for s, c in by_service.iter_rows()},
            daily_cost={d: usd(c) for d, c in by_day.iter_rows()},
            volumes=volumes.get(p, {}),
        )
        if not mine.height:
            ctx.note(f"{p} has usage but no cost for the month (not priced)")
    return out


def _volumes(ctx: RuleContext) -> dict[str, dict[str, float]]:
    gauges = ", ".join(f"'{g}'" for g in GAUGES)
    # Gauges: each resource's last level, summed over resources; flows: the month's sum.
    sql = (
        f"WITH {usage_cte()}, r AS (SELECT provider, service, metric, "
        f"CASE WHEN metric IN ({gauges}) THEN arg_max(value, period_start) ELSE sum(value) END "
        "AS value FROM u GROUP BY provider, service, metric, resource_id) "
        "SELECT provider, service || '.' || metric AS key, sum(value) AS value FROM r "
        "GROUP BY ALL ORDER BY 1, 2"
    )
    frame = ctx.store.query(
        ctx.usage_sql(sql),
        {"first": ctx.first, "end": ctx.end},
    )
    out: dict[str, dict[str, float]] = {}
    for provider, key, value in frame.iter_rows():
        out.setdefault(provider, {})[key] = float(value)
    return out


def projection(ctx: RuleContext) -> Projection:
    """Closed month: the actual. Open month: month-to-date + forecast of the remaining days."""
    series = cost_series(ctx, ctx.first - timedelta(days=HISTORY_DAYS), ctx.end)
    total = series.group_by("date").agg(pl.col("value").sum()).sort("date")
    whole = fc.month_end_projection(total, ctx.month, ctx.as_of)
    forecasts = [
        _forecast(ctx, p, s, part.select("date", "value"))
        for (p, s), part in series.partition_by(
            ["provider", "service"], as_dict=True, maintain_order=True
        ).items()
    ]
    bt = whole.backtest or _closed_backtest(total)
    by_provider: dict[str, Decimal] = {}
    for f in forecasts:
        by_provider[f.provider] = by_provider.get(f.provider, Decimal(0)) + f.projected_usd
    return Projection(
        closed=whole.closed,
        month_to_date_usd=usd(whole.actual_to_date),
        remaining_usd=usd(whole.forecast_remaining),
        projected_usd=usd(whole.projected),
        lower_usd=usd(whole.lower),
        upper_usd=usd(whole.upper),
        backtest_error_pct=_pct(bt.period_variance if bt else None),
        method=whole.method,
        by_provider=by_provider,
        forecasts=forecasts,
    )


def next_month_forecast(ctx: RuleContext) -> NextMonthForecast | None:
    """The next month's daily cost forecast (all providers) with its interval and backtest WAPE.

    History runs to the month's end, or for an open month to yesterday: today is partial and
    would pull the trend down. The forecast continues from there through the next month's end.
    """
    end = min(ctx.end, ctx.as_of) if ctx.first <= ctx.as_of else ctx.end
    series = cost_series(ctx, ctx.first - timedelta(days=365), end)
    history = series.group_by("date").agg(pl.col("value").sum()).sort("date")
    if history.height == 0:
        return None
    last: date = history["date"].max()  # type: ignore[assignment]
    nxt = ctx.month.next
    horizon = max((nxt.next.first_day - last).days - 1, 1)
    f = fc.forecast(history, horizon)
    ahead = f.to_frame()  # the rest of an open month, then the next month
    points = ahead.filter(pl.col("date") >= nxt.first_day)
    if points.height == 0:
        return None
    wape = f.backtest.wape if f.backtest else None
    return NextMonthForecast(
        month=str(nxt),
        point_usd=usd(points["point"].sum()),
        lower_usd=usd(points["lower"].sum()),
        upper_usd=usd(points["upper"].sum()),
        interval=f.level,
        backtest_error_pct=_pct(wape),
        method=f.method,
        history_end=last,
        daily=[
            DailyForecast(date=d, point_usd=usd(p), lower_usd=usd(lo), upper_usd=usd(hi))
            for d, p, lo, hi in ahead.select("date", "point", "lower", "upper").iter_rows()
        ],
    )


def _forecast(ctx: RuleContext, provider: object, service: object, s: pl.DataFrame) -> Forecast:
    p = fc.month_end_projection(s, ctx.month, ctx.as_of)
    bt = p.backtest or _closed_backtest(s)
    return Forecast(
        provider=str(provider),
        service=str(service),
        month_to_date_usd=usd(p.actual_to_date),
        remaining_usd=usd(p.forecast_remaining),
        projected_usd=usd(p.projected),
        lower_usd=usd(p.lower),
        upper_usd=usd(p.upper),
        backtest_error_pct=_pct(bt.period_variance if bt else None),
        backtest_coverage=bt.coverage if bt else None,
        method=p.method,
        days_observed=p.days_actual,
    )


def _closed_backtest(series: pl.DataFrame) -> fc.BacktestResult | None:
    # A closed month has no forecast of its own; the backtest still says how good one would be.
    return fc.backtest(series, horizon=7, origins=3) if series.height else None


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def anomaly_params(ctx: RuleContext) -> an.AnomalyParams:
    """Detector thresholds from the config's ``[anomalies]`` table."""
    raw = ctx.cfg.get("anomalies") or {}
    return an.AnomalyParams(**{k: v for k, v in raw.items() if k in an.AnomalyParams.model_fields})


def anomalies(ctx: RuleContext) -> list[Anomaly]:
    """Unusual daily cost per provider and service: one per episode, robust to weekdays, with a
    dollar and a percent threshold (``analysis.anomalies``); history before the month is the
    baseline, episodes ending before the month are left out."""
    series = cost_series(ctx, ctx.first - timedelta(days=HISTORY_DAYS), ctx.end, usage_only=True)
    found = [a for a in detect(ctx, series, ["provider", "service"]) if a.end >= ctx.first]
    return [with_cause(ctx, a) for a in found]


def with_cause(ctx: RuleContext, a: Anomaly) -> Anomaly:
    """The episode with the slice that drove it (``analysis.causes``), when FOCUS rows exist."""
    if not _has_focus(ctx):
        return a
    cause = causes.explain(
        causes.episode_rows(ctx.store, a.provider, a.service, a.start, a.end), a.start, a.end
    )
    if cause is None:
        return a
    drivers = [
        AnomalyDriver(
            dimension=d.dimension,
            value=d.value,
            before_usd=usd(d.before_usd),
            during_usd=usd(d.during_usd),
            share=round(d.share, 4),
        )
        for d in cause.drivers
    ]
    return a.model_copy(update={"cause": cause.sentence(), "drivers": drivers})


def detect(ctx: RuleContext, series: pl.DataFrame, keys: list[str]) -> list[Anomaly]:
    """Score days with ``analysis.anomalies``; days it cannot score for lack of history (the
    first weeks of a store) get a within-series fallback: the median of the same weekday over
    the available days and a MAD scale. Consecutive anomalous days are one episode."""
    if series.is_empty():
        return []
    if not keys:  # window functions need a key: one series
        series, keys = series.with_columns(pl.lit("all").alias("series")), ["series"]
    params = anomaly_params(ctx)
    scored = an.score_days(series, keys, params)
    short = scored.filter((pl.col("date") >= ctx.first) & pl.col("score").is_null())
    if short.height:
        names = sorted({"/".join(str(v) for v in r) for r in short.select(keys).iter_rows()})
        ctx.note(
            f"anomalies: {short.height} day(s) of {', '.join(names)} lack 3 weeks of history; "
            "scored against the same weekday within the available days"
        )
        scored = _fallback(scored, keys)
    flagged = scored.with_columns(
        (
            (pl.col("score") >= params.min_score)
            & (pl.col("excess") >= params.min_excess)
            & (pl.col("excess") >= params.min_pct * pl.col("baseline"))
        )
        .fill_null(False)
        .alias("anomalous")
    ).sort([*keys, "date"])
    run = (
        (pl.col("anomalous") != pl.col("anomalous").shift(1).over(keys)).fill_null(True).cum_sum()
    ).alias("run")
    episodes = (
        flagged.with_columns(run)
        .filter("anomalous")
        .group_by([*keys, "run"])
        .agg(
            pl.col("date").min().alias("start"),
            pl.col("date").max().alias("end"),
            pl.len().alias("days"),
            pl.col("value").sum(),
            pl.col("baseline").sum(),
        )
        .sort("start")
    )
    return [_anomaly(r, keys) for r in episodes.iter_rows(named=True)]  # one row per episode


def _fallback(scored: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    wd = [*keys, pl.col("date").dt.weekday()]
    base = pl.col("value").median().over(wd)
    resid = pl.col("value") - base
    scale = (1.4826 * (resid - resid.median().over(keys)).abs().median().over(keys)).clip(
        lower_bound=0.01 * base
    )
    return scored.with_columns(
        pl.coalesce("baseline", base).alias("baseline"),
        pl.coalesce("excess", resid).alias("excess"),
        pl.coalesce("score", resid / scale).alias("score"),
    )


def _anomaly(r: dict[str, object], keys: list[str]) -> Anomaly:
    value, base = float(r["value"]), float(r["baseline"])  # type: ignore[arg-type]
    return Anomaly(
        provider=str(r.get("provider", "")),
        service=str(r.get("service", "")),
        start=r["start"],
        end=r["end"],
        days=int(r["days"]),  # type: ignore[call-overload]
        cost_usd=usd(value),
        expected_usd=usd(base),
        excess_usd=usd(value - base),
        excess_pct=round(100 * (value - base) / base, 2) if base > 0 else 0.0,
    )
