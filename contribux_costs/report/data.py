"""The series and tables the report notebooks chart: pure reads over the store, tested.

Notebooks only call these and draw; nothing here renders.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from contribux_costs.analysis.rulebase import usage_cte
from contribux_costs.collect.postgres.deltas import (
    load_database_deltas,
    load_statement_deltas,
    query_summary,
)
from contribux_costs.focus.summary import cost_source
from contribux_costs.periods import Month
from contribux_costs.store import Store

_DATED_MODEL = r"-\d{4}-\d{2}-\d{2}$"


def daily_total(store: Store, until: Month) -> pl.DataFrame:
    """Every collected day up to the end of ``until``: date, value (USD float, all providers)."""
    src = cost_source(store, until)
    return store.query(
        f"SELECT {src.day_col} AS date, sum({src.cost_col})::DOUBLE AS value FROM {src.table} "
        f"WHERE {src.day_col} < ? GROUP BY ALL ORDER BY date",
        [until.next.first_day],
    )


def monthly_totals(store: Store, until: Month, months: int = 6) -> pl.DataFrame:
    """month (YYYY-MM), provider, cost (USD float) for the ``months`` months up to ``until``."""
    src = cost_source(store, until)
    start = until.first_day
    for _ in range(months - 1):
        start = Month.containing(start).prev.first_day
    return store.query(
        f"SELECT strftime({src.day_col}, '%Y-%m') AS month, {src.provider_col} AS provider, "
        f"sum({src.cost_col})::DOUBLE AS cost FROM {src.table} "
        f"WHERE {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL ORDER BY month, provider",
        [start, until.next.first_day],
    )


def forecast_spec(history: pl.DataFrame, points: pl.DataFrame) -> dict[str, object]:
    """What the drill-down needs to re-draw the forecast chart under a filter: the first day of
    history shown, the start of the 28 days whose share scales the forecast, and the forecast."""
    if history.height == 0 or points.height == 0:
        return {"since": "9999-12-31", "share_from": "9999-12-31", "forecast": _NO_FORECAST}
    last: date = history["date"].max()  # type: ignore[assignment]
    return {
        "since": str(history["date"].min()),
        "share_from": str(last - timedelta(days=28)),
        "forecast": {
            "date": [str(d) for d in points["date"].to_list()],
            **{k: [float(v) for v in points[k].to_list()] for k in ("point", "lower", "upper")},
        },
    }


_NO_FORECAST: dict[str, list[object]] = {"date": [], "point": [], "lower": [], "upper": []}


def top_models(store: Store, month: Month, limit: int = 8) -> pl.DataFrame:
    """OpenAI cost by model family (dated ids folded), largest first: model, cost."""
    src = cost_source(store, month)
    sku = "SkuId" if src.table == "focus_charges" else "x_line_item"
    frame = store.query(
        f"SELECT split_part({sku}, ',', 1) AS item, sum({src.cost_col})::DOUBLE AS cost "
        f"FROM {src.table} WHERE {src.provider_col} = 'openai' "
        f"AND {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL",
        [month.first_day, month.next.first_day],
    )
    return (
        frame.with_columns(
            pl.col("item").str.replace(_DATED_MODEL, "").fill_null("(other)").alias("model")
        )
        .group_by("model")
        .agg(pl.col("cost").sum())
        .sort("cost", descending=True)
        .head(limit)
    )


def usage_daily(store: Store, month: Month, provider: str, metric: str) -> pl.DataFrame:
    """date, resource (name or id), value: one usage metric per day and resource."""
    return _month_usage(
        store,
        month,
        provider,
        "SELECT billing_date AS date, coalesce(resource_name, resource_id, '(none)') AS resource, "
        "sum(value) AS value FROM u WHERE metric = $metric GROUP BY ALL ORDER BY date, resource",
        metric=metric,
    )


def _month_usage(
    store: Store, month: Month, provider: str, select: str, **params: object
) -> pl.DataFrame:
    """``select`` over ``u``: the month's usage of ``provider`` with one granularity per day (the
    engine's :func:`usage_cte`), so a day collected both hourly and daily is counted once."""
    return store.query(
        f"WITH {usage_cte(provider)} {select}",
        {"first": month.first_day, "end": month.next.first_day, **params},
    )


def hit_ratios_daily(store: Store, month: Month) -> pl.DataFrame:
    """layer, subject, date, hits, lookups, ratio — every cache layer the data shows."""
    frames = [_redis(store, month), _prompt_cache(store, month), _buffer_cache(store, month)]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(
            schema={
                "layer": pl.String,
                "subject": pl.String,
                "date": pl.Date,
                "hits": pl.Float64,
                "lookups": pl.Float64,
                "ratio": pl.Float64,
            }
        )
    return pl.concat(frames, how="vertical_relaxed").sort("layer", "subject", "date")


def _ratio(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col("lookups") > 0).then(pl.col("hits") / pl.col("lookups")).alias("ratio")
    )


def _redis(store: Store, month: Month) -> pl.DataFrame:
    frame = _month_usage(
        store,
        month,
        "upstash",
        "SELECT 'redis' AS layer, coalesce(resource_name, resource_id) AS subject, "
        "billing_date AS date, sum(value) FILTER (metric = 'hits') AS hits, "
        "sum(value) FILTER (metric IN ('hits', 'misses')) AS lookups FROM u "
        "WHERE metric IN ('hits', 'misses') GROUP BY ALL",
    )
    return _ratio(frame)


def _prompt_cache(store: Store, month: Month) -> pl.DataFrame:
    frame = _month_usage(
        store,
        month,
        "openai",
        "SELECT 'openai_prompt' AS layer, regexp_replace(resource_name, $dated, '') AS subject, "
        "billing_date AS date, sum(value) FILTER (metric = 'input_cached_tokens') AS hits, "
        "sum(value) FILTER (metric = 'input_tokens') AS lookups FROM u "
        "WHERE service = 'completions' AND metric IN ('input_tokens', 'input_cached_tokens') "
        "GROUP BY ALL",
        dated=_DATED_MODEL,
    )
    return _ratio(frame)


def _buffer_cache(store: Store, month: Month) -> pl.DataFrame:
    if "pg_database_snapshots" not in store.tables():
        return pl.DataFrame()
    deltas = load_database_deltas(store, month.window)
    if deltas.height == 0:
        return pl.DataFrame()
    time_col = "fetched_at" if "fetched_at" in deltas.columns else deltas.columns[0]
    return _ratio(
        deltas.group_by(
            pl.col(time_col).dt.date().alias("date"), pl.col("datname").alias("subject")
        )
        .agg(
            pl.col("blks_hit").sum().cast(pl.Float64).alias("hits"),
            (pl.col("blks_hit") + pl.col("blks_read")).sum().cast(pl.Float64).alias("lookups"),
        )
        .with_columns(pl.lit("postgres_buffer").alias("layer"))
        .select("layer", "subject", "date", "hits", "lookups")
    )


CACHE_LAYERS = {
    "redis": "Redis (Upstash)",
    "postgres_buffer": "Postgres buffer cache",
    "openai_prompt": "OpenAI prompt cache",
    "vercel_edge": "Vercel edge",
}


def service_costs(store: Store, month: Month, provider: str) -> pl.DataFrame:
    """service, cost (Decimal) for one provider's month, largest first."""
    src = cost_source(store, month)
    return store.query(
        f"SELECT coalesce(ServiceName, '(none)') AS service, sum({src.cost_col}) AS cost "
        f"FROM {src.table} WHERE {src.provider_col} = ? AND {src.day_col} >= ? "
        f"AND {src.day_col} < ? GROUP BY ALL ORDER BY cost DESC",
        [provider, month.first_day, month.next.first_day],
    )


def shorten(text: str, width: int = 90) -> str:
    """Whitespace collapsed; cut at a word boundary with an ellipsis when longer than ``width``."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,(") + "…"


def slowest_queries(store: Store, month: Month, limit: int = 10) -> pl.DataFrame:
    """The statements with the most execution time in the month, with their share of the total."""
    if "pg_statements_snapshots" not in store.tables():
        return pl.DataFrame()
    summary_ = query_summary(load_statement_deltas(store, month.window))
    if summary_.height == 0:
        return summary_
    return summary_.head(limit).select(
        pl.col("query").map_elements(shorten, return_dtype=pl.String).alias("query"),
        pl.col("calls").cast(pl.Int64),
        (pl.col("mean_exec_time")).round(1).alias("mean ms"),
        (pl.col("total_exec_time") / 1000 / 3600).round(2).alias("total hours"),
        (pl.col("share_of_total_time") * 100).round(1).alias("share %"),
        pl.col("is_slow").alias("slow"),
    )
