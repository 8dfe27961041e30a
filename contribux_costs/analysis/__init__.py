"""Stage 4 — analysis: rules, forecasts, anomalies, cache model, alerts; the engine.

Each rule is a small function over DuckDB/polars reading the priced month; :mod:`.engine`
(``CostOptimizer``, re-exported at the package root) runs them, settles their dollars through the
savings ledger and assembles the typed result. No module here imports the engine or the report.
May import: the shared basics, store, collect (Postgres deltas), pricing, focus.
"""
