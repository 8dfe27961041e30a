"""FOCUS 1.3 columns of ``focus_charges`` (and the export), their types and allowed values."""

from __future__ import annotations

import polars as pl

MONEY = pl.Decimal(38, 12)
UTC_TS = pl.Datetime("us", "UTC")

# Column → polars type, in table order (the migration 030_focus.sql declares the same).
FOCUS_COLUMNS: dict[str, pl.DataType] = {
    "BilledCost": MONEY,
    "EffectiveCost": MONEY,
    "ListCost": MONEY,
    "ContractedCost": MONEY,
    "BillingAccountId": pl.String(),
    "BillingAccountName": pl.String(),
    "BillingCurrency": pl.String(),
    "BillingPeriodStart": UTC_TS,
    "BillingPeriodEnd": UTC_TS,
    "ChargeCategory": pl.String(),
    "ChargeClass": pl.String(),
    "ChargeDescription": pl.String(),
    "ChargeFrequency": pl.String(),
    "ChargePeriodStart": UTC_TS,
    "ChargePeriodEnd": UTC_TS,
    "ConsumedQuantity": MONEY,
    "ConsumedUnit": pl.String(),
    "ContractedUnitPrice": MONEY,
    "ListUnitPrice": MONEY,
    "PricingCategory": pl.String(),
    "PricingCurrency": pl.String(),
    "PricingQuantity": MONEY,
    "PricingUnit": pl.String(),
    "RegionId": pl.String(),
    "RegionName": pl.String(),
    "ResourceId": pl.String(),
    "ResourceName": pl.String(),
    "ResourceType": pl.String(),
    "ServiceCategory": pl.String(),
    "ServiceName": pl.String(),
    "ServiceProviderName": pl.String(),
    "HostProviderName": pl.String(),
    "InvoiceIssuerName": pl.String(),
    "SkuId": pl.String(),
    "SkuMeter": pl.String(),
    "SkuPriceId": pl.String(),
    "Tags": pl.String(),
    # FOCUS 1.3 columns added by migration 070 (issue 15); see spec_1_3.toml for their rules.
    **{c: pl.String() for c in ("ProviderName", "PublisherName", "InvoiceId")},
    **{c: pl.String() for c in ("SubAccountId", "SubAccountName", "SubAccountType")},
    **{
        c: pl.String()
        for c in (
            "CommitmentDiscountCategory",
            "CommitmentDiscountId",
            "CommitmentDiscountName",
            "CommitmentDiscountStatus",
            "CommitmentDiscountType",
        )
    },
    "CommitmentDiscountQuantity": MONEY,
    "CommitmentDiscountUnit": pl.String(),
    "x_provider": pl.String(),
    "x_cost_source": pl.String(),
    "x_price_entry": pl.String(),
    "x_list_price_entry": pl.String(),
    "x_plan": pl.String(),
    "x_allowance_used": MONEY,
    "x_billing_date": pl.Date(),
    "x_demo": pl.Boolean(),
    # Migration 080 (table order; the export puts FOCUS columns before x_ ones). FOCUS 1.3 split
    # cost allocation: set only on rows split from a shared cost (focus/split.py).
    "AllocatedMethodId": pl.String(),
    "AllocatedMethodDetails": pl.String(),
    "AllocatedResourceId": pl.String(),
    "AllocatedResourceName": pl.String(),
    "AllocatedTags": pl.String(),
    # Allocation (focus/allocation.py): one of ENVIRONMENTS or "unallocated"; owner or the same.
    "x_environment": pl.String(),
    "x_owner": pl.String(),
}


def export_columns(columns: list[str] | None = None) -> list[str]:
    """FOCUS columns first (table order), then the ``x_`` extensions (FOCUS: custom columns)."""
    names = list(columns if columns is not None else FOCUS_COLUMNS)
    return [c for c in names if not c.startswith("x_")] + [c for c in names if c.startswith("x_")]


# The export's order (kept for callers of the allocation branch): FOCUS columns, then x_ ones.
EXPORT_ORDER = tuple(export_columns())

# Columns FOCUS requires to be present and non-null in every row of this dataset.
MANDATORY_NON_NULL = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "x_cost_source",
    "x_price_entry",
)
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)
COST_SOURCES = ("billed", "computed", "estimated")

# Provider facts used for rows the package computes (billed rows keep the provider's own).
PROVIDER_NAMES = {"openai": "OpenAI", "vercel": "Vercel", "neon": "Neon", "upstash": "Upstash"}
SERVICE_NAMES = {
    "openai": "OpenAI API",
    "neon": "Neon Serverless Postgres",
    "upstash": "Upstash Redis",
}
SERVICE_CATEGORY = {
    "openai": "AI and Machine Learning",
    "neon": "Databases",
    "upstash": "Databases",
    "vercel": "Web",
}
RESOURCE_TYPES = {"openai": "Project", "neon": "Project", "upstash": "Database"}
