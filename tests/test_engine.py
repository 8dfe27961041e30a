"""CostOptimizer: inputs, empty stores, open months, config override, text output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from contribux_costs import CostOptimizer
from contribux_costs.analysis.rulebase import Config
from contribux_costs.errors import ConfigError
from contribux_costs.models import AnalysisResult
from contribux_costs.report.text import format_result
from contribux_costs.store import Store
from tests.engine_support import insert, month_days, new_store, openai_day

GPT4O = ("proj_a", "gpt-4o-2024-08-06", 100, 1_500_000, 150_000, 200_000)


def _openai_store(path: Path | str = ":memory:", days: int = 31) -> Store:
    store = new_store(path)
    usage, charges = [], []
    for day in month_days(2025, 1)[:days]:
        u, c = openai_day(day, *GPT4O)
        usage, charges = usage + u, charges + c
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    return store


def test_empty_store_gives_notes_not_errors(tmp_path: Path) -> None:
    with CostOptimizer(tmp_path / "empty.duckdb") as opt:
        result = opt.analyze_usage("2025-01")
    assert result.current_usage == {} and result.recommendations == []
    assert result.projected_monthly_cost.projected_usd == 0
    for provider in ("openai", "neon", "upstash", "vercel", "postgres"):
        assert f"no {provider} data for the month" in result.data_quality


def test_accepts_store_or_path_and_closes_only_its_own(tmp_path: Path) -> None:
    store = _openai_store(tmp_path / "a.duckdb")
    with CostOptimizer(store) as opt:
        from_store = opt.analyze_usage("2025-01")
    assert store.scalar("SELECT 1") == 1  # still open: the caller owns it
    store.close()
    with CostOptimizer(str(tmp_path / "a.duckdb")) as opt:
        from_path = opt.analyze_usage("2025-01")
    assert from_store.recommendations == from_path.recommendations
    assert not from_store.demo


def test_invalid_month_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="YYYY-MM"):
        CostOptimizer(new_store()).analyze_usage("January")


def test_open_month_projects_with_an_interval() -> None:
    cfg = Config.load()
    cfg.data["budgets"]["openai"] = 200.0  # 26 days ≈ $145 (72 %), the month ≈ $172 (86 %)
    opt = CostOptimizer(_openai_store(days=26), cfg)
    result = opt.analyze_usage("2025-01", as_of=date(2025, 1, 27))
    p = result.projected_monthly_cost
    assert not p.closed
    assert p.month_to_date_usd > 0 and p.remaining_usd > 0
    assert p.lower_usd <= p.projected_usd <= p.upper_usd
    assert abs(p.projected_usd - p.month_to_date_usd - p.remaining_usd) <= Decimal("0.01")
    assert p.backtest_error_pct is not None
    levels = {a.rule_id: a for a in result.alerts}
    assert levels["budget.openai.actual"].threshold == 0.5
    assert levels["budget.openai.forecast"].threshold == 0.8


def test_closed_month_projection_is_the_actual() -> None:
    result = CostOptimizer(_openai_store()).analyze_usage("2025-01", as_of=date(2025, 3, 1))
    p = result.projected_monthly_cost
    assert (
        p.closed
        and p.projected_usd == p.month_to_date_usd == result.current_usage["openai"].cost_usd
    )


def test_config_override_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "analysis.toml"
    override.write_text("[openai]\ncost_per_request_usd = 1.0\n")
    store = _openai_store()
    default = CostOptimizer(store).analyze_usage("2025-01")
    monkeypatch.setenv("CONTRIBUX_COSTS_CONFIG", str(override))
    custom = CostOptimizer(store).analyze_usage("2025-01")
    rules = lambda r: {x.rule_id for x in r.recommendations}  # noqa: E731
    assert "openai.cost_per_request" in rules(default)
    assert "openai.cost_per_request" not in rules(custom)
    assert "openai.model_downgrade" in rules(custom)  # the rest of the defaults still apply


def test_bad_override_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[openai\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        CostOptimizer(new_store(), bad)


def test_stable_ids_across_runs_and_round_trip() -> None:
    store = _openai_store()
    a = CostOptimizer(store).analyze_usage("2025-01")
    b = CostOptimizer(store).analyze_usage("2025-01")
    assert [r.id for r in a.recommendations] == [r.id for r in b.recommendations]
    assert AnalysisResult.model_validate_json(a.model_dump_json()) == a


def test_format_result_lists_usage_and_recommendations() -> None:
    text = format_result(CostOptimizer(_openai_store()).analyze_usage("2025-01"), top=3)
    assert "openai" in text and "top recommendations" in text and "saves $" in text
    assert "month total: $" in text  # a closed month: the actual, the sum of the rows shown


def test_a_failing_rule_becomes_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from contribux_costs.analysis import engine

    def broken(ctx: object) -> list[object]:
        raise duckdb.BinderException("Referenced table not found")

    monkeypatch.setattr(engine, "RULES", (broken, *engine.RULES))
    result = CostOptimizer(_openai_store()).analyze_usage("2025-01")
    assert any(
        n.startswith("test_engine.broken skipped: Referenced table") for n in result.data_quality
    )
    assert result.recommendations  # the other rules still ran


def test_spike_is_one_anomaly_and_a_monthly_purchase_is_none() -> None:
    from tests.engine_support import charge_row

    store = _openai_store()
    days = month_days(2025, 1)
    spike = [
        charge_row("openai", "150", days[16], "OpenAI API", "gpt-4o-2024-08-06, input", "proj_a")
    ]
    seats = [charge_row("vercel", "60", days[0], "Pro Seats", category="Purchase")]
    insert(store, "charges", spike + seats)
    result = CostOptimizer(store).analyze_usage("2025-01")
    [a] = result.anomalies
    assert (a.provider, a.start, a.days) == ("openai", days[16], 1)
    assert a.excess_usd == pytest.approx(Decimal(150), abs=Decimal("0.01"))


def test_unpriced_store_is_priced_once_by_the_engine() -> None:
    from tests.engine_support import usage_row

    store = new_store()
    rows = [
        usage_row("neon", "compute", "cu_hours", 24.0, d, "p", "prod", "CU-hours", "daily",
                  dimensions={"plan": "launch", "source_metric": "compute_unit_seconds"})
        for d in month_days(2025, 1)
    ]  # fmt: skip
    insert(store, "usage", rows)
    result = CostOptimizer(store).analyze_usage("2025-01")
    neon = result.current_usage["neon"]
    assert neon.cost_source == "computed" and neon.cost_usd > 0
    built = store.scalar("SELECT count(*) FROM focus_charges")
    extra = usage_row("neon", "compute", "cu_hours", 1.0, month_days(2025, 1)[0], "q", "other",
                      "CU-hours", "daily", dimensions={"plan": "launch"})  # fmt: skip
    insert(store, "usage", [extra])
    # FOCUS rows exist: the runner rebuilds them after collecting, the engine leaves them be.
    CostOptimizer(store).analyze_usage("2025-01")
    assert store.scalar("SELECT count(*) FROM focus_charges") == built
