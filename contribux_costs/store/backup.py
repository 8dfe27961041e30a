"""``backup`` and ``restore``: the history that cannot be collected again, kept outside the file.

Upstash snapshots, Postgres statistics snapshots and every raw payload exist only in the DuckDB
file. A backup is a folder: one Parquet file per table plus ``manifest.json`` (schema version,
row count, the sum of every money (DECIMAL) column and a SHA-256 per file). All tables are read
in ONE read transaction, so the snapshot is consistent even while nothing else may write.

A restore builds a NEW database next to the target (never over an existing file), applies this
release's migrations, loads every table in one transaction, checks the counts and money totals
against the manifest, and only then moves the file into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from contribux_costs.errors import StoreError
from contribux_costs.store.core import Store, open_store, release_version

FORMAT = "contribux-costs-backup/1"
MANIFEST = "manifest.json"
# Rows this release's own migrations write (the restored store has its own copy).
MIGRATION_OWNED = frozenset({"schema_migrations"})


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    tables: int
    rows: int
    billed: Decimal  # FOCUS BilledCost total, for the one-line summary


def backup(db: Path, output: Path) -> BackupResult:
    """Snapshot the store at ``db`` into the new folder ``output`` (see the module docstring)."""
    if not db.is_file():
        raise StoreError(f"no database at {db}: nothing to back up")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise StoreError(f"{output} already exists and is not an empty folder: choose a new one")
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        with open_store(db, read_only=True) as store:
            manifest = _snapshot(store, partial)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if output.exists():
            output.rmdir()
        partial.rename(output)  # the folder appears complete or not at all
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise StoreError(f"writing the backup to {output} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _result(output, manifest)


def _snapshot(store: Store, folder: Path) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    with store.lock:
        con = store.con
        con.execute("BEGIN TRANSACTION")  # one snapshot of every table
        try:
            version = store.schema_version()
            for table in _tables(con):
                target = folder / f"{table}.parquet"
                con.execute(
                    f"COPY (SELECT * FROM \"{table}\") TO '{_sql_path(target)}' "
                    "(FORMAT PARQUET, COMPRESSION ZSTD)"
                )
                tables[table] = {"file": target.name, **_totals(con, table, f'"{table}"')}
                tables[table]["sha256"] = _sha256(target)
        finally:
            con.execute("COMMIT")
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "source": store.path,
        "schema_version": version,
        "duckdb": duckdb.__version__,
        "tables": tables,
    }


def restore(folder: Path, db: Path) -> BackupResult:
    """Load the backup in ``folder`` into a new database at ``db`` and verify it."""
    if db.exists() or Path(f"{db}.wal").exists():
        raise StoreError(f"{db} already exists: restore refuses to overwrite; choose a new path")
    manifest = _read_manifest(folder)
    ours = release_version()
    if int(manifest["schema_version"]) > ours:
        raise StoreError(
            f"the backup in {folder} has schema version {manifest['schema_version']}, newer than "
            f"this release's {ours}: restore it with a newer contribux-costs"
        )
    building = db.with_name(f".{db.name}.restoring-{os.getpid()}")
    for leftover in (building, Path(f"{building}.wal")):
        leftover.unlink(missing_ok=True)
    try:
        with open_store(building) as store:
            _load(store, folder, manifest)
        building.rename(db)
    except BaseException:
        for leftover in (building, Path(f"{building}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    return _result(folder, manifest)


def _load(store: Store, folder: Path, manifest: dict[str, Any]) -> None:
    tables: dict[str, Any] = manifest["tables"]
    with store.transaction() as con:
        present = set(_tables(con))
        for table, entry in tables.items():
            if table in MIGRATION_OWNED:
                continue
            if table not in present:
                raise StoreError(f"the backup's table {table} is unknown to this release")
            source = f"read_parquet('{_sql_path(folder / entry['file'])}')"
            verb = "INSERT OR IGNORE" if _has_key(con, table) else "INSERT"
            con.execute(f'{verb} INTO "{table}" BY NAME SELECT * FROM {source}')
            _verify(con, table, source, entry)


def _verify(con: duckdb.DuckDBPyConnection, table: str, source: str, entry: dict[str, Any]) -> None:
    """Counts and money totals equal the manifest's. A keyed table may also hold rows this
    release's migrations wrote (``slice_tables``): there, every backed-up row must be present."""
    if _has_key(con, table):
        cols = ", ".join(f'"{c}"' for c in _columns(con, source))
        missing = con.execute(
            f"SELECT count(*) FROM (SELECT {cols} FROM {source} "
            f'EXCEPT SELECT {cols} FROM "{table}")'
        ).fetchone()
        if missing and missing[0]:
            raise StoreError(
                f"restored table {table} lacks {missing[0]} backed-up row(s); nothing was written"
            )
        return
    got = _totals(con, table, f'"{table}"')
    want = {"rows": entry["rows"], "money": entry["money"]}
    if got != want:
        raise StoreError(
            f"restored table {table} does not match the manifest ({got} != {want}); "
            "nothing was written"
        )


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{folder} holds no readable {MANIFEST}: not a backup ({exc})") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("tables"), dict):
        raise StoreError(f"{folder / MANIFEST} is not a {FORMAT} manifest")
    for table, entry in manifest["tables"].items():
        path = folder / str(entry.get("file", ""))
        if not path.is_file() or _sha256(path) != entry.get("sha256"):
            raise StoreError(f"the backup file for {table} ({path}) is missing or altered")
    return manifest


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _totals(con: duckdb.DuckDBPyConnection, table: str, source: str) -> dict[str, Any]:
    """Row count and the exact sum of every DECIMAL (money) column, as text."""
    money = [
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? AND data_type LIKE 'DECIMAL%' "
            "ORDER BY column_index",
            [table],
        ).fetchall()
    ]
    sums = "".join(f', sum("{c}")' for c in money)
    row = con.execute(f"SELECT count(*){sums} FROM {source}").fetchone() or (0,)
    return {
        "rows": int(row[0]),
        "money": {
            c: None if v is None else format(Decimal(v), "f")
            for c, v in zip(money, row[1:], strict=True)
        },
    }


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [str(d[0]) for d in con.execute(f"SELECT * FROM {source} LIMIT 0").description]


def _has_key(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
        [table],
    ).fetchone()
    return bool(found and found[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _result(folder: Path, manifest: dict[str, Any]) -> BackupResult:
    tables = manifest["tables"]
    billed = (tables.get("focus_charges", {}).get("money") or {}).get("BilledCost") or "0"
    rows = sum(int(t["rows"]) for t in tables.values())
    return BackupResult(folder, len(tables), rows, Decimal(billed))
