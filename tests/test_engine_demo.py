"""Done-when on the demo month: the engine finds what the demo planted, and each dollar figure
matches one this test computes on its own from the demo model's raw volumes and prices."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from contribux_costs import CostOptimizer
from contribux_costs.demo import neon as demo_neon
from contribux_costs.demo import openai as demo_openai
from contribux_costs.demo import upstash as demo_upstash
from contribux_costs.demo.model import DemoModel
from contribux_costs.models import AnalysisResult, Recommendation
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import open_store
from tests.engine_support import demo_settings

JAN = Month.parse("2025-01")
MODEL = DemoModel()
M = Decimal(1_000_000)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisResult]:
    store = open_store(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    report = collect(demo_settings(), store, JAN.window)
    assert report.ok, report.summary_lines()
    with CostOptimizer(store) as optimizer:
        yield optimizer.analyze_usage(JAN)
    store.close()


def _rec(result: AnalysisResult, rule: str, subject_part: str) -> Recommendation:
    found = [r for r in result.recommendations if r.rule_id == rule and subject_part in r.subject]
    assert found, (
        f"{rule} on {subject_part} not found in {[r.rule_id for r in result.recommendations]}"
    )
    return found[0]


def _priced(vol: tuple[int, int, int, int], model: str) -> Decimal:
    _req, inp, cached, out = vol
    p_in, p_cached, p_out = demo_openai.DEMO_PRICES[model]
    return (Decimal(inp - cached) * p_in + Decimal(cached) * p_cached + Decimal(out) * p_out) / M


def _prod_gpt4o() -> demo_openai.Workload:
    return next(
        w
        for w in demo_openai.WORKLOADS
        if w.project_id == "proj_contribux_prod" and w.model == "gpt-4o-2024-08-06"
    )


def test_finds_the_planted_spike_with_its_excess(demo: AnalysisResult) -> None:
    day = MODEL.spike_day(JAN)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    vol = demo_openai.volume(MODEL, start, start + timedelta(days=1), _prod_gpt4o())
    # The runaway job multiplied prod gpt-4o traffic by SPIKE_FACTOR: the rest is excess.
    planted = _priced(vol, "gpt-4o-2024-08-06") * (1 - 1 / Decimal(demo_openai.SPIKE_FACTOR))
    [spike] = [a for a in demo.anomalies if a.provider == "openai"]
    assert (spike.start, spike.end, spike.days) == (day, day, 1)
    assert abs(spike.excess_usd - planted) <= planted * Decimal("0.05")
    # The daily threshold and the anomaly episode are one event: one alert naming both rules.
    [alert] = [a for a in demo.alerts if "cost_anomaly" in a.rules]  # one per episode
    assert alert.day == day and alert.severity == "medium"
    assert alert.rules == ["openai_daily_cost", "cost_anomaly"]


def test_finds_branch_sprawl_priced_per_extra_branch_month(demo: AnalysisResult) -> None:
    # Neon's rule (usage-calculations.md): per project and daily bucket, 9 child branches × 24 h
    # are free on Launch; the rest / 744 branch-months × $1.50.
    billable, day = 0.0, JAN.window.start
    while day < JAN.window.end:
        hours = sum(
            demo_neon.hour_metrics(MODEL, demo_neon.PROD.id, day + timedelta(hours=h)).get(
                "extra_branches_month", 0
            )
            for h in range(24)
        )
        billable += max(0.0, hours - 9 * 24)
        day += timedelta(days=1)
    expected = Decimal(str(billable)) / 744 * Decimal("1.50")
    rec = _rec(demo, "neon.branch_sprawl", demo_neon.PROD.id)
    assert abs(rec.estimated_monthly_savings_usd - expected) <= Decimal("0.02")
    assert rec.category == "cost" and rec.confidence == "high"
    assert rec.evidence["avg_branches_alive"] > 9


def test_finds_the_low_hit_key_class_with_the_cost_of_its_misses(demo: AnalysisResult) -> None:
    db = next(d for d in demo_upstash.DATABASES if "vector" in d.name)
    days = [demo_upstash.daily(MODEL, db, d) for d in JAN.dates()]
    reads, hits = sum(d["reads"] for d in days), sum(d["hits"] for d in days)
    ratio = hits / reads
    emb = [w for w in demo_openai.WORKLOADS if w.endpoint == "embeddings"]
    vols = [demo_openai.volume(MODEL, JAN.window.start, JAN.window.end, w) for w in emb]
    per_request = sum(v[1] * 0.02 / 1e6 for v in vols) / sum(v[0] for v in vols)
    per_miss = 0.20 / 100_000 + per_request  # a SET at pay-as-you-go + re-embedding the query
    expected = reads * (0.90 - ratio) * per_miss  # misses avoided by reaching a 90 % hit ratio
    rec = _rec(demo, "cache.low_hit_key_class", "vector")
    assert float(rec.estimated_monthly_savings_usd) == pytest.approx(expected, rel=0.02)
    finding = next(f for f in demo.cache_findings if f.subject == db.name)
    assert finding.hit_ratio == pytest.approx(ratio, abs=0.01)
    assert finding.status == "poor"
    # the configured what-ifs, plus the TTL the recommendation advises (issue 17), in order
    plain = [w.ttl_s for w in finding.ttl_what_if if not w.advised]
    [advised] = [w.ttl_s for w in finding.ttl_what_if if w.advised]
    assert plain == [300.0, 1200.0, 2400.0]
    assert f"~{advised:,.0f} s" in rec.action
    assert [w.ttl_s for w in finding.ttl_what_if] == sorted([*plain, advised])


def test_finds_the_model_downgrade_candidate(demo: AnalysisResult) -> None:
    vol = demo_openai.volume(MODEL, JAN.window.start, JAN.window.end, _prod_gpt4o())
    expected = _priced(vol, "gpt-4o-2024-08-06") - _priced(vol, "gpt-4o-mini-2024-07-18")
    rec = _rec(demo, "openai.model_downgrade", "proj_contribux_prod/gpt-4o")
    # A recurring saving on a typical month: the runaway job of Jan 17 is left out (issue 12).
    typical = Decimal(str(rec.evidence["typical_month_factor"]))
    assert typical < 1 and "2025-01-17" in str(rec.evidence["saving_basis"])
    assert abs(rec.estimated_monthly_savings_usd - expected * typical) <= Decimal("0.05")
    assert rec.evidence["target_model"] == "gpt-4o-mini"


def test_guide_rules_and_other_planted_findings_fire(demo: AnalysisResult) -> None:
    rules = {r.rule_id for r in demo.recommendations}
    assert {"openai.cost_per_request", "neon.slow_queries", "neon.scale_to_zero"} <= rules
    assert {"postgres.buffer_cache", "vercel.allowance", "upstash.plan_breakeven"} <= rules
    # Staging's compute never suspends (suspend_timeout_seconds -1): advised. Prod's read
    # replica never suspends either, but it serves production: never advised.
    staging = _rec(demo, "neon.scale_to_zero", "ep-contribux-staging")
    assert staging.evidence["cu_hours"] == pytest.approx(0.25 * 24 * 31)
    assert staging.evidence["environment"] == "staging"
    assert not [
        r for r in demo.recommendations if r.rule_id == "neon.scale_to_zero" and "prod" in r.subject
    ]
    buffer = next(
        f for f in demo.cache_findings if f.layer == "postgres_buffer" and f.subject == "neondb"
    )
    assert buffer.hit_ratio is not None and buffer.hit_ratio < 0.95


def test_no_dollar_claimed_twice_and_savings_within_their_cost(demo: AnalysisResult) -> None:
    for provider, usage in demo.current_usage.items():
        claimed = sum(
            (
                r.estimated_monthly_savings_usd
                for r in demo.recommendations
                if r.provider == provider and r.estimated_monthly_savings_usd > 0
            ),
            Decimal(0),
        )
        assert claimed <= usage.cost_usd + Decimal("0.05"), provider
    for r in demo.recommendations:
        assert r.estimated_monthly_savings_usd <= r.basis_usd + Decimal("0.01"), r.rule_id
    ids = [r.id for r in demo.recommendations]
    assert len(ids) == len(set(ids))


def test_result_shape_on_the_demo(demo: AnalysisResult) -> None:
    assert demo.demo is True and demo.month == "2025-01"
    assert set(demo.current_usage) == {"openai", "vercel", "neon", "upstash"}
    proj = demo.projected_monthly_cost
    total = sum((u.cost_usd for u in demo.current_usage.values()), Decimal(0))
    assert proj.closed and abs(proj.projected_usd - total) <= Decimal("0.05")
    assert proj.backtest_error_pct is not None
    usage_series = [f for f in proj.forecasts if not f.service.startswith("Pro ")]  # not seats
    assert usage_series and all(f.backtest_error_pct is not None for f in usage_series)
    assert AnalysisResult.model_validate_json(demo.model_dump_json()) == demo


def test_example_script_prints_top_recommendations(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "top_recommendations.py"), "--top", "3"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith(("1.", "2.", "3."))]
    assert len(lines) == 3
    assert "gpt-4o" in lines[0] and "$" in lines[0]


def test_the_spike_names_its_cause_with_before_and_after(demo: AnalysisResult) -> None:
    [spike] = [a for a in demo.anomalies if a.provider == "openai"]
    drivers = {d.dimension: d for d in spike.drivers}
    assert drivers["model"].value == "gpt-4o"
    assert drivers["project"].value == "proj_contribux_prod"
    # The slice's own spend: prod gpt-4o on the spike day, priced independently from the model.
    day = MODEL.spike_day(JAN)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    during = _priced(
        demo_openai.volume(MODEL, start, start + timedelta(days=1), _prod_gpt4o()),
        "gpt-4o-2024-08-06",
    )
    assert spike.cause is not None
    assert "gpt-4o" in spike.cause and "proj_contribux_prod" in spike.cause
    assert f"${during:,.2f}/day during" in spike.cause
    assert drivers["model"].during_usd > 3 * drivers["model"].before_usd  # before < after
    # One alert per event: the anomaly may share its alert with a threshold on the same day.
    [alert] = [a for a in demo.alerts if "cost_anomaly" in [a.rule_id, *a.rules]]
    assert spike.cause in alert.message  # the alert carries the same sentence
