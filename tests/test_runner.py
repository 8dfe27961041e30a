"""The runner: sources collected concurrently, failures isolated, demo and live never mixed."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest

from contribux_costs.collect import registry as collectors
from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.runner import check_workspace_mode
from contribux_costs.collect.workspace import Workspace, resolve
from contribux_costs.config import PROVIDERS, Settings
from contribux_costs.errors import CollectError, ConfigError
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import SliceWrite, Store, open_store

KEY = "sk-admin-PLANTED-SECRET-123"
JAN = Month(2025, 1)


@dataclass
class FakeCollector:
    """A source whose behaviour the test scripts: rows, an error, or a barrier to meet."""

    provider: str
    barrier: threading.Barrier
    fail: Exception | None = None
    fail_tasks: Exception | None = None

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        if self.fail_tasks is not None:
            raise self.fail_tasks
        return [Task("things", window)]

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        self.barrier.wait()  # every fetching source must be running at the same time
        if self.fail is not None:
            raise self.fail
        frame = pl.DataFrame(
            {
                "provider": self.provider,
                "endpoint": "things",
                "service": "svc",
                "metric": "m",
                "unit": "u",
                "period_start": [task.window.start],
                "period_end": [task.window.end],
                "granularity": "1d",
                "value": 1.0,
                "billing_date": [task.window.start.date()],
            }
        )
        return SliceWrite(self.provider, "things", task.window, {"usage": frame})


def test_one_failing_source_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = threading.Barrier(2, timeout=10)
    fakes = {
        "alpha": FakeCollector("alpha", barrier),
        "beta": FakeCollector("beta", barrier, fail=CollectError("beta", "things", f"bad {KEY}")),
        "gamma": FakeCollector("gamma", barrier, fail_tasks=RuntimeError("import broke")),
    }
    monkeypatch.setattr(collectors, "build", lambda name, _settings: fakes[name])
    store = open_store()
    messages: list[tuple[str, str]] = []
    settings = Settings(openai_admin_key=KEY)  # type: ignore[arg-type]
    ws = Workspace(["alpha", "beta", "gamma"], None, demo=False)
    report = collect(
        settings, store, JAN.window, workspace=ws, progress=lambda s, m: messages.append((s, m))
    )

    assert not report.ok and not report.demo
    alpha, beta, gamma = (report.results[s] for s in ("alpha", "beta", "gamma"))
    assert alpha.ok and (alpha.windows_ok, alpha.rows) == (1, 1)
    assert (beta.windows_ok, beta.windows_failed) == (0, 1)
    assert beta.errors == ["beta things: bad ***"]  # the planted key is redacted
    assert gamma.errors == ["RuntimeError: import broke"]
    assert alpha.seconds > 0 and beta.seconds > 0 and gamma.seconds > 0
    assert store.scalar("SELECT count(*) FROM usage WHERE provider = 'alpha'") == 1
    ledger = store.query("SELECT provider, status, error FROM ingest_ledger ORDER BY provider")
    assert ledger.rows() == [("alpha", "ok", None), ("beta", "failed", "beta things: bad ***")]

    lines = report.summary_lines()
    assert lines[0].split() == ["source", "windows", "rows", "time", "error"]
    assert lines[1].split()[:3] == ["alpha", "1/1", "1"]
    assert lines[2].split()[:3] == ["beta", "0/1", "0"] and lines[2].endswith("bad ***")
    assert lines[3].endswith("RuntimeError: import broke")
    assert KEY not in "\n".join(lines + [m for _, m in messages])
    assert ("alpha", "done") in messages and (
        "gamma",
        "failed: RuntimeError: import broke",
    ) in messages


def test_workspace_mode_guard_refuses_mixing_demo_and_live() -> None:
    store = open_store()
    check_workspace_mode(store, demo=True)
    check_workspace_mode(store, demo=True)  # same mode again is fine
    with pytest.raises(ConfigError, match=r"is a demo workspace .*DEMO DATA.*CONTRIBUX_COSTS_DB"):
        check_workspace_mode(store, demo=False)
    live = open_store()
    check_workspace_mode(live, demo=False)
    with pytest.raises(ConfigError, match=r"is a live workspace .*no provider is configured"):
        check_workspace_mode(live, demo=True)


def test_collect_refuses_live_providers_into_a_demo_database() -> None:
    store = open_store()
    report = collect(
        Settings(),
        store,
        Window(JAN.window.start, JAN.window.start + timedelta(days=2)),
        only=["openai"],
    )
    assert report.ok and report.demo
    before = store.scalar("SELECT count(*) FROM ingest_ledger")
    with pytest.raises(ConfigError, match="demo workspace"):
        collect(Settings(openai_admin_key=KEY), store, JAN.window)  # type: ignore[arg-type]
    assert store.scalar("SELECT count(*) FROM ingest_ledger") == before


def test_resolve_demo_live_and_only() -> None:
    demo = resolve(Settings())
    assert demo.demo and demo.sources == [*PROVIDERS, "postgres"] and demo.transport is not None
    assert resolve(Settings(), only=["neon"]).sources == ["neon"]
    live = resolve(Settings(openai_admin_key=KEY, database_url="postgresql://u:p@h/db"))  # type: ignore[arg-type]
    assert not live.demo and live.sources == ["openai", "postgres"] and live.transport is None
    with pytest.raises(ConfigError, match="provider\\(s\\) vercel not configured"):
        resolve(Settings(openai_admin_key=KEY), only=["vercel"])  # type: ignore[arg-type]


def table_totals(store: Store) -> dict[str, list[Any]]:
    """Row count and the sum of every numeric column, per table (the ledger grows by design)."""
    out: dict[str, list[Any]] = {}
    for table in store.tables():
        if table in {"ingest_ledger", "schema_migrations"}:
            continue
        frame = store.query(f'SELECT * FROM "{table}"')
        # Threads insert in any order; sorting first makes float sums bit-for-bit comparable.
        frame = frame.sort(frame.columns) if frame.height else frame
        sums = [frame[c].sum() for c, t in frame.schema.items() if t.is_numeric()]
        out[table] = [frame.height, *sums]
    return out


def test_demo_collected_twice_gives_identical_counts_and_sums_in_every_table() -> None:
    store = open_store()
    first = collect(Settings(), store, JAN.window)
    assert first.ok, first.summary_lines()
    once = table_totals(store)
    second = collect(Settings(), store, JAN.window)
    assert second.ok, second.summary_lines()
    assert table_totals(store) == once
    assert once["usage"][0] > 0 and once["charges"][0] > 0 and once["raw_payloads"][0] > 0
    ledger = store.query("SELECT run_id, status, demo FROM ingest_ledger")
    assert set(ledger["status"]) == {"ok"} and all(ledger["demo"])
    assert ledger["run_id"].n_unique() == 2
    assert store.scalar("SELECT value FROM workspace WHERE key = 'mode'") == "demo"
    ends = store.query("SELECT DISTINCT window_end FROM ingest_ledger WHERE provider = 'openai'")
    assert ends["window_end"].to_list() == [JAN.window.end]  # a past month is never clamped


def test_a_secret_echoed_in_a_successful_body_is_masked_in_raw_payloads() -> None:
    key = "sk-admin-ECHOED-IN-BODY-42"
    settings = Settings(_env_file=None, openai_admin_key=key)
    transport = demo_transport_echoing(settings, key)
    store = open_store()
    ws = Workspace(["openai"], transport, False)
    report = collect(settings, store, Month.parse("2025-01").window, workspace=ws)
    assert report.results["openai"].ok
    raw = store.query("SELECT payload FROM raw_payloads")["payload"].to_list()
    assert raw and all(key not in body for body in raw)
    assert any("***" in body for body in raw)


def demo_transport_echoing(settings: Settings, key: str) -> httpx.MockTransport:
    """The demo OpenAI API, with the caller's key copied into every page's JSON."""
    from contribux_costs.demo.transport import DemoClock, demo_transport

    inner = demo_transport(
        Settings(_env_file=None), clock=DemoClock(datetime(2025, 2, 2, tzinfo=UTC))
    )

    def handle(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        response.read()
        body = json.loads(response.content)
        body["echo"] = request.headers.get("authorization", "").removeprefix("Bearer ")
        return httpx.Response(response.status_code, json=body)

    return httpx.MockTransport(handle)


def test_a_settled_month_is_repriced_not_collected_again() -> None:
    from contribux_costs.collect.runner import is_settled
    from contribux_costs.pipeline import collect_month

    settings = Settings(_env_file=None)
    store = open_store()
    jan = Month.parse("2025-01")
    sources = resolve(settings).sources
    assert not is_settled(store, jan, sources, settings.repull_days)
    first = collect_month(settings, store, jan)
    assert first is not None and first.ok
    runs = store.scalar("SELECT count(*) FROM ingest_ledger")
    assert is_settled(store, jan, sources, settings.repull_days)
    assert collect_month(settings, store, jan) is None
    assert store.scalar("SELECT count(*) FROM ingest_ledger") == runs  # nothing fetched
    assert store.scalar("SELECT count(*) FROM focus_charges") > 0


def test_a_month_is_not_settled_when_a_source_last_failed_or_is_open() -> None:
    from contribux_costs.collect.runner import is_settled
    from contribux_costs.pipeline import collect_month

    settings = Settings(_env_file=None)
    store = open_store()
    jan = Month.parse("2025-01")
    collect_month(settings, store, jan)
    sources = resolve(settings).sources
    # the latest run of one source failed: that source must be collected again
    store.record_failure(
        "neon",
        "consumption_history/v2/projects",
        jan.window,
        {"run_id": "later", "started_at": datetime.now(UTC)},
        "HTTP 503",
    )
    assert not is_settled(store, jan, sources, settings.repull_days)
    current = Month.containing(datetime.now(UTC).date())
    assert not is_settled(store, current, sources, settings.repull_days)
