"""Data-quality findings of pricing: volumes the price book cannot price (never priced at $0)."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel

from contribux_costs.periods import Month

FindingKind = Literal["unknown_price", "unmetered_metric"]


class DataQualityFinding(BaseModel):
    """A volume left unpriced, with enough detail to add the missing price or meter.

    ``unknown_price``: a metered usage row matched no price-book entry (unknown model, SKU, plan
    or unit). ``unmetered_metric``: a metric with a non-zero volume that no meter prices and the
    book's ignore list does not name.
    """

    kind: FindingKind
    provider: str
    month: str
    subject: str
    metric: str
    unit: str
    volume: float
    rows: int
    detail: str


def unpriced_findings(
    unpriced: pl.DataFrame,
    unmetered: pl.DataFrame,
    month: Month,
    ignore: dict[str, tuple[str, ...]],
) -> list[DataQualityFinding]:
    """Group unpriced lines and unmetered metrics into findings (one per subject and metric)."""
    out: list[DataQualityFinding] = []
    if unpriced.height:
        grouped = (
            unpriced.group_by("provider", "sku", "plan", "metric", "unit", "resource_name")
            .agg(pl.col("qty").cast(pl.Float64).sum().alias("volume"), pl.len().alias("rows"))
            .filter(pl.col("volume") != 0)
            .sort("provider", "sku", "metric")
        )
        for r in grouped.iter_rows(named=True):
            plan = f", plan {r['plan']!r}" if r["plan"] else ""
            out.append(
                DataQualityFinding(
                    kind="unknown_price",
                    provider=r["provider"],
                    month=str(month),
                    subject=str(
                        r["resource_name"] if r["sku"].startswith("openai/?") else r["sku"]
                    ),
                    metric=r["metric"],
                    unit=r["unit"],
                    volume=r["volume"],
                    rows=r["rows"],
                    detail=f"no price-book entry for {r['sku']}{plan} in unit {r['unit']!r}: "
                    "add one (or an override) so this volume is priced",
                )
            )
    for r in unmetered.iter_rows(named=True):
        if r["metric"] in ignore.get(r["provider"], ()):
            continue
        out.append(
            DataQualityFinding(
                kind="unmetered_metric",
                provider=r["provider"],
                month=str(month),
                subject=str(r["resource_name"] or r["service"]),
                metric=r["metric"],
                unit=r["unit"],
                volume=float(r["volume"]),
                rows=r["rows"],
                detail=f"{r['provider']} metric {r['metric']!r} has volume but no meter prices it",
            )
        )
    return out


def findings_frame(findings: list[DataQualityFinding]) -> pl.DataFrame:
    """Findings as a frame (for reports and the store)."""
    schema: dict[str, pl.DataType] = {n: pl.String() for n in DataQualityFinding.model_fields}
    schema.update({"volume": pl.Float64(), "rows": pl.Int64()})
    return pl.DataFrame([f.model_dump() for f in findings], schema=schema)
