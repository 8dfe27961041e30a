"""A real, throwaway PostgreSQL server for the tests: initdb in a temp dir, a free port,
``pg_stat_statements`` preloaded, password (scram) authentication over TCP.

The server binaries come from ``CONTRIBUX_PG_BIN``, else ``pg_ctl`` on PATH, else the newest
``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package). ``initdb`` refuses to run as root,
so as root the server runs as the ``postgres`` OS user (created by that package) via ``runuser``.
Missing binaries FAIL the tests with the install command (CI installs them in ``.ci/run``).

Use: ``from tests.pg_fixture import *  # noqa: F403`` in a test module (or the top conftest), then
request the ``pg_server``, ``pg_db`` (shared) or ``pg_fresh_db`` (per test) fixtures.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = [
    "PgDb",
    "PgServer",
    "pg_db_fixture",
    "pg_fresh_db_fixture",
    "pg_server_fixture",
    "pg_shared_db_fixture",
]

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "fixture-superuser-pw-7Qx"
COLLECTOR_ROLE = "stats_reader"
COLLECTOR_PASSWORD = "Zq9-collector-SECRET-pw-4471"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql "
    "postgresql-contrib, or set CONTRIBUX_PG_BIN to the folder holding pg_ctl"
)


@dataclass
class PgServer:
    """A running test server: connect as the superuser with :meth:`admin`."""

    base: Path
    bindir: Path
    port: int
    run_as: str | None
    host: str = "127.0.0.1"

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str = "") -> str:
        pw = password or (SUPERUSER_PASSWORD if user == SUPERUSER else COLLECTOR_PASSWORD)
        return f"postgresql://{user}:{pw}@{self.host}:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10)


def find_pg_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl`` (see the module docstring for the order)."""
    configured = os.environ.get("CONTRIBUX_PG_BIN")
    if configured:
        return Path(configured) if (Path(configured) / "pg_ctl").exists() else None
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(server: PgServer, args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [str(server.bindir / args[0]), *args[1:]]
    if server.run_as:
        cmd = ["runuser", "-u", server.run_as, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _owner() -> str | None:
    """The OS user that runs the server: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "initdb refuses to run as root and there is no 'postgres' OS user: "
            "apt-get install -y postgresql (creates it), or run the tests as a normal user"
        ) from None
    return "postgres"


def start_server(tries: int = 3) -> PgServer:
    """initdb + pg_ctl start; raises RuntimeError with the server's own words on failure."""
    bindir = find_pg_bin()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    run_as = _owner()
    # /tmp when root: the postgres user must reach the folder (TMPDIR may be root-only), and
    # the socket path must stay short.
    base = Path(tempfile.mkdtemp(prefix="contribux-pg-", dir="/tmp" if run_as else None))
    try:
        server = PgServer(base, bindir, _free_port(), run_as)
        _initdb(server)
        for attempt in range(tries):
            if _start(server, last=attempt == tries - 1):
                return server
            server.port = _free_port()  # the port was taken in between: pick another
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def _initdb(server: PgServer) -> None:
    pwfile = server.base / "pwfile"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if server.run_as:
        user = pwd.getpwnam(server.run_as)
        os.chown(server.base, user.pw_uid, user.pw_gid)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    # --no-locale: a CI machine's LANG may name a locale that is not generated.
    init = _run(server, ["initdb", "-D", str(server.base / "data"), "-U", SUPERUSER, "-E", "UTF8",
                         "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                         f"--pwfile={pwfile}", "--no-sync"])  # fmt: skip
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")


def _start(server: PgServer, last: bool) -> bool:
    opts = (
        f"-p {server.port} -k {server.base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all "
        "-c track_io_timing=on"
    )
    log = server.base / "server.log"
    start = _run(server, ["pg_ctl", "-D", str(server.base / "data"), "-l", str(log), "-o", opts,
                          "-w", "-t", "60", "start"])  # fmt: skip
    if start.returncode == 0:
        return True
    tail = log.read_text()[-2000:] if log.exists() else start.stderr
    if last or "already in use" not in tail:
        raise RuntimeError(f"pg_ctl start failed: {tail}")
    return False


def stop_server(server: PgServer) -> None:
    _run(server, ["pg_ctl", "-D", str(server.base / "data"), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="session", name="pg_server")
def pg_server_fixture() -> Iterator[PgServer]:
    """One server for the session (about 1 s to start)."""
    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        with server.admin() as con:
            con.execute(
                f"CREATE ROLE {COLLECTOR_ROLE} LOGIN PASSWORD '{COLLECTOR_PASSWORD}' "
                "IN ROLE pg_read_all_stats"
            )
        yield server
    finally:
        stop_server(server)


@dataclass
class PgDb:
    """A fresh database (with pg_stat_statements) on the session's server."""

    server: PgServer
    name: str

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return self.server.admin(self.name)

    @property
    def collector_dsn(self) -> str:
        """The read-only collector's DSN: a non-superuser role with pg_read_all_stats."""
        return self.server.dsn(self.name, COLLECTOR_ROLE)


def create_db(server: PgServer) -> PgDb:
    """A new database with pg_stat_statements, which the collector role may connect to."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with server.admin() as con:
        con.execute(f"CREATE DATABASE {name}")
    db = PgDb(server, name)
    with db.admin() as con:
        con.execute("CREATE EXTENSION pg_stat_statements")
        con.execute(f"GRANT CONNECT ON DATABASE {name} TO {COLLECTOR_ROLE}")
    return db


def drop_db(db: PgDb) -> None:
    with db.server.admin() as con:
        con.execute(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")


@pytest.fixture(scope="session", name="pg_shared_db")
def pg_shared_db_fixture(pg_server: PgServer) -> Iterator[PgDb]:
    db = create_db(pg_server)
    yield db
    drop_db(db)


@pytest.fixture(name="pg_db")
def pg_db_fixture(pg_shared_db: PgDb) -> PgDb:
    """The session's test database (statements are keyed by dbid, so other databases never mix
    in). Tests must diff their own snapshots; a test that changes the database's schema or
    extensions uses ``pg_fresh_db`` instead."""
    return pg_shared_db


@pytest.fixture(name="pg_fresh_db")
def pg_fresh_db_fixture(pg_server: PgServer) -> Iterator[PgDb]:
    """A database of its own for this test (about 0.3 s to create)."""
    db = create_db(pg_server)
    yield db
    drop_db(db)
