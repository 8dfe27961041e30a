"""Normalization to FOCUS 1.3: one cost table (``focus_charges``) per billing month, and its export.

build_focus(store, month)              # rebuild the month's rows (billed, computed, estimated)
export_focus(store, month, "x.parquet")  # write them with FOCUS names and types (or .csv)
"""

from contribux_costs.focus.build import FocusBuild, build_focus
from contribux_costs.focus.export import ExportResult, export_focus
from contribux_costs.focus.read import focus_totals
from contribux_costs.focus.schema import FOCUS_COLUMNS

__all__ = [
    "FOCUS_COLUMNS",
    "ExportResult",
    "FocusBuild",
    "build_focus",
    "export_focus",
    "focus_totals",
]
