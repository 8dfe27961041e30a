"""Result models: JSON round-trip (property test), money as strings, stable ids, severities."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contribux_costs.models import (
    Alert,
    AnalysisResult,
    CacheFinding,
    Projection,
    ProviderUsage,
    Recommendation,
    TtlWhatIf,
    recommendation_id,
    severity_rank,
)

money = st.decimals(min_value=-1_000_000, max_value=1_000_000, places=2, allow_nan=False)
ratio = st.floats(min_value=0, max_value=1)
num = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
text = st.text(max_size=20)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))

recommendations = st.builds(
    Recommendation,
    id=text, provider=text, category=st.sampled_from(["cost", "scaling", "cache"]), title=text,
    action=text, estimated_monthly_savings_usd=money, basis_usd=money,
    confidence=st.sampled_from(["low", "medium", "high"]), confidence_reason=text,
    effort=st.sampled_from(["low", "medium", "high"]),
    evidence=st.dictionaries(text, st.one_of(num, text), max_size=4),
    rule_id=text, threshold=text, subject=text,
)  # fmt: skip
findings = st.builds(
    CacheFinding,
    layer=text, subject=text, hit_ratio=st.one_of(st.none(), ratio), hits=num, lookups=num,
    trend_per_week=st.one_of(st.none(), num), status=text, threshold=text,
    ttl_what_if=st.lists(st.builds(TtlWhatIf, ttl_s=num, predicted_hit_ratio=ratio), max_size=3),
)  # fmt: skip
alerts = st.builds(
    Alert,
    rule_id=text, name=text, severity=st.sampled_from(["info", "low", "medium", "critical"]),
    message=text, observed=num, threshold=num, basis=text, day=st.one_of(st.none(), days),
)  # fmt: skip
usages = st.builds(
    ProviderUsage,
    provider=text, cost_usd=money, cost_source=text,
    cost_by_service=st.dictionaries(text, money, max_size=3),
    daily_cost=st.dictionaries(days, money, max_size=5),
    volumes=st.dictionaries(text, num, max_size=3),
)  # fmt: skip
projection = st.builds(
    Projection,
    closed=st.booleans(), month_to_date_usd=money, remaining_usd=money, projected_usd=money,
    lower_usd=money, upper_usd=money, by_provider=st.dictionaries(text, money, max_size=3),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        AnalysisResult,
        month=st.just("2025-01"),
        demo=st.booleans(),
        current_usage=st.dictionaries(text, usages, max_size=3),
        projected_monthly_cost=projection,
        recommendations=st.lists(recommendations, max_size=4),
        cache_findings=st.lists(findings, max_size=3),
        alerts=st.lists(alerts, max_size=3),
        data_quality=st.lists(text, max_size=3),
    )
)
def test_property_json_round_trip(result: AnalysisResult) -> None:
    assert AnalysisResult.model_validate_json(result.model_dump_json()) == result


def test_money_serializes_as_exact_string() -> None:
    u = ProviderUsage(provider="openai", cost_usd=Decimal("0.10"), cost_source="billed")
    assert json.loads(u.model_dump_json())["cost_usd"] == "0.10"
    assert u.model_dump()["cost_usd"] == Decimal("0.10")  # python mode keeps the Decimal


def test_hit_ratio_outside_unit_interval_rejected() -> None:
    with pytest.raises(ValidationError):
        CacheFinding(
            layer="redis", subject="x", hit_ratio=1.2, hits=1, lookups=1, status="good",
            threshold="t",
        )  # fmt: skip


def test_recommendation_id_is_stable_and_distinct() -> None:
    a = recommendation_id("neon.branch_sprawl", "neon", "proj-1")
    assert a == recommendation_id("neon.branch_sprawl", "neon", "proj-1")
    assert a != recommendation_id("neon.branch_sprawl", "neon", "proj-2")
    assert a.startswith("rec_") and len(a) == 16


def test_severity_order() -> None:
    assert severity_rank("critical") > severity_rank("high") > severity_rank("info")
    with pytest.raises(ValueError):
        severity_rank("urgent")


def test_totals_split_savings_and_added_cost() -> None:
    def rec(value: str) -> Recommendation:
        return Recommendation(
            id="r" + value, provider="p", category="cost", title="t", action="a",
            estimated_monthly_savings_usd=Decimal(value), basis_usd=Decimal(100),
            confidence="low", confidence_reason="r", effort="low", rule_id="x", threshold="t",
            subject="s",
        )  # fmt: skip

    proj = Projection(
        closed=True, month_to_date_usd=Decimal(0), remaining_usd=Decimal(0),
        projected_usd=Decimal(0), lower_usd=Decimal(0), upper_usd=Decimal(0),
    )  # fmt: skip
    result = AnalysisResult(
        month="2025-01", demo=False, current_usage={}, projected_monthly_cost=proj,
        recommendations=[rec("10"), rec("5.5"), rec("-20")],
    )  # fmt: skip
    assert result.total_savings_usd == Decimal("15.5")
    assert result.total_added_cost_usd == Decimal(20)
