"""``contribux-costs collect`` in a subprocess that can be told to freeze inside a slice write.

Usage: ``python tests/kill_worker.py PROVIDER/ENDPOINT collect --month YYYY-MM`` (settings come
from the environment, as for the CLI). When the slice of PROVIDER/ENDPOINT is being written, after
its old rows were deleted and its new rows inserted but before the ledger row and the COMMIT, the
worker prints ``PAUSED`` and sleeps: the test then kills it with SIGKILL, i.e. in the middle of a
load. ``-`` instead of PROVIDER/ENDPOINT runs the CLI unchanged.
"""

from __future__ import annotations

import sys
import time

import duckdb
import polars as pl

from contribux_costs import cli
from contribux_costs.store import Store

PAUSE_S = 60.0  # far longer than any test waits: the kill always comes first


def freeze_at(target: str) -> None:
    """Patch the store so the write of ``target`` (provider/endpoint) stops before its commit."""
    provider, endpoint = target.split("/", 1)
    insert = Store.insert_frame

    def insert_frame(
        self: Store, con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame
    ) -> None:
        row = frame.row(0, named=True) if table == "ingest_ledger" and frame.height == 1 else {}
        if (row.get("provider"), row.get("endpoint"), row.get("status")) == (
            provider,
            endpoint,
            "ok",
        ):
            print("PAUSED", flush=True)
            time.sleep(PAUSE_S)
        insert(self, con, table, frame)

    Store.insert_frame = insert_frame  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if argv[0] != "-":
        freeze_at(argv[0])
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
