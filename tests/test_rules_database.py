"""Neon and Postgres rules, each on a small store with hand-computed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contribux_costs.analysis import cache, database, neon_compute
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.focus.build import build_focus
from contribux_costs.periods import Month
from contribux_costs.store import Store
from tests.engine_support import insert, month_days, new_store, usage_row

JAN = Month(2025, 1)
DAYS = month_days(2025, 1)


def _ctx(store: Store) -> RuleContext:
    return RuleContext(store, JAN, Config.load(), date(2025, 3, 1))


def _neon(
    pid: str, name: str, metric: str, values: list[float], unit: str = "x"
) -> list[dict[str, Any]]:
    return [
        usage_row(
            "neon", "compute", metric, v, d, pid, name, unit, "daily", dimensions={"plan": "launch"}
        )
        for d, v in zip(DAYS, values, strict=False)
    ]


def test_branch_sprawl_prices_branch_hours_beyond_nine_per_hour() -> None:
    # 25 child branches alive all month: 600 branch-hours a day, Launch frees 9 × 24 = 216
    # (usage-calculations.md); 384 × 31 = 11904 billable branch-hours / 744 = 16 branch-months
    # × $1.50 = $24.00 (the old monthly netting of 10 branch-months said $22.50).
    store = new_store()
    insert(store, "usage", _neon("p1", "prod", "extra_branch_months", [600 / 744] * 31))
    [c] = database.branch_sprawl(_ctx(store))
    assert c.savings_usd == pytest.approx(Decimal("24"), abs=Decimal("0.0001"))
    assert c.pool == "neon:branches:p1"
    assert c.evidence["avg_branches_alive"] == pytest.approx(25.0)


def test_branch_sprawl_quiet_within_allowance() -> None:
    store = new_store()
    insert(store, "usage", _neon("p1", "prod", "extra_branch_months", [8 * 24 / 744] * 31))
    assert database.branch_sprawl(_ctx(store)) == []


def test_branch_cleanup_names_the_oldest_child_branches() -> None:
    store = new_store()
    insert(store, "usage", _neon("p1", "prod", "extra_branch_months", [600 / 744] * 31))
    at = datetime(2025, 1, 31, 23, tzinfo=UTC)
    insert(
        store,
        "neon_branches",
        [
            {"provider": "neon", "endpoint": "projects/settings", "fetched_at": at,
             "project_id": "p1", "branch_id": f"b{i}", "branch_name": f"preview/pr-{i}",
             "parent_id": "root", "is_default": False,
             "created_at": datetime(2025, 1, 1 + i, tzinfo=UTC), "metadata": "{}"}
            for i in (5, 2, 9)
        ],
    )  # fmt: skip
    [c] = database.branch_sprawl(_ctx(store))
    assert c.evidence["oldest_branches"] == "preview/pr-2, preview/pr-5, preview/pr-9"
    assert "preview/pr-2" in c.action


def _computes(rows: list[tuple[str, str, int, float]]) -> list[dict[str, Any]]:
    at = datetime(2025, 1, 20, tzinfo=UTC)
    return [
        {"provider": "neon", "endpoint": "projects/settings", "fetched_at": at, "project_id": pid,
         "compute_id": cid, "branch_id": f"br-{pid}", "compute_type": "read_write",
         "autoscaling_limit_min_cu": cu, "autoscaling_limit_max_cu": cu,
         "suspend_timeout_seconds": suspend, "metadata": "{}"}
        for pid, cid, suspend, cu in rows
    ]  # fmt: skip


def _hourly(pid: str, name: str, cu: list[float]) -> list[dict[str, Any]]:
    return [
        usage_row("neon", "compute", "cu_hours", v, d, pid, name, "CU-hours", "hourly", h,
                  dimensions={"plan": "launch"})
        for d in DAYS
        for h, v in enumerate(cu)
    ]  # fmt: skip


def test_scale_to_zero_from_the_suspend_setting_and_never_production() -> None:
    store = new_store()
    insert(store, "usage", _neon("stg", "contribux-staging", "cu_hours", [6.0] * 31))
    insert(store, "usage", _neon("prod", "contribux-prod", "cu_hours", [6.0] * 31))
    # dev: configured to suspend (300 s) and running 8 h a day: already scales to zero.
    insert(store, "usage", _hourly("dev", "contribux-dev", [0.25] * 8 + [0.0] * 16))
    insert(
        store,
        "neon_computes",
        _computes([("stg", "ep-stg", -1, 0.25), ("prod", "ep-prod", -1, 0.25),
                   ("dev", "ep-dev", 300, 0.25)]),
    )  # fmt: skip
    [c] = neon_compute.scale_to_zero(_ctx(store))
    assert c.subject == "ep-stg"  # not the production compute, not the one that suspends
    cost = Decimal("186") * Decimal("0.14")  # 0.25 CU × 744 h at the Jan-2025 price book rate
    assert c.basis_usd == cost
    assert c.savings_usd == pytest.approx(cost * Decimal("0.67"))
    assert c.evidence["environment"] == "staging"


def test_scale_to_zero_for_production_only_when_configured() -> None:
    store = new_store()
    insert(store, "usage", _neon("prod", "contribux-prod", "cu_hours", [6.0] * 31))
    insert(store, "neon_computes", _computes([("prod", "ep-prod", -1, 0.25)]))
    assert neon_compute.scale_to_zero(_ctx(store)) == []
    cfg = Config.load()
    cfg.data["neon"]["scale_to_zero_allow_production"] = True
    [c] = neon_compute.scale_to_zero(RuleContext(store, JAN, cfg, date(2025, 3, 1)))
    assert c.evidence["environment"] == "production"


def test_scale_to_zero_without_settings_is_not_guessed_from_daily_totals() -> None:
    # Daily CU-hours alone cannot tell "never suspends" from "busy": no advice, a note instead.
    store = new_store()
    insert(store, "usage", _neon("stg", "contribux-staging", "cu_hours", [6.0] * 31))
    ctx = _ctx(store)
    assert neon_compute.scale_to_zero(ctx) == []
    assert any("compute settings" in n for n in ctx.notes)


def test_storage_growth_fires_above_monthly_rate() -> None:
    store = new_store()
    grow = [(10 + i * 0.5) / 31 for i in range(31)]  # 10 GB → 25 GB in a month
    insert(store, "usage", _neon("p1", "prod", "root_branch_gb_months", grow))
    insert(store, "usage", _neon("p2", "flat", "root_branch_gb_months", [10 / 31] * 31))
    [c] = database.storage_growth(_ctx(store))
    assert c.subject == "p1"
    assert c.savings_usd == pytest.approx(Decimal(15) * Decimal("0.35"))


def test_storage_growth_in_february_uses_the_744_hour_month() -> None:
    # A day holding G GB is G × 24 / 744 GB-months (Neon's 744-hour month, any month): 20 GB on
    # Feb 1 → 34 GB on Feb 28 reads as 20 → 34, not 28/31 of it (the old 10%-low reading).
    store = new_store()
    feb = month_days(2025, 2)
    level = [20 + 0.5 * i for i in range(28)]
    rows = [
        usage_row("neon", "storage", "root_branch_gb_months", g * 24 / 744, d, "p1", "prod",
                  "GB-months", "daily", dimensions={"plan": "launch"})
        for d, g in zip(feb, level, strict=True)
    ]  # fmt: skip
    insert(store, "usage", rows)
    [c] = database.storage_growth(
        RuleContext(store, Month(2025, 2), Config.load(), date(2025, 3, 1))
    )
    assert c.evidence["gb_start"] == pytest.approx(20.0)
    assert c.evidence["gb_end"] == pytest.approx(33.5)
    assert c.savings_usd == pytest.approx(Decimal("13.5") * Decimal("0.35"))


def _pg_snapshots(store: Store, slow: int, fast: int) -> None:
    """Two snapshots a month apart: ``slow`` statements at 2 s mean, ``fast`` at 5 ms."""
    rows = []
    for i, when in enumerate([datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC)]):
        for q in range(slow + fast):
            calls = 100 * i
            mean = 2000.0 if q < slow else 5.0
            rows.append(
                {
                    "provider": "postgres", "endpoint": "pg_stat_statements", "fetched_at": when,
                    "server": "db.test:5432",
                    "dbid": 1, "datname": "neondb", "userid": 10, "rolname": "app", "queryid": q,
                    "toplevel": True, "query": f"SELECT {q}", "calls": calls,
                    "total_exec_time": calls * mean, "mean_exec_time": mean, "rows": calls,
                    "shared_blks_hit": 90 * calls, "shared_blks_read": 10 * calls,
                    "stats_reset": datetime(2024, 12, 1, tzinfo=UTC),
                }
            )  # fmt: skip
    insert(store, "pg_statements_snapshots", rows)


def test_slow_queries_guide_rule_over_ten() -> None:
    store = new_store()
    insert(store, "usage", _neon("prod", "prod", "cu_hours", [10.0] * 31))
    _pg_snapshots(store, slow=11, fast=5)
    [c] = database.slow_queries(_ctx(store))
    compute = Decimal(310) * Decimal("0.14")
    assert c.savings_usd == compute * Decimal("0.2") and c.basis_usd == compute
    assert c.evidence["slow_queries"] == 11


def test_slow_queries_quiet_at_ten() -> None:
    store = new_store()
    insert(store, "usage", _neon("prod", "prod", "cu_hours", [10.0] * 31))
    _pg_snapshots(store, slow=10, fast=5)
    assert database.slow_queries(_ctx(store)) == []


def test_slowest_queries_share_of_time() -> None:
    store = new_store()
    insert(store, "usage", _neon("prod", "prod", "cu_hours", [10.0] * 31))
    _pg_snapshots(store, slow=3, fast=20)
    [c] = database.slowest_queries(_ctx(store))
    share = 3 * 2000 / (3 * 2000 + 20 * 5)  # the top 5: three slow ones, two fast ones
    top = (3 * 2000 + 2 * 5) / (3 * 2000 + 20 * 5)
    assert c.evidence["top_share_of_time"] == pytest.approx(top)
    assert c.evidence["q1_share"] == pytest.approx(share / 3)
    compute = Decimal(310) * Decimal("0.14")
    assert float(c.savings_usd) == pytest.approx(float(compute) * top * 0.3)


def test_no_postgres_data_is_a_note() -> None:
    ctx = _ctx(new_store())
    assert database.slow_queries(ctx) == []
    assert "no postgres data for the month" in ctx.notes


def test_buffer_cache_under_95_percent() -> None:
    store = new_store()
    rows = []
    for i, when in enumerate([datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC)]):
        rows.append(
            {
                "provider": "postgres", "endpoint": "pg_stat_database", "fetched_at": when,
                "server": "db.test:5432",
                "datid": 5, "datname": "neondb", "numbackends": 3, "xact_commit": 10 * i,
                "xact_rollback": 0, "blks_read": 1000 * i, "blks_hit": 9000 * i,
                "stats_reset": datetime(2024, 12, 1, tzinfo=UTC),
            }
        )  # fmt: skip
    insert(store, "pg_database_snapshots", rows)
    ctx = _ctx(store)
    [finding] = cache.postgres_findings(ctx)
    assert finding.hit_ratio == pytest.approx(0.9)
    [c] = cache.buffer_cache(ctx)
    assert c.savings_usd == 0 and c.category == "cache"
    assert c.evidence["blocks_read"] == pytest.approx(1000)


def test_database_project_prefers_configured_then_largest() -> None:
    store = new_store()
    insert(store, "usage", _neon("a", "small", "cu_hours", [1.0] * 31))
    insert(store, "usage", _neon("b", "large", "cu_hours", [5.0] * 31))
    ctx = _ctx(store)
    assert database.database_project(ctx)[0] == "b"  # type: ignore[index]
    ctx.cfg.data["neon"]["database_project"] = "small"
    ctx.cache.clear()
    assert database.database_project(ctx)[0] == "a"  # type: ignore[index]


def test_granularities_are_not_double_counted() -> None:
    store = new_store()
    rows = _neon("p", "prod", "cu_hours", [24.0] * 31)
    hourly = [
        usage_row("neon", "compute", "cu_hours", 1.0, DAYS[0], "p", "prod", "CU-hours", "hourly", h)
        for h in range(24)
    ]
    insert(store, "usage", rows + hourly)
    days = database.neon_daily(_ctx(store))
    assert days["cu_hours"].sum() == pytest.approx(24.0 * 31)


def test_compute_overprovisioned_on_hourly_floor_above_smallest() -> None:
    store = new_store()
    rows = [
        usage_row(
            "neon",
            "compute",
            "cu_hours",
            1.0 if h < 20 else 2.0,
            d,
            "p",
            "prod",
            "CU-hours",
            "hourly",
            h,
        )
        for d in DAYS
        for h in range(24)
    ]
    insert(store, "usage", rows)
    [c] = neon_compute.compute_overprovisioned(_ctx(store))
    hours = 20 * 31  # at the 1.0 CU floor
    assert c.evidence["hours_at_floor"] == hours
    # (1.0 − 0.25) CU × 620 h at the price book's Jan-2025 $0.14 per CU-hour
    assert float(c.savings_usd) == pytest.approx(0.75 * hours * 0.14)


def test_compute_overprovisioned_saves_floor_hours_at_the_billed_rate() -> None:
    # Issue 14 item 9: 600 h at 1 CU + 100 h at 4 CU on Launch ($0.106): the bill is
    # 1000 CU-hours = $106. Lowering the 1 CU floor to 0.25 saves 0.75 × 600 × 0.106 = $47.70
    # (the old rule divided the whole $106 over the 600 floor hours: $79.50).
    store = new_store()
    jan26 = Month(2026, 1)
    days = month_days(2026, 1)
    rows = [
        usage_row("neon", "compute", "cu_hours", 1.0 if i < 600 else 4.0, days[i // 24], "p",
                  "prod", "CU-hours", "hourly", i % 24, dimensions={"plan": "launch"})
        for i in range(700)
    ]  # fmt: skip
    insert(store, "usage", rows)
    build_focus(store, jan26)  # the bill: the same priced FOCUS rows the rule reads
    ctx = RuleContext(store, jan26, Config.load(), date(2026, 3, 1))
    assert database.neon_sku_costs(ctx)[("p", "neon/compute")][0] == Decimal("106")
    [c] = neon_compute.compute_overprovisioned(ctx)
    assert c.savings_usd == pytest.approx(Decimal("47.70"))


def test_compute_at_smallest_size_is_not_overprovisioned() -> None:
    store = new_store()
    rows = [
        usage_row("neon", "compute", "cu_hours", 0.25, d, "p", "prod", "CU-hours", "hourly", h)
        for d in DAYS
        for h in range(24)
    ]
    insert(store, "usage", rows)
    assert neon_compute.compute_overprovisioned(_ctx(store)) == []


def test_sql_statement_deltas_agree_with_the_collector_deltas() -> None:
    from contribux_costs.collect.postgres import deltas as pgd

    store = new_store()
    rows = []
    base = datetime(2024, 12, 31, 23, tzinfo=UTC)  # the baseline before the month
    for i in range(6):
        when = base + (datetime(2025, 1, 2, tzinfo=UTC) - datetime(2025, 1, 1, tzinfo=UTC)) * i * 5
        for q in range(3):
            if q == 2 and i < 2:
                continue  # a statement that appears later: a new entry
            calls = 100 * (i + 1) * (q + 1)
            if q == 0 and i >= 3:
                calls = 40 * (i - 2)  # counters went down: a reset
            reset = datetime(2024, 12, 1, tzinfo=UTC)
            if q == 1 and i >= 4:
                reset = datetime(2025, 1, 20, tzinfo=UTC)  # stats_reset changed
            rows.append(
                {
                    "provider": "postgres", "endpoint": "pg_stat_statements", "fetched_at": when,
                    "server": "db.test:5432", "dbid": 1, "datname": "neondb", "userid": 10,
                    "rolname": "app", "queryid": q, "toplevel": True, "query": f"SELECT {q}",
                    "calls": calls, "total_exec_time": calls * 2.5, "mean_exec_time": 2.5,
                    "rows": calls, "shared_blks_hit": 9 * calls, "shared_blks_read": calls,
                    "stats_reset": reset,
                }
            )  # fmt: skip
    insert(store, "pg_statements_snapshots", rows)
    mine = pgd.query_summary(database.statement_deltas(_ctx(store))).sort("queryid")
    theirs = pgd.query_summary(pgd.load_statement_deltas(store, JAN.window)).sort("queryid")
    cols = ["queryid", "calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read"]
    assert mine.select(cols).to_dicts() == theirs.select(cols).to_dicts()
    assert mine["calls"].sum() > 0


def test_one_granularity_window_only_where_a_provider_mixes_them() -> None:
    from contribux_costs.analysis.rulebase import ONE_GRAIN, usage_cte

    store = new_store()
    insert(store, "usage", _neon("p", "prod", "cu_hours", [24.0] * 31))
    insert(
        store,
        "usage",
        [
            usage_row(
                "neon", "compute", "cu_hours", 1.0, DAYS[0], "p", "prod", "CU-hours", "hourly", 3
            )
        ],
    )
    insert(store, "usage", [usage_row("upstash", "redis", "hits", 1.0, DAYS[0], "db", "x")])
    ctx = _ctx(store)
    assert ctx.mixed_grain == {"neon"}
    sql = f"WITH {usage_cte('x')} SELECT 1"
    assert ONE_GRAIN in ctx.usage_sql(sql, "neon")
    assert ONE_GRAIN not in ctx.usage_sql(sql, "upstash")
    assert ONE_GRAIN in ctx.usage_sql(sql)
