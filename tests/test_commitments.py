"""Vercel contract commitments: collected, on the FOCUS Purchase/Credit rows, unused part found."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest
from pricing_support import charge, write

from contribux_costs.analysis.commitments import unused_commitment
from contribux_costs.analysis.engine import CostOptimizer
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.vercel_commitments import ENDPOINT, commitment_row, fetch_commitments
from contribux_costs.config import Settings, demo_settings, load_settings
from contribux_costs.errors import SchemaError
from contribux_costs.focus import export_focus
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

JAN = Month.parse("2025-01")
TERM = {
    "ContractId": "sub_1",
    "ContractCommitmentId": "cc_jan",
    "ContractCommitmentCategory": "Spend",
    "ContractCommitmentType": "Pro",
    "ContractCommitmentUnit": "USD",
    "ContractCommitmentCost": 60,
    "ContractCommitmentPeriodStart": "2025-01-01T08:00:00.000Z",
    "ContractCommitmentPeriodEnd": "2025-02-01T08:00:00.000Z",
    "ContractPeriodStart": "2025-01-01T08:00:00.000Z",
    "ContractPeriodEnd": "2026-01-01T08:00:00.000Z",
    "BillingCurrency": "USD",
}


def _ctx(body: str) -> CollectContext:
    settings = Settings(_env_file=None, vercel_token="tok_test_123456")  # type: ignore[call-arg]
    reply = httpx.MockTransport(lambda r: httpx.Response(200, text=body))
    clients = HttpClients(settings, reply, RetryPolicy(max_tries=1, sleep=lambda _s: None))
    return CollectContext(settings, clients, now=lambda: datetime(2025, 3, 1, tzinfo=UTC))


def test_terms_in_the_window_are_collected_exactly() -> None:
    feb = {**TERM, "ContractCommitmentId": "cc_feb",
           "ContractCommitmentPeriodStart": "2025-02-01T08:00:00.000Z",
           "ContractCommitmentPeriodEnd": "2025-03-01T08:00:00.000Z"}  # fmt: skip
    body = json.dumps(TERM) + "\n\n" + json.dumps(feb) + "\n"
    sw = fetch_commitments(Task(ENDPOINT, JAN.la_window), _ctx(body), "team_1")
    frame = sw.tables["contract_commitments"]
    assert frame["ContractCommitmentId"].to_list() == ["cc_jan"]  # February is another slice
    assert frame["ContractCommitmentCost"].to_list() == [Decimal("60")]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"ContractCommitmentCategory": "Both"}, "ContractCommitmentCategory 'Both'"),
        ({"ContractCommitmentCost": None}, "Spend commitment without ContractCommitmentCost"),
        ({"ContractCommitmentCost": -5}, "not a finite amount >= 0"),
        ({"ContractId": ""}, "has no ContractId"),
        ({"ContractCommitmentPeriodEnd": "2025-01-01T08:00:00"}, "without a UTC offset"),
    ],
)
def test_a_bad_line_fails_naming_its_number(change: dict[str, object], what: str) -> None:
    with pytest.raises(SchemaError, match=f"line 3 .*{what}"):
        commitment_row(json.dumps({**TERM, **change}), 3)


def _store_with(credit: str) -> Store:
    store = open_store()
    sw = fetch_commitments(Task(ENDPOINT, JAN.la_window), _ctx(json.dumps(TERM)), None)
    store.write_slice(sw, {"started_at": datetime.now(UTC)})
    d = date(2025, 1, 2)
    rows = [
        charge("vercel", d, "60", service="Pro Seats", category="Purchase"),
        charge("vercel", d, credit, service="Pro Usage Credit", category="Credit"),
        charge("vercel", d, str(-Decimal(credit)), qty="100", unit="GB"),
    ]
    for r in rows:  # Vercel's day starts at 08:00Z
        r["ChargePeriodStart"] = r["ChargePeriodStart"].replace(hour=8)
        r["ChargePeriodEnd"] = r["ChargePeriodEnd"].replace(hour=8)
    write(store, "charges", rows)
    return store


def test_unused_part_of_an_ended_term_is_a_finding() -> None:
    with CostOptimizer(_store_with("-45")) as engine:
        result = engine.analyze_usage("2025-01")
    [rec] = [r for r in result.recommendations if r.rule_id == "vercel.unused_commitment"]
    assert rec.estimated_monthly_savings_usd == Decimal("15.00")
    assert rec.evidence["used"] == 45.0 and rec.evidence["committed"] == 60.0
    assert "$15.00 of 60.00 USD unused" in rec.title


def test_a_fully_used_term_is_no_finding() -> None:
    rule_ctx = RuleContext(_store_with("-60"), JAN, Config.load(), date(2025, 3, 1))
    assert unused_commitment(rule_ctx) == []
    # ...and the same term used for $45 is one (the rule, without the engine around it).
    rule_ctx = RuleContext(_store_with("-45"), JAN, Config.load(), date(2025, 3, 1))
    assert [c.savings_usd for c in unused_commitment(rule_ctx)] == [Decimal("15")]


def test_demo_purchase_and_credit_rows_carry_the_commitment(tmp_path: Path) -> None:
    with open_store(tmp_path / "demo.duckdb") as store:
        assert collect(demo_settings(load_settings()), store, JAN.window).ok
        out = export_focus(store, JAN, tmp_path / "f.parquet").path
    rows = duckdb.sql(
        f"SELECT ChargeCategory, CommitmentDiscountId, CommitmentDiscountCategory, "
        f"CommitmentDiscountType, CommitmentDiscountQuantity, CommitmentDiscountUnit, "
        f"sum(BilledCost) FROM '{out}' WHERE x_provider = 'vercel' AND ChargeCategory <> 'Usage' "
        f"GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("Credit", "cc_demo_pro_2025_01", "Spend", "Pro", None, None, Decimal("-60")),
        ("Purchase", "cc_demo_pro_2025_01", "Spend", "Pro", Decimal("60"), "USD", Decimal("60")),
    ]
    [(nulls,)] = duckdb.sql(
        f"SELECT count(*) FROM '{out}' WHERE ChargeCategory = 'Usage' "
        f"AND CommitmentDiscountId IS NOT NULL"
    ).fetchall()
    assert nulls == 0
