"""Checks on a whole store: row digests to compare runs, and ledger/slice consistency.

Used by the fault, idempotency and SIGKILL tests (tests/test_faults.py, tests/test_kill.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from contribux_costs.periods import Window
from contribux_costs.store import Store

# Columns that say *when* something was fetched or run, not *what* was collected.
VOLATILE = frozenset(
    {"fetched_at", "run_id", "started_at", "finished_at", "duration_ms", "applied_at", "built_at"}
)
# Upstash keeps no history: every run lands one more snapshot of "now" (same values when the
# demo clock is fixed), so these tables are compared as sets of rows.
SNAPSHOT_TABLES = frozenset(
    {"upstash_databases", "upstash_snapshots", "upstash_series", "upstash_info"}
)
# Neon's branches and compute settings are snapshots of "now" too (one per run).
NEON_SNAPSHOT_TABLES = frozenset({"neon_branches", "neon_computes"})
_SNAPSHOT_PAGES = "(provider = 'upstash' OR (provider = 'neon' AND endpoint = 'projects/settings'))"
_WINDOW = frozenset({"window_start", "window_end"})
NOT_DATA = frozenset({"ingest_ledger", "schema_migrations", "engine_focus_builds"})
PROVIDERS = ("openai", "vercel", "neon", "upstash")


def rows(
    store: Store,
    table: str,
    where: str = "",
    params: list[object] | None = None,
    drop: frozenset[str] = frozenset(),
) -> Counter[tuple[str, ...]]:
    """The table's rows (volatile and ``drop`` columns left out) as a multiset of text tuples."""
    names = store.query(f'SELECT * FROM "{table}" LIMIT 0').columns
    cols = [c for c in names if c not in VOLATILE | drop]
    listed = ", ".join(f'"{c}"' for c in cols)
    frame = store.query(f'SELECT {listed} FROM "{table}" {where}', params)
    return Counter(tuple(str(v) for v in row) for row in frame.rows())


def provider_data(store: Store, provider: str, last_day: date) -> dict[str, object]:
    """Everything a provider's collection put in the data tables, comparable across runs.

    Usage rows after ``last_day`` are left out: Upstash derives today's usage from the pair of
    its latest snapshots, which grows by one per run (see :data:`SNAPSHOT_TABLES`).
    """
    out: dict[str, object] = {
        "usage": rows(
            store, "usage", "WHERE provider = ? AND billing_date <= ?", [provider, last_day]
        ),
        "charges": rows(store, "charges", "WHERE provider = ?", [provider]),
    }
    if provider == "upstash":
        for table in sorted(SNAPSHOT_TABLES):
            out[table] = set(rows(store, table))
    if provider == "neon":
        for table in sorted(NEON_SNAPSHOT_TABLES):
            out[table] = set(rows(store, table))
    return out


def database_digest(store: Store, last_day: date) -> dict[str, object]:
    """Every data table (the ledger aside) as comparable rows; snapshot tables as sets."""
    out: dict[str, object] = {}
    for table in store.tables():
        if table in NOT_DATA:
            continue
        if table in SNAPSHOT_TABLES | NEON_SNAPSHOT_TABLES:
            out[table] = set(rows(store, table))
        elif table == "usage":
            out[table] = rows(store, table, "WHERE billing_date <= ?", [last_day])
        elif table == "raw_payloads":
            out[table] = rows(store, table, f"WHERE NOT {_SNAPSHOT_PAGES}")
            # Snapshots land one raw page set per run, in that run's own slice window.
            snapshot_pages = rows(store, table, f"WHERE {_SNAPSHOT_PAGES}", drop=_WINDOW)
            out["raw_payloads/upstash"] = set(snapshot_pages)
        else:
            out[table] = rows(store, table)
    return out


def check_consistent(store: Store) -> list[str]:
    """Problems between the ledger and the sliced tables (empty when consistent).

    Every row of a sliced table lies in an ``ok`` ledger slice of its provider/endpoint (no
    partial or unrecorded slice), and the latest ``ok`` slice of each provider/endpoint holds
    exactly the rows and raw pages its ledger row counted.
    """
    problems: list[str] = []
    sliced = store.query("SELECT table_name, time_column FROM slice_tables").rows()
    for table, col in sliced:
        orphans = store.scalar(
            f'SELECT count(*) FROM "{table}" t WHERE NOT EXISTS (SELECT 1 FROM ingest_ledger l '
            "WHERE l.status = 'ok' AND l.provider = t.provider AND l.endpoint = t.endpoint "
            f'AND t."{col}" >= l.window_start AND t."{col}" < l.window_end)'
        )
        if orphans:
            problems.append(f"{table}: {orphans} row(s) outside every ok ledger slice")
    latest = store.query(
        "SELECT provider, endpoint, window_start, window_end, rows, pages FROM ingest_ledger "
        "WHERE status = 'ok' QUALIFY row_number() OVER "
        "(PARTITION BY provider, endpoint ORDER BY finished_at DESC) = 1"
    ).rows()
    for provider, endpoint, start, end, want_rows, want_pages in latest:
        got = 0
        for table, col in sliced:
            got += store.scalar(
                f'SELECT count(*) FROM "{table}" WHERE provider = ? AND endpoint = ? '
                f'AND "{col}" >= ? AND "{col}" < ?',
                [provider, endpoint, start, end],
            )
        if got != want_rows:
            problems.append(f"{provider} {endpoint} {start}..{end}: {got} rows, ledger {want_rows}")
        pages = store.scalar(
            "SELECT count(*) FROM raw_payloads WHERE provider = ? AND endpoint = ? "
            "AND window_start = ? AND window_end = ?",
            [provider, endpoint, start, end],
        )
        if pages != want_pages:
            problems.append(
                f"{provider} {endpoint} {start}..{end}: {pages} pages, ledger {want_pages}"
            )
    return problems


def window_last_day(window: Window) -> date:
    """The last UTC date a window covers."""
    from datetime import timedelta

    return (window.end - timedelta(microseconds=1)).date()
