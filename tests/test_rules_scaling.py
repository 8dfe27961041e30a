"""Vercel, Upstash plan and database scaling rules, and time-to-limit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contribux_costs.analysis import scaling, upstash_plans
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.periods import Month
from contribux_costs.store import Store
from tests.engine_support import charge_row, insert, month_days, new_store, usage_row

JAN = Month(2025, 1)
DAYS = month_days(2025, 1)


def _ctx(store: Store, as_of: date = date(2025, 3, 1)) -> RuleContext:
    return RuleContext(store, JAN, Config.load(), as_of)


def _vercel(
    store: Store, service: str, per_day: list[float], cost: list[str] | None = None
) -> None:
    insert(
        store,
        "usage",
        [
            usage_row("vercel", service, "consumed_quantity", q, d)
            for d, q in zip(DAYS, per_day, strict=False)
        ],
    )
    if cost:
        insert(
            store,
            "charges",
            [charge_row("vercel", c, d, service) for d, c in zip(DAYS, cost, strict=False)],
        )


def test_transfer_overage_is_a_cost_ahead_not_a_saving() -> None:
    # Issue 14 item 11: the old rule claimed the whole $36 overage as a saving. No measured
    # change removes Fast Data Transfer (edge caching does not shrink bytes sent to users): the
    # overage is a cost ahead: 240 GB × $0.15 = $36, less what the $20 monthly usage credit has
    # not absorbed yet (the month's usage, $36, already used it all: $0 left).
    store = new_store()
    _vercel(store, "Fast Data Transfer", [40.0] * 31, ["0"] * 25 + ["6"] * 6)  # 1,240 GB
    _vercel(store, "Edge Requests", [100_000.0] * 31)  # 3.1M of 10M: quiet
    [c] = scaling.vercel_allowances(_ctx(store))
    assert c.subject == "Fast Data Transfer"
    assert c.savings_usd == 0
    assert c.cost_ahead == Decimal(36)
    assert c.evidence["projected_overage_usd"] == pytest.approx(36)
    assert c.evidence["projected_month_end"] == pytest.approx(1240)


def test_edge_cache_claims_only_the_origin_share_a_target_ratio_removes() -> None:
    from contribux_costs.analysis import vercel_rules

    store = new_store()
    # Delivered 1,000 GB, origin 400 GB: byte hit ratio 60%. At 90% the origin falls to 100 GB:
    # (0.9 − 0.6) / (1 − 0.6) = 75% of the $24 origin cost = $18; Fast Data Transfer untouched.
    _vercel(store, "Fast Data Transfer", [1000 / 31] * 31, ["0"] * 31)
    _vercel(store, "Fast Origin Transfer", [400 / 31] * 31, [str(Decimal(24) / 31)] * 31)
    [c] = vercel_rules.edge_cache(_ctx(store))
    assert c.subject == "Fast Origin Transfer"
    assert c.savings_usd == pytest.approx(Decimal(18), abs=Decimal("0.001"))
    assert c.savings_usd <= c.basis_usd


def test_open_month_projects_the_allowance() -> None:
    store = new_store()
    _vercel(store, "Edge Requests", [400_000.0] * 15)  # 6M by the 15th → ~12.4M by month end
    ctx = _ctx(store, as_of=date(2025, 1, 16))
    [c] = scaling.vercel_allowances(ctx)
    assert c.evidence["projected_month_end"] > 10_000_000
    [limit] = scaling.time_to_limits(ctx)
    assert limit.resource == "Edge Requests" and limit.days_to_limit is not None
    assert 8 <= limit.days_to_limit <= 12  # 4M left at 400k a day


def test_function_growth_is_a_scale_up_with_added_cost() -> None:
    store = new_store()
    grow = [1_000_000 * (1 + 0.01 * i) for i in range(31)]  # ~30 % a month
    _vercel(store, "Function Invocations", grow, ["10"] * 31)
    [c] = scaling.function_load(_ctx(store))
    assert c.category == "scaling" and c.savings_usd < 0  # added cost, documented sign
    assert c.evidence["growth_pct_per_month"] > 20
    assert float(-c.savings_usd) == pytest.approx(
        310 * float(c.evidence["growth_pct_per_month"]) / 100, rel=1e-6
    )


def test_flat_low_function_load_suggests_scale_down() -> None:
    store = new_store()
    _vercel(store, "Function Invocations", [100_000.0] * 31, ["1"] * 31)
    [c] = scaling.function_load(_ctx(store))
    assert c.pool == "vercel:functions:down" and c.savings_usd == 0


def test_database_scale_up_when_forecast_cu_reaches_the_limit() -> None:
    store = new_store()
    cu = [24 * (2.0 + 0.05 * i) for i in range(31)]  # average CU 2.0 → 3.5, limit 0.8 × 4
    insert(
        store,
        "usage",
        [
            usage_row("neon", "compute", "cu_hours", v, d, "p", "prod", "CU-hours", "daily")
            for d, v in zip(DAYS, cu, strict=False)
        ],
    )
    [c] = scaling.database_scaling(_ctx(store))
    assert c.savings_usd < 0 and c.evidence["forecast_peak_cu"] >= 3.2


def _redis(
    db: str, name: str, plan: str, commands: float, storage_gb: float
) -> list[dict[str, Any]]:
    dims = {"database_type": plan, "region": "us-east-1"}
    return [
        row
        for d in DAYS
        for row in (
            usage_row("upstash", "redis", "commands", commands / 31, d, db, name, dimensions=dims),
            usage_row("upstash", "redis", "storage_gb", storage_gb, d, db, name, dimensions=dims),
        )
    ]


def test_plan_breakeven_picks_cheapest_fitting_fixed_plan() -> None:
    store = new_store()
    insert(store, "usage", _redis("a", "busy", "Pay as You Go", 20_000_000, 0.1))
    insert(store, "usage", _redis("b", "quiet", "Pay as You Go", 1_000_000, 0.1))
    [c] = upstash_plans.plan_breakeven(_ctx(store))
    # 20M commands at $0.20 per 100k = $40 vs the 250 MB plan (0.1 GB / 0.8 headroom) at $10
    assert c.subject == "a" and c.savings_usd == pytest.approx(Decimal(30))
    assert c.evidence["fixed_plan_gb"] == 0.25


def test_storage_near_plan_limit_is_a_scale_up() -> None:
    store = new_store()
    insert(store, "usage", _redis("a", "big", "Fixed 1GB", 1000, 0.9))
    insert(store, "usage", _redis("b", "small", "Fixed 1GB", 1000, 0.2))
    [c] = upstash_plans.storage_limit(_ctx(store))
    assert c.subject == "a" and c.savings_usd == Decimal(-100)  # next size: 5 GB at $100


@pytest.mark.parametrize(
    ("plan", "limit"),
    [("Free", 0.256), ("Fixed 250MB", 0.25), ("Fixed 10GB", 10.0), ("Pay as You Go", None)],
)
def test_plan_limits(plan: str, limit: float | None) -> None:
    assert upstash_plans.plan_limit_gb(_ctx(new_store()), plan) == limit


def test_upstash_storage_time_to_limit_on_fixed_plan() -> None:
    store = new_store()
    dims = {"database_type": "Fixed 1GB"}
    rows = [
        usage_row("upstash", "redis", "storage_gb", 0.5 + 0.01 * i, d, "a", "grow", dimensions=dims)
        for i, d in enumerate(DAYS)
    ]
    insert(store, "usage", rows)
    [limit] = [t for t in scaling.time_to_limits(_ctx(store)) if t.provider == "upstash"]
    assert limit.limit == 1.0 and limit.used == pytest.approx(0.8)
    assert limit.days_to_limit == pytest.approx(20, abs=2)  # 0.2 GB left at 0.01 GB a day


def test_read_replica_when_forecast_query_load_passes_the_limit() -> None:
    from datetime import UTC, datetime, timedelta

    store = new_store()
    insert(
        store,
        "usage",
        [
            usage_row("neon", "compute", "cu_hours", 24.0, d, "p", "prod", "CU-hours", "daily")
            for d in DAYS
        ],
    )
    rows, calls = [], 0
    for i in range(32):
        calls += int(300 * 86_400 * (1 + 0.01 * i))  # ~300 calls/s, growing
        rows.append(
            {
                "provider": "postgres", "endpoint": "pg_stat_statements",
                "fetched_at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=i, hours=23),
                "server": "db.test:5432", "dbid": 1, "datname": "neondb", "userid": 1,
                "rolname": "app", "queryid": 7, "toplevel": True, "query": "SELECT 1",
                "calls": calls, "total_exec_time": calls * 1.0, "mean_exec_time": 1.0,
                "rows": calls, "shared_blks_hit": calls, "shared_blks_read": 0,
                "stats_reset": datetime(2024, 12, 1, tzinfo=UTC),
            }
        )  # fmt: skip
    insert(store, "pg_statements_snapshots", rows)
    [c] = scaling.read_replica(_ctx(store))
    assert c.savings_usd == -Decimal(31 * 24) * Decimal("0.14")  # a replica at the primary's cost
    assert c.evidence["forecast_calls_per_s"] >= 200


def test_quiet_fixed_plan_database_back_to_payg() -> None:
    store = new_store()
    insert(store, "usage", _redis("a", "quiet", "Fixed 1GB", 2_000_000, 0.1))
    [c] = upstash_plans.plan_breakeven(_ctx(store))  # no FOCUS rows: the price book's fee
    # 2M commands at $0.20 per 100k = $4 at pay-as-you-go vs the 1 GB plan's $20 a month
    assert c.basis_usd == Decimal(20) and c.savings_usd == pytest.approx(Decimal(16))
    assert "pay-as-you-go" in c.title


def test_allowance_already_used_up_names_the_day() -> None:
    store = new_store()
    _vercel(store, "Fast Data Transfer", [100.0] * 31)  # 1,000 GB reached on the 10th
    [limit] = scaling.time_to_limits(_ctx(store))
    assert limit.days_to_limit == 0 and limit.limit_date == date(2025, 1, 10)


def test_upstash_payg_cost_uses_the_average_storage_not_the_peak() -> None:
    # Upstash bills the daily average data size: 1 GB for 21 days, 4 GB for 10 → 1.97 GB average
    # → 0.97 GB past the free 1 GB × $0.25 = $0.24 (the 4 GB peak would say $0.75).
    store = new_store()
    dims = {"database_type": "Pay as You Go"}
    rows = [
        usage_row("upstash", "redis", "storage_gb", 1.0 if i < 21 else 4.0, d, "a", "db",
                  dimensions=dims)
        for i, d in enumerate(DAYS)
    ]  # fmt: skip
    insert(store, "usage", rows)
    [db] = upstash_plans.databases(_ctx(store))
    assert db.storage_gb == pytest.approx((21 + 40) / 31)
    assert upstash_plans.payg_cost(_ctx(store), db) == pytest.approx(
        Decimal(str((61 / 31 - 1) * 0.25)), abs=Decimal("0.000001")
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [("Pay as You Go", "payg"), ("fixed_1gb", "fixed-1gb"), ("Fixed 250 MB", "fixed-250mb"),
     ("Free", "free"), ("Enterprise", "enterprise")],
)  # fmt: skip
def test_upstash_plan_names_as_the_api_spells_them(name: str, key: str) -> None:
    assert upstash_plans.plan_key(name) == key


def test_fixed_plan_in_api_spelling_is_never_compared_per_command_as_payg() -> None:
    # "fixed_1gb" (the change-plan name) is a fixed plan: $20 fee vs $4 at pay-as-you-go.
    store = new_store()
    insert(store, "usage", _redis("a", "quiet", "fixed_1gb", 2_000_000, 0.1))
    [c] = upstash_plans.plan_breakeven(_ctx(store))
    assert c.basis_usd == Decimal(20) and "pay-as-you-go" in c.title


def test_enterprise_database_gets_no_per_command_advice() -> None:
    store = new_store()
    insert(store, "usage", _redis("a", "contract", "Enterprise", 90_000_000, 0.1))
    assert upstash_plans.plan_breakeven(_ctx(store)) == []


def test_free_database_past_its_caps_is_a_scaling_finding() -> None:
    # Free: 500K commands a month. 900K commands → throttled; pay-as-you-go would cost
    # 9 × $0.20 = $1.80.
    store = new_store()
    insert(store, "usage", _redis("f", "hobby", "Free", 900_000, 0.1))
    insert(store, "usage", _redis("g", "tiny", "Free", 100_000, 0.1))
    [c] = upstash_plans.free_plan_caps(_ctx(store))
    assert c.subject == "f" and c.savings_usd == pytest.approx(Decimal("-1.80"))
    assert c.evidence["commands"] == pytest.approx(900_000)


def test_storage_limit_reads_the_limit_upstash_reports() -> None:
    # A pay-as-you-go database whose reported db_disk_threshold is 1 GiB, at 0.9 GB: flagged
    # (pay-as-you-go alone has no published size to check against).
    store = new_store()
    insert(store, "usage", _redis("a", "capped", "Pay as You Go", 1000, 0.9))
    insert(
        store,
        "upstash_databases",
        [{"provider": "upstash", "endpoint": "redis/stats",
          "fetched_at": datetime(2025, 1, 15, tzinfo=UTC), "database_id": "a",
          "metadata": "{}", "db_disk_threshold": 2**30}],
    )  # fmt: skip
    [c] = upstash_plans.storage_limit(_ctx(store))
    assert c.evidence["plan_gb"] == pytest.approx(1.0)
