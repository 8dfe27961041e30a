"""Connection, migrations, slice writes and reads."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from contribux_costs.errors import StoreError
from contribux_costs.periods import Window
from contribux_costs.store.slices import SliceWrite


class Store:
    """A DuckDB database with the package's schema. Thread-safe through one lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self.con = con
        self.path = path
        self.lock = threading.RLock()

    # -- reads ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[object] | Mapping[str, object] | None = None
    ) -> pl.DataFrame:
        """Run a query and return a polars frame (duckdb 2 has no ``.pl()`` on results)."""
        with self.lock:
            rel = self.con.sql(sql, params=params or None)
            frame: pl.DataFrame = pl.DataFrame() if rel is None else rel.pl()
            return frame

    def scalar(self, sql: str, params: Sequence[object] | None = None) -> Any:
        with self.lock:
            # duckdb 2: a partly fetched result blocks the connection, so fetch everything.
            rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def tables(self) -> list[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name"
        )
        return [str(v) for v in rows["table_name"].to_list()]

    # -- writes --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def insert_frame(self, con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        """Bulk insert by column name from Arrow (never row by row)."""
        if frame.height == 0:
            return
        # One statement for the whole frame: DuckDB writes full row groups as it goes (several
        # INSERTs each leave a partial row group that the checkpoint has to rewrite).
        data = frame.to_arrow()
        for name in self._json_columns(con, table) & set(data.column_names):
            data = _trusted_json(con, data, name)
        self._insert_arrow(con, table, data)

    def _json_columns(self, con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
        rows = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND table_name = ? AND data_type = 'JSON'",
            [table],
        ).fetchall()
        return {str(r[0]) for r in rows}

    def _insert_arrow(self, con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
        # The registered name is per connection: hold the lock so two threads never share it.
        with self.lock:
            con.register("_incoming", data)
            try:
                con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _incoming')
            finally:
                # In an aborted transaction unregister fails too; that second error would hide
                # the first (the one worth reporting), so it is ignored.
                with contextlib.suppress(duckdb.Error):
                    con.unregister("_incoming")

    def write_slice(self, sw: SliceWrite, ledger: dict[str, object]) -> None:
        """Replace the slice and record the run in one transaction."""
        try:
            with self.transaction() as con:
                for table, frame in sw.tables.items():
                    self._delete_window(con, table, sw)
                    self.insert_frame(con, table, frame)
                self._land_raw(con, sw)
                self.insert_frame(con, "ingest_ledger", _ledger_frame(sw, ledger, "ok", None))
        except duckdb.Error as exc:
            raise StoreError(
                f"writing {sw.provider} {sw.endpoint} {sw.window} to {self.path} failed: {exc}"
            ) from exc

    def record_failure(
        self, provider: str, endpoint: str, window: Window, ledger: dict[str, object], error: str
    ) -> None:
        """Write a ``failed`` ledger row (the window's data is left as it was)."""
        sw = SliceWrite(provider, endpoint, window)
        try:
            with self.transaction() as con:
                self.insert_frame(con, "ingest_ledger", _ledger_frame(sw, ledger, "failed", error))
        except duckdb.Error as exc:
            raise StoreError(
                f"recording the failure of {provider} {endpoint} failed: {exc}"
            ) from exc

    def _delete_window(self, con: duckdb.DuckDBPyConnection, table: str, sw: SliceWrite) -> None:
        # A slice write deletes rows of its provider/endpoint whose time column falls in the window;
        # migrations register each sliced table and its time column in ``slice_tables``.
        rows = con.execute(
            "SELECT time_column FROM slice_tables WHERE table_name = ?", [table]
        ).fetchall()
        col = rows[0][0] if rows else None
        if col is None:
            raise StoreError(f"table {table!r} is not registered for slice writes")
        con.execute(
            f'DELETE FROM "{table}" WHERE provider = ? AND endpoint = ? '
            f'AND "{col}" >= ? AND "{col}" < ?',
            [sw.provider, sw.endpoint, sw.window.start, sw.window.end],
        )

    def _land_raw(self, con: duckdb.DuckDBPyConnection, sw: SliceWrite) -> None:
        con.execute(
            "DELETE FROM raw_payloads WHERE provider = ? AND endpoint = ? "
            "AND window_start >= ? AND window_end <= ?",
            [sw.provider, sw.endpoint, sw.window.start, sw.window.end],
        )
        # One statement per page (a row each, not a frame of every body): a month of minute
        # buckets is ~320 MB of bodies, and each extra copy of all of them (a polars frame, then
        # Arrow) raised the write's peak memory by that much; a parameter is copied once.
        for seq, page in enumerate(sw.raw):
            con.execute(
                "INSERT INTO raw_payloads (provider, endpoint, window_start, window_end, seq, "
                "request_params, fetched_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sw.provider,
                    sw.endpoint,
                    sw.window.start,
                    sw.window.end,
                    seq,
                    json.dumps(page.params, default=str),
                    page.fetched_at,
                    page.body,
                ],
            )

    # -- lifecycle -----------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Bring the schema to this release's version; return the versions applied.

        Every pending migration is applied in ONE transaction (all or nothing: a failure leaves
        the database at its old version, untouched). Migrations are additive only, so an older
        database keeps every row. A database written by a newer release is refused: its tables
        may hold columns this release would silently ignore or fail on.
        """
        known = _migrations()
        with self.transaction() as con:
            con.execute(_SCHEMA_MIGRATIONS)
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            check_version(self.path, done, [v for v, _, _ in known])
            applied = []
            for version, name, sql in known:
                if version in done:
                    continue
                con.execute(sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, name, datetime.now(UTC)],
                )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        """The highest migration applied (0 for a database without any)."""
        if "schema_migrations" not in self.tables():
            return 0
        return int(self.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations"))

    def close(self) -> None:
        with self.lock:
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _trusted_json(con: duckdb.DuckDBPyConnection, data: pa.Table, name: str) -> pa.Table:
    """A dictionary text column for a JSON column, typed as Arrow JSON once its *distinct*
    values are checked: DuckDB then stores it without parsing every row again (a tidy frame
    repeats one dimensions object per resource on ~7 rows per result). Anything else is left to
    DuckDB's own per-row cast (and its error)."""
    index = data.schema.get_field_index(name)
    column = data.column(index)
    kind = column.type
    if not pa.types.is_dictionary(kind) or kind.value_type not in (pa.string(), pa.large_string()):
        return data
    column = column.unify_dictionaries() if column.num_chunks > 1 else column
    chunks = []
    for chunk in column.chunks:
        values = chunk.dictionary
        con.register("_json_values", pa.table({"v": values}))
        try:
            bad = con.execute(
                "SELECT count(*) FROM _json_values WHERE v IS NOT NULL AND NOT json_valid(v)"
            ).fetchall()[0][0]
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister("_json_values")
        if bad:
            return data
        typed = pa.ExtensionArray.from_storage(pa.json_(values.type), values)
        chunks.append(pa.DictionaryArray.from_arrays(chunk.indices, typed))
    return data.set_column(index, name, pa.chunked_array(chunks))


def _ledger_frame(
    sw: SliceWrite, ledger: dict[str, object], status: str, error: str | None
) -> pl.DataFrame:
    row = {
        "run_id": ledger.get("run_id", ""),
        "provider": sw.provider,
        "endpoint": sw.endpoint,
        "window_start": sw.window.start,
        "window_end": sw.window.end,
        "status": status,
        "rows": sw.rows,
        "pages": len(sw.raw),
        "started_at": ledger["started_at"],
        "finished_at": ledger.get("finished_at") or datetime.now(UTC),
        "duration_ms": float(ledger.get("duration_ms", 0.0)),  # type: ignore[arg-type]
        "error": error,
        "demo": bool(ledger.get("demo", False)),
    }
    return pl.DataFrame([row])


_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)


def release_version() -> int:
    """This release's schema version: its highest migration number."""
    return max(v for v, _, _ in _migrations())


def check_version(path: str, done: set[int], known: list[int]) -> None:
    """Refuse a database holding a migration this release does not have (a newer release's)."""
    unknown = sorted(done - set(known))
    if unknown:
        raise StoreError(
            f"the database {path} has schema version {max(done)}, newer than this release's "
            f"{max(known)} (unknown migration(s) {', '.join(map(str, unknown))}): upgrade "
            "contribux-costs, or restore a backup made by this release"
        )


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("contribux_costs.store") / "migrations"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def open_store(path: str | Path = ":memory:", read_only: bool = False) -> Store:
    """Open (creating folders and applying migrations) the DuckDB store at ``path``.

    Every way this can fail for a reason outside the package (a path that cannot be created, a
    file another process holds, a damaged or truncated file, a database written by a newer
    release) is one :class:`StoreError` line naming the path.
    """
    target = str(path)
    if target != ":memory:":
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder for the DuckDB store {target} ({exc.strerror or exc}): "
                "choose a writable path with --db or CONTRIBUX_COSTS_DB"
            ) from None
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(_open_failure(target, exc)) from exc
    store = Store(con, target)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            store.migrate()
        elif "schema_migrations" in store.tables():
            done = {int(v) for v in store.query("SELECT version FROM schema_migrations")["version"]}
            check_version(target, done, [v for v, _, _ in _migrations()])
    except StoreError:
        store.close()
        raise
    except duckdb.Error as exc:
        store.close()
        raise StoreError(_open_failure(target, exc)) from exc
    return store


def _open_failure(target: str, exc: duckdb.Error) -> str:
    """One line saying why ``target`` could not be opened and what to do."""
    text = " ".join(str(exc).split())[:300]
    if "lock" in text.lower():
        hint = "another process is using it; wait for it or set CONTRIBUX_COSTS_DB to another path"
    elif isinstance(exc, duckdb.IOException) and Path(target).is_file():
        hint = (
            "the file is damaged or truncated; restore it from a backup "
            "(contribux-costs restore) or move it away to start over"
        )
    else:
        hint = "choose a writable path with --db or CONTRIBUX_COSTS_DB"
    return f"cannot open the DuckDB store at {target}: {text}. {hint}"
