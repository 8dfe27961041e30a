"""Crash safety and idempotency of a live collection (loopback providers, a DuckDB file).

- Collecting the same month twice gives the same database: same rows in every table but the
  ledger. Upstash keeps no history, so each run adds one observation: its snapshot tables are
  compared as sets (the fixed demo clock answers the same numbers), and the Upstash usage of the
  days after the month (derived from the newest snapshot pair) is left out.
- ``contribux-costs collect`` killed with SIGKILL in the middle of a load (frozen inside a slice
  transaction by ``tests/kill_worker.py``, or at timed moments of a plain run) leaves a database
  that opens, whose ledger agrees with its rows (no partial slice), and the next run completes
  and equals a clean run.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import open_store
from tests.dbcheck import (
    PROVIDERS,
    check_consistent,
    database_digest,
    provider_data,
    window_last_day,
)
from tests.loopback import Loopback, serve

MONTH = Month.previous_full()
LAST_DAY = window_last_day(MONTH.window)
WORKER = Path(__file__).with_name("kill_worker.py")
TARGET = "vercel/billing/charges"  # the biggest single slice of the month (one JSONL stream)


@dataclass
class Reference:
    server: Loopback
    clean: Path  # one clean live collection of MONTH
    digest: dict[str, object]


def collect_month(server: Loopback, db: Path) -> None:
    with open_store(db) as store:
        report = collect(server.settings(http_timeout_s=10.0), store, MONTH.window)
    assert report.ok, report.summary_lines()


def digest_of(db: Path) -> dict[str, object]:
    with open_store(db) as store:
        assert check_consistent(store) == []
        return database_digest(store, LAST_DAY)


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    with serve() as server:
        clean = tmp_path_factory.mktemp("kill") / "clean.duckdb"
        collect_month(server, clean)
        yield Reference(server, clean, digest_of(clean))


def test_collecting_the_same_month_twice_gives_the_same_database(
    ref: Reference, tmp_path: Path
) -> None:
    db = tmp_path / "twice.duckdb"
    shutil.copy(ref.clean, db)

    collect_month(ref.server, db)

    assert digest_of(db) == ref.digest
    with open_store(db) as store:
        runs = store.scalar("SELECT count(DISTINCT run_id) FROM ingest_ledger WHERE status = 'ok'")
        snapshots = store.scalar("SELECT count(DISTINCT fetched_at) FROM upstash_snapshots")
        totals = store.query(
            "SELECT provider, count(*) AS n, sum(value) AS v FROM usage "
            "WHERE billing_date <= ? GROUP BY ALL ORDER BY ALL",
            [LAST_DAY],
        ).rows()
    with open_store(ref.clean) as store:
        clean_totals = store.query(
            "SELECT provider, count(*) AS n, sum(value) AS v FROM usage "
            "WHERE billing_date <= ? GROUP BY ALL ORDER BY ALL",
            [LAST_DAY],
        ).rows()
    assert runs == 2 and snapshots >= 2  # two runs really happened
    assert {p for p, _n, _v in totals} >= {"openai", "vercel", "neon"}
    assert totals == clean_totals


def start_worker(ref: Reference, db: Path, target: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), target, "collect", "--month", str(MONTH)],
        env=ref.server.env(db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], want: str, timeout: float = 60.0) -> None:
    """Read the worker's stdout until ``want`` (bounded in time)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == want:
                return
            if not line and proc.poll() is not None:
                break
    proc.kill()
    _out, err = proc.communicate(timeout=10)
    pytest.fail(f"the worker never printed {want!r}: {err[-2000:]}")


def sigkill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("earlier", [True, False], ids=["over-earlier-data", "first-run"])
def test_killed_inside_a_slice_write_keeps_the_database_whole(
    ref: Reference, tmp_path: Path, earlier: bool
) -> None:
    db = tmp_path / "victim.duckdb"
    if earlier:
        shutil.copy(ref.clean, db)
    with open_store(ref.clean) as store:
        before = provider_data(store, "vercel", LAST_DAY) if earlier else None

    proc = start_worker(ref, db, TARGET)
    # Frozen after deleting the slice's old rows and inserting its new ones, before the COMMIT.
    wait_for_line(proc, "PAUSED")
    sigkill(proc)

    # It opens, even read-only as `report` opens it (the WAL is replayed in memory).
    with open_store(db, read_only=True) as store:
        assert check_consistent(store) == []
        vercel = provider_data(store, "vercel", LAST_DAY)
        failed = store.scalar("SELECT count(*) FROM ingest_ledger WHERE status = 'failed'")
    assert failed == 0
    if earlier:
        assert vercel == before  # the half-done replacement vanished; the old rows are back
    else:
        assert not vercel["usage"] and not vercel["charges"]
    collect_month(ref.server, db)
    assert digest_of(db) == ref.digest


@pytest.mark.slow
def test_killed_at_timed_moments_then_the_next_run_equals_a_clean_run(
    ref: Reference, tmp_path: Path
) -> None:
    db = tmp_path / "victim.duckdb"
    states: list[tuple[bool, int]] = []  # (killed while running, ok slices committed so far)
    # Kill after the k-th request of the run plus a delay: early, among the writes, near the end.
    for after_requests, delay in ((1, 0.0), (6, 0.05), (14, 0.15)):
        start = len(ref.server.seen)
        proc = start_worker(ref, db)
        deadline = time.monotonic() + 60
        while len(ref.server.seen) - start < after_requests and proc.poll() is None:
            assert time.monotonic() < deadline, "the worker made no requests"
            time.sleep(0.005)
        time.sleep(delay)
        running = proc.poll() is None
        if running:
            sigkill(proc)
        else:
            proc.communicate(timeout=10)
        with open_store(db) as store:
            assert check_consistent(store) == []
            ok = store.scalar("SELECT count(*) FROM ingest_ledger WHERE status = 'ok'")
        states.append((running, ok))
    print("kills (running, ok slices):", states)
    assert any(running for running, _ in states)
    collect_month(ref.server, db)
    assert digest_of(db) == ref.digest
    for provider in PROVIDERS:
        with open_store(db) as store:
            ok = store.scalar(
                "SELECT count(*) FROM ingest_ledger WHERE provider = ? AND status = 'ok'",
                [provider],
            )
        assert ok >= 1, provider
