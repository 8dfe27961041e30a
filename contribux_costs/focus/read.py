"""Read helpers over ``focus_charges`` for reports and the CLI."""

from __future__ import annotations

import polars as pl

from contribux_costs.periods import Month
from contribux_costs.store import Store


def focus_totals(store: Store, month: Month) -> pl.DataFrame:
    """BilledCost, EffectiveCost and ListCost by provider and cost source for a built month.

    Example: ``focus_totals(store, Month.parse("2025-01"))["BilledCost"].sum()`` is the month's
    total, the figure the FOCUS export sums to.
    """
    return store.query(
        "SELECT x_provider AS provider, x_cost_source AS cost_source, count(*) AS rows, "
        "sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, "
        "sum(ListCost) AS ListCost FROM focus_charges "
        "WHERE x_billing_date >= ? AND x_billing_date < ? GROUP BY ALL ORDER BY 1, 2",
        [month.first_day, month.next.first_day],
    )
