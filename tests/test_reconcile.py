"""Reconciliation: computed (usage × list price) vs billed, and the demo's planted variance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pricing_support import charge, money, usage, write

from contribux_costs import pipeline as runner
from contribux_costs.config import load_settings
from contribux_costs.errors import ConfigError
from contribux_costs.focus import build_focus, export_focus
from contribux_costs.focus.reconcile import reconcile
from contribux_costs.periods import Month
from contribux_costs.store import Store, open_store

SEP = Month.parse("2025-09")
D1 = date(2025, 9, 1)
JAN = Month.parse("2025-01")


def _openai_store(billed: str) -> Store:
    s = open_store(":memory:")
    # 1M gpt-4o output tokens × $10/1M = $10.00 computed.
    write(
        s,
        "usage",
        [
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D1,
                1_000_000,
                service="completions",
                resource_name="gpt-4o-2024-08-06",
            )
        ],
    )
    write(s, "charges", [charge("openai", D1, billed, line_item="gpt-4o-2024-08-06, output")])
    return s


def _with_quantity(billed_qty: str) -> Store:
    s = open_store(":memory:")
    write(
        s,
        "usage",
        [
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D1,
                1_000_000,
                service="completions",
                resource_name="gpt-4o-2024-08-06",
            )
        ],
    )
    line = "gpt-4o-2024-08-06, output"
    write(s, "charges", [charge("openai", D1, "10", line_item=line, qty=billed_qty, unit="tokens")])
    return s


def test_costs_quantity_per_line_item_is_compared_with_usage() -> None:
    # Dollars agree ($10 = 1M output tokens at $10/1M), but the Costs API says 1.2M tokens.
    rows = {(r.kind, r.key): r for r in reconcile(_with_quantity("1200000"), SEP).rows}
    assert not rows[("matched", "gpt-4o")].flagged
    q = rows[("quantity", "gpt-4o-2024-08-06, output")]
    assert (q.billed_quantity, q.usage_quantity, q.quantity_unit) == (
        Decimal("1200000"),
        Decimal("1000000"),
        "tokens",
    )
    assert q.flagged and q.variance_pct == pytest.approx(20.0)
    assert q.computed_usd is None and q.billed_usd == 0  # volumes: never in a money total
    assert "($10.00): billed 1,200,000 vs usage 1,000,000 tokens" in q.detail
    same = {(r.kind, r.key): r for r in reconcile(_with_quantity("1000000"), SEP).rows}
    assert not same[("quantity", "gpt-4o-2024-08-06, output")].flagged


def test_threshold_is_configurable() -> None:
    # Billed $10.15 vs computed $10.00: +$0.15 = +1.5%: flagged at 1%, not at the default 2%.
    s = _openai_store("10.15")
    row = next(r for r in reconcile(s, SEP).rows if r.key == "gpt-4o")
    assert (row.kind, row.variance_usd, row.variance_pct, row.flagged) == (
        "matched",
        Decimal("0.15"),
        pytest.approx(1.5),
        False,
    )
    assert next(r for r in reconcile(s, SEP, threshold_pct=1.0).rows if r.key == "gpt-4o").flagged


def test_negative_threshold_is_rejected() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        reconcile(open_store(":memory:"), SEP, threshold_pct=-1)


def test_openai_compares_only_billed_days() -> None:
    # Day 2 has usage ($10) but no Costs row yet: an estimate, not a variance.
    s = _openai_store("10.00")
    write(
        s,
        "usage",
        [
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D1 + timedelta(days=1),
                1_000_000,
                service="completions",
                resource_name="gpt-4o-2024-08-06",
            )
        ],
    )
    rows = {r.key: r for r in reconcile(s, SEP).rows}
    assert rows["gpt-4o"].computed_usd == Decimal("10")
    assert not rows["gpt-4o"].flagged


def test_vercel_list_price_with_allowance_vs_billed() -> None:
    # Edge Requests: 4M/day × 4 days, 10M included → 6M × $2/1M = $12.00 at list price.
    # Billed $12.00 → matched; Function Invocations billed with no usage → unexplained.
    s = open_store(":memory:")
    write(
        s,
        "usage",
        [
            usage(
                "vercel",
                "consumed_quantity",
                "Requests",
                D1 + timedelta(days=i),
                4_000_000,
                service="Edge Requests",
            )
            for i in range(4)
        ],
    )
    write(
        s,
        "charges",
        [
            charge("vercel", D1 + timedelta(days=2), "4.00", service="Edge Requests"),
            charge("vercel", D1 + timedelta(days=3), "8.00", service="Edge Requests"),
            charge("vercel", D1, "0.90", service="Function Invocations"),
            charge("vercel", D1, "60", service="Pro Seats", category="Purchase"),
        ],
    )
    rows = {r.key: r for r in reconcile(s, SEP).rows}
    assert rows["Edge Requests"].kind == "matched" and rows["Edge Requests"].variance_usd == 0
    assert not rows["Edge Requests"].flagged
    assert rows["Function Invocations"].kind == "unexplained_billed"
    assert rows["Function Invocations"].flagged
    assert rows["Pro Seats"].kind == "not_usage" and not rows["Pro Seats"].flagged


def test_upstash_computed_vs_provider_estimate() -> None:
    # 1M pay-as-you-go commands = 10 × $0.20 = $2.00 computed; Upstash's running estimate
    # (daily deltas of total_monthly_billing) says $1.50 + $0.60 = $2.10: +5% → flagged.
    s = open_store(":memory:")
    payg = {"database_type": "Pay as You Go", "region": "us-east-1"}
    write(
        s,
        "usage",
        [
            usage(
                "upstash", "commands", "commands", D1, 1_000_000, dims=payg, resource_name="cache"
            ),
            usage(
                "upstash", "billing_usd_estimate", "USD", D1, 1.5, dims=payg, resource_name="cache"
            ),
            usage(
                "upstash",
                "billing_usd_estimate",
                "USD",
                D1 + timedelta(days=1),
                0.6,
                dims=payg,
                resource_name="cache",
            ),
        ],
    )
    rows = {r.key: r for r in reconcile(s, SEP).rows if r.provider == "upstash"}
    assert rows["cache"].computed_usd == Decimal("2")
    assert rows["cache"].billed_usd == Decimal("2.1")
    assert rows["cache"].variance_pct == pytest.approx(5.0)
    assert rows["cache"].flagged and rows["(total)"].kind == "total"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The demo's January 2025 from every demo source, through the real collectors."""
    store = open_store(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    runner.collect(load_settings(), store, JAN.window)
    return store


def test_demo_flags_the_planted_variance(demo: Store) -> None:
    rec = reconcile(demo, JAN)
    flagged = {(r.provider, r.key): r for r in rec.flagged}
    # The web-search line is explained by collected web_search_calls usage (issue 15): 350
    # calls a day x 31 days at $10 per 1K calls = $108.50, computed = billed.
    assert ("openai", "web search tool calls") not in flagged
    planted = flagged[("openai", "assistants api | file search")]
    # The new planted variance: $1.25 a day, 31 days = $38.75 billed that no usage explains.
    assert planted.kind == "unexplained_billed"
    assert planted.billed_usd == Decimal("38.75")
    families = [r for r in rec.rows if r.provider == "openai" and r.kind == "matched"]
    assert {r.key for r in families} == {
        "gpt-4o",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "web-search",
    }
    web = next(r for r in families if r.key == "web-search")
    assert web.computed_usd == web.billed_usd == Decimal("108.50")
    # The Costs API's quantity per line item agrees with the collected usage volumes.
    quantities = {r.key: r for r in rec.rows if r.kind == "quantity"}
    assert quantities["web search tool calls"].billed_quantity == Decimal(350 * 31)
    assert quantities["web search tool calls"].usage_quantity == Decimal(350 * 31)
    assert not any(r.flagged for r in quantities.values())
    assert not any(r.flagged for r in families)  # list prices explain every model line
    # Vercel (list price with allowances) and Upstash (vs its own estimate) reconcile.
    others = [r for r in rec.rows if r.provider in ("vercel", "upstash")]
    assert {r.provider for r in others} == {"vercel", "upstash"}
    assert not any(r.flagged for r in others)
    frame = rec.frame()
    assert frame.schema["billed_usd"] == pl.Decimal(38, 12)
    assert frame.filter(pl.col("flagged")).height == len(rec.flagged)


def test_demo_export_sums_to_the_table_to_the_cent(demo: Store, tmp_path: Path) -> None:
    build = build_focus(demo, JAN)
    result = export_focus(demo, JAN, tmp_path / "focus.parquet", rebuild=False)
    table = demo.scalar(
        "SELECT sum(BilledCost) FROM focus_charges WHERE x_billing_date >= DATE '2025-01-01' "
        "AND x_billing_date < DATE '2025-02-01'"
    )
    exported = pl.read_parquet(tmp_path / "focus.parquet")
    assert money(exported["BilledCost"].sum()) == money(table) == money(build.billed_cost)
    assert result.rows == exported.height == build.rows
    assert exported["x_cost_source"].null_count() == 0
    assert exported["x_price_entry"].null_count() == 0
    assert (exported["x_price_entry"].str.len_chars() > 0).all()
    assert exported["x_demo"].all()
