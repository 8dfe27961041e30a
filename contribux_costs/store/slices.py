"""What a collector hands the store: rows per table for one (provider, endpoint, window)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from contribux_costs.periods import Window


@dataclass(frozen=True)
class RawPage:
    """One response body as received (secrets removed), with what was asked and when."""

    params: dict[str, object]
    fetched_at: datetime
    body: str


@dataclass
class SliceWrite:
    """Rows replacing everything the same provider/endpoint stored inside ``window``."""

    provider: str
    endpoint: str
    window: Window
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    raw: list[RawPage] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.height for f in self.tables.values())
