"""Build ``focus_charges`` for one billing month, atomically.

Billed rows come from the providers' own charges (Vercel, OpenAI Costs API). Computed rows price
the usage of providers that do not bill through an API (Neon, Upstash). Estimated rows price
OpenAI usage on days the Costs API has not filled yet. A month is placed by billing day
(``x_billing_date``: Los Angeles day for Vercel, UTC day otherwise).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from pydantic import BaseModel

from contribux_costs.errors import StoreError
from contribux_costs.focus.allocation import AllocationRules, load_allocation
from contribux_costs.focus.schema import (
    FOCUS_COLUMNS,
    PROVIDER_NAMES,
    RESOURCE_TYPES,
    SERVICE_CATEGORIES,
    SERVICE_CATEGORY,
    SERVICE_NAMES,
)
from contribux_costs.focus.split import allocate
from contribux_costs.periods import Month
from contribux_costs.pricing import (
    DataQualityFinding,
    PriceBook,
    findings_frame,
    load_pricebook,
    price_usage,
)
from contribux_costs.pricing.rate import registered
from contribux_costs.store import Store

BILLED_PROVIDERS = ("vercel", "openai")
COMPUTED_PROVIDERS = ("neon", "upstash")
ESTIMATED_PROVIDERS = ("openai",)
SUB_ACCOUNT_PROVIDERS = ("neon", "openai")


class FocusBuild(BaseModel):
    """What a build wrote: rows, BilledCost by cost source, and the pricing findings."""

    month: str
    rows: int
    billed_cost: Decimal
    by_source: dict[str, Decimal]
    findings: list[DataQualityFinding]


def build_focus(
    store: Store,
    month: Month,
    book: PriceBook | None = None,
    allocation: AllocationRules | None = None,
) -> FocusBuild:
    """Rebuild the month's FOCUS rows in one transaction (delete the month, insert).

    ``allocation``: the environment/owner rules (default: the ``[allocation]`` table of
    ``CONTRIBUX_COSTS_CONFIG`` over the defaults)."""
    book = book or load_pricebook()
    billed = _billed_rows(store, month)
    lines, findings = price_usage(store, book, month, [*COMPUTED_PROVIDERS, *ESTIMATED_PROVIDERS])
    computed = _computed_rows(lines, _billed_days(store, month), _demo_flags(store), month)
    frame = pl.concat([_conform(billed), _conform(computed)])
    frame = _conform(allocate(frame, allocation or _configured_allocation()))
    _replace_month(store, month, frame, findings_frame(findings), _openai_priced(month, lines))
    by_source = {
        str(r["x_cost_source"]): Decimal(str(r["BilledCost"]))
        for r in frame.group_by("x_cost_source")
        .agg(pl.col("BilledCost").sum())
        .iter_rows(named=True)
    }
    total = Decimal(str(frame["BilledCost"].sum())) if frame.height else Decimal(0)
    return FocusBuild(
        month=str(month),
        rows=frame.height,
        billed_cost=total,
        by_source=by_source,
        findings=findings,
    )


def _configured_allocation() -> AllocationRules:
    from contribux_costs.config import load_settings

    return load_allocation(load_settings().contribux_costs_config)


def _replace_month(
    store: Store,
    month: Month,
    frame: pl.DataFrame,
    findings: pl.DataFrame,
    openai: pl.DataFrame | None = None,
) -> None:
    first, nxt = month.first_day, month.next.first_day
    try:
        with store.transaction() as con:
            con.execute(
                "DELETE FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ?",
                [first, nxt],
            )
            con.execute("DELETE FROM pricing_findings WHERE month = ?", [str(month)])
            store.insert_frame(con, "focus_charges", frame)
            store.insert_frame(con, "pricing_findings", findings)
            if openai is not None:  # the priced OpenAI rows the analysis reads, same transaction
                con.execute("DELETE FROM openai_priced WHERE month = ?", [str(month)])
                store.insert_frame(con, "openai_priced", openai)
    except (
        Exception
    ) as exc:  # duckdb errors (constraint, type) become a StoreError naming the month
        raise StoreError(f"rebuilding focus_charges for {month} failed: {exc}") from exc


OPENAI_PRICED = (
    "provider", "endpoint", "service", "resource_id", "resource_name", "metric", "unit",
    "period_start", "period_end", "billing_date", "dimensions", "component", "plan", "batch",
    "entry_id", "qty", "cost",
)  # fmt: skip


def _openai_priced(month: Month, lines: pl.DataFrame) -> pl.DataFrame:
    """Every day's priced OpenAI usage (billed days too): the analysis reads these rows."""
    if not lines.height:
        return pl.DataFrame()
    openai = lines.filter((pl.col("provider") == "openai") & (pl.col("charge_category") == "Usage"))
    return openai.select(pl.lit(str(month)).alias("month"), *OPENAI_PRICED)


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Every FOCUS column, in table order, with its type (missing ones as typed nulls)."""
    if frame.width == 0:  # selecting only literals from an empty frame would make one null row
        return pl.DataFrame(schema=FOCUS_COLUMNS)
    return frame.select(
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in FOCUS_COLUMNS.items()
    )


def _billed_days(store: Store, month: Month) -> pl.DataFrame:
    return store.query(
        "SELECT DISTINCT x_billing_date AS billing_date FROM charges WHERE provider = 'openai' "
        "AND x_billing_date >= ? AND x_billing_date < ?",
        [month.first_day, month.next.first_day],
    )


def _demo_flags(store: Store) -> dict[str, bool]:
    rows = store.query(
        "SELECT provider, bool_or(demo) AS demo FROM ingest_ledger WHERE status = 'ok' GROUP BY 1"
    )
    return {str(r["provider"]): bool(r["demo"]) for r in rows.iter_rows(named=True)}


def _computed_rows(
    lines: pl.DataFrame, billed_days: pl.DataFrame, demo: dict[str, bool], month: Month
) -> pl.DataFrame:
    """Priced usage → FOCUS rows; OpenAI lines only for days its Costs API has not billed."""
    if not lines.height:
        return pl.DataFrame()
    billed = (
        billed_days["billing_date"].implode()
        if billed_days.height
        else pl.lit([]).cast(pl.List(pl.Date))
    )
    lines = lines.filter((pl.col("provider") != "openai") | ~pl.col("billing_date").is_in(billed))
    usage = pl.col("charge_category") == "Usage"
    window = month.window
    return lines.select(
        pl.col("cost").alias("BilledCost"),
        pl.col("cost").alias("EffectiveCost"),
        pl.col("list_cost").alias("ListCost"),
        pl.col("cost").alias("ContractedCost"),
        pl.col("provider").alias("BillingAccountId"),
        _map("provider", PROVIDER_NAMES).alias("BillingAccountName"),
        pl.lit("USD").alias("BillingCurrency"),
        pl.lit(window.start).alias("BillingPeriodStart"),
        pl.lit(window.end).alias("BillingPeriodEnd"),
        pl.col("charge_category").alias("ChargeCategory"),
        _description().alias("ChargeDescription"),
        pl.col("charge_frequency").alias("ChargeFrequency"),
        pl.col("period_start").alias("ChargePeriodStart"),
        pl.col("period_end").alias("ChargePeriodEnd"),
        pl.when(usage).then(pl.col("qty")).alias("ConsumedQuantity"),
        pl.when(usage).then(pl.col("unit")).alias("ConsumedUnit"),
        pl.col("unit_price").alias("ContractedUnitPrice"),
        pl.col("list_unit_price").alias("ListUnitPrice"),
        pl.lit("Standard").alias("PricingCategory"),
        pl.lit("USD").alias("PricingCurrency"),
        pl.col("pricing_qty").alias("PricingQuantity"),
        pl.col("pricing_unit").alias("PricingUnit"),
        _dimension("region").alias("RegionId"),
        # FOCUS: RegionName MUST NOT be null when RegionId is not; the providers give ids only.
        _dimension("region").alias("RegionName"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("resource_name").alias("ResourceName"),
        _map("provider", RESOURCE_TYPES).alias("ResourceType"),
        _map("provider", SERVICE_CATEGORY).alias("ServiceCategory"),
        _map("provider", SERVICE_NAMES).alias("ServiceName"),
        _map("provider", PROVIDER_NAMES).alias("ServiceProviderName"),
        _map("provider", PROVIDER_NAMES).alias("HostProviderName"),
        _map("provider", PROVIDER_NAMES).alias("InvoiceIssuerName"),
        pl.col("sku").alias("SkuId"),
        pl.col("metric").alias("SkuMeter"),
        pl.col("entry_id").alias("SkuPriceId"),
        pl.col("dimensions").alias("Tags") if "dimensions" in lines.columns else pl.lit(None),
        *_provider_columns(),
        *_sub_account(),
        pl.col("provider").alias("x_provider"),
        pl.when(pl.col("provider") == "openai")
        .then(pl.lit("estimated"))
        .otherwise(pl.lit("computed"))
        .alias("x_cost_source"),
        pl.col("entry_id").alias("x_price_entry"),
        pl.col("list_entry_id").alias("x_list_price_entry"),
        pl.col("plan").replace("", None).alias("x_plan"),
        pl.col("allowance_used").alias("x_allowance_used"),
        pl.col("billing_date").alias("x_billing_date"),
        pl.col("provider")
        .replace_strict(demo, default=False, return_dtype=pl.Boolean)
        .alias("x_demo"),
    )


def _provider_columns() -> list[pl.Expr]:
    # ProviderName/PublisherName are deprecated in FOCUS 1.3 but still part of it: kept beside
    # ServiceProviderName so pre-1.3 consumers keep working.
    return [
        _map("provider", PROVIDER_NAMES).alias("ProviderName"),
        _map("provider", PROVIDER_NAMES).alias("PublisherName"),
    ]


def _sub_account() -> list[pl.Expr]:
    """Neon and OpenAI projects are FOCUS sub-accounts; Upstash databases belong to the account."""
    sub = pl.col("provider").is_in(SUB_ACCOUNT_PROVIDERS)
    # OpenAI's usage rows name no project, only its id, so the id doubles as the name (FOCUS:
    # SubAccountName MUST NOT be null when SubAccountId is not null).
    name = pl.when(pl.col("provider") == "neon").then(pl.col("resource_name"))
    return [
        pl.when(sub).then(pl.col("resource_id")).alias("SubAccountId"),
        pl.when(sub).then(name.otherwise(pl.col("resource_id"))).alias("SubAccountName"),
        pl.when(sub).then(pl.lit("Project")).alias("SubAccountType"),
    ]


def _map(col: str, mapping: dict[str, str]) -> pl.Expr:
    return pl.col(col).replace_strict(mapping, default="Other", return_dtype=pl.String)


def _dimension(key: str) -> pl.Expr:
    return pl.col("dimensions").str.json_path_match(f"$.{key}")


def _description() -> pl.Expr:
    allowance = pl.col("allowance_used").cast(pl.Float64).round(6)
    return pl.format(
        "{} {}: {} {} at {} USD per {}{}",
        pl.col("sku"),
        pl.col("metric"),
        pl.col("qty").cast(pl.Float64).round(6),
        pl.col("unit"),
        pl.col("unit_price").cast(pl.Float64),
        pl.col("pricing_unit"),
        pl.when(allowance > 0)
        .then(pl.format(", {} within the monthly allowance", allowance))
        .otherwise(pl.lit("")),
    )


def _billed_rows(store: Store, month: Month) -> pl.DataFrame:
    refs = pl.DataFrame(
        {
            "provider": list(PROVIDER_NAMES),
            "default_category": [SERVICE_CATEGORY.get(p, "Other") for p in PROVIDER_NAMES],
        }
    )
    cats = pl.DataFrame({"category": list(SERVICE_CATEGORIES)})
    demo = pl.DataFrame(
        list(_demo_flags(store).items()),
        schema={"provider": pl.String, "demo": pl.Boolean},
        orient="row",
    )
    utc, la = month.window, month.la_window
    params = {
        "first": month.first_day,
        "next": month.next.first_day,
        "us": utc.start,
        "ue": utc.end,
        "ls": la.start,
        "le": la.end,
    }
    with registered(store, {"_f_refs": refs, "_f_cats": cats, "_f_demo": demo}):
        return store.query(_BILLED_SQL, params)


_BILLED_SQL = """
SELECT c.BilledCost,
       coalesce(c.EffectiveCost, c.BilledCost) AS EffectiveCost,
       coalesce(c.ListCost, c.EffectiveCost, c.BilledCost) AS ListCost,
       coalesce(c.EffectiveCost, c.BilledCost) AS ContractedCost,
       c.provider AS BillingAccountId, c.ServiceProviderName AS BillingAccountName,
       c.BillingCurrency,
       CASE WHEN c.provider = 'vercel' THEN $ls ELSE $us END AS BillingPeriodStart,
       CASE WHEN c.provider = 'vercel' THEN $le ELSE $ue END AS BillingPeriodEnd,
       c.ChargeCategory,
       coalesce(c.ChargeDescription, c.ServiceName, c.SkuId) AS ChargeDescription,
       CASE c.ChargeCategory WHEN 'Usage' THEN 'Usage-Based' WHEN 'Purchase' THEN 'Recurring'
            ELSE 'One-Time' END AS ChargeFrequency,
       c.ChargePeriodStart, c.ChargePeriodEnd,
       CASE WHEN c.ChargeCategory = 'Usage' THEN c.ConsumedQuantity END AS ConsumedQuantity,
       CASE WHEN c.ChargeCategory = 'Usage' THEN c.ConsumedUnit END AS ConsumedUnit,
       coalesce(c.PricingCategory, 'Standard') AS PricingCategory,
       c.BillingCurrency AS PricingCurrency, c.PricingQuantity, c.PricingUnit,
       c.RegionId, coalesce(c.RegionName, c.RegionId) AS RegionName, c.ResourceId, c.ResourceName,
       CASE WHEN k.category IS NOT NULL THEN c.ServiceCategory
            ELSE coalesce(r.default_category, 'Other') END AS ServiceCategory,
       coalesce(c.ServiceName, c.ServiceProviderName) AS ServiceName,
       c.ServiceProviderName, c.ServiceProviderName AS HostProviderName,
       c.ServiceProviderName AS InvoiceIssuerName,
       c.SkuId, c.Tags::VARCHAR AS Tags,
       c.ServiceProviderName AS ProviderName, c.ServiceProviderName AS PublisherName,
       c.x_project_id AS SubAccountId,
       CASE WHEN c.x_project_id IS NOT NULL
            THEN coalesce(json_extract_string(c.Tags, '$.ProjectName'), c.x_project_id) END
           AS SubAccountName,
       CASE WHEN c.x_project_id IS NOT NULL THEN 'Project' END AS SubAccountType,
       cc.ContractCommitmentId AS CommitmentDiscountId,
       coalesce(cc.ContractCommitmentDescription,
                cc.ContractCommitmentType || ' commitment ' || cc.ContractCommitmentId)
           AS CommitmentDiscountName,
       cc.ContractCommitmentCategory AS CommitmentDiscountCategory,
       cc.ContractCommitmentType AS CommitmentDiscountType,
       -- FOCUS: a (recurring) Purchase carries the quantity eligible in its charge period.
       CASE WHEN c.ChargeCategory = 'Purchase' THEN coalesce(cc.ContractCommitmentQuantity,
            cc.ContractCommitmentCost) END AS CommitmentDiscountQuantity,
       CASE WHEN c.ChargeCategory = 'Purchase' THEN cc.ContractCommitmentUnit END
           AS CommitmentDiscountUnit,
       c.provider AS x_provider, 'billed' AS x_cost_source,
       c.provider || ':' || c.endpoint || ':'
           || coalesce(c.x_line_item, c.SkuId, c.ServiceName, 'charge') AS x_price_entry,
       c.x_billing_date, coalesce(d.demo, false) AS x_demo
FROM charges c
LEFT JOIN _f_refs r ON r.provider = c.provider
LEFT JOIN _f_cats k ON k.category = c.ServiceCategory
LEFT JOIN _f_demo d ON d.provider = c.provider
-- Vercel's contract commitment whose term holds a Purchase or Credit charge (the plan fee and the
-- usage credit it includes): the FOCUS commitment-discount columns of those rows.
LEFT JOIN LATERAL (
    SELECT * FROM contract_commitments k
    WHERE k.provider = c.provider AND c.ChargeCategory IN ('Purchase', 'Credit')
      AND c.ChargePeriodStart >= k.ContractCommitmentPeriodStart
      AND c.ChargePeriodStart < k.ContractCommitmentPeriodEnd
    ORDER BY k.ContractCommitmentPeriodStart DESC, k.ContractCommitmentId LIMIT 1
) cc ON true
WHERE c.x_billing_date >= $first AND c.x_billing_date < $next
"""
