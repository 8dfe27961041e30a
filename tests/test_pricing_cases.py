"""Hand-worked pricing cases, one per provider rule; the arithmetic is written out beside each."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_support import money, usage, write

from contribux_costs.collect.openai.collector import usage_frame as openai_usage_frame
from contribux_costs.periods import Month
from contribux_costs.pricing import DataQualityFinding, load_pricebook, price_usage
from contribux_costs.store import Store, open_store

SEP = Month.parse("2025-09")
D1 = date(2025, 9, 1)


@pytest.fixture
def store() -> Store:
    return open_store(":memory:")


def priced(
    store: Store, provider: str, month: Month = SEP, book_path: Path | None = None
) -> tuple[pl.DataFrame, list[DataQualityFinding]]:
    return price_usage(store, load_pricebook(book_path), month, [provider])


def total(lines: pl.DataFrame, col: str = "cost") -> Decimal:
    return money(lines[col].sum())


# -- Neon ------------------------------------------------------------------------------------
LAUNCH = {"plan": "launch"}


def test_neon_compute_500k_cu_seconds_on_launch(store: Store) -> None:
    # 500,000 CU-seconds / 3600 = 138.888889 CU-hours; × $0.14 = $19.444… → $19.44.
    write(store, "usage", [usage("neon", "cu_hours", "CU-hours", D1, 500_000 / 3600, dims=LAUNCH)])
    lines, findings = priced(store, "neon")
    compute = lines.filter(pl.col("sku") == "neon/compute")
    assert total(compute) == Decimal("19.44")
    assert compute["entry_id"].to_list() == ["neon.compute.launch.2025-08-14"]
    assert findings == []
    # $19.44 is above the Launch plan's $5 monthly minimum: no shortfall line.
    assert lines.filter(pl.col("charge_category") == "Purchase").height == 0


def test_a_day_stored_daily_and_hourly_is_priced_once(store: Store) -> None:
    # The same 138.888889 CU-hours as above, stored once as a daily row and again as 24 hourly
    # rows (a re-pull at another granularity): the day is read at one granularity → $19.44.
    daily = usage("neon", "cu_hours", "CU-hours", D1, 500_000 / 3600, dims=LAUNCH)
    hourly = [
        {
            **daily,
            "granularity": "hourly",
            "value": 500_000 / 3600 / 24,
            "period_start": daily["period_start"] + timedelta(hours=h),
            "period_end": daily["period_start"] + timedelta(hours=h + 1),
        }
        for h in range(24)
    ]
    write(store, "usage", [daily, *hourly])
    lines, _ = priced(store, "neon")
    assert total(lines.filter(pl.col("sku") == "neon/compute")) == Decimal("19.44")


def test_neon_root_branch_byte_hours_to_gb_months(store: Store) -> None:
    # 10 GB (decimal) held for a whole 744-hour Neon month: 10e9 B × 744 h = 7.44e12 byte-hours.
    # GB-months = 7.44e12 / 744 / 1e9 = 10 GB-months; × $0.35 = $3.50.
    byte_hours = 10e9 * 744
    gb_months = byte_hours / 744 / 1e9
    write(
        store,
        "usage",
        [
            usage(
                "neon",
                "root_branch_gb_months",
                "GB-months",
                D1,
                gb_months,
                service="storage",
                dims=LAUNCH,
            ),
            # and $15 of compute so the monthly minimum does not add a line
            usage("neon", "cu_hours", "CU-hours", D1, 15 / 0.14, dims=LAUNCH),
        ],
    )
    lines, _ = priced(store, "neon")
    assert total(lines.filter(pl.col("sku") == "neon/storage")) == Decimal("3.50")


def test_neon_transfer_allowance_is_org_wide_and_time_ordered(store: Store) -> None:
    # 100 GB/month included across the organization: project a uses 60 GB on the 1st, project b
    # 70 GB on the 2nd. Cumulative 60 (free) then 130: 30 GB billable on the 2nd × $0.10 = $3.00.
    write(
        store,
        "usage",
        [
            usage("neon", "public_transfer_gb", "GB", D1, 60, resource_id="a", dims=LAUNCH),
            usage(
                "neon",
                "public_transfer_gb",
                "GB",
                D1 + timedelta(days=1),
                70,
                resource_id="b",
                dims=LAUNCH,
            ),
        ],
    )
    lines, _ = priced(store, "neon")
    xfer = lines.filter(pl.col("sku") == "neon/public-transfer").sort("billing_date")
    assert [money(v) for v in xfer["cost"]] == [Decimal("0.00"), Decimal("3.00")]
    assert [float(v) for v in xfer["allowance_used"]] == [60.0, 40.0]


def test_neon_extra_branches_beyond_included_per_project(store: Store) -> None:
    # Source: usage-calculations.md, "Branch-hours and the allowance": extra_branches_month
    # counts ALL child branch-hours; Launch frees 9 child branches x 24 h = 216 branch-hours a
    # day per project. Project a: 12 child branches all day = 288 h → 72 billable; project b:
    # 8 branches = 192 h → 0 (its unused allowance never covers project a).
    write(
        store,
        "usage",
        [
            usage(
                "neon", "extra_branch_months", "branch-months", D1, 288 / 744, resource_id="a",
                dims=LAUNCH,
            ),
            usage(
                "neon", "extra_branch_months", "branch-months", D1, 192 / 744, resource_id="b",
                dims=LAUNCH,
            ),
        ],
    )  # fmt: skip
    lines, _ = priced(store, "neon")
    branches = lines.filter(pl.col("sku") == "neon/extra-branches").sort("resource_id")
    # Neon's worked example: 72 / 744 = 0.097 branch-months × $1.50 = $0.15.
    assert [money(v) for v in branches["cost"]] == [Decimal("0.15"), Decimal("0.00")]
    assert float(branches["billable"][0]) == pytest.approx(72 / 744)


def test_neon_launch_monthly_minimum_is_its_own_line(store: Store) -> None:
    # 10 CU-hours × $0.14 = $1.40 < $5.00 minimum → a $3.60 shortfall line, once for the month.
    write(
        store,
        "usage",
        [
            usage("neon", "cu_hours", "CU-hours", D1 + timedelta(days=i), 5, dims=LAUNCH)
            for i in range(2)
        ],
    )
    lines, _ = priced(store, "neon")
    minimum = lines.filter(pl.col("charge_category") == "Purchase")
    assert minimum.height == 1
    assert money(minimum["cost"][0]) == Decimal("3.60")
    assert minimum["entry_id"][0] == "neon.minimum.launch.2025-08-14"
    assert total(lines) == Decimal("5.00")


def test_neon_scale_plan_has_the_same_5_dollar_minimum(store: Store) -> None:
    # The August 2025 plans page: "$5/month minimum" on Launch AND Scale.
    # 10 CU-hours × $0.26 (Scale) = $2.60 → a $2.40 shortfall line; total $5.00.
    write(store, "usage", [usage("neon", "cu_hours", "CU-hours", D1, 10, dims={"plan": "scale"})])
    lines, _ = priced(store, "neon")
    assert total(lines) == Decimal("5.00")
    assert lines.filter(pl.col("charge_category") == "Purchase")["entry_id"].to_list() == [
        "neon.minimum.scale.2025-08-14"
    ]


def test_neon_one_minimum_for_launch_and_scale_projects(store: Store) -> None:
    # A Launch and a Scale project in one organization owe one $5 minimum, not two:
    # 1 CU-hour × $0.14 + 1 × $0.26 = $0.40 → shortfall $4.60; total $5.00.
    write(
        store,
        "usage",
        [
            usage("neon", "cu_hours", "CU-hours", D1, 1, resource_id="a", dims=LAUNCH),
            usage("neon", "cu_hours", "CU-hours", D1, 1, resource_id="b", dims={"plan": "scale"}),
        ],
    )
    lines, _ = priced(store, "neon")
    assert lines.filter(pl.col("charge_category") == "Purchase").height == 1
    assert total(lines) == Decimal("5.00")


def test_neon_compute_price_cut_on_2025_11_03(store: Store) -> None:
    # Neon's blog "Major compute price reduction on Neon" (2025-11-03, "Starting today"):
    # Launch $0.14 → $0.106. 10 CU-hours on 11-02 = $1.40; 10 on 11-03 = $1.06.
    nov = Month.parse("2025-11")
    write(
        store,
        "usage",
        [
            usage("neon", "cu_hours", "CU-hours", date(2025, 11, 2), 100, dims=LAUNCH),
            usage("neon", "cu_hours", "CU-hours", date(2025, 11, 3), 100, dims=LAUNCH),
        ],
    )
    lines, _ = priced(store, "neon", nov)
    compute = lines.filter(pl.col("sku") == "neon/compute").sort("billing_date")
    assert [money(v) for v in compute["cost"]] == [Decimal("14.00"), Decimal("10.60")]


def test_neon_2026_price_and_no_minimum(store: Store) -> None:
    # plans.md (2026): $0.106/CU-hour, "no minimum monthly fee": 10 CU-hours = $1.06, no line.
    jan = Month.parse("2026-01")
    write(store, "usage", [usage("neon", "cu_hours", "CU-hours", jan.first_day, 10, dims=LAUNCH)])
    lines, _ = priced(store, "neon", jan)
    assert total(lines) == Decimal("1.06")
    assert lines["entry_id"].to_list() == ["neon.compute.launch.2025-11-03"]


def test_price_change_mid_month_prices_each_day_at_its_own_price(
    store: Store, tmp_path: Path
) -> None:
    # Negotiated Launch compute: $0.12 until 2025-09-15, $0.10 from 2025-09-16 (override file).
    # 100 CU-hours on the 15th: 100 × 0.12 = $12.00; 100 on the 16th: 100 × 0.10 = $10.00.
    # ListCost keeps the shipped list price for both days: 200 × 0.14 = $28.00.
    path = tmp_path / "prices.toml"
    path.write_text(
        '[[entries]]\nid = "deal.v1"\nsku = "neon/compute"\nplan = "launch"\nunit = "CU-hours"\n'
        'pricing_unit = "CU-hour"\nprice = "0.12"\neffective_from = 2025-09-01\n'
        "effective_to = 2025-09-16\n"
        '[[entries]]\nid = "deal.v2"\nsku = "neon/compute"\nplan = "launch"\nunit = "CU-hours"\n'
        'pricing_unit = "CU-hour"\nprice = "0.10"\neffective_from = 2025-09-16\n'
    )
    write(
        store,
        "usage",
        [
            usage("neon", "cu_hours", "CU-hours", date(2025, 9, 15), 100, dims=LAUNCH),
            usage("neon", "cu_hours", "CU-hours", date(2025, 9, 16), 100, dims=LAUNCH),
        ],
    )
    lines, _ = priced(store, "neon", book_path=path)
    lines = lines.sort("billing_date")
    assert [money(v) for v in lines["cost"]] == [Decimal("12.00"), Decimal("10.00")]
    assert lines["entry_id"].to_list() == ["deal.v1", "deal.v2"]
    assert total(lines, "list_cost") == Decimal("28.00")


def test_neon_unknown_plan_is_a_finding_not_zero(store: Store) -> None:
    write(store, "usage", [usage("neon", "cu_hours", "CU-hours", D1, 42, dims={"plan": "agent"})])
    lines, findings = priced(store, "neon")
    assert lines.height == 0
    assert len(findings) == 1
    f = findings[0]
    assert (f.kind, f.subject, f.volume, f.rows) == ("unknown_price", "neon/compute", 42.0, 1)
    assert "plan 'agent'" in f.detail


# -- Upstash ---------------------------------------------------------------------------------
PAYG = {"database_type": "Pay as You Go", "region": "us-east-1"}


def test_upstash_commands_past_the_free_tier(store: Store) -> None:
    # A database that outgrew the Free plan's 500K commands runs on pay-as-you-go, where every
    # command bills (no free commands there): 200K a day for 5 days = 1M commands
    # = 10 × 100K × $0.20 = $2.00; each day 2 × $0.20 = $0.40.
    write(
        store,
        "usage",
        [
            usage("upstash", "commands", "commands", D1 + timedelta(days=i), 200_000, dims=PAYG)
            for i in range(5)
        ],
    )
    lines, _ = priced(store, "upstash")
    assert [money(v) for v in lines.sort("billing_date")["cost"]] == [Decimal("0.40")] * 5
    assert total(lines) == Decimal("2.00")
    assert float(lines["pricing_qty"].sum()) == 10.0  # 10 pricing units of 100K commands
    assert set(lines["entry_id"]) == {"upstash.commands.payg.2025"}


def test_upstash_free_plan_is_not_billed_within_its_tier(store: Store) -> None:
    # A Free database: 400K commands inside the Free plan's 500K → $0, recorded as allowance.
    free = {"database_type": "Free", "region": "us-east-1"}
    write(store, "usage", [usage("upstash", "commands", "commands", D1, 400_000, dims=free)])
    lines, findings = priced(store, "upstash")
    assert total(lines) == Decimal("0.00") and findings == []
    assert float(lines["allowance_used"][0]) == 400_000


def test_upstash_storage_gauge_and_bandwidth(store: Store) -> None:
    # Storage: a 3 GB gauge every day of September (30 days) = 30 × 3/30 = 3 GB-months;
    # first 1 GB free → 2 × $0.25 = $0.50. Bandwidth: 250 GB, 200 free → 50 × $0.03 = $1.50.
    rows = [usage("upstash", "storage_gb", "GB", d, 3, dims=PAYG) for d in SEP.dates()]
    rows.append(usage("upstash", "bandwidth_gb", "GB", D1, 250, dims=PAYG))
    write(store, "usage", rows)
    lines, findings = priced(store, "upstash")
    assert total(lines.filter(pl.col("sku") == "upstash/storage")) == Decimal("0.50")
    assert total(lines.filter(pl.col("sku") == "upstash/bandwidth")) == Decimal("1.50")
    assert set(lines.filter(pl.col("sku") == "upstash/storage")["unit"]) == {"GB-months"}
    assert findings == []


def test_upstash_fixed_plan_bills_its_fee_not_commands(store: Store) -> None:
    # A Fixed 1 GB database: $20 for the month whatever the commands; commands priced at $0.
    fixed = {"database_type": "Fixed 1GB", "region": "eu-west-1"}
    write(store, "usage", [usage("upstash", "commands", "commands", D1, 9_000_000, dims=fixed)])
    lines, _ = priced(store, "upstash")
    fee = lines.filter(pl.col("charge_category") == "Purchase")
    assert fee["entry_id"].to_list() == ["upstash.plan.fixed-1gb.2025"]
    assert total(lines) == Decimal("20.00")


def test_upstash_ignored_and_unmetered_metrics(store: Store) -> None:
    # hits/read_requests are volumes without a price (ignored); a new metric becomes a finding.
    write(
        store,
        "usage",
        [
            usage("upstash", "hits", "keys", D1, 1000, dims=PAYG),
            usage("upstash", "read_requests", "commands", D1, 1000, dims=PAYG),
            usage("upstash", "vector_queries", "queries", D1, 77, dims=PAYG),
        ],
    )
    _, findings = priced(store, "upstash")
    assert [(f.kind, f.metric, f.volume) for f in findings] == [
        ("unmetered_metric", "vector_queries", 77.0)
    ]


# -- Vercel ----------------------------------------------------------------------------------
def test_vercel_edge_request_allowance_consumed_mid_month(store: Store) -> None:
    # 10M Edge Requests included per month, team-wide. 4M a day: days 1–2 free (8M), day 3 uses
    # the last 2M and bills 2M, day 4 bills 4M. Billed 6M × $2.00 per 1M = $12.00; day 3 = $4.00.
    write(
        store,
        "usage",
        [
            usage(
                "vercel",
                "consumed_quantity",
                "Requests",
                D1 + timedelta(days=i),
                4_000_000,
                service="Edge Requests",
                resource_id="prj_1",
            )
            for i in range(4)
        ],
    )
    lines, _ = priced(store, "vercel")
    lines = lines.sort("billing_date")
    assert [money(v) for v in lines["list_cost"]] == [
        Decimal(x) for x in ("0", "0", "4.00", "8.00")
    ]
    assert lines["entry_id"][0] == "vercel.edge-requests.pro.2025"


# -- OpenAI ----------------------------------------------------------------------------------
def _completion(**fields: object) -> dict[str, object]:
    base = {
        "object": "organization.usage.completions.result",
        "num_model_requests": 100,
        "project_id": "proj_1",
        "model": "gpt-4o-2024-08-06",
        "user_id": None,
        "api_key_id": None,
        "batch": None,
        "_start": 1756684800,
        "_end": 1756771200,
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    "result",
    [
        # 2025 shape: input_tokens includes the cached ones; uncached = 1,000,000 − 400,000.
        _completion(input_tokens=1_000_000, input_cached_tokens=400_000, output_tokens=100_000),
        # 2026 shape: input_uncached_tokens is given and wins over the difference.
        _completion(
            input_tokens=1_000_000,
            input_cached_tokens=400_000,
            input_uncached_tokens=600_000,
            output_tokens=100_000,
        ),
    ],
    ids=["2025-fields", "2026-fields"],
)
def test_openai_cached_and_uncached_input(store: Store, result: dict[str, object]) -> None:
    # gpt-4o: 600,000 uncached × $2.50/1M = $1.50; 400,000 cached × $1.25/1M = $0.50;
    # 100,000 output × $10.00/1M = $1.00; total $3.00 (input_tokens itself is not priced).
    write(store, "usage", openai_usage_frame([result], "completions", "usage/completions", "1d"))
    lines, findings = priced(store, "openai")
    by = {r["component"]: money(r["cost"]) for r in lines.iter_rows(named=True)}
    assert by == {
        "input": Decimal("1.50"),
        "cached_input": Decimal("0.50"),
        "output": Decimal("1.00"),
    }
    assert findings == []


def test_openai_batch_is_half_price(store: Store) -> None:
    # Batch: 1,000,000 gpt-4o-mini output tokens × $0.60/1M × 50% = $0.30.
    result = _completion(
        model="gpt-4o-mini-2024-07-18",
        input_tokens=0,
        input_cached_tokens=0,
        output_tokens=1_000_000,
        batch=True,
    )
    frame = openai_usage_frame([result], "completions", "usage/completions", "1d")
    assert '"batch":"true"' in frame["dimensions"][0]  # the collector keeps the batch dimension
    write(store, "usage", frame)
    lines, _ = priced(store, "openai")
    out = lines.filter(pl.col("component") == "output")
    assert money(out["cost"][0]) == Decimal("0.30")
    assert out["entry_id"][0] == "openai.gpt-4o-mini.output.2025#batch"


def test_openai_unknown_model_is_a_finding_with_volume(store: Store) -> None:
    result = _completion(
        model="ft:gpt-4o-mini-2024-07-18:org::x",
        input_tokens=5000,
        input_cached_tokens=0,
        output_tokens=700,
    )
    write(store, "usage", openai_usage_frame([result], "completions", "usage/completions", "1d"))
    lines, findings = priced(store, "openai")
    assert lines.height == 0  # never priced at $0
    got = {(f.subject, f.metric, f.volume) for f in findings}
    # Priced parts (issue 14): the text input and output, each reported with its volume.
    assert ("ft:gpt-4o-mini-2024-07-18:org::x", "output_text_tokens", 700.0) in got
    assert ("ft:gpt-4o-mini-2024-07-18:org::x", "input_text_tokens", 5000.0) in got


def test_hourly_buckets_become_one_daily_line(store: Store) -> None:
    # 24 hourly Neon buckets of 5 CU-hours = 120 CU-hours on one day × $0.14 = $16.80, one line.
    rows = []
    for h in range(24):
        row = usage("neon", "cu_hours", "CU-hours", D1, 5, dims=LAUNCH)
        row["period_start"] += timedelta(hours=h)
        row["period_end"] = row["period_start"] + timedelta(hours=1)
        rows.append(row)
    write(store, "usage", rows)
    lines, _ = priced(store, "neon")
    compute = lines.filter(pl.col("sku") == "neon/compute")
    assert compute.height == 1 and total(compute) == Decimal("16.80")
    assert compute["period_end"][0] - compute["period_start"][0] == timedelta(days=1)


def test_hourly_gauge_is_averaged_not_summed(store: Store) -> None:
    # A 31 GB storage gauge sampled twice on one September day is 31 GB for that day:
    # 31 / 30 GB-months = 1.0333; minus the free 1 GB-month → 0.0333 × $0.25 = $0.0083 → $0.01.
    rows = [usage("upstash", "storage_gb", "GB", D1, 31, dims=PAYG) for _ in range(2)]
    rows[1]["period_start"] += timedelta(hours=12)
    write(store, "usage", rows)
    lines, _ = priced(store, "upstash")
    assert lines.height == 1
    assert float(lines["qty"][0]) == pytest.approx(31 / 30)
    assert total(lines) == Decimal("0.01")


@settings(max_examples=10, deadline=None)
@given(daily=st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=30))
def test_allowance_spreading_preserves_the_month(daily: list[int]) -> None:
    # Whatever the daily pattern, the month bills max(0, total − 100 GB) and no day goes negative.
    s = open_store(":memory:")
    write(
        s,
        "usage",
        [
            usage("neon", "public_transfer_gb", "GB", D1 + timedelta(days=i), v, dims=LAUNCH)
            for i, v in enumerate(daily)
        ],
    )
    lines, _ = priced(s, "neon")
    xfer = lines.filter(pl.col("sku") == "neon/public-transfer")
    assert Decimal(str(xfer["billable"].sum())) == max(Decimal(0), Decimal(sum(daily) - 100))
    assert (xfer["billable"].cast(pl.Float64) >= 0).all()
    assert (xfer["billable"] <= xfer["qty"]).all()


# -- Neon and Upstash as the providers bill them (issue 14) -----------------------------------
# Source for every Neon case: neondatabase/website content/docs/introduction/usage-calculations.md
JUNE26 = Month.parse("2026-06")


def _neon(metric: str, unit: str, d: date, value: float, **kw: object) -> dict[str, object]:
    dims = kw.pop("dims", LAUNCH)
    return usage("neon", metric, unit, d, value, dims=dims, **kw)  # type: ignore[arg-type]


def test_neon_guide_compute_example_on_scale(store: Store) -> None:
    # "Example: compute": 500000 CU-seconds on Scale = 138.89 CU-hours × $0.222 = $30.83.
    d = JUNE26.first_day
    write(store, "usage", [_neon("cu_hours", "CU-hours", d, 500000 / 3600, dims={"plan": "scale"})])
    lines, _ = priced(store, "neon", JUNE26)
    assert total(lines) == Decimal("30.83")


def test_neon_guide_storage_examples(store: Store) -> None:
    # "Example: storage": 2500000000000 byte-hours / 744 / 1e9 = 3.36 GB-months × $0.35 = $1.18,
    # on one project; "Byte-hours": 2 GB every day of a 31-day month (48000000000 byte-hours a
    # day) = 2.0 GB-months × $0.35 = $0.70, on another. July 2026 has 31 days.
    jul = Month.parse("2026-07")
    rows = [_neon("root_branch_gb_months", "GB-months", jul.first_day, 2.5e12 / 744 / 1e9)]
    rows += [
        _neon("root_branch_gb_months", "GB-months", d, 48e9 / 744 / 1e9, resource_id="two")
        for d in jul.dates()
    ]
    write(store, "usage", rows)
    lines, _ = priced(store, "neon", jul)
    by = {k[0]: money(v["cost"].sum()) for k, v in lines.group_by(["resource_id"])}
    assert by == {"r1": Decimal("1.18"), "two": Decimal("0.70")}


def test_neon_twelve_child_branches_all_month_on_launch(store: Store) -> None:
    # 12 child branches every hour of a 30-day month: 288 branch-hours a day, 216 free,
    # 72 × 30 = 2160 billable branch-hours / 744 = 2.903 branch-months × $1.50 = $4.35.
    # (The old rule netted 10 branch-months once a month: 288×30/744 − 10 = 1.61 → $2.42.)
    sep = Month.parse("2026-09")
    write(
        store,
        "usage",
        [_neon("extra_branch_months", "branch-months", d, 288 / 744) for d in sep.dates()],
    )
    lines, _ = priced(store, "neon", sep)
    assert total(lines) == Decimal("4.35")


def test_neon_thirty_branches_for_ten_days_then_none(store: Store) -> None:
    # 30 child branches for 10 days: (720 − 216) × 10 = 5040 branch-hours / 744 = 6.774
    # branch-months × $1.50 = $10.16 (the monthly netting of 9.68 − 10 billed $0).
    sep = Month.parse("2026-09")
    write(
        store,
        "usage",
        [_neon("extra_branch_months", "branch-months", d, 720 / 744) for d in sep.dates()[:10]],
    )
    lines, _ = priced(store, "neon", sep)
    assert total(lines) == Decimal("10.16")


def test_neon_branch_allowance_is_per_hour_on_hourly_data(store: Store) -> None:
    # Hourly buckets: 9 child branches free in each hour. 20 branches for 6 hours then 0:
    # (20 − 9) × 6 = 66 billable branch-hours / 744 × $1.50 = $0.133 → $0.13; the same day read
    # daily would net 120 − 216 → $0 (why the guide calls hourly data the closest match).
    d = JUNE26.first_day
    base = _neon("extra_branch_months", "branch-months", d, 20 / 744)
    rows = [
        {
            **base,
            "granularity": "hourly",
            "period_start": base["period_start"] + timedelta(hours=h),  # type: ignore[operator]
            "period_end": base["period_start"] + timedelta(hours=h + 1),  # type: ignore[operator]
        }
        for h in range(6)
    ]
    write(store, "usage", rows)
    lines, _ = priced(store, "neon", JUNE26)
    assert float(lines["billable"].sum()) == pytest.approx(66 / 744)
    assert total(lines) == Decimal("0.13")


def test_neon_public_transfer_allowance_is_org_wide_across_plans(store: Store) -> None:
    # "the 100 GB free allowance applies org-wide, not per project": 130 GB over three projects
    # on two plans (50 + 40 on Launch, 40 on Scale) → max(0, 130 − 100) × $0.10 = $3.00.
    d = JUNE26.first_day
    write(
        store,
        "usage",
        [
            _neon("public_transfer_gb", "GB", d, 50, resource_id="a"),
            _neon("public_transfer_gb", "GB", d, 40, resource_id="b"),
            _neon("public_transfer_gb", "GB", d, 40, resource_id="c", dims={"plan": "scale"}),
        ],
    )
    lines, _ = priced(store, "neon", JUNE26)
    assert total(lines.filter(pl.col("sku") == "neon/public-transfer")) == Decimal("3.00")


def test_neon_snapshot_and_private_transfer_are_priced(store: Store) -> None:
    # Snapshots $0.09/GB-month (any paid plan); private transfer $0.01/GB on Scale:
    # 10 GB-months × 0.09 = $0.90; 200 GB × 0.01 = $2.00.
    d, scale = JUNE26.first_day, {"plan": "scale"}
    write(
        store,
        "usage",
        [
            _neon("snapshot_storage_gb_months", "GB-months", d, 10, dims=scale),
            _neon("private_transfer_gb", "GB", d, 200, dims=scale),
        ],
    )
    lines, findings = priced(store, "neon", JUNE26)
    assert total(lines.filter(pl.col("sku") == "neon/snapshot-storage")) == Decimal("0.90")
    assert total(lines.filter(pl.col("sku") == "neon/private-transfer")) == Decimal("2.00")
    assert findings == []


def test_upstash_databases_beyond_ten_cost_50_cents_each(store: Store) -> None:
    # "up to 10 databases for free and beyond this you will be charged $0.5 per database"
    # (upstash/docs redis/overall/pricing.mdx): 13 databases → 3 × $0.50 = $1.50, one line.
    write(
        store,
        "usage",
        [
            usage("upstash", "commands", "commands", D1, 0, resource_id=f"db{i}", dims=PAYG)
            for i in range(13)
        ],
    )
    lines, _ = priced(store, "upstash")
    extra = lines.filter(pl.col("sku") == "upstash/extra-databases")
    assert extra.height == 1 and money(extra["cost"][0]) == Decimal("1.50")
    assert float(extra["billable"][0]) == 3.0 and float(extra["qty"][0]) == 13.0


def test_upstash_ten_databases_owe_nothing_extra(store: Store) -> None:
    write(
        store,
        "usage",
        [
            usage("upstash", "commands", "commands", D1, 0, resource_id=f"db{i}", dims=PAYG)
            for i in range(10)
        ],
    )
    lines, _ = priced(store, "upstash")
    assert lines.filter(pl.col("sku") == "upstash/extra-databases").height == 0


@pytest.mark.parametrize("name", ["fixed_1gb", "Fixed 1GB", "Fixed 1 GB", "FIXED 1GB"])
def test_upstash_fixed_plan_names_never_price_commands(store: Store, name: str) -> None:
    # Whatever spelling the API uses for the plan, a fixed plan bills its fee, never commands.
    fixed = {"database_type": name}
    write(store, "usage", [usage("upstash", "commands", "commands", D1, 9_000_000, dims=fixed)])
    lines, findings = priced(store, "upstash")
    assert total(lines) == Decimal("20.00") and findings == []


def test_upstash_api_spelling_of_pay_as_you_go_is_case_insensitive(store: Store) -> None:
    # 100K commands on "Pay As You Go" = $0.20 (not an unknown plan).
    dims = {"database_type": "Pay As You Go"}
    write(store, "usage", [usage("upstash", "commands", "commands", D1, 100_000, dims=dims)])
    lines, findings = priced(store, "upstash")
    assert total(lines) == Decimal("0.20") and findings == []


def test_upstash_storage_is_priced_on_the_daily_average_not_the_peak(store: Store) -> None:
    # Upstash: "we take daily average of your total data size". 1 GB for 20 days and 4 GB for
    # 10 days of September: average 2 GB → 1 GB past the free 1 GB × $0.25 = $0.25
    # (the 4 GB peak would say $0.75).
    rows = [
        usage("upstash", "storage_gb", "GB", d, 1 if i < 20 else 4, dims=PAYG)
        for i, d in enumerate(SEP.dates())
    ]
    write(store, "usage", rows)
    lines, _ = priced(store, "upstash")
    assert total(lines) == Decimal("0.25")
