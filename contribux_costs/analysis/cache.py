"""Cache findings for every layer we can see, and the guide's cache flow as recommendations.

Layers: Redis (Upstash, per database, hit/miss **deltas** per day), the Postgres buffer cache
(``pg_stat_database`` deltas), OpenAI's prompt cache (cached / input tokens) and the Vercel edge
(byte hit ratio = 1 − Fast Origin Transfer / Fast Data Transfer, from the billed quantities).
TTL what-ifs use the fixed-expiry model λT/(1+λT) (``analysis.cache_model``) for the TTLs of the
configured key classes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from contribux_costs.analysis import cache_model as cm
from contribux_costs.analysis.rulebase import (
    Candidate,
    Rule,
    RuleContext,
    guarded,
    usage_cte,
    usd,
)
from contribux_costs.models import CacheFinding, TtlWhatIf

_REDIS_DAILY = f"""
WITH {usage_cte("upstash")}
SELECT resource_id AS database_id, any_value(resource_name) AS name, billing_date AS date,
  coalesce(sum(value) FILTER (WHERE metric = 'hits'), 0) AS hits,
  coalesce(sum(value) FILTER (WHERE metric = 'misses'), 0) AS misses,
  coalesce(sum(value) FILTER (WHERE metric = 'read_requests'), 0) AS reads
FROM u GROUP BY resource_id, billing_date ORDER BY 1, 3
"""


def _status(ratio: float | None, look: float, poor: float) -> str:
    if ratio is None:
        return "unknown"
    return "good" if ratio >= look else "look" if ratio >= poor else "poor"


def _trend(s: cm.HitRatioSummary) -> float | None:
    return s.trend.slope_per_week if s.trend else None


def key_class(ctx: RuleContext, name: str) -> dict[str, Any] | None:
    """The configured cache layer whose ``match`` occurs in a database / key-class name."""
    for layer in ctx.cfg.get("cache.layers") or []:
        if isinstance(layer, dict) and str(layer.get("match", "")).lower() in name.lower():
            return layer
    return None


def redis_daily(ctx: RuleContext) -> pl.DataFrame:
    if "redis_daily" not in ctx.cache:
        ctx.cache["redis_daily"] = ctx.store.query(
            ctx.usage_sql(_REDIS_DAILY, "upstash"), {"first": ctx.first, "end": ctx.end}
        )
    frame: pl.DataFrame = ctx.cache["redis_daily"]
    return frame


def _what_if(
    ctx: RuleContext,
    layer: dict[str, Any] | None,
    ratio: float | None,
    requests: float,
    target: float | None = None,
) -> list[TtlWhatIf]:
    if layer is None or ratio is None or requests <= 0:
        return []
    mode: cm.TtlMode = "refresh" if layer.get("refresh") else "fixed"
    factors = [float(f) for f in ctx.cfg.get("cache.what_if_factors") or []]
    # The TTL the recommendation advises (reaching the "look" threshold) is one of the rows.
    advised = (
        _ttl_needed(float(layer["ttl_s"]), ratio, target) if target and ratio < target else None
    )
    w = cm.ttl_what_if(
        float(layer["ttl_s"]), requests, observed_ratio=ratio, multipliers=factors, mode=mode,
        ttls=[advised] if advised else [],
    )  # fmt: skip
    return [
        TtlWhatIf(
            ttl_s=s.ttl_seconds, predicted_hit_ratio=s.hit_ratio, advised=s.ttl_seconds == advised
        )
        for s in sorted(w.scenarios, key=lambda s: s.ttl_seconds)
    ]


def redis_findings(ctx: RuleContext) -> list[CacheFinding]:
    """Per Upstash database: the month's hit ratio from daily deltas, trend, TTL what-if."""
    if "redis_findings" not in ctx.cache:
        ctx.cache["redis_findings"] = _redis_findings(ctx)
    return list(ctx.cache["redis_findings"])


def hit_ratio_table(daily: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per ``key``: hits, misses, ratio and the trend of the daily ratio per week, for every key
    at once. Same figures as ``cache_model.summarize_hit_ratio`` (ratio of summed deltas; slope
    weighted by each day's lookups, as its ``np.polyfit(w=√lookups)``), in one group-by."""
    total = pl.col("hits") + pl.col("misses")
    days = daily.group_by(key, "date").agg(pl.col("hits").sum(), pl.col("misses").sum())
    traffic = days.filter(total > 0).with_columns(
        (pl.col("hits") / total).alias("y"),
        total.alias("w"),
        (pl.col("date") - pl.col("date").min().over(key))
        .dt.total_days()
        .cast(pl.Float64)
        .alias("x"),
    )
    trend = traffic.with_columns(
        (pl.col("x") - _wmean("x").over(key)).alias("dx"),
        (pl.col("y") - _wmean("y").over(key)).alias("dy"),
    ).group_by(key).agg(
        pl.len().alias("days"),
        ((pl.col("w") * pl.col("dx") * pl.col("dy")).sum()
         / (pl.col("w") * pl.col("dx") ** 2).sum()).alias("slope"),
    )  # fmt: skip
    sums = days.group_by(key).agg(pl.col("hits").sum(), pl.col("misses").sum())
    return sums.join(trend, on=key, how="left").with_columns(
        pl.when(total > 0).then((pl.col("hits") / total).clip(0, 1)).alias("ratio"),
        pl.when(pl.col("days") >= 2).then(pl.col("slope") * 7).alias("trend_per_week"),
    )


def _wmean(col: str) -> pl.Expr:
    return (pl.col("w") * pl.col(col)).sum() / pl.col("w").sum()


def _redis_findings(ctx: RuleContext) -> list[CacheFinding]:
    look, poor = ctx.cfg.num("upstash.hit_ratio_look"), ctx.cfg.num("upstash.hit_ratio_poor")
    daily = redis_daily(ctx)
    if daily.is_empty():
        return []
    names = daily.group_by("database_id").agg(pl.col("name").first())
    table = hit_ratio_table(daily, "database_id").join(names, on="database_id")
    out = []
    for r in table.sort("name").iter_rows(named=True):  # one row per database
        ratio = r["ratio"]
        lookups = float(r["hits"] + r["misses"])
        layer = key_class(ctx, str(r["name"]))
        out.append(
            CacheFinding(
                layer="redis", subject=str(r["name"]), hit_ratio=ratio, hits=float(r["hits"]),
                lookups=lookups, trend_per_week=r["trend_per_week"],
                status=_status(ratio, look, poor),
                threshold=f"look < {look:.0%}, poor < {poor:.0%}",
                ttl_s=float(layer["ttl_s"]) if layer else None,
                ttl_what_if=_what_if(ctx, layer, ratio, lookups, look),
                note=f"key class {layer['key_class']}" if layer else "no key class configured",
            )
        )  # fmt: skip
    return out


def postgres_findings(ctx: RuleContext) -> list[CacheFinding]:
    """Buffer-cache hit ratio per database from ``pg_stat_database`` deltas (cached)."""
    if "pg_findings" not in ctx.cache:
        ctx.cache["pg_findings"] = _postgres_findings(ctx)
    return list(ctx.cache["pg_findings"])


def _postgres_findings(ctx: RuleContext) -> list[CacheFinding]:
    if "pg_database_snapshots" not in ctx.tables:
        return []
    from contribux_costs.collect.postgres import deltas as pgd

    deltas = pgd.load_database_deltas(ctx.store, ctx.month.window)
    if deltas.is_empty():
        return []
    limit = ctx.cfg.num("neon.buffer_hit_ratio")
    daily = pgd.daily_database(deltas).rename(
        {"day": "date", "blks_hit": "hits", "blks_read": "misses"}
    )
    out = []
    for (datname,), part in daily.partition_by(
        ["datname"], as_dict=True, maintain_order=True
    ).items():
        s = cm.summarize_hit_ratio(part.select("date", "hits", "misses"))
        out.append(
            CacheFinding(
                layer="postgres_buffer", subject=str(datname), hit_ratio=s.ratio, hits=s.hits,
                lookups=s.hits + s.misses, trend_per_week=_trend(s),
                status=_status(s.ratio, limit, limit - 0.05), threshold=f"< {limit:.0%}",
                note="blocks hit / (hit + read) over the month's snapshot deltas",
            )
        )  # fmt: skip
    return out


def openai_findings(ctx: RuleContext) -> list[CacheFinding]:
    """OpenAI prompt cache: cached / input tokens per (project, model) of completions."""
    from contribux_costs.analysis.costs import _spend

    look = ctx.cfg.num("cache.openai_prompt_look")
    out = []
    for s in _spend(ctx):
        if s.service != "completions" or s.input_tokens <= 0:
            continue
        ratio = min(max(s.cached_share, 0.0), 1.0)
        out.append(
            CacheFinding(
                layer="openai_prompt", subject=s.subject, hit_ratio=ratio, hits=s.cached_tokens,
                lookups=s.input_tokens, status="good" if ratio >= look else "look",
                threshold=f"cached share < {look:.0%}", note="cached input tokens / input tokens",
            )
        )  # fmt: skip
    return out


def vercel_edge_findings(ctx: RuleContext) -> list[CacheFinding]:
    """Edge byte hit ratio ≈ 1 − origin transfer / delivered transfer (when both are billed)."""
    frame = ctx.store.query(
        "SELECT service, sum(value) AS gb FROM usage WHERE provider = 'vercel' AND service IN "
        "('Fast Data Transfer', 'Fast Origin Transfer') AND billing_date >= ? "
        "AND billing_date < ? GROUP BY 1",
        [ctx.first, ctx.end],
    )
    gb = dict(frame.iter_rows())
    delivered, origin = (
        float(gb.get("Fast Data Transfer", 0)),
        float(gb.get("Fast Origin Transfer", 0)),
    )
    if delivered <= 0 or "Fast Origin Transfer" not in gb:
        return []
    ratio = min(max(1 - origin / delivered, 0.0), 1.0)
    look = ctx.cfg.num("upstash.hit_ratio_look")
    return [
        CacheFinding(
            layer="vercel_edge", subject="team", hit_ratio=ratio,
            hits=delivered - min(origin, delivered),
            lookups=delivered, status=_status(ratio, look, ctx.cfg.num("upstash.hit_ratio_poor")),
            threshold=f"look < {look:.0%}", note="byte hit ratio: 1 − origin GB / delivered GB",
        )
    ]  # fmt: skip


def findings(ctx: RuleContext) -> list[CacheFinding]:
    """Every layer's finding (a layer without data contributes none)."""
    layers = (redis_findings, postgres_findings, openai_findings, vercel_edge_findings)
    return [f for layer in layers for f in guarded(ctx, layer)]


def miss_cost(ctx: RuleContext, layer: dict[str, Any] | None) -> tuple[Decimal, Decimal]:
    """(Redis cost, downstream cost) of one miss: a SET at the pay-as-you-go price, plus the
    recomputation a miss causes when the key class names one (e.g. an embedding request)."""
    from contribux_costs.analysis.upstash_plans import command_price

    redis = command_price(ctx)
    source = (layer or {}).get("miss_cost")
    if source != "openai_embedding_request":
        return redis, Decimal(0)
    from contribux_costs.analysis.costs import _spend

    emb = [s for s in _spend(ctx) if s.service == "embeddings"]
    requests = sum(s.requests for s in emb)
    cost = sum((s.cost for s in emb), Decimal(0))
    return redis, cost / Decimal(str(requests)) if requests > 0 else Decimal(0)


def low_hit_key_class(ctx: RuleContext) -> list[Candidate]:
    """Guide's cache flow on a low hit ratio: longer TTL / bigger cache / another layer, priced
    as the misses avoided by reaching the 'look' threshold × the cost of a miss."""
    look, poor = ctx.cfg.num("upstash.hit_ratio_look"), ctx.cfg.num("upstash.hit_ratio_poor")
    critical = ctx.cfg.num("upstash.hit_ratio_critical")
    out = []
    for f in redis_findings(ctx):
        if f.hit_ratio is None or f.hit_ratio >= look:
            continue
        layer = key_class(ctx, f.subject)
        ttl = float(layer["ttl_s"]) if layer else None
        new_ttl = _ttl_needed(ttl, f.hit_ratio, look)
        # Without any hit the TTL model has no rate to extrapolate from: advice, no dollars.
        avoided = f.lookups * (look - f.hit_ratio) if f.hit_ratio > 0 else 0.0
        redis, downstream = miss_cost(ctx, layer)
        saving = Decimal(str(avoided)) * (redis + downstream)
        misses = f.lookups - f.hits
        basis = Decimal(str(misses)) * (redis + downstream)
        action = _cache_action(f.hit_ratio, critical, poor, new_ttl)
        out.append(
            Candidate(
                "cache.low_hit_key_class", "upstash", f.subject, "cache",
                f"{f.subject} hits only {f.hit_ratio:.0%} of lookups",
                action, saving, basis, f"cache:{f.subject}", "medium",
                "TTL model λT/(1+λT) fitted to the observed ratio; misses priced at a SET "
                "plus the recomputation they cause", "low",
                f"hit ratio < {look:.0%} (poor < {poor:.0%}, critical < {critical:.0%})",
                {"hit_ratio": f.hit_ratio, "lookups": f.lookups, "misses": misses,
                 "target_hit_ratio": look, "avoided_misses": avoided, "ttl_s": ttl or 0.0,
                 "ttl_needed_s": new_ttl or 0.0, "redis_cost_per_miss_usd": float(redis),
                 "downstream_cost_per_miss_usd": float(downstream),
                 "cost_of_misses_usd": float(usd(basis))},
                {"upstash": redis, **({"openai": downstream} if downstream > 0 else {})},
            )
        )  # fmt: skip
    return out


def _cache_action(ratio: float, critical: float, poor: float, ttl: float | None) -> str:
    """Guide's cache flow: critical miss rate → another layer; low → bigger cache; else tune TTL."""
    to = f" to ~{ttl:,.0f} s" if ttl else ""
    if ratio < critical:
        return (
            f"Add another cache layer (an in-process LRU in front of Redis) and raise the TTL{to}"
        )
    if ratio < poor:
        return f"Increase the cache size (no evictions of live keys) and raise the TTL{to}"
    return f"Tune the TTL{to} (refresh-ahead for hot keys)"


def _ttl_needed(ttl: float | None, ratio: float, target: float) -> float | None:
    """The TTL reaching ``target`` at the rate behind ``ratio`` (fixed expiry: λT = h/(1−h))."""
    if ttl is None or not 0 < ratio < 1 or not 0 < target < 1:
        return None
    rate = cm.rate_from_hit_ratio(ratio, ttl)
    return target / (1 - target) / rate if rate > 0 else None  # a denormal ratio: no rate


def buffer_cache(ctx: RuleContext) -> list[Candidate]:
    """Postgres buffer-cache hit ratio under the threshold: fewer scans, then more memory."""
    limit = ctx.cfg.num("neon.buffer_hit_ratio")
    out = []
    for f in postgres_findings(ctx):
        if f.hit_ratio is None or f.hit_ratio >= limit or f.lookups <= 0:
            continue
        out.append(
            Candidate(
                "postgres.buffer_cache", "neon", f.subject, "cache",
                f"Postgres buffer cache hits {f.hit_ratio:.1%} of block reads in {f.subject}",
                "Index the scanning queries first (they evict the working set); if the ratio "
                "stays low, raise the minimum compute size (RAM grows with CU)",
                Decimal(0), Decimal(0), f"pgcache:{f.subject}", "high",
                "measured from pg_stat_database deltas over the month", "medium",
                f"buffer-cache hit ratio < {limit:.0%}",
                {"hit_ratio": f.hit_ratio, "blocks_hit": f.hits,
                 "blocks_read": f.lookups - f.hits},
            )
        )  # fmt: skip
    return out


RULES: tuple[Rule, ...] = (low_hit_key_class, buffer_cache)
