"""Allocation: environment and owner on every FOCUS row by ordered rules, shared costs split
exactly with FOCUS 1.3's Allocated* columns, and the engine's allocation summing to the cent."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contribux_costs import CostOptimizer
from contribux_costs.analysis.allocation import round_parts
from contribux_costs.errors import ConfigError
from contribux_costs.focus import export_focus
from contribux_costs.focus.allocation import allocation_rules
from contribux_costs.focus.schema import FOCUS_COLUMNS
from contribux_costs.focus.split import allocate, split_exact
from contribux_costs.models import AnalysisResult
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store
from tests.engine_support import demo_settings

JAN = Month.parse("2025-01")
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, AnalysisResult]]:
    store = open_store(tmp_path_factory.mktemp("alloc") / "demo.duckdb")
    assert collect(demo_settings(), store, JAN.window).ok
    with CostOptimizer(store) as optimizer:
        yield store, optimizer.analyze_usage(JAN)
    store.close()


# -- exact splits -------------------------------------------------------------------------------
@given(
    st.decimals(min_value=-10_000, max_value=10_000, places=6),
    st.lists(st.decimals(min_value="0.001", max_value=1000, places=3), min_size=1, max_size=9),
)
def test_split_exact_sums_to_the_origin_and_stays_within_a_cent(
    amount: Decimal, weights: list[Decimal]
) -> None:
    parts = split_exact(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - amount * w / total) < Decimal("0.02")


def test_split_exact_largest_remainder() -> None:
    # 100.00 in thirds: 33.34 to the first (ties go to the earlier part), 33.33 to the others.
    assert split_exact(Decimal("100"), [Decimal(1)] * 3) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.decimals(-500, 500, places=5)))
def test_round_parts_add_up_to_the_rounded_total(parts: dict[str, Decimal]) -> None:
    rounded = round_parts(parts)
    assert sum(rounded.values(), Decimal(0)) == sum(parts.values(), Decimal(0)).quantize(CENT)


# -- rules and shared splits on a small frame ---------------------------------------------------
def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.from_dicts(rows, schema=FOCUS_COLUMNS)


def _row(provider: str, cost: str, **kw: Any) -> dict[str, Any]:
    c = Decimal(cost)
    return {"x_provider": provider, "BilledCost": c, "EffectiveCost": c, "ListCost": c,
            "ContractedCost": c, "ChargeCategory": "Usage", **kw}  # fmt: skip


def _usage() -> list[dict[str, Any]]:
    tags = '{{"Environment": "{}", "ProjectName": "contribux"}}'
    return [
        _row("vercel", "30", Tags=tags.format("production")),
        _row("vercel", "10", Tags=tags.format("preview")),
    ]


def test_unmatched_rows_are_unallocated_never_guessed() -> None:
    frame = _frame([_row("upstash", "5", ResourceName="mystery-db"), _row("acme", "1")])
    out = allocate(frame, allocation_rules())
    assert out["x_environment"].to_list() == ["unallocated", "unallocated"]
    assert out["x_owner"].to_list() == ["data", "unallocated"]


@pytest.mark.parametrize(
    ("shared", "expected"),
    [
        (
            {"method": "proportional", "basis": {"provider": "vercel", "category": "Usage"}},
            {"production/web": Decimal("75.01"), "preview/web": Decimal("25.00")},
        ),
        (
            {"method": "even", "basis": {"provider": "vercel", "category": "Usage"}},
            {"preview/web": Decimal("50.01"), "production/web": Decimal("50.00")},
        ),
        (
            {"method": "fixed", "targets": [
                {"environment": "production", "owner": "web", "share": 0.7},
                {"environment": "staging", "owner": "qa", "share": 0.3}]},
            {"production/web": Decimal("70.01"), "staging/qa": Decimal("30.00")},
        ),
    ],
)  # fmt: skip
def test_shared_cost_split_methods_keep_the_origin_exact(
    shared: dict[str, Any], expected: dict[str, Decimal]
) -> None:
    rules = allocation_rules(
        {"shared": [{"id": "fee", "provider": "vercel", "category": "Purchase", **shared}]}
    )
    frame = _frame([*_usage(), _row("vercel", "100.01", ChargeCategory="Purchase")])
    out = allocate(frame, rules).filter(pl.col("AllocatedMethodId").is_not_null())
    got = dict(zip(out["AllocatedResourceId"], out["BilledCost"], strict=True))
    assert got == expected
    assert sum(out["ListCost"]) == Decimal("100.01")
    for details, env, owner in out.select(
        "AllocatedMethodDetails", "x_environment", "x_owner"
    ).iter_rows():
        assert json.loads(details)["x_RuleId"] == "fee"
        assert 0 < json.loads(details)["Elements"][0]["AllocatedRatio"] <= 1
        assert f"{env}/{owner}" in expected
    ratios = [json.loads(d)["Elements"][0]["AllocatedRatio"] for d in out["AllocatedMethodDetails"]]
    assert sum(ratios) == pytest.approx(1.0)


def test_fixed_shares_must_sum_to_one() -> None:
    bad = {"id": "x", "method": "fixed", "targets": [
        {"environment": "production", "owner": "a", "share": 0.5}]}  # fmt: skip
    with pytest.raises(ConfigError, match=r"shared\.0.*sum to 1"):
        allocation_rules({"shared": [bad]})


# -- the demo month -----------------------------------------------------------------------------
def test_demo_allocation_adds_up_to_the_month_to_the_cent(
    demo: tuple[Store, AnalysisResult],
) -> None:
    store, result = demo
    alloc = result.allocation
    assert alloc is not None
    total = Decimal(str(store.scalar("SELECT sum(BilledCost) FROM focus_charges"))).quantize(CENT)
    assert alloc.total_usd == total
    assert sum(alloc.by_environment.values()) == total
    assert sum(alloc.by_owner.values()) == total
    for env in ("production", "preview", "staging", "development"):
        assert alloc.by_environment[env] > 0, env
    assert alloc.by_environment["unallocated"] == 0  # shown, and zero for the demo's resources
    assert alloc.by_owner["unallocated"] == 0
    assert sum(alloc.by_provider.values()) == total
    rows = store.query("SELECT x_provider, sum(BilledCost) FROM focus_charges GROUP BY 1").rows()
    for provider, exact in rows:
        envs = alloc.by_provider_environment[provider]
        assert sum(envs.values()) == alloc.by_provider[provider]
        assert abs(alloc.by_provider[provider] - Decimal(str(exact))) < CENT


def test_demo_team_plan_fee_is_split_across_vercel_usage(
    demo: tuple[Store, AnalysisResult],
) -> None:
    store, result = demo
    assert result.allocation is not None
    seats = next(s for s in result.allocation.shared if s.service == "Pro Seats")
    assert seats.cost_usd == Decimal("60.00")
    assert set(seats.parts) == {"production/web", "preview/web", "production/docs"}
    # Each origin charge's allocated rows add up to it exactly (not only to the cent).
    per_origin = store.query(
        "SELECT ServiceName, ChargePeriodStart, sum(BilledCost) AS c, count(*) AS n "
        "FROM focus_charges WHERE AllocatedMethodId IS NOT NULL GROUP BY 1, 2"
    )
    assert set(per_origin["n"]) == {3}
    seat_rows = per_origin.filter(pl.col("ServiceName") == "Pro Seats")
    assert seat_rows["c"].to_list() == [Decimal("60")]


def test_demo_preview_cost_per_pull_request_and_per_provider(
    demo: tuple[Store, AnalysisResult],
) -> None:
    _, result = demo
    alloc = result.allocation
    assert alloc is not None
    # The demo's Upstash has a database per pull request (contribux-preview-pr-101): named, so
    # costed per PR; Neon's and Vercel's preview rows name no PR, so they count per provider.
    [pr] = alloc.preview_by_pull_request
    assert (pr.pull_request, pr.provider) == ("101", "upstash") and pr.cost_usd > 0
    assert set(alloc.preview_by_provider) == {"vercel", "neon", "upstash"}
    assert sum(alloc.preview_by_provider.values()) == alloc.by_environment["preview"]


def test_focus_export_carries_environment_owner_and_allocation_columns(
    demo: tuple[Store, AnalysisResult], tmp_path: Path
) -> None:
    store, _ = demo
    out = export_focus(store, JAN, tmp_path / "jan.csv", rebuild=False)
    with out.path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    assert header.index("AllocatedTags") < header.index("x_provider")
    assert {r["x_environment"] for r in rows} == {"production", "preview", "staging", "development"}
    split = [r for r in rows if r["AllocatedMethodId"]]
    assert split and all(r["AllocatedResourceId"] == f"{r['x_environment']}/{r['x_owner']}"
                         for r in split)  # fmt: skip
    assert all(not r["AllocatedMethodId"] for r in rows if r["ChargeCategory"] == "Usage")


def test_report_sections_show_allocation_unit_costs_and_budgets(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report import people as sections
    from contribux_costs.report.drill import Drill

    store, result = demo
    drill = Drill(store, JAN)
    alloc = sections.allocation(drill, result)
    for env in ("production", "preview", "staging", "development", "unallocated"):
        assert f"<td>{env}</td>" in alloc
    assert "Every cost row matched an allocation rule." in alloc
    assert result.allocation is not None
    assert f"${result.allocation.total_usd:,.2f}" in alloc
    units = sections.unit_costs(drill, result)
    assert "active user" in units and "AI analysis" in units and "from demo" in units
    budgets = sections.budgets(drill, result)
    table = budgets[budgets.index("<table") : budgets.index("</table>")]
    assert table.count("<tr") == len(result.budgets) + 1
    # every table and chart of the three sections is a drill-down widget
    assert alloc.count("<table") + units.count("<table") + table.count("<table") == sum(
        w["type"] != "chart" for w in drill.widgets
    )
    charts = [w for w in drill.widgets if w["type"] == "chart"]
    assert [w["series"] for w in charts] == ["provider", "unit", "series"]
    for w in charts:
        assert drill.sources[w["src"]]["data"][0]  # rows to re-draw from


def test_environment_and_owner_pivots_add_up_to_the_allocation(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report.drill import Drill

    store, result = demo
    assert result.allocation is not None
    drill = Drill(store, JAN)
    for by, engine in (("environment", result.allocation.by_environment),
                       ("owner", result.allocation.by_owner)):  # fmt: skip
        frame = drill.month_costs(by, {}, keep=("unallocated",))
        shown = dict(zip(frame[by].to_list(), frame["cost"].to_list(), strict=True))
        total = shown.pop("total")
        assert shown == {k: float(v) for k, v in engine.items()}  # unallocated $0 listed
        assert round(sum(shown.values()), 2) == total == float(result.allocation.total_usd)


def test_shared_split_rows_carry_provider_environment_and_owner(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report import people
    from contribux_costs.report.drill import Drill

    store, result = demo
    frame, dims = people.shared_rows(Drill(store, JAN), result)
    assert frame.height == len(dims) > 0
    # each shared charge's provider is the one its cost rows name (Vercel seats and credit, and
    # since the merge with the Upstash plan work, Upstash's shared database charges)
    billed = dict(store.query("SELECT DISTINCT ServiceName, x_provider FROM focus_charges").rows())
    rows = zip(frame["shared cost"].to_list(), frame["allocated to"].to_list(), dims, strict=True)
    for service, target, d in rows:
        assert d == {"provider": billed[service], "environment": target.split("/")[0],
                     "owner": target.split("/")[1]}  # fmt: skip
    assert {d["provider"] for d in dims} == {"vercel", "upstash"}


def test_unit_cost_parts_add_up_to_the_figures_shown(demo: tuple[Store, AnalysisResult]) -> None:
    from contribux_costs.report import people
    from contribux_costs.report.drill import Drill

    store, result = demo
    assert result.allocation is not None
    frame, dims = people.unit_table(Drill(store, JAN), result)
    for u in result.unit_costs:
        mine = frame.filter(pl.col("per") == u.name)
        top = mine.row(0, named=True)
        assert top["provider"] == top["environment"] == "all" and top["cost"] == u.cost_usd
        places = Decimal(top["cost per unit"].lstrip("$")).as_tuple().exponent
        for dim in ("provider", "environment"):
            part = mine.filter(pl.col(dim) != "all")
            assert sum(part["cost"].to_list(), Decimal(0)) == u.cost_usd
            per = sum((Decimal(v.lstrip("$")) for v in part["cost per unit"]), Decimal(0))
            if dim == "provider":  # the demo has a volume every day: the month's provider cost
                got = dict(zip(part["provider"], part["cost"], strict=True))
                assert got == result.allocation.by_provider
            assert per == u.cost_per_unit_usd.quantize(Decimal(1).scaleb(places))  # type: ignore[union-attr]
    assert dims[0] == {"provider": None, "environment": None, "owner": None}
    assert {"provider": "openai", "environment": None, "owner": None} in dims


def test_daily_unit_rows_add_up_to_the_engine_cost_per_unit(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report import people
    from contribux_costs.report.drill import Drill

    store, result = demo
    rows = people.unit_rows(Drill(store, JAN), result)
    assert {"provider", "environment", "owner"} <= set(rows.columns)
    for u in result.unit_costs:
        day = rows.filter(pl.col("unit") == u.name).group_by("date").agg(pl.col("value").sum())
        got = dict(day.iter_rows())
        for d, v in u.daily.items():
            if v is not None:
                assert abs(got[d] - float(v)) < 1e-5, (u.name, d)


def test_burn_down_rows_follow_the_selection_and_its_budget(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report import people
    from contribux_costs.report.drill import Drill

    store, result = demo
    rows = people.burn_rows(Drill(store, JAN), result)
    last = rows.filter(pl.col("series") == "actual")["date"].max()
    end = rows.filter((pl.col("series") == "actual") & (pl.col("date") == last))
    views = {b.name: b for b in result.budgets}
    assert round(end["value"].sum(), 2) == float(views["total"].actual_usd)
    openai = end.filter(pl.col("provider") == "openai")["value"].sum()
    assert round(openai, 2) == float(views["openai"].actual_usd)
    budget = rows.filter(pl.col("exact"))
    assert not rows.filter(pl.col("series") != "budget")["exact"].any()
    lines = {
        (r["provider"], r["environment"], r["owner"]): r["value"]
        for r in budget.unique(["provider", "environment", "owner"]).iter_rows(named=True)
    }
    assert lines[(None, None, None)] == float(views["total"].budget_usd)
    assert lines[("openai", None, None)] == float(views["openai"].budget_usd)
    assert lines[(None, "preview", None)] == float(views["preview"].budget_usd)
    assert lines[(None, None, "ai")] == float(views["ai"].budget_usd)


def test_rows_built_before_allocation_are_labelled_by_the_next_analysis(
    demo: tuple[Store, AnalysisResult],
) -> None:
    store, before = demo
    with store.transaction() as con:  # as a store migrated from before migration 080 holds them
        con.execute("UPDATE focus_charges SET x_environment = NULL, x_owner = NULL")
    with CostOptimizer(store) as optimizer:
        after = optimizer.analyze_usage(JAN)
    assert after.allocation == before.allocation
    assert not store.scalar("SELECT count(*) FROM focus_charges WHERE x_environment IS NULL")


def test_preview_cost_per_pull_request_where_the_branch_names_it() -> None:
    from datetime import date

    from contribux_costs.analysis.allocation import allocation
    from contribux_costs.analysis.rulebase import Config, RuleContext
    from contribux_costs.focus import build_focus
    from tests.pricing_support import usage, write

    store = open_store(":memory:")
    day = date(2025, 1, 5)
    rows = [
        usage("neon", "cu_hours", "CU-hours", day, hours, resource_id="quiet-1",
              resource_name="contribux-prod", dims={"plan": "launch", "branch_name": branch})
        for branch, hours in (("preview/pr-42-login", 10), ("preview/pr-7", 5), ("main", 100))
    ]  # fmt: skip
    write(store, "usage", rows)
    build_focus(store, JAN)
    ctx = RuleContext(store, JAN, Config.load(), date(2025, 3, 1))
    alloc = allocation(ctx)
    assert alloc is not None
    prs = {p.pull_request: p for p in alloc.preview_by_pull_request}
    assert set(prs) == {"42", "7"}
    assert prs["42"].cost_usd == 2 * prs["7"].cost_usd  # 10 vs 5 CU-hours at one rate
    assert prs["42"].cost_usd + prs["7"].cost_usd == alloc.by_environment["preview"]
    assert alloc.by_environment["production"] == 20 * prs["7"].cost_usd  # the root branch
    assert prs["42"].resources == ["preview/pr-42-login"]


def test_terminal_view_lists_environments_unit_costs_and_budgets(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.report.text import format_result

    _, result = demo
    text = format_result(result)
    assert "unallocated $0.00" in text and "per active user" in text
    assert text.count(" of ") >= len(result.budgets)


def test_burn_down_forecast_spreads_the_remaining_month_by_share(
    demo: tuple[Store, AnalysisResult],
) -> None:
    from contribux_costs.models import BudgetDay
    from contribux_costs.report import people
    from contribux_costs.report.drill import Drill

    store, result = demo
    total = next(b for b in result.budgets if b.name == "total")
    cut = total.burn_down[19].actual_cumulative_usd  # as if the month were open on the 21st
    assert cut is not None
    days = [
        d if i < 20 else BudgetDay(day=d.day, forecast_cumulative_usd=cut + 40 * (i - 19),
                                   remaining_usd=d.remaining_usd)
        for i, d in enumerate(total.burn_down)
    ]  # fmt: skip
    open_month = result.model_copy(
        update={"budgets": [total.model_copy(update={"burn_down": days})]}
    )
    rows = people.burn_rows(Drill(store, JAN), open_month)
    assert rows.filter(pl.col("series") == "actual")["date"].max() == days[19].day
    fc = rows.filter(pl.col("series") == "forecast")
    for d in days[20:]:
        day = fc.filter(pl.col("date") == d.day)
        assert abs(day["value"].sum() - float(d.forecast_cumulative_usd or 0)) < 1e-6
    at20 = rows.filter((pl.col("series") == "actual") & (pl.col("date") == days[19].day))
    share = at20.filter(pl.col("provider") == "openai")["value"].sum() / at20["value"].sum()
    last = fc.filter(pl.col("date") == days[-1].day)
    got = last.filter(pl.col("provider") == "openai")["value"].sum()
    assert abs(got - share * float(days[-1].forecast_cumulative_usd or 0)) < 1e-6
