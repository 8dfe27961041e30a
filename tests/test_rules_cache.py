"""Cache findings per layer, the low-hit key class rule, the embedding spike rule; hit ratios in
[0, 1] whatever the counters (property test)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.analysis import cache, costs
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.periods import Month
from contribux_costs.store import Store
from tests.engine_support import charge_row, insert, month_days, new_store, openai_day, usage_row

JAN = Month(2025, 1)
DAYS = month_days(2025, 1)


def _ctx(store: Store) -> RuleContext:
    return RuleContext(store, JAN, Config.load(), date(2025, 3, 1))


def _redis(store: Store, name: str, hits: float, misses: float) -> None:
    rows = []
    for d in DAYS:
        for metric, v in (("hits", hits), ("misses", misses), ("read_requests", hits + misses)):
            rows.append(usage_row("upstash", "redis", metric, v, d, f"id-{name}", name, "keys"))
    insert(store, "usage", rows)


def test_redis_finding_per_database_with_ttl_what_if() -> None:
    store = new_store()
    _redis(store, "app-vector-cache", 500, 500)
    _redis(store, "app-repos-cache", 950, 50)
    found = {f.subject: f for f in cache.redis_findings(_ctx(store))}
    vec = found["app-vector-cache"]
    assert vec.hit_ratio == pytest.approx(0.5) and vec.status == "poor" and vec.ttl_s == 600
    # λT = 1 at 600 s: 2× TTL → 2/3, 4× → 4/5, ½× → 1/3 (fixed expiry λT/(1+λT))
    plain = [round(w.predicted_hit_ratio, 4) for w in vec.ttl_what_if if not w.advised]
    assert plain == [0.3333, 0.6667, 0.8]
    # and the TTL the advice names: the one reaching the 90 % "look" threshold (λT = 9)
    [advised] = [w for w in vec.ttl_what_if if w.advised]
    assert advised.ttl_s == pytest.approx(600 * 9)
    assert advised.predicted_hit_ratio == pytest.approx(0.9)
    assert found["app-repos-cache"].status == "good"


def test_low_hit_key_class_prices_avoided_misses() -> None:
    store = new_store()
    _redis(store, "app-repos-cache", 700, 300)  # 70 %: below 80 %, no downstream miss cost
    [c] = cache.low_hit_key_class(_ctx(store))
    lookups = 1000 * 31
    avoided = lookups * (0.9 - 0.7)
    assert float(c.savings_usd) == pytest.approx(avoided * 0.2 / 100_000)
    # fixed model: λT = 0.7/0.3 at 1,800 s; reaching 0.9 needs λT' = 9
    assert c.evidence["ttl_needed_s"] == pytest.approx(1800 * 9 / (0.7 / 0.3))
    assert "TTL" in c.action


def test_vector_cache_miss_includes_the_embedding_request() -> None:
    store = new_store()
    _redis(store, "app-vector-cache", 600, 400)
    usage, charges = [], []
    for d in DAYS:
        u, ch = openai_day(d, "p", "text-embedding-3-small", 1000, 500_000, 0, 0, "embeddings")
        usage, charges = usage + u, charges + ch
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    ctx = _ctx(store)
    redis, downstream = cache.miss_cost(ctx, cache.key_class(ctx, "app-vector-cache"))
    assert redis == Decimal("0.000002")
    assert downstream == Decimal("0.00001")  # 500 tokens × $0.02 per 1M
    [c] = cache.low_hit_key_class(ctx)
    assert float(c.savings_usd) == pytest.approx(31_000 * (0.9 - 0.6) * 0.000012)
    assert "another cache layer" not in c.action  # 60 % is poor, not critical (< 50 %)


def test_critical_miss_rate_asks_for_another_layer() -> None:
    store = new_store()
    _redis(store, "app-vector-cache", 300, 700)
    [c] = cache.low_hit_key_class(_ctx(store))
    assert "another cache layer" in c.action


def test_openai_prompt_and_vercel_edge_findings() -> None:
    store = new_store()
    usage, charges = openai_day(DAYS[0], "p", "gpt-4o-2024-08-06", 10, 100_000, 25_000, 1000)
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    insert(
        store,
        "usage",
        [
            usage_row("vercel", "Fast Data Transfer", "consumed_quantity", 100.0, DAYS[0]),
            usage_row("vercel", "Fast Origin Transfer", "consumed_quantity", 20.0, DAYS[0]),
        ],
    )
    found = {f.layer: f for f in cache.findings(_ctx(store))}
    assert found["openai_prompt"].hit_ratio == pytest.approx(0.25)
    assert found["vercel_edge"].hit_ratio == pytest.approx(0.8)


def test_embedding_spike_is_one_episode_with_its_excess() -> None:
    store = new_store()
    charges = []
    for d in DAYS:
        cost = Decimal(20) * (Decimal("0.7") if d.weekday() >= 5 else 1)
        cost = cost + (Decimal(200) if d in (date(2025, 1, 21), date(2025, 1, 22)) else 0)
        charges.append(
            charge_row("openai", cost, d, "OpenAI API", "text-embedding-3-small, input", "p")
        )
    insert(store, "charges", charges)
    usage, _ = openai_day(DAYS[0], "p", "text-embedding-3-small", 1, 1, 0, 0, "embeddings")
    insert(store, "usage", usage)
    [c] = costs.embedding_spikes(_ctx(store))
    assert c.evidence["start"] == "2025-01-21" and c.evidence["end"] == "2025-01-22"
    assert c.savings_usd == pytest.approx(Decimal(400), abs=Decimal("0.01"))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e9), st.floats(0, 1e9)), min_size=1, max_size=10))
def test_property_hit_ratios_in_unit_interval(counts: list[tuple[float, float]]) -> None:
    store = new_store()
    rows = []
    for d, (hits, misses) in zip(DAYS, counts, strict=False):
        rows += [
            usage_row("upstash", "redis", "hits", hits, d, "id", "x-vector", "keys"),
            usage_row("upstash", "redis", "misses", misses, d, "id", "x-vector", "keys"),
        ]
    insert(store, "usage", rows)
    ctx = _ctx(store)
    for f in cache.findings(ctx):
        assert f.hit_ratio is None or 0 <= f.hit_ratio <= 1
        assert all(0 <= w.predicted_hit_ratio <= 1 for w in f.ttl_what_if)
    for c in cache.low_hit_key_class(ctx):
        assert c.savings_usd >= 0


def test_hit_ratio_worth_a_look_asks_to_tune_the_ttl() -> None:
    store = new_store()
    _redis(store, "app-repos-cache", 850, 150)
    [c] = cache.low_hit_key_class(_ctx(store))
    assert c.action.startswith("Tune the TTL")
    assert float(c.savings_usd) == pytest.approx(31_000 * (0.9 - 0.85) * 0.2 / 100_000)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        # counters are whole numbers (a denormal float weight underflows inside np.polyfit)
        st.tuples(st.integers(0, 30), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=20,
    )
)
def test_property_vectorized_hit_ratio_matches_cache_model(
    days: list[tuple[int, int, int]],
) -> None:
    import polars as pl

    from contribux_costs.analysis import cache_model as cm

    daily = pl.DataFrame(
        {
            "db": ["a"] * len(days),
            "date": [DAYS[d] for d, _, _ in days],
            "hits": [float(h) for _, h, _ in days],
            "misses": [float(m) for _, _, m in days],
        }
    )
    [row] = cache.hit_ratio_table(daily, "db").to_dicts()
    ref = cm.summarize_hit_ratio(daily.select("date", "hits", "misses"))
    assert (
        row["ratio"] == pytest.approx(ref.ratio) if ref.ratio is not None else row["ratio"] is None
    )
    if ref.trend is None:
        assert row["trend_per_week"] is None or row["days"] < 2
    else:
        assert row["trend_per_week"] == pytest.approx(ref.trend.slope_per_week, rel=1e-6, abs=1e-9)
