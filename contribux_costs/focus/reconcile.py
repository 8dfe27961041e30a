"""Reconciliation: what the price book says usage should cost vs what the provider billed.

Per provider and month, where both sides exist:

- OpenAI: usage × list price vs the Costs API, by model family, over the days the Costs API has
  billed (a day it has not billed yet is an estimate, not a variance). Billed line items no usage
  explains (``web search tool calls``, fine-tunes, evals) are rows of their own.
- Vercel: ConsumedQuantity × Pro list price (allowances consumed in time order) vs BilledCost, by
  service.
- Upstash: the computed cost per database vs Upstash's own running month estimate
  (``total_monthly_billing``, collected as ``billing_usd_estimate``): not an invoice, but the
  provider's figure.

Example::

    rec = reconcile(store, Month.parse("2025-01"), threshold_pct=2.0)
    for row in rec.flagged:
        print(row.provider, row.key, row.variance_usd, row.detail)
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import polars as pl
from pydantic import BaseModel

from contribux_costs.errors import ConfigError
from contribux_costs.focus.reconcile_quantity import quantity_rows
from contribux_costs.periods import Month
from contribux_costs.pricing import PriceBook, load_pricebook, price_usage
from contribux_costs.store import Store

Kind = Literal[
    "total",
    "matched",
    "unexplained_billed",
    "unbilled_usage",
    "no_list_price",
    "not_usage",
    "quantity",
]
_LINE_ITEM = re.compile(r"^(?P<model>.+), (?:input|cached input|output)$")
# A residue below half a cent is rounding, not a variance.
CENT = Decimal("0.005")


class ReconRow(BaseModel):
    """One comparison: a model family (OpenAI), a service (Vercel) or an unexplained line item."""

    provider: str
    month: str
    key: str
    kind: Kind
    computed_usd: Decimal | None
    billed_usd: Decimal
    variance_usd: Decimal | None
    variance_pct: float | None
    flagged: bool
    detail: str
    # kind "quantity": the Costs API's quantity of a line item vs the usage volume (issue 15).
    billed_quantity: Decimal | None = None
    usage_quantity: Decimal | None = None
    quantity_unit: str | None = None


class Reconciliation(BaseModel):
    """All rows of a month, with the threshold used to flag them."""

    month: str
    threshold_pct: float
    rows: list[ReconRow]

    @property
    def flagged(self) -> list[ReconRow]:
        return [r for r in self.rows if r.flagged]

    def frame(self) -> pl.DataFrame:
        """The rows as a polars frame (money as Decimal)."""
        schema: dict[str, pl.DataType] = {
            "provider": pl.String(),
            "month": pl.String(),
            "key": pl.String(),
            "kind": pl.String(),
            "computed_usd": pl.Decimal(38, 12),
            "billed_usd": pl.Decimal(38, 12),
            "variance_usd": pl.Decimal(38, 12),
            "variance_pct": pl.Float64(),
            "flagged": pl.Boolean(),
            "detail": pl.String(),
            "billed_quantity": pl.Decimal(38, 12),
            "usage_quantity": pl.Decimal(38, 12),
            "quantity_unit": pl.String(),
        }
        return pl.DataFrame([r.model_dump() for r in self.rows], schema=schema)


def reconcile(
    store: Store, month: Month, threshold_pct: float = 2.0, book: PriceBook | None = None
) -> Reconciliation:
    """Computed vs billed per provider for ``month``; variances above ``threshold_pct`` flagged."""
    if threshold_pct < 0:
        raise ConfigError(f"reconciliation threshold {threshold_pct}% must be >= 0")
    book = book or load_pricebook()
    rows: list[ReconRow] = []
    for provider_rows in (
        _openai(store, book, month, threshold_pct),
        _vercel(store, book, month, threshold_pct),
        _upstash(store, book, month, threshold_pct),
    ):
        rows += _with_total(provider_rows, month, threshold_pct)
    return Reconciliation(month=str(month), threshold_pct=threshold_pct, rows=rows)


def _with_total(rows: list[ReconRow], month: Month, threshold: float) -> list[ReconRow]:
    """The provider's total over the rows that compare something (notes are left out)."""
    compared = [r for r in rows if r.computed_usd is not None]
    if not compared:
        return rows
    computed = sum((r.computed_usd or Decimal(0) for r in compared), Decimal(0))
    billed = sum((r.billed_usd for r in compared), Decimal(0))
    total = _matched(rows[0].provider, month, "(total)", computed, billed, threshold, "all")
    return [total.model_copy(update={"kind": "total"}), *rows]


def _openai(store: Store, book: PriceBook, month: Month, threshold: float) -> list[ReconRow]:
    billed = store.query(
        "SELECT x_line_item AS item, x_billing_date AS day, sum(BilledCost) AS billed "
        "FROM charges WHERE provider = 'openai' AND x_billing_date >= ? AND x_billing_date < ? "
        "GROUP BY ALL",
        [month.first_day, month.next.first_day],
    )
    if not billed.height:
        return []
    items = billed["item"].unique().to_list()
    family = {i: _item_family(book, i) for i in items}
    billed = billed.with_columns(
        pl.col("item").replace_strict(family, default=None, return_dtype=pl.String).alias("key")
    )
    lines, _ = price_usage(store, book, month, ["openai"])
    days = billed["day"].unique().implode()
    computed = (
        lines.filter(pl.col("billing_date").is_in(days))
        .group_by(pl.col("family").alias("key"))
        .agg(pl.col("cost").sum().alias("computed"))
        if lines.height
        else pl.DataFrame(schema={"key": pl.String, "computed": pl.Decimal(38, 12)})
    )
    by_family = (
        billed.filter(pl.col("key").is_not_null()).group_by("key").agg(pl.col("billed").sum())
    )
    out = _compare("openai", month, by_family, computed, threshold, "model family")
    for r in (
        billed.filter(pl.col("key").is_null())
        .group_by("item")
        .agg(pl.col("billed").sum())
        .sort("item")
        .iter_rows(named=True)
    ):
        out.append(_unexplained("openai", month, str(r["item"]), _dec(r["billed"]), threshold))
    return out + _quantities(store, book, month, lines, threshold)


def _quantities(
    store: Store, book: PriceBook, month: Month, lines: pl.DataFrame, threshold: float
) -> list[ReconRow]:
    billed = store.query(
        "SELECT x_line_item AS item, x_billing_date AS day, ConsumedQuantity AS quantity, "
        "ConsumedUnit AS unit, BilledCost AS cost FROM charges WHERE provider = 'openai' "
        "AND x_billing_date >= ? AND x_billing_date < ?",
        [month.first_day, month.next.first_day],
    )
    out = []
    for q in quantity_rows(billed, lines, book, TOOL_LINE_ITEMS):
        pct, flagged, detail = q.verdict(threshold)
        out.append(
            ReconRow(
                provider="openai",
                month=str(month),
                key=q.item,
                kind="quantity",
                computed_usd=None,
                # Volumes, not money: the line item's dollars are in its money row, so every
                # money column still sums to the provider's total.
                billed_usd=Decimal(0),
                variance_usd=None,
                variance_pct=pct,
                flagged=flagged,
                detail=detail,
                billed_quantity=q.billed,
                usage_quantity=q.usage,
                quantity_unit=q.unit,
            )
        )
    return out


# Costs API tool line items → the tool family their collected usage is priced under (issue 15).
TOOL_LINE_ITEMS = {
    "web search tool calls": "web-search",
    "code interpreter sessions": "code-interpreter",
}


def _item_family(book: PriceBook, item: str | None) -> str | None:
    """``"gpt-4o-2024-08-06, cached input"`` → ``gpt-4o``; ``web search tool calls`` →
    ``web-search``; fine-tunes, evals, uncollected tools → None (unexplained)."""
    if item in TOOL_LINE_ITEMS:
        return TOOL_LINE_ITEMS[item]
    m = _LINE_ITEM.match(item or "")
    return book.family(m.group("model")) if m else None


def _vercel(store: Store, book: PriceBook, month: Month, threshold: float) -> list[ReconRow]:
    billed = store.query(
        "SELECT ServiceName AS key, ChargeCategory = 'Usage' AS usage, sum(BilledCost) AS billed "
        "FROM charges WHERE provider = 'vercel' AND x_billing_date >= ? AND x_billing_date < ? "
        "GROUP BY ALL",
        [month.first_day, month.next.first_day],
    )
    if not billed.height:
        return []
    lines, findings = price_usage(store, book, month, ["vercel"])
    computed = (
        lines.group_by(pl.col("service").alias("key")).agg(
            pl.col("list_cost").sum().alias("computed")
        )
        if lines.height
        else pl.DataFrame(schema={"key": pl.String, "computed": pl.Decimal(38, 12)})
    )
    unpriced = {f.subject.removeprefix("vercel/") for f in findings if f.kind == "unknown_price"}
    usage = billed.filter(pl.col("usage")).group_by("key").agg(pl.col("billed").sum())
    out = _compare(
        "vercel",
        month,
        usage.filter(~pl.col("key").is_in(list(unpriced))),
        computed,
        threshold,
        "service",
    )
    for r in usage.filter(pl.col("key").is_in(list(unpriced))).iter_rows(named=True):
        out.append(
            _note(
                "vercel",
                month,
                str(r["key"]),
                "no_list_price",
                _dec(r["billed"]),
                "no Pro list price in the price book for this service's unit",
            )
        )
    for r in (
        billed.filter(~pl.col("usage"))
        .group_by("key")
        .agg(pl.col("billed").sum())
        .iter_rows(named=True)
    ):
        out.append(
            _note(
                "vercel",
                month,
                str(r["key"]),
                "not_usage",
                _dec(r["billed"]),
                "a purchase, tax, credit or adjustment: no usage to compare",
            )
        )
    return out


def _upstash(store: Store, book: PriceBook, month: Month, threshold: float) -> list[ReconRow]:
    """Computed cost per database vs Upstash's own running estimate (not an invoice)."""
    estimate = store.query(
        "SELECT resource_name AS key, sum(value) AS billed FROM usage "
        "WHERE provider = 'upstash' AND metric = 'billing_usd_estimate' "
        "AND billing_date >= ? AND billing_date < ? GROUP BY ALL",
        [month.first_day, month.next.first_day],
    )
    if not estimate.height:
        return []
    # The estimate is stored as a float volume; six decimals are more than it carries.
    estimate = estimate.with_columns(pl.col("billed").round(6).cast(pl.Decimal(38, 12)))
    lines, _ = price_usage(store, book, month, ["upstash"])
    # Account-level lines (the $0.50 per database beyond ten) are in no database's estimate.
    lines = lines.filter(pl.col("resource_id").is_not_null()) if lines.height else lines
    computed = (
        lines.group_by(pl.col("resource_name").alias("key")).agg(
            pl.col("cost").sum().alias("computed")
        )
        if lines.height
        else pl.DataFrame(schema={"key": pl.String, "computed": pl.Decimal(38, 12)})
    )
    return _compare(
        "upstash", month, estimate, computed, threshold, "database (vs Upstash's estimate)"
    )


def _compare(
    provider: str,
    month: Month,
    billed: pl.DataFrame,
    computed: pl.DataFrame,
    threshold: float,
    what: str,
) -> list[ReconRow]:
    joined = billed.join(computed, on="key", how="full", coalesce=True).sort("key")
    out = []
    for r in joined.iter_rows(named=True):
        b = _dec(r["billed"]) if r["billed"] is not None else None
        c = _dec(r["computed"]) if r["computed"] is not None else None
        if b is None:
            out.append(_unbilled(provider, month, str(r["key"]), c or Decimal(0), what))
        elif c is None:
            out.append(_unexplained(provider, month, str(r["key"]), b, threshold))
        else:
            out.append(_matched(provider, month, str(r["key"]), c, b, threshold, what))
    return out


def _matched(
    provider: str,
    month: Month,
    key: str,
    computed: Decimal,
    billed: Decimal,
    threshold: float,
    what: str,
) -> ReconRow:
    variance = billed - computed
    pct = float(variance / computed * 100) if computed else None
    flagged = abs(variance) >= CENT and (pct is None or abs(pct) > threshold)
    detail = f"{what} {key}: billed {billed:.2f} vs computed {computed:.2f} USD"
    return ReconRow(
        provider=provider,
        month=str(month),
        key=key,
        kind="matched",
        computed_usd=computed,
        billed_usd=billed,
        variance_usd=variance,
        variance_pct=pct,
        flagged=flagged,
        detail=detail,
    )


def _unexplained(
    provider: str, month: Month, key: str, billed: Decimal, threshold: float
) -> ReconRow:
    return ReconRow(
        provider=provider,
        month=str(month),
        key=key,
        kind="unexplained_billed",
        computed_usd=Decimal(0),
        billed_usd=billed,
        variance_usd=billed,
        variance_pct=None,
        flagged=abs(billed) >= CENT,
        detail=f"billed line item {key!r} ({billed:.2f} USD) is explained by no collected usage",
    )


def _unbilled(provider: str, month: Month, key: str, computed: Decimal, what: str) -> ReconRow:
    return ReconRow(
        provider=provider,
        month=str(month),
        key=key,
        kind="unbilled_usage",
        computed_usd=computed,
        billed_usd=Decimal(0),
        variance_usd=-computed,
        variance_pct=-100.0,
        flagged=abs(computed) >= CENT,
        detail=f"{what} {key}: usage worth {computed:.2f} USD at list price, no billed charge",
    )


def _note(provider: str, month: Month, key: str, kind: Kind, billed: Decimal, why: str) -> ReconRow:
    return ReconRow(
        provider=provider,
        month=str(month),
        key=key,
        kind=kind,
        computed_usd=None,
        billed_usd=billed,
        variance_usd=None,
        variance_pct=None,
        flagged=False,
        detail=f"{key}: {why}",
    )


def _dec(value: object) -> Decimal:
    return Decimal(str(value))
