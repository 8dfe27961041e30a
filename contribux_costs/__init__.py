"""contribux-costs: cost and capacity analytics for the contribux platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contribux_costs.analysis.engine import CostOptimizer

__all__ = ["CostOptimizer"]


def __getattr__(name: str) -> object:
    # Imported on first use: ``contribux-costs`` (whose entry point imports this package first)
    # must reach its Ctrl-C handler before DuckDB, polars and the engine load (seconds on a busy
    # machine), so an early Ctrl-C exits 130 quietly instead of printing an import traceback.
    if name == "CostOptimizer":
        from contribux_costs.analysis.engine import CostOptimizer

        return CostOptimizer
    raise AttributeError(f"module 'contribux_costs' has no attribute {name!r}")
