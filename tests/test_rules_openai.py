"""OpenAI cost rules, each on a small store with figures computed by hand here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.analysis import costs
from contribux_costs.analysis.rulebase import Config, RuleContext, settle
from contribux_costs.periods import Month
from contribux_costs.store import Store
from tests.engine_support import insert, month_days, new_store, openai_day

JAN = Month(2025, 1)
M = Decimal(1_000_000)


def _store(workloads: list[tuple[str, str, int, int, int, int, str]]) -> Store:
    store = new_store()
    usage, charges = [], []
    for day in month_days(2025, 1):
        for project, model, req, inp, cached, out, service in workloads:
            u, c = openai_day(day, project, model, req, inp, cached, out, service)
            usage += u
            charges += c
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    return store


def _ctx(store: Store, **override: object) -> RuleContext:
    cfg = Config.load()
    for dotted, value in override.items():
        node = cfg.data
        *path, last = dotted.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return RuleContext(store, JAN, cfg, date(2025, 3, 1))


GPT4O = ("proj_a", "gpt-4o-2024-08-06", 100, 1_500_000, 150_000, 200_000, "completions")
MINI = ("proj_a", "gpt-4o-mini-2024-07-18", 1000, 1_000_000, 800_000, 100_000, "completions")


def test_cost_per_request_fires_above_five_cents_with_thirty_percent() -> None:
    ctx = _ctx(_store([GPT4O, MINI]))
    [c] = costs.cost_per_request(ctx)
    # Per day: 1.35M uncached × 2.5 + 0.15M × 1.25 + 0.2M × 10 per 1M = 3.375 + 0.1875 + 2 = 5.5625
    monthly = Decimal("5.5625") * 31
    assert c.basis_usd == monthly
    assert c.savings_usd == monthly * Decimal("0.3")
    assert c.evidence["cost_per_request_usd"] == pytest.approx(0.055625)
    assert c.subject == "proj_a/gpt-4o"


def test_cost_per_request_quiet_below_threshold() -> None:
    assert costs.cost_per_request(_ctx(_store([MINI]))) == []


def test_model_downgrade_prices_same_volume_on_cheaper_family() -> None:
    ctx = _ctx(_store([GPT4O]))
    [c] = costs.model_downgrade(ctx)
    on_mini = (
        Decimal(1_350_000) * Decimal("0.15") + 150_000 * Decimal("0.075") + 200_000 * Decimal("0.6")
    ) / M
    assert c.savings_usd == (Decimal("5.5625") - on_mini) * 31
    assert c.evidence["target_model"] == "gpt-4o-mini"


def test_model_downgrade_share_from_config() -> None:
    ctx = _ctx(_store([GPT4O]), openai__downgrade__share=0.5)
    [c] = costs.model_downgrade(ctx)
    full = costs.model_downgrade(_ctx(_store([GPT4O])))[0].savings_usd
    assert c.savings_usd == full / 2


def test_prompt_caching_on_large_uncached_prompts_only() -> None:
    ctx = _ctx(_store([GPT4O, MINI]))
    [c] = costs.prompt_caching(ctx)  # MINI: 1,000 tokens/request and 80 % cached: quiet
    extra = (Decimal("0.5") - Decimal("0.1")) * 1_500_000 * 31
    assert c.subject == "proj_a/gpt-4o"
    assert c.savings_usd == pytest.approx(extra * (Decimal("2.5") - Decimal("1.25")) / M)


def test_batch_api_for_configured_non_interactive_workloads() -> None:
    dev = ("proj_contribux_dev", *MINI[1:])
    ctx = _ctx(_store([MINI, dev]))
    [c] = costs.batch_api(ctx)
    assert c.subject == "proj_contribux_dev/gpt-4o-mini"
    assert c.savings_usd == c.basis_usd * Decimal("0.5")


def test_no_openai_data_is_a_note_not_a_crash() -> None:
    ctx = _ctx(new_store())
    assert costs.model_downgrade(ctx) == []
    assert "no openai data for the month" in ctx.notes


def test_family_of_dated_ids() -> None:
    assert costs.family_of("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert costs.family_of("o3-mini-0131") == "o3-mini"
    assert costs.family_of("text-embedding-3-small") == "text-embedding-3-small"


workload = st.tuples(
    st.sampled_from(["proj_a", "proj_contribux_dev"]),
    st.sampled_from(["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"]),
    st.integers(1, 5_000),
    st.integers(0, 50_000_000),
    st.floats(0, 1),
    st.integers(0, 5_000_000),
)


@settings(max_examples=20, deadline=None)
@given(st.lists(workload, min_size=1, max_size=4, unique_by=lambda w: (w[0], w[1])))
def test_property_rules_never_claim_more_than_the_spend(
    loads: list[tuple[str, str, int, int, float, int]],
) -> None:
    store = new_store()
    usage, charges = [], []
    for project, model, req, inp, share, out in loads:
        u, c = openai_day(date(2025, 1, 15), project, model, req, inp, int(inp * share), out)
        usage, charges = usage + u, charges + c
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    ctx = _ctx(store)
    rules = (costs.model_downgrade, costs.prompt_caching, costs.batch_api, costs.cost_per_request)
    cands = [c for rule in rules for c in rule(ctx)]
    order = [str(r) for r in ctx.cfg.get("general.rule_order")]
    recs = settle(cands, order, {"openai": ctx.provider_cost("openai")}, Decimal(0))
    spend = {s.subject: s.cost for s in costs.model_spend(ctx)}
    for subject, cost in spend.items():
        claimed = sum(r.estimated_monthly_savings_usd for r in recs if r.subject == subject)
        assert claimed <= cost + Decimal("0.01") * 4  # cents rounding per recommendation
    assert all(
        Decimal(0) <= r.estimated_monthly_savings_usd <= r.basis_usd + Decimal("0.01") for r in recs
    )
