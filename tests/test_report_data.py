"""What the report charts: each series checked against the store it comes from."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from contribux_costs import CostOptimizer
from contribux_costs.focus.reconcile import reconcile
from contribux_costs.focus.summary import month_total, provider_totals
from contribux_costs.periods import Month
from contribux_costs.report import data as rd
from contribux_costs.report import views as rv
from contribux_costs.store import Store, open_store
from tests.report_helpers import demo_db

JAN = Month.parse("2025-01")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = demo_db(tmp_path_factory.mktemp("rd") / "demo.duckdb")
    return open_store(path, read_only=True)


def test_monthly_totals_match_the_month_total(store: Store) -> None:
    monthly = rd.monthly_totals(store, JAN)
    assert set(monthly["month"].to_list()) == {"2024-12", "2025-01"}
    jan = monthly.filter(pl.col("month") == "2025-01")["cost"].sum()
    # The month total shown is the sum of the provider rows, each rounded to the cent first.
    assert abs(Decimal(str(jan)) - month_total(store, JAN)) <= Decimal("0.02")
    assert set(monthly["provider"].to_list()) == {"openai", "vercel", "neon", "upstash"}


def test_daily_total_covers_every_day_and_sums(store: Store) -> None:
    daily = rd.daily_total(store, JAN).filter(pl.col("date") >= JAN.first_day)
    assert daily.height == JAN.days
    assert abs(daily["value"].sum() - float(month_total(store, JAN))) < 0.01


def test_next_month_forecast_covers_next_month_with_ordered_bounds(store: Store) -> None:
    nm = CostOptimizer(store).analyze_usage(JAN).next_month_forecast
    assert nm is not None and nm.month == "2025-02"
    assert [d.date for d in nm.daily] == Month.parse("2025-02").dates()
    assert all(d.lower_usd <= d.point_usd <= d.upper_usd for d in nm.daily)
    assert nm.lower_usd <= nm.point_usd <= nm.upper_usd
    assert nm.backtest_error_pct is not None and 0 <= nm.backtest_error_pct < 100


def test_top_models_fold_dated_ids_and_sum_to_openai_cost(store: Store) -> None:
    models = rd.top_models(store, JAN)
    names = models["model"].to_list()
    assert names[0] == "gpt-4o" and "gpt-4o-mini" in names
    assert not [n for n in names if n.endswith(("-08-06", "-07-18"))]
    assert models["cost"].to_list() == sorted(models["cost"].to_list(), reverse=True)
    openai = provider_totals(store, JAN).filter(pl.col("provider") == "openai")["cost"][0]
    assert abs(models["cost"].sum() - float(openai)) < 0.01


def test_hit_ratios_per_layer_are_ratios_and_show_the_weak_cache(store: Store) -> None:
    ratios = rd.hit_ratios_daily(store, JAN)
    assert {"redis", "openai_prompt", "postgres_buffer"} <= set(ratios["layer"].to_list())
    assert ratios["ratio"].drop_nulls().is_between(0, 1).all()
    month = ratios.group_by("subject").agg(pl.col("hits").sum() / pl.col("lookups").sum())
    by = dict(zip(month["subject"].to_list(), month["hits"].to_list(), strict=True))
    assert by["contribux-vector-cache"] < 0.7 < 0.9 < by["contribux-repos-cache"]


def test_slowest_queries_ordered_by_time_with_shares(store: Store) -> None:
    slow = rd.slowest_queries(store, JAN)
    hours = slow["total hours"].to_list()
    assert slow.height == 10 and hours == sorted(hours, reverse=True)
    assert 0 < slow["share %"].sum() <= 100.0001
    assert "$1" in " ".join(slow["query"].to_list())  # normalized text, no parameters


def test_first_screen_answers_the_four_questions(store: Store) -> None:
    result = CostOptimizer(store).analyze_usage(JAN)
    screen = rv.first_screen(store, JAN, result)
    labels = [k for k, _ in screen.kpis]
    assert labels[0] == "total 2025-01" and screen.kpis[0][1] == f"${month_total(store, JAN):,}"
    assert any(k.startswith("projected 2025-02") for k in labels)
    savings = screen.top_recommendations["saving / month"].to_list()
    assert savings == sorted(savings, reverse=True) and len(savings) >= 5
    assert "WAPE" in screen.forecast_text and screen.alerts.height == len(result.alerts)


def test_reconciliation_table_flags_the_planted_line_item(store: Store) -> None:
    table = rv.recon_table(reconcile(store, JAN))
    planted = table.filter(pl.col("item").str.contains("file search"))
    assert planted.height == 1 and planted["flagged"][0]
    # The web-search line is explained by its collected usage (issue 15): not flagged.
    web = table.filter(pl.col("item") == "web-search")
    assert web.height == 1 and not web["flagged"][0]
    assert table.filter(pl.col("kind") == "quantity").height == 0  # all volumes agree


def test_empty_database_gives_empty_series(tmp_path: Path) -> None:
    empty = open_store(tmp_path / "e.duckdb")
    assert rd.daily_total(empty, JAN).height == 0
    assert rd.hit_ratios_daily(empty, JAN).height == 0


def test_a_day_collected_hourly_and_daily_is_counted_once(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    store = open_store(tmp_path / "g.duckdb")
    day = datetime(2025, 1, 5, tzinfo=UTC)
    rows = [(day, day + timedelta(days=1), "daily", 24.0)] + [
        (day + timedelta(hours=h), day + timedelta(hours=h + 1), "hourly", 1.0) for h in range(24)
    ]
    frame = pl.DataFrame(
        {
            "provider": "neon",
            "endpoint": "e",
            "service": "compute",
            "resource_id": "p1",
            "resource_name": "contribux-prod",
            "metric": "cu_hours",
            "unit": "CU-hours",
            "period_start": [r[0] for r in rows],
            "period_end": [r[1] for r in rows],
            "granularity": [r[2] for r in rows],
            "value": [r[3] for r in rows],
            "billing_date": day.date(),
        }
    )
    with store.transaction() as con:
        store.insert_frame(con, "usage", frame)
    daily = rd.usage_daily(store, JAN, "neon", "cu_hours")
    assert daily["value"].to_list() == [24.0]  # not 48


def test_first_screen_carries_the_forecast_it_describes(store: Store) -> None:
    result = CostOptimizer(store).analyze_usage(JAN)
    screen = rv.first_screen(store, JAN, result)
    nm = result.next_month_forecast
    assert nm is not None and screen.forecast.height == len(nm.daily)
    assert f"${nm.point_usd:,.2f}" in screen.forecast_text
    assert f"{nm.backtest_error_pct:.0f}%" in screen.forecast_text
    assert screen.history.height == 56 and screen.partial.height == 0  # a closed month
