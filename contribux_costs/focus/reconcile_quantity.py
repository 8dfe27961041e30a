"""OpenAI Costs API quantities per line item vs the collected usage volumes.

The Costs API can report a ``quantity`` and ``quantity_unit`` per line item (kept on the
``charges`` row as ConsumedQuantity / ConsumedUnit). Where it does, the billed quantity of each
line item (``"gpt-4o-2024-08-06, cached input"`` → family gpt-4o, component cached_input;
``"web search tool calls"`` → web-search calls) is compared with the usage the Usage API reported
for the same family and component over the days the Costs API billed. A dollar match can hide a
volume mismatch (two components priced alike), so these are rows of their own (kind
``quantity``; no money, so they never enter a provider's total).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from contribux_costs.pricing import PriceBook

_COMPONENT = re.compile(r"^(?P<model>.+), (?P<part>input|cached input|output)$")


def line_item_key(book: PriceBook, item: str, tools: dict[str, str]) -> tuple[str, str] | None:
    """(family, price-book component) a line item bills, or None when no usage meters it."""
    if item in tools:
        return tools[item], "calls" if tools[item] != "code-interpreter" else "sessions"
    m = _COMPONENT.match(item)
    family = book.family(m.group("model")) if m else None
    if m is None or family is None:
        return None
    return family, m.group("part").replace(" ", "_")


@dataclass(frozen=True)
class QuantityCheck:
    """A line item's billed quantity and the usage volume metering it (None: no usage)."""

    item: str
    unit: str
    billed: Decimal
    usage: Decimal | None
    billed_usd: Decimal

    def verdict(self, threshold: float) -> tuple[float | None, bool, str]:
        """(variance %, flagged, detail) at ``threshold`` percent."""
        where = f"line item {self.item!r} (${self.billed_usd:,.2f})"
        billed = _num(self.billed)
        if self.usage is None:
            # The money comparison already flags a line item no usage explains.
            return None, False, f"{where}: billed {billed} {self.unit}, no usage metered for it"
        pct = float((self.billed - self.usage) / self.usage * 100) if self.usage else None
        flagged = self.billed != self.usage and (pct is None or abs(pct) > threshold)
        text = f"{where}: billed {billed} vs usage {_num(self.usage)} {self.unit}"
        return pct, flagged, text


def _num(value: Decimal) -> str:
    return format(value.normalize(), ",f")


def quantity_rows(
    billed: pl.DataFrame, lines: pl.DataFrame, book: PriceBook, tools: dict[str, str]
) -> list[QuantityCheck]:
    """Per billed line item with a quantity: billed vs usage quantity (same days, same unit).

    ``billed``: item, day, quantity, unit, cost (charges rows); ``lines``: priced usage lines.
    """
    billed = billed.filter(pl.col("quantity").is_not_null())
    if not billed.height:
        return []
    days = billed["day"].unique().implode()
    usage = (
        lines.filter(pl.col("billing_date").is_in(days))
        .group_by("family", "component", "unit")
        .agg(pl.col("qty").sum())
        if lines.height
        else pl.DataFrame()
    )
    out = []
    sums = billed.group_by("item", "unit").agg(pl.col("quantity").sum(), pl.col("cost").sum())
    for r in sums.sort("item").rows():
        item, unit, qty = str(r[0]), str(r[1] or ""), Decimal(str(r[2]))
        used = _usage_qty(usage, line_item_key(book, item, tools), unit)
        out.append(QuantityCheck(item, unit, qty, used, Decimal(str(r[3]))))
    return out


def _usage_qty(usage: pl.DataFrame, key: tuple[str, str] | None, unit: str) -> Decimal | None:
    if key is None or not usage.height:
        return None
    hit = usage.filter(
        (pl.col("family") == key[0])
        & (pl.col("component") == key[1])
        & (pl.col("unit").str.to_lowercase() == unit.lower())
    )
    return Decimal(str(hit["qty"].sum())) if hit.height else None
