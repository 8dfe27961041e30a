"""Postgres statistics of the Neon database: ``pg_stat_statements`` and ``pg_stat_database``.

Slow queries, query load and the buffer-cache hit ratio are not in the Neon API; they come from the
database itself over ``DATABASE_URL``. Both views hold counters that are cumulative since the last
reset, so each run stores a *snapshot* (kept with its ``fetched_at``) and analyses diff consecutive
snapshots (:mod:`contribux_costs.collect.postgres.deltas`).

Access is read-only: every transaction is opened ``READ ONLY`` by psycopg (this works through
Neon's transaction-mode pooler too, where startup ``options`` are refused), with a short connect
timeout and a ``statement_timeout`` local to the transaction. The connection string never reaches
an error message or a table: messages pass through :func:`redact` with the URL and its password.

On Neon, statistics live in the compute's memory: a compute suspend (scale to zero) or restart
resets them, which the deltas detect; the activity since the previous snapshot is then lost, so
snapshot often enough. But a connection also wakes a suspended compute (and keeps it up for the
suspend timeout), so a snapshot schedule tighter than the application's own traffic costs compute:
daily, or hourly during business hours, is the trade-off the README recommends.

The role needs ``pg_read_all_stats`` (Neon's ``neon_superuser`` has it) to see other roles'
statements; without it PostgreSQL hides their text and ``queryid`` and those rows are skipped.

In the demo workspace (no ``DATABASE_URL``) the same collector reads
:class:`contribux_costs.demo.postgres.DemoPostgres`, which returns rows of the same shape and
replays one snapshot per simulated day, so a demo month has a history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import polars as pl
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from pydantic import SecretStr

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, ConfigError
from contribux_costs.periods import Window
from contribux_costs.redact import redact
from contribux_costs.store.slices import SliceWrite

PROVIDER = "postgres"
STATEMENTS = "pg_stat_statements"
DATABASE = "pg_stat_database"
ENDPOINTS = (STATEMENTS, DATABASE)
TABLES = {STATEMENTS: "pg_statements_snapshots", DATABASE: "pg_database_snapshots"}
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 30_000
APPLICATION_NAME = "contribux-costs"
# Counters the analysis needs; any pg_stat_statements older than 1.8 (PostgreSQL 13) lacks them.
REQUIRED_COLUMNS = frozenset(
    {
        "queryid",
        "calls",
        "total_exec_time",
        "mean_exec_time",
        "rows",
        "shared_blks_hit",
        "shared_blks_read",
    }
)
MISSING_EXTENSION = (
    "pg_stat_statements is not installed: CREATE EXTENSION pg_stat_statements; needs "
    "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf (preloaded on Neon)"
)
NOT_PRELOADED = (
    "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries and "
    "restart the server"
)
# A quoted literal left in a statement PostgreSQL did not normalize (utility commands such as
# ALTER ROLE … PASSWORD '…'): never store query parameters.
_LITERAL = r"'(?:[^']|'')*'"

# fmt: off
STATEMENT_SCHEMA: dict[str, pl.DataType] = {
    "dbid": pl.Int64(), "datname": pl.String(), "userid": pl.Int64(), "rolname": pl.String(),
    "queryid": pl.Int64(), "toplevel": pl.Boolean(), "query": pl.String(), "calls": pl.Int64(),
    "total_exec_time": pl.Float64(), "mean_exec_time": pl.Float64(), "rows": pl.Int64(),
    "shared_blks_hit": pl.Int64(), "shared_blks_read": pl.Int64(),
    "stats_reset": pl.Datetime("us", "UTC"),
}
DATABASE_SCHEMA: dict[str, pl.DataType] = {
    "datid": pl.Int64(), "datname": pl.String(), "numbackends": pl.Int32(),
    "xact_commit": pl.Int64(), "xact_rollback": pl.Int64(), "blks_read": pl.Int64(),
    "blks_hit": pl.Int64(), "tup_returned": pl.Int64(), "tup_fetched": pl.Int64(),
    "tup_inserted": pl.Int64(), "tup_updated": pl.Int64(), "tup_deleted": pl.Int64(),
    "temp_files": pl.Int64(), "temp_bytes": pl.Int64(), "deadlocks": pl.Int64(),
    "blk_read_time": pl.Float64(), "blk_write_time": pl.Float64(),
    "stats_reset": pl.Datetime("us", "UTC"),
}
# fmt: on
SCHEMAS = {STATEMENTS: STATEMENT_SCHEMA, DATABASE: DATABASE_SCHEMA}

_DATABASE_SQL = """
SELECT d.datid, d.datname, d.numbackends, d.xact_commit, d.xact_rollback, d.blks_read,
       d.blks_hit, d.tup_returned, d.tup_fetched, d.tup_inserted, d.tup_updated, d.tup_deleted,
       d.temp_files, d.temp_bytes, d.deadlocks, d.blk_read_time, d.blk_write_time, d.stats_reset
FROM pg_catalog.pg_stat_database d
JOIN pg_catalog.pg_database db ON db.oid = d.datid
WHERE NOT db.datistemplate
ORDER BY d.datname
"""
_EXTENSION_SQL = """
SELECT e.extversion, n.nspname FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
"""
_COLUMNS_SQL = """
SELECT attname FROM pg_catalog.pg_attribute
WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped
"""


class StatsSource(Protocol):
    """Where snapshot rows come from: the live database, or the demo's simulated one."""

    @property
    def server(self) -> str:
        """``host:port`` of the server read (a label without credentials)."""
        ...

    @property
    def replays_window(self) -> bool:
        """True when a task's snapshots cover its whole window (the demo replay), so the slice
        write replaces the window; False for a live snapshot, which replaces only its second."""
        ...

    def snapshot_times(self, window: Window, now: datetime) -> list[datetime]:
        """The instants to snapshot for a task over ``window`` (live: just ``now``)."""
        ...

    def read(self, endpoint: str, at: datetime) -> list[dict[str, Any]]:
        """The view's rows at ``at``, with the columns of :data:`SCHEMAS` ``[endpoint]``."""
        ...


@dataclass
class PostgresCollector:
    """Snapshots both statistics views; one task (and one connection) per view."""

    source: StatsSource
    secrets: list[str] = field(default_factory=list)
    provider: str = PROVIDER

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        window = window.clamp_end(ctx.now())
        return [Task(endpoint, window) for endpoint in ENDPOINTS]

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        times = self.source.snapshot_times(task.window, ctx.now())
        frames = [
            snapshot_frame(
                task.endpoint,
                self.source.read(task.endpoint, at),
                at,
                self.secrets,
                self.source.server,
            )
            for at in times
        ]
        frame = pl.concat(frames)
        # Earlier live snapshots are history: a live snapshot replaces only its own second.
        slice_window = (
            task.window
            if self.source.replays_window
            else Window(times[0], times[0] + timedelta(seconds=1))
        )
        return SliceWrite(PROVIDER, task.endpoint, slice_window, {TABLES[task.endpoint]: frame})


def snapshot_frame(
    endpoint: str,
    rows: list[dict[str, Any]],
    at: datetime,
    secrets: list[str] | None = None,
    server: str = "",
) -> pl.DataFrame:
    """Rows of one view at one instant on ``server`` → the snapshot table's columns (query
    literals masked, secrets replaced)."""
    schema = SCHEMAS[endpoint]
    frame = pl.from_dicts([{k: r.get(k) for k in schema} for r in rows], schema=schema)
    if endpoint == STATEMENTS:
        frame = frame.with_columns(_clean_query(pl.col("query"), secrets or []))
    return frame.select(
        pl.lit(PROVIDER).alias("provider"),
        pl.lit(endpoint).alias("endpoint"),
        pl.lit(at).cast(pl.Datetime("us", "UTC")).alias("fetched_at"),
        pl.lit(server).alias("server"),
        pl.all(),
    )


def _clean_query(expr: pl.Expr, secrets: list[str]) -> pl.Expr:
    out = expr.str.replace_all(_LITERAL, "'?'")
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        out = out.str.replace_all(secret, "***", literal=True)
    return out


def snapshot_instant(now: datetime) -> datetime:
    """A live snapshot's ``fetched_at``: ``now`` to the second (a re-run in it replaces it)."""
    return now.replace(microsecond=0)


@dataclass
class LiveSource:
    """Reads the views over ``DATABASE_URL`` with psycopg 3, in read-only transactions."""

    dsn: SecretStr
    secrets: list[str]
    connect_timeout_s: int = CONNECT_TIMEOUT_S
    statement_timeout_ms: int = STATEMENT_TIMEOUT_MS
    replays_window: bool = False

    @property
    def server(self) -> str:
        return self.host()

    def snapshot_times(self, window: Window, now: datetime) -> list[datetime]:
        return [snapshot_instant(now)]

    def read(self, endpoint: str, at: datetime) -> list[dict[str, Any]]:
        # One connection per read: the snapshot is "now" (``at`` is when it is stored).
        timeout = sql.SQL("SET LOCAL statement_timeout = {}").format(
            sql.Literal(self.statement_timeout_ms)
        )
        try:
            with self.connect(endpoint) as conn, conn.transaction():
                conn.execute(timeout)
                if endpoint == STATEMENTS:
                    return _read_statements(conn, endpoint)
                return list(conn.execute(_DATABASE_SQL).fetchall())
        except psycopg.Error as exc:  # closing included: nothing from psycopg leaks unredacted
            raise self.query_error(endpoint, exc) from None

    def connect(self, endpoint: str) -> psycopg.Connection[dict[str, Any]]:
        """A read-only connection (every transaction ``BEGIN READ ONLY``), errors redacted."""
        try:
            conn = psycopg.connect(
                self.dsn.get_secret_value(),
                connect_timeout=self.connect_timeout_s,
                application_name=APPLICATION_NAME,
                autocommit=False,
                row_factory=dict_row,
            )
        except psycopg.ProgrammingError:
            # libpq echoes fragments of a malformed string, which may hold the password.
            raise CollectError(
                PROVIDER,
                endpoint,
                "DATABASE_URL is not a valid PostgreSQL connection string: "
                "expected postgresql://USER:PASSWORD@HOST/DBNAME?sslmode=require",
            ) from None
        except psycopg.Error as exc:
            raise CollectError(
                PROVIDER,
                endpoint,
                f"cannot connect to the database at {self.host()}: {self._text(exc)}. "
                "Check DATABASE_URL (user, password, host, sslmode) and that the database is "
                "reachable",
            ) from None
        conn.read_only = True
        return conn

    def host(self) -> str:
        """The server's host and port, for messages (never the user or password)."""
        try:
            info = conninfo_to_dict(self.dsn.get_secret_value())
        except psycopg.Error:
            return "(unparsable DATABASE_URL)"
        return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"

    def query_error(self, endpoint: str, exc: psycopg.Error) -> CollectError:
        """A psycopg error while reading, as a CollectError that says what to do."""
        if isinstance(exc, psycopg.errors.ObjectNotInPrerequisiteState):
            return CollectError(PROVIDER, endpoint, NOT_PRELOADED)
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return CollectError(
                PROVIDER,
                endpoint,
                f"reading {endpoint} took longer than {self.statement_timeout_ms} ms and was "
                "cancelled; retry later or lower pg_stat_statements.max",
            )
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return CollectError(
                PROVIDER,
                endpoint,
                f"the DATABASE_URL role may not read {endpoint}: {self._text(exc)}; "
                "GRANT pg_read_all_stats TO <role>",
            )
        return CollectError(PROVIDER, endpoint, f"reading {endpoint} failed: {self._text(exc)}")

    def _text(self, exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return redact(first, self.secrets)


def _read_statements(
    conn: psycopg.Connection[dict[str, Any]], endpoint: str
) -> list[dict[str, Any]]:
    ext = conn.execute(_EXTENSION_SQL).fetchone()
    if ext is None:
        raise CollectError(PROVIDER, endpoint, MISSING_EXTENSION)
    schema = str(ext["nspname"])
    view = sql.Identifier(schema, "pg_stat_statements")
    qualified = f'"{schema}".pg_stat_statements'
    cols = {str(r["attname"]) for r in conn.execute(_COLUMNS_SQL, [qualified]).fetchall()}
    missing = REQUIRED_COLUMNS - cols
    if missing:
        raise CollectError(
            PROVIDER,
            endpoint,
            f"pg_stat_statements {ext['extversion']} lacks {', '.join(sorted(missing))} (needs "
            "1.8+, PostgreSQL 13+): ALTER EXTENSION pg_stat_statements UPDATE",
        )
    toplevel = sql.SQL("s.toplevel") if "toplevel" in cols else sql.SQL("true")
    info = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS present", [f'"{schema}".pg_stat_statements_info']
    ).fetchone()
    reset = (
        sql.SQL("(SELECT stats_reset FROM {})").format(
            sql.Identifier(schema, "pg_stat_statements_info")
        )
        if info is not None and info["present"]
        else sql.SQL("NULL::timestamptz")
    )
    query = sql.SQL(
        "SELECT s.dbid, d.datname, s.userid, r.rolname, s.queryid, {toplevel} AS toplevel, "
        "s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows, s.shared_blks_hit, "
        "s.shared_blks_read, {reset} AS stats_reset FROM {view} s "
        "LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid "
        "LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid "
        "WHERE s.queryid IS NOT NULL"
    ).format(toplevel=toplevel, reset=reset, view=view)
    return list(conn.execute(query).fetchall())


def dsn_secrets(settings: Settings) -> list[str]:
    """Every secret of the settings plus the password of a key=value ``DATABASE_URL``."""
    out = list(settings.secret_values())
    if settings.database_url is not None:
        try:
            password = conninfo_to_dict(settings.database_url.get_secret_value()).get("password")
        except psycopg.Error:
            password = None
        if password:
            out.append(str(password))
    return out


def make_collector(settings: Settings) -> PostgresCollector:
    """The live collector over ``DATABASE_URL``, or the demo source in the demo workspace."""
    if settings.database_url is not None:
        secrets = dsn_secrets(settings)
        return PostgresCollector(LiveSource(settings.database_url, secrets), secrets)
    if settings.is_demo:
        from contribux_costs.demo.postgres import DemoPostgres

        return PostgresCollector(DemoPostgres())
    raise ConfigError(
        "postgres statistics need DATABASE_URL (postgresql://USER:PASSWORD@HOST/DBNAME?"
        "sslmode=require, a role with pg_read_all_stats)"
    )
