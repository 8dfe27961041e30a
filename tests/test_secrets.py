"""No secret reaches an output, a log, the database or a report (real CLI subprocesses).

Distinctive fake secrets are planted in every credential variable (the Postgres one inside a
``DATABASE_URL`` that points at a closed port), the Upstash database list carries each database's
``password``/``rest_token``/``read_only_rest_token``, and several providers quote the credential
they received back in their error bodies (a 401 that is not retried, a 500 that is retried until
the policy gives up, Upstash's REST endpoint quoting the database token). Then
``contribux-costs collect`` and ``contribux-costs report`` run as subprocesses, and every byte they
printed, every file they wrote (database, reports, anything else in the folder) and every value of
every DuckDB table is searched for each secret.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contribux_costs.demo.upstash import DATABASES
from contribux_costs.periods import Month
from contribux_costs.store import open_store
from tests.loopback import Loopback, serve

MONTH = Month.previous_full()
PG_PASSWORD = "pgPW-SECRET-5e0c2b7d91"
KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-SECRET-openai-7f3a9c1d",
    "VERCEL_TOKEN": "vcp-SECRET-vercel-51d2e8a4",
    "NEON_API_KEY": "napi-SECRET-neon-c09b44f2",
    "UPSTASH_EMAIL": "ops@contribux.example",
    "UPSTASH_API_KEY": "up-SECRET-upstash-a8e713b6",
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens here any more: connecting is refused


def secrets(database_url: str) -> dict[str, str]:
    """Every secret value, by a name for the failure message."""
    basic = f"{KEYS['UPSTASH_EMAIL']}:{KEYS['UPSTASH_API_KEY']}"
    out = {k: v for k, v in KEYS.items() if k != "UPSTASH_EMAIL"}  # an address, not a secret
    out |= {
        "DATABASE_URL": database_url,
        "DATABASE_URL password": PG_PASSWORD,
        "Upstash basic auth (base64)": base64.b64encode(basic.encode()).decode(),
    }
    for db in DATABASES:
        for kind in ("password", "rest_token", "read_only_rest_token"):
            out[f"upstash {db.name} {kind}"] = db.secret(kind)
    return out


@pytest.fixture
def server() -> Iterator[Loopback]:
    with serve() as srv:
        # Providers that quote the credential back: OpenAI Costs (401, not retried), Vercel's
        # export (a 200 stream whose line is an error object), Neon consumption (500, retried
        # until the policy gives up), and every Upstash database's REST endpoint (401 quoting
        # the database token; INFO degrades to the series).
        srv.fail("openai", "echo_401", match="/organization/costs")
        srv.fail("vercel", "echo_200")
        srv.fail("neon", "echo_500", match="/consumption_history/")
        srv.fail("upstash", "echo_401", match="/redis/us1-")
        yield srv


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contribux_costs.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def table_dump(db: Path) -> str:
    """Every value of every column of every table, as text."""
    parts: list[str] = []
    with open_store(db, read_only=True) as store:
        for table in store.tables():
            frame = store.query(f'SELECT * FROM "{table}"')
            parts.append(f"## {table} {frame.columns}")
            parts.extend("\t".join(str(v) for v in row) for row in frame.rows())
    return "\n".join(parts)


@pytest.mark.slow
def test_no_secret_reaches_outputs_logs_tables_payloads_or_reports(
    server: Loopback, tmp_path: Path
) -> None:
    database_url = f"postgresql://costs_reader:{PG_PASSWORD}@127.0.0.1:{closed_port()}/contribux"
    db = tmp_path / "costs.duckdb"
    reports = tmp_path / "reports"
    env = server.env(db, **KEYS, DATABASE_URL=database_url, HTTP_MAX_TRIES="2")

    collected = run_cli(env, "collect", "--month", str(MONTH))
    rendered = run_cli(env, "report", "--month", str(MONTH), "--reports-dir", str(reports))

    # The run really went through the echoing paths and the failures.
    faults = {(s.provider, s.fault) for s in server.seen}
    assert {("openai", "echo_401"), ("vercel", "echo_200"), ("neon", "echo_500")} <= faults
    assert ("upstash", "echo_401") in faults
    assert collected.returncode == 1, collected.stderr
    windows = {
        line.split()[0]: line.split()[1].split("/")
        for line in collected.stdout.splitlines()
        if line.split() and "/" in line.split()[1]
    }
    for source in ("openai", "vercel", "neon", "postgres"):
        ok, total = windows[source]
        assert int(ok) < int(total), (source, collected.stdout)
    assert "line 1 is an API error object" in collected.stdout  # Vercel's 200 echo was parsed
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    report_files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in report_files)
    dump = table_dump(db)
    assert "***" in dump  # the echoed credentials were masked, not just absent
    assert "upstash_databases" in dump and "DEMO-FAKE" not in dump

    haystacks = {
        "collect stdout": collected.stdout,
        "collect stderr": collected.stderr,
        "report stdout": rendered.stdout,
        "report stderr": rendered.stderr,
        "DuckDB tables": dump,
    }
    for path in tmp_path.rglob("*"):
        if path.is_file():
            haystacks[str(path.relative_to(tmp_path))] = path.read_bytes().decode("latin-1")
    leaks = [
        f"{name} in {where}"
        for name, value in secrets(database_url).items()
        for where, text in haystacks.items()
        if value in text
    ]
    assert leaks == []
