"""Export a month of ``focus_charges`` to Parquet or CSV (chosen by the file's suffix).

CLI shape (the whole command)::

    store = open_store(settings.contribux_costs_db)
    book = load_pricebook(settings.contribux_costs_prices)
    result = export_focus(store, Month.parse(month), Path(output), book=book)
    print(f"{result.rows} rows, BilledCost {result.billed_cost} USD -> {result.path}")
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from contribux_costs.errors import ConfigError, StoreError
from contribux_costs.focus.build import build_focus
from contribux_costs.focus.schema import export_columns
from contribux_costs.periods import Month
from contribux_costs.pricing import PriceBook
from contribux_costs.store import Store

FORMATS = {".parquet": "(FORMAT parquet, COMPRESSION zstd)", ".csv": "(FORMAT csv, HEADER true)"}


class ExportResult(BaseModel):
    """Where the export went, its rows, and their BilledCost total (to check against reports)."""

    path: Path
    rows: int
    billed_cost: Decimal


def export_focus(
    store: Store,
    month: Month,
    path: Path | str,
    book: PriceBook | None = None,
    rebuild: bool = True,
) -> ExportResult:
    """Write the month's FOCUS rows to ``path`` (.parquet or .csv), rebuilding them first.

    The file is written next to its target and renamed into place, so a failed export never
    leaves a half-written file behind.
    """
    target = Path(path)
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot export FOCUS rows to {target.name!r}: use a .parquet or .csv file name"
        )
    if rebuild:
        build_focus(store, month, book)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    where = month_filter(month, month)
    try:
        write(store, select_focus(where), tmp, fmt)
        os.replace(tmp, target)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"exporting FOCUS rows for {month} to {target} failed: {exc}") from exc
    return result(store, target, where)


def month_filter(first: Month, last: Month) -> str:
    """SQL condition placing a ``focus_charges`` row in the months ``first``..``last``."""
    return (
        f"x_billing_date >= DATE '{first.first_day}' "
        f"AND x_billing_date < DATE '{last.next.first_day}'"
    )


def select_focus(where: str, extra: str = "") -> str:
    """The export query: FOCUS columns first, then ``x_`` ones (FOCUS's rule for custom columns)."""
    # Tags is DuckDB JSON; written as text so Parquet readers see a string, as FOCUS expects.
    cols = ", ".join(
        f'"{c}"::VARCHAR AS "{c}"' if c == "Tags" else f'"{c}"' for c in export_columns()
    )
    order = "x_billing_date, x_provider, ChargePeriodStart, SkuId"
    return f"SELECT {cols}{extra} FROM focus_charges WHERE {where} ORDER BY {order}"


def write(store: Store, query: str, tmp: Path, fmt: str) -> None:
    """COPY one query's rows to ``tmp`` (one seam: tests check every file written here)."""
    quoted = str(tmp).replace("'", "''")
    with store.lock:
        store.con.execute(f"COPY ({query}) TO '{quoted}' {fmt}")


def result(store: Store, target: Path, where: str) -> ExportResult:
    total = store.scalar(f"SELECT coalesce(sum(BilledCost), 0) FROM focus_charges WHERE {where}")
    rows = store.scalar(f"SELECT count(*) FROM focus_charges WHERE {where}")
    return ExportResult(path=target, rows=int(rows), billed_cost=Decimal(str(total)))
