"""FOCUS 1.3 normalization: cost sources, allowed values, atomic rebuild, export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pricing_support import charge, money, usage, write

from contribux_costs.errors import ConfigError, StoreError
from contribux_costs.focus import FOCUS_COLUMNS, build_focus, export_focus, focus_totals
from contribux_costs.focus.schema import (
    CHARGE_CATEGORIES,
    CHARGE_FREQUENCIES,
    EXPORT_ORDER,
    MANDATORY_NON_NULL,
    SERVICE_CATEGORIES,
)
from contribux_costs.periods import Month
from contribux_costs.store import Store, open_store

SEP = Month.parse("2025-09")
D1, D2 = date(2025, 9, 1), date(2025, 9, 2)
LAUNCH = {"plan": "launch"}
PAYG = {"database_type": "Pay as You Go", "region": "us-east-1"}


def _ledger(provider: str, demo: bool) -> dict[str, object]:
    now = datetime(2025, 10, 1, tzinfo=UTC)
    return {
        "run_id": "r",
        "provider": provider,
        "endpoint": "x",
        "window_start": now,
        "window_end": now + timedelta(days=1),
        "status": "ok",
        "rows": 1,
        "pages": 1,
        "started_at": now,
        "finished_at": now,
        "duration_ms": 1.0,
        "demo": demo,
    }


@pytest.fixture
def store() -> Store:
    s = open_store(":memory:")
    write(
        s,
        "usage",
        [
            # Neon: 100 CU-hours × $0.14 = $14.00 (computed).
            usage("neon", "cu_hours", "CU-hours", D1, 100, dims=LAUNCH),
            # Upstash pay-as-you-go: 200K commands = 2 × $0.20 per 100K = $0.40 (computed).
            usage("upstash", "commands", "commands", D1, 200_000, dims=PAYG),
            # OpenAI gpt-4o-mini output: 1M tokens/day × $0.60/1M; day 1 billed, day 2 not yet.
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D1,
                1_000_000,
                service="completions",
                resource_id="proj_1",
                resource_name="gpt-4o-mini-2024-07-18",
            ),
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D2,
                1_000_000,
                service="completions",
                resource_id="proj_1",
                resource_name="gpt-4o-mini-2024-07-18",
            ),
            # An unknown model: a finding, never a row.
            usage(
                "openai",
                "output_tokens",
                "tokens",
                D2,
                123,
                service="completions",
                resource_id="proj_1",
                resource_name="mystery-model",
            ),
        ],
    )
    write(
        s,
        "charges",
        [
            charge("openai", D1, "0.61", line_item="gpt-4o-mini-2024-07-18, output"),
            charge(
                "vercel",
                D1,
                "1.50",
                service="Function Invocations",
                qty="2500000",
                unit="Invocations",
            ),
            charge("vercel", D1, "60", service="Pro Seats", category="Purchase"),
            charge("vercel", D2, "-1.50", service="Pro Usage Credit", category="Credit"),
        ],
    )
    write(s, "ingest_ledger", [_ledger("openai", True), _ledger("neon", False)])
    return s


def _rows(store: Store) -> pl.DataFrame:
    return store.query("SELECT * FROM focus_charges ORDER BY x_provider, x_billing_date")


def test_cost_sources_and_totals(store: Store) -> None:
    result = build_focus(store, SEP)
    # billed: 0.61 + 1.50 + 60 − 1.50 = 60.61; computed: 14.00 + 0.40; estimated: day 2 = 0.60.
    assert {k: money(v) for k, v in result.by_source.items()} == {
        "billed": Decimal("60.61"),
        "computed": Decimal("14.40"),
        "estimated": Decimal("0.60"),
    }
    assert money(result.billed_cost) == Decimal("75.61")
    rows = _rows(store)
    assert money(rows["BilledCost"].sum()) == Decimal("75.61")
    est = rows.filter(pl.col("x_cost_source") == "estimated")
    assert est["x_billing_date"].to_list() == [D2]
    assert est["x_price_entry"].to_list() == ["openai.gpt-4o-mini.output.2025"]


def test_totals_by_provider_and_source(store: Store) -> None:
    build_focus(store, SEP)
    totals = focus_totals(store, SEP)
    got = {(r["provider"], r["cost_source"]): money(r["BilledCost"]) for r in totals.to_dicts()}
    assert got == {
        ("neon", "computed"): Decimal("14.00"),
        ("openai", "billed"): Decimal("0.61"),
        ("openai", "estimated"): Decimal("0.60"),
        ("upstash", "computed"): Decimal("0.40"),
        ("vercel", "billed"): Decimal("60.00"),
    }
    assert money(totals["BilledCost"].sum()) == Decimal("75.61")


def test_mandatory_columns_and_allowed_values(store: Store) -> None:
    build_focus(store, SEP)
    rows = _rows(store)
    assert set(rows.columns) == set(FOCUS_COLUMNS)
    for col in MANDATORY_NON_NULL:
        assert rows[col].null_count() == 0, col
    assert set(rows["ChargeCategory"]) <= set(CHARGE_CATEGORIES)
    assert set(rows["ChargeFrequency"]) <= set(CHARGE_FREQUENCIES)
    assert set(rows["ServiceCategory"]) <= set(SERVICE_CATEGORIES)
    assert set(rows["BillingCurrency"]) == {"USD"}
    assert set(rows["x_cost_source"]) == {"billed", "computed", "estimated"}
    assert (rows["ChargePeriodStart"] < rows["ChargePeriodEnd"]).all()
    assert (rows["BillingPeriodStart"] < rows["BillingPeriodEnd"]).all()
    # FOCUS: ConsumedQuantity only on Usage rows.
    assert rows.filter(pl.col("ChargeCategory") != "Usage")["ConsumedQuantity"].null_count() == 2


def test_vercel_billing_period_is_the_los_angeles_month(store: Store) -> None:
    build_focus(store, SEP)
    rows = _rows(store)
    vercel = rows.filter(pl.col("x_provider") == "vercel")
    assert set(vercel["BillingPeriodStart"]) == {datetime(2025, 9, 1, 7, tzinfo=UTC)}
    neon = rows.filter(pl.col("x_provider") == "neon")
    assert set(neon["BillingPeriodStart"]) == {datetime(2025, 9, 1, tzinfo=UTC)}


def test_demo_flag_and_traceability(store: Store) -> None:
    build_focus(store, SEP)
    rows = _rows(store)
    flags = dict(rows.group_by("x_provider").agg(pl.col("x_demo").all()).iter_rows())
    assert flags == {"openai": True, "neon": False, "upstash": False, "vercel": False}
    billed = rows.filter(pl.col("x_cost_source") == "billed")
    assert "openai:costs:gpt-4o-mini-2024-07-18, output" in billed["x_price_entry"].to_list()
    computed = rows.filter(pl.col("x_cost_source") == "computed")
    assert (computed["SkuPriceId"] == computed["x_price_entry"]).all()


def test_unknown_model_is_stored_as_a_finding(store: Store) -> None:
    result = build_focus(store, SEP)
    assert [(f.subject, f.volume) for f in result.findings] == [("mystery-model", 123.0)]
    stored = store.query("SELECT subject, volume FROM pricing_findings WHERE month = '2025-09'")
    assert stored.rows() == [("mystery-model", 123.0)]
    assert _rows(store).filter(pl.col("ResourceName") == "mystery-model").height == 0


def test_empty_month_builds_no_rows(store: Store) -> None:
    result = build_focus(store, Month.parse("2024-02"))
    assert (result.rows, result.billed_cost, result.findings) == (0, Decimal(0), [])
    assert store.scalar("SELECT count(*) FROM focus_charges") == 0


def test_rebuild_replaces_only_its_month(store: Store) -> None:
    write(
        store, "usage", [usage("neon", "cu_hours", "CU-hours", date(2025, 10, 3), 10, dims=LAUNCH)]
    )
    build_focus(store, Month.parse("2025-10"))
    first = build_focus(store, SEP)
    again = build_focus(store, SEP)
    assert (
        first.rows
        == again.rows
        == store.scalar(
            "SELECT count(*) FROM focus_charges WHERE x_billing_date < DATE '2025-10-01'"
        )
    )
    # October keeps its rows: 10 CU-h × 0.14 = $1.40, plus the $3.60 Launch minimum shortfall.
    oct_total = store.scalar(
        "SELECT sum(BilledCost) FROM focus_charges WHERE x_billing_date >= DATE '2025-10-01'"
    )
    assert money(oct_total) == Decimal("5.00")


def test_failed_rebuild_keeps_the_previous_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_focus(store, SEP)
    before = store.scalar("SELECT count(*) FROM focus_charges")

    def boom(con: object, table: str, frame: pl.DataFrame) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "insert_frame", boom)
    with pytest.raises(StoreError, match="rebuilding focus_charges for 2025-09"):
        build_focus(store, SEP)
    assert store.scalar("SELECT count(*) FROM focus_charges") == before


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_round_trip(store: Store, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "exports" / f"focus{suffix}"
    result = export_focus(store, SEP, out)
    # 4 billed (openai day 1, three vercel), neon, upstash, 1 estimated (openai day 2)
    assert result.rows == 7 and money(result.billed_cost) == Decimal("75.61")
    read = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out, infer_schema=False)
    assert read.columns == list(EXPORT_ORDER)
    assert read.height == 7
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp file left
    if suffix == ".parquet":
        for col, dtype in FOCUS_COLUMNS.items():
            assert read.schema[col] == dtype, col
    total = read["BilledCost"].cast(pl.Decimal(38, 12)).sum()
    assert money(total) == money(result.billed_cost)


def test_export_rejects_unknown_suffix(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"use a \.parquet or \.csv"):
        export_focus(store, SEP, tmp_path / "focus.xlsx")
    assert list(tmp_path.iterdir()) == []
