"""The DuckDB store: one connection, versioned migrations, atomic slice replacement.

Every collector write is "delete this provider/endpoint's rows inside the window, insert the new
rows, land the raw pages, write the ledger row" in one transaction: a failure before COMMIT leaves
the previous slice untouched, and a re-run replaces instead of duplicating.
"""

from contribux_costs.store.core import Store, open_store
from contribux_costs.store.slices import RawPage, SliceWrite

__all__ = ["RawPage", "SliceWrite", "Store", "open_store"]
