"""The savings ledger: no dollar claimed twice, savings never above the cost they come from."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.analysis.rulebase import Candidate, SavingsLedger, settle


def _cand(rule: str, pool: str, savings: str, basis: str, provider: str = "openai") -> Candidate:
    return Candidate(
        rule, provider, pool, "cost", "t", "a", Decimal(savings), Decimal(basis), pool,
        "medium", "r", "low", "thr",
    )  # fmt: skip


def test_second_rule_is_computed_on_what_the_first_left() -> None:
    order = ["downgrade", "caching"]
    recs = settle(
        [_cand("caching", "p", "30", "100"), _cand("downgrade", "p", "60", "100")],
        order, {}, Decimal(0),
    )  # fmt: skip
    by_rule = {r.rule_id: r.estimated_monthly_savings_usd for r in recs}
    assert by_rule["downgrade"] == Decimal("60.00")
    assert by_rule["caching"] == Decimal("12.00")  # 30 % of the 40 left


def test_claims_capped_by_the_pool() -> None:
    recs = settle(
        [_cand("a", "p", "90", "100"), _cand("b", "p", "90", "100")], ["a", "b"], {}, Decimal(0)
    )
    assert sum(r.estimated_monthly_savings_usd for r in recs) <= Decimal(100)


def test_provider_cap_applies_across_pools() -> None:
    ledger = SavingsLedger({"openai": Decimal(50)})
    first = ledger.settle(_cand("a", "p1", "40", "100"))
    second = ledger.settle(_cand("b", "p2", "40", "100"))
    assert first + second == Decimal(50)


def test_scale_up_added_cost_passes_through_negative() -> None:
    ledger = SavingsLedger({})
    assert ledger.settle(_cand("up", "p", "-25", "0")) == Decimal(-25)


def test_small_savings_dropped_advisories_kept() -> None:
    recs = settle(
        [_cand("a", "p", "0.40", "100"), _cand("b", "q", "0", "100")], ["a", "b"], {}, Decimal(1)
    )
    assert [r.rule_id for r in recs] == ["b"]


money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from(["p1", "p2"]), money, money),
        min_size=1,
        max_size=12,
    )
)
def test_property_no_duplicated_dollars(rows: list[tuple[str, str, Decimal, Decimal]]) -> None:
    pools: dict[str, Decimal] = {}
    cands = []
    for rule, pool, basis, frac in rows:
        basis = pools.setdefault(pool, basis)  # one pool has one basis (the spend it stands for)
        savings = min(frac, basis)
        cands.append(_cand(rule, pool, str(savings), str(basis)))
    recs = settle(cands, ["r1", "r2", "r3"], {}, Decimal(0))
    for pool, basis in pools.items():
        claimed = sum(r.estimated_monthly_savings_usd for r in recs if r.subject == pool)
        assert claimed <= basis + Decimal("0.01") * len(recs)  # cents rounding only
    for r in recs:
        assert Decimal(0) <= r.estimated_monthly_savings_usd <= r.basis_usd + Decimal("0.01")


def test_non_finite_evidence_is_kept_as_text() -> None:
    c = _cand("a", "p", "1", "10")
    c.evidence = {"ratio": float("nan"), "n": 2.0}
    [r] = settle([c], ["a"], {}, Decimal(0))
    assert r.evidence == {"ratio": "nan", "n": 2.0}
    assert type(r).model_validate_json(r.model_dump_json()) == r


def test_split_savings_count_against_each_providers_cap() -> None:
    ledger = SavingsLedger({"upstash": Decimal(100), "openai": Decimal(3)})
    c = _cand("cache", "p", "10", "10", provider="upstash")
    c.split = {"upstash": Decimal(1), "openai": Decimal(4)}  # $2 of Redis, $8 of embeddings
    assert ledger.settle(c) == Decimal(5)  # only $3 of OpenAI spend was left
    assert ledger.provider_left == {"upstash": Decimal(98), "openai": Decimal(0)}
