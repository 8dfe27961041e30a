"""Export FOCUS rows for a range of billing months: one file, or Hive-partitioned Parquet.

    export_focus_range(store, Month.parse("2026-09"), Month.parse("2026-11"), "focus.parquet")
    export_focus_range(store, first, last, "focus/", partitioned=True)
    # -> focus/x_billing_month=2026-09/data.parquet, ... (read back with hive_partitioning)

Each month is rebuilt first (as ``export_focus`` does) so the file matches the reports.
"""

from __future__ import annotations

import os
from pathlib import Path

from contribux_costs.errors import ConfigError, StoreError
from contribux_costs.focus import export as single
from contribux_costs.focus.build import build_focus
from contribux_costs.focus.export import FORMATS, ExportResult, month_filter, select_focus
from contribux_costs.periods import Month
from contribux_costs.pricing import PriceBook
from contribux_costs.store import Store

# x_ so a reader that turns the folder names into a column still sees a conforming dataset.
PARTITION_KEY = "x_billing_month"
MAX_MONTHS = 120  # ten years: a typo in --from should fail, not rebuild a century


def months_between(first: Month, last: Month) -> list[Month]:
    """``first``..``last`` inclusive; a reversed or too long range is a one-line ConfigError."""
    if last < first:
        raise ConfigError(f"export range {first}..{last}: --from is after --to")
    out = [first]
    while out[-1] < last:
        out.append(out[-1].next)
        if len(out) > MAX_MONTHS:
            raise ConfigError(f"export range {first}..{last}: more than {MAX_MONTHS} months")
    return out


def export_focus_range(
    store: Store,
    first: Month,
    last: Month,
    path: Path | str,
    book: PriceBook | None = None,
    partitioned: bool = False,
) -> list[ExportResult]:
    """Write months ``first``..``last``: one file at ``path``, or one Parquet file per month
    under the directory ``path`` (``x_billing_month=YYYY-MM/data.parquet``). One result per file."""
    months = months_between(first, last)
    target = Path(path)
    if not partitioned and FORMATS.get(target.suffix.lower()) is None:
        raise ConfigError(
            f"cannot export FOCUS rows to {target.name!r}: use a .parquet or .csv file name"
        )
    for month in months:
        build_focus(store, month, book)
    if not partitioned:
        where = month_filter(first, last)
        _atomic(store, select_focus(where), target, FORMATS[target.suffix.lower()])
        return [single.result(store, target, where)]
    results = []
    for month in months:
        where = month_filter(month, month)
        part = target / f"{PARTITION_KEY}={month}" / "data.parquet"
        _atomic(store, select_focus(where), part, FORMATS[".parquet"])
        results.append(single.result(store, part, where))
    return results


def _atomic(store: Store, query: str, target: Path, fmt: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        single.write(store, query, tmp, fmt)
        os.replace(tmp, target)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"exporting FOCUS rows to {target} failed: {exc}") from exc
