"""Fault injection over real loopback sockets, all four providers collected in one run.

Every case starts from a database holding a clean collection (``good``), breaks ONE provider's
main route for good and plays the same fault ONCE on every other provider's first request. Then:

- the other providers absorb the fault (retry policy) and their data equals the clean run's,
  row for row;
- the broken provider fails that endpoint with an error naming provider, endpoint and cause,
  its earlier rows are untouched, and the ledger records the failure.

Every fault kind is played transiently on every provider and persistently on two providers
(each provider on four or five kinds). Cursor faults exist only where the API pages: OpenAI
(``next_page``) and Neon (``pagination.cursor``). Vercel's charges export is one JSONL stream per
window and Upstash's list/stats endpoints are single JSON documents: neither has pagination
(checked below). Sleeps are recorded, not slept; stalls cost one 0.5 s timeout per try.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from contribux_costs.collect import http
from contribux_costs.collect.http import RateLimiter, RetryPolicy
from contribux_costs.collect.openai.tools import TOOL_METRICS
from contribux_costs.collect.runner import CollectReport
from contribux_costs.demo.upstash import DATABASES as DEMO_DATABASES
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import open_store
from tests.dbcheck import PROVIDERS, check_consistent, provider_data, window_last_day
from tests.loopback import TRANSIENT, Loopback, serve

MONTH = Month.previous_full()
# Three days of a past month: every code path of a month, at a tenth of the rows (fast runs).
WINDOW = Window(MONTH.window.start + timedelta(days=10), MONTH.window.start + timedelta(days=13))
LAST_DAY = window_last_day(WINDOW)
TRIES = 3
# Each provider's main data route (a substring of the loopback path) and its endpoint name.
MAIN = {
    "openai": ("/organization/usage/completions", "usage/completions"),
    "vercel": ("/billing/charges", "billing/charges"),
    "neon": ("/consumption_history/", "consumption_history/v2/projects"),
    "upstash": ("/redis/stats/", "redis/stats"),
}
# Slices per run of the window: OpenAI usage x2 + the tool usage endpoints + costs, Vercel
# charges + contract commitments, Neon consumption + one branches/compute-settings snapshot,
# Upstash snapshot + derived usage.
TASKS = {"openai": 3 + len(TOOL_METRICS), "vercel": 2, "neon": 2, "upstash": 2}
# What the final error says for a fault that never goes away.
SAYS = {
    "429": f"(HTTP 429): still failing after {TRIES} tries",
    "500": f"(HTTP 500): still failing after {TRIES} tries",
    "503": f"(HTTP 503): still failing after {TRIES} tries",
    "reset": f"gave up after {TRIES} tries (ReadError",
    "reset_mid": f"gave up after {TRIES} tries (ReadError",
    "stall_head": f"gave up after {TRIES} tries (ReadTimeout",
    "stall": f"gave up after {TRIES} tries (ReadTimeout",
    "truncated": "peer closed connection without sending complete message body",
    "cut": f"not valid JSON after {TRIES} tries",
    "repeat_cursor": "repeated",
}
# Each kind broken for good on two providers (every provider gets four or five kinds).
CASES = [
    (kind, PROVIDERS[(i + k) % len(PROVIDERS)]) for i, kind in enumerate(TRANSIENT) for k in (0, 1)
]


@dataclass
class Lab:
    server: Loopback
    good: Path  # a live database holding one clean collection of WINDOW
    baseline: dict[str, dict[str, object]]  # provider → its rows after the clean run


@dataclass
class Run:
    report: CollectReport
    sleeps: list[float]


def run(server: Loopback, db: Path, timeout: float = 2.0) -> Run:
    sleeps: list[float] = []
    policy = RetryPolicy(max_tries=TRIES, base_delay_s=0.001, max_delay_s=5.0, sleep=sleeps.append)
    with open_store(db) as store:
        report = collect(server.settings(http_timeout_s=timeout), store, WINDOW, policy=policy)
    return Run(report, sleeps)


def data_of(db: Path, last_day: date = LAST_DAY) -> dict[str, dict[str, object]]:
    """Every provider's rows, after checking the ledger agrees with the sliced tables."""
    with open_store(db) as store:
        assert check_consistent(store) == []
        return {p: provider_data(store, p, last_day) for p in PROVIDERS}


def failures(db: Path, run_id: str) -> list[tuple[str, str, str]]:
    """(provider, endpoint, error) of the run's failed ledger rows."""
    with open_store(db) as store:
        rows = store.query(
            "SELECT provider, endpoint, error FROM ingest_ledger "
            "WHERE run_id = ? AND status = 'failed' ORDER BY ALL",
            [run_id],
        ).rows()
    return [(str(p), str(e), str(m)) for p, e, m in rows]


def snapshot_rows(db: Path) -> int:
    with open_store(db) as store:
        count: int = store.scalar("SELECT count(*) FROM upstash_snapshots")
    return count


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as mp, serve() as server:
        mp.setattr(http, "default_limiters", _recorded_limiters)
        good = tmp_path_factory.mktemp("faults") / "good.duckdb"
        # A generous timeout for the first run: the server computes (then caches) every answer.
        clean = run(server, good, timeout=10.0)
        assert clean.report.ok, clean.report.summary_lines()
        yield Lab(server, good, data_of(good))


@pytest.fixture(autouse=True)
def fake_limiter_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neon's 30/min budget is kept, but its waits are recorded instead of slept."""
    monkeypatch.setattr(http, "default_limiters", _recorded_limiters)


def _recorded_limiters() -> dict[str, RateLimiter]:
    return {"neon": RateLimiter(per_minute=30, burst=5, sleep=lambda _s: None)}


def case_db(lab: Lab, tmp_path: Path) -> Path:
    db = tmp_path / "case.duckdb"
    shutil.copy(lab.good, db)
    return db


def test_the_clean_run_collects_every_provider(lab: Lab) -> None:
    for provider in PROVIDERS:
        data = lab.baseline[provider]
        rows = sum(len(v) for v in data.values() if isinstance(v, Counter | set))
        assert rows > 0, provider
    assert lab.baseline["upstash"]["upstash_snapshots"]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "broken"), CASES)
def test_a_fault_is_absorbed_once_and_fails_only_its_provider_when_it_persists(
    lab: Lab, tmp_path: Path, kind: str, broken: str
) -> None:
    db = case_db(lab, tmp_path)
    server = lab.server
    server.reset()
    for provider in PROVIDERS:
        if provider == broken:
            server.fail(provider, kind, match=MAIN[provider][0])
        else:
            server.plan(provider, kind)
    played = len(server.seen)

    # A stall must outlast the client's timeout; otherwise a loaded machine gets more time.
    done = run(server, db, timeout=0.5 if kind.startswith("stall") else 2.0)

    seen = server.seen[played:]
    for provider in PROVIDERS:
        assert any(s.provider == provider and s.fault == kind for s in seen), provider
    results = done.report.results
    after = data_of(db)
    for provider in PROVIDERS:
        if provider == broken:
            continue
        assert results[provider].ok, (provider, results[provider].errors)
        assert results[provider].windows_ok == TASKS[provider]  # every slice rewritten
        assert after[provider] == lab.baseline[provider], provider
    # Upstash keeps no history: a completed run adds one snapshot per database, a failed
    # snapshot task adds none.
    assert snapshot_rows(db) == (1 if broken == "upstash" else 2) * snapshot_rows(lab.good)
    _assert_fails_cleanly(done, broken, kind, after[broken], lab.baseline[broken])
    # The ledger records that one failure, with the same message, and nothing else failed.
    failed = failures(db, done.report.run_id)
    assert failed == [(broken, MAIN[broken][1], done.report.results[broken].errors[0])]
    if kind == "429":
        assert 1.0 in done.sleeps  # Retry-After: 1 honoured (recorded, not slept)


def _assert_fails_cleanly(
    done: Run, broken: str, kind: str, after: dict[str, object], before: dict[str, object]
) -> None:
    result = done.report.results[broken]
    endpoint = MAIN[broken][1]
    assert result.windows_failed == 1, result.errors
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.startswith(f"{broken} {endpoint}"), error
    assert SAYS[kind] in error, error
    assert after == before  # the earlier collection is intact
    assert not done.report.ok


@pytest.mark.parametrize("broken", ["openai", "neon"])
def test_a_cursor_that_comes_back_fails_the_endpoint_and_keeps_earlier_data(
    lab: Lab, tmp_path: Path, broken: str
) -> None:
    db = case_db(lab, tmp_path)
    lab.server.reset()
    lab.server.fail(broken, "repeat_cursor", match=MAIN[broken][0])
    played = len(lab.server.seen)

    done = run(lab.server, db)

    asked = [s for s in lab.server.seen[played:] if s.fault == "repeat_cursor"]
    assert len(asked) >= 2  # the cursor was followed, then recognised
    after = data_of(db)
    _assert_fails_cleanly(done, broken, "repeat_cursor", after[broken], lab.baseline[broken])
    for provider in PROVIDERS:
        if provider != broken:
            assert done.report.results[provider].ok
            assert after[provider] == lab.baseline[provider]


def test_neon_ends_on_a_cursor_equal_to_the_one_sent_and_counts_each_project_once(
    lab: Lab, tmp_path: Path
) -> None:
    db = case_db(lab, tmp_path)
    lab.server.reset()
    lab.server.fail("neon", "same_page", match=MAIN["neon"][0])
    played = len(lab.server.seen)

    done = run(lab.server, db)

    consumption = [s for s in lab.server.seen[played:] if MAIN["neon"][0] in s.path]
    assert len(consumption) == 2 and "cursor=" in consumption[1].path
    assert done.report.ok, done.report.summary_lines()
    assert data_of(db) == lab.baseline


def test_vercel_and_upstash_are_not_paginated(lab: Lab) -> None:
    # The clean run: no Vercel/Upstash request carries a cursor, so "a cursor that repeats"
    # cannot happen there; OpenAI and Neon did page (the cases above).
    paths = [(s.provider, s.path) for s in lab.server.seen]
    for provider in ("vercel", "upstash"):
        assert paths and all(
            "cursor=" not in p and "page=" not in p for q, p in paths if q == provider
        )
    assert any(q == "neon" and "cursor=" in p for q, p in paths)


def test_upstash_info_failing_for_good_degrades_to_the_series(lab: Lab, tmp_path: Path) -> None:
    # INFO goes to each database's own REST endpoint; when it keeps failing the snapshot is
    # still taken, its status says why (without the REST token), and nothing fails.
    db = case_db(lab, tmp_path)
    lab.server.reset()
    lab.server.fail("upstash", "503", match="/redis/us1-")

    done = run(lab.server, db)

    assert done.report.ok, done.report.summary_lines()
    with open_store(db) as store:
        statuses = store.query(
            "SELECT info_status FROM upstash_snapshots WHERE info_status <> 'ok'"
        )["info_status"].to_list()
    assert len(statuses) == len(DEMO_DATABASES)  # every database's snapshot, none lost
    assert all(s.startswith("failed: upstash redis/info (HTTP 503)") for s in statuses)
    assert all("DEMO-FAKE" not in s for s in statuses)
