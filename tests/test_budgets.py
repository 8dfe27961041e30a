"""Budgets as a view: actuals and forecast, the burn-down, the run-out day at the current pace, and
the 50/80/100% budget-level alerts (the same ones for provider, environment and owner budgets)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from contribux_costs import CostOptimizer
from contribux_costs.analysis.rulebase import Config
from contribux_costs.models import AnalysisResult, BudgetView
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store
from tests.engine_support import demo_settings

JAN = Month.parse("2025-01")
AS_OF = date(2025, 1, 20)  # an open month: 19 days observed, 12 forecast


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(tmp_path_factory.mktemp("budgets") / "demo.duckdb")
    assert collect(demo_settings(), s, JAN.window).ok
    yield s
    s.close()


def _run(store: Store, **budgets: object) -> AnalysisResult:
    data = copy.deepcopy(Config.load().data)
    for key, value in budgets.items():
        section, _, name = key.partition("__")
        if name:
            data["budgets"][section][name] = value
        else:
            data["budgets"][section] = value
    return CostOptimizer(store, Config(data)).analyze_usage(JAN, as_of=AS_OF)


def _view(result: AnalysisResult, name: str) -> BudgetView:
    return next(v for v in result.budgets if v.name == name)


def test_burn_down_is_actual_then_forecast_to_the_projection(store: Store) -> None:
    result = _run(store)
    total = _view(result, "total")
    assert len(total.burn_down) == 31
    observed = [b for b in total.burn_down if b.actual_cumulative_usd is not None]
    assert [b.day for b in observed] == [JAN.first_day + timedelta(days=i) for i in range(19)]
    assert observed[-1].actual_cumulative_usd == total.actual_usd
    last = total.burn_down[-1]
    assert last.forecast_cumulative_usd == pytest.approx(total.projected_usd, abs=Decimal("0.01"))
    assert total.projected_usd == pytest.approx(
        result.projected_monthly_cost.projected_usd, abs=Decimal("0.05")
    )
    for b in total.burn_down:
        spent = b.actual_cumulative_usd or b.forecast_cumulative_usd
        assert spent is not None
        assert b.remaining_usd == total.budget_usd - spent


def test_run_out_day_is_the_day_actuals_cross_the_budget(store: Store) -> None:
    result = _run(store, openai=500.0)
    view = _view(result, "openai")
    crossing = next(
        b.day
        for b in view.burn_down
        if b.actual_cumulative_usd is not None and b.actual_cumulative_usd >= 500
    )
    assert view.run_out_date == crossing
    assert view.levels_reached == [0.5, 0.8, 1.0]
    [alert] = [a for a in result.alerts if a.rule_id == "budget.openai.actual"]
    assert alert.severity == "high"


def test_run_out_day_at_the_current_pace(store: Store) -> None:
    base = _view(_run(store), "development")
    observed = [b for b in base.burn_down if b.actual_cumulative_usd is not None]
    daily = [
        (b.actual_cumulative_usd or 0) - (a.actual_cumulative_usd or 0)
        for a, b in zip(observed[-8:], observed[-7:], strict=False)
    ]
    pace = sum(daily, Decimal(0)) / 7
    budget = base.actual_usd + pace * Decimal("2.5")  # runs out on the third day from the last
    view = _view(_run(store, environments__development=float(budget)), "development")
    assert view.run_out_date == observed[-1].day + timedelta(days=3)
    assert _view(_run(store), "production").run_out_date is None  # not within the month


def test_environment_and_owner_budgets_raise_the_same_level_alerts(store: Store) -> None:
    result = _run(store, environments__preview=40.0, owners__docs=1000.0)
    preview = _view(result, "preview")
    assert preview.scope == "environment" and preview.used_share >= 1.0
    ids = {a.rule_id: a.severity for a in result.alerts}
    assert ids["budget.environment.preview.actual"] == "high"
    assert ids["budget.environment.preview.forecast"] == "high"
    assert not any(i.startswith("budget.owner.docs.") for i in ids)
    assert _view(result, "docs").levels_reached == []
