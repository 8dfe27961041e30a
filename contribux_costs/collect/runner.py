"""Collect every source concurrently; one source's failure never stops the others."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from contribux_costs.collect import registry as collectors
from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.workspace import Workspace, resolve
from contribux_costs.config import Settings
from contribux_costs.errors import ConfigError, CostsError
from contribux_costs.periods import Month, Window
from contribux_costs.redact import mask_values, redact
from contribux_costs.store import Store

Progress = Callable[[str, str], None]  # (source, message)


@dataclass
class SourceResult:
    source: str
    windows_ok: int = 0
    windows_failed: int = 0
    rows: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.windows_failed == 0 and not self.errors


@dataclass
class CollectReport:
    run_id: str
    window: Window
    demo: bool
    results: dict[str, SourceResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())

    def summary_lines(self) -> list[str]:
        lines = [f"{'source':<10} {'windows':>8} {'rows':>9} {'time':>7}  error"]
        for r in self.results.values():
            err = r.errors[0] if r.errors else ""
            if r.source == "focus":
                # The pricing step: its units are months re-priced and FOCUS rows rebuilt.
                done = f"{r.windows_ok} month(s) re-priced, {r.rows:,} FOCUS rows rebuilt"
                lines.append(f"{'focus':<10} {done} in {r.seconds:.1f}s  {err}".rstrip())
                continue
            win = f"{r.windows_ok}/{r.windows_ok + r.windows_failed}"
            lines.append(f"{r.source:<10} {win:>8} {r.rows:>9} {r.seconds:>6.1f}s  {err}")
        return lines


def collect(
    settings: Settings,
    store: Store,
    window: Window,
    only: list[str] | None = None,
    progress: Progress | None = None,
    workspace: Workspace | None = None,
    policy: RetryPolicy | None = None,
) -> CollectReport:
    """Collect ``window`` from every configured source (or the demo) into ``store``.

    Collection only: :func:`contribux_costs.pipeline.collect` also re-prices the months touched.
    """
    ws = workspace or resolve(settings, only)
    check_workspace_mode(store, ws.demo)
    if ws.clock is not None and ws.clock.fixed is None:
        ws.clock.set(demo_now(window))
    clients = HttpClients(settings, ws.transport, policy)
    run_id = uuid.uuid4().hex[:12]
    report = CollectReport(run_id, window, ws.demo, {s: SourceResult(s) for s in ws.sources})
    say = progress or (lambda _s, _m: None)
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(ws.sources))) as pool:
            futures = [
                pool.submit(
                    _collect_source,
                    s,
                    settings,
                    clients,
                    store,
                    window,
                    ws,
                    run_id,
                    report.results[s],
                    say,
                )
                for s in ws.sources
            ]
            for f in futures:
                f.result()
    finally:
        clients.close()
    return report


def _collect_source(
    source: str,
    settings: Settings,
    clients: HttpClients,
    store: Store,
    window: Window,
    ws: Workspace,
    run_id: str,
    result: SourceResult,
    say: Progress,
) -> None:
    t0 = time.perf_counter()
    secrets = settings.secret_values()
    now = ws.clock.now if ws.clock is not None else (lambda: datetime.now(UTC))
    ctx = CollectContext(settings, clients, now, ws.clock, store=store)
    try:
        collector = collectors.build(source, settings)
        tasks = collector.tasks(window, ctx)
    except Exception as exc:
        text = str(exc) if isinstance(exc, CostsError) else f"{type(exc).__name__}: {exc}"
        result.errors.append(redact(text, secrets))
        result.seconds = time.perf_counter() - t0
        say(source, f"failed: {result.errors[-1]}")
        return
    for task in tasks:
        _run_task(collector, task, ctx, store, ws, run_id, result, say, secrets)
    result.seconds = time.perf_counter() - t0
    say(source, "done" if result.ok else f"finished with {result.windows_failed} failed window(s)")


def _run_task(
    collector: collectors.ProviderCollector,
    task: Task,
    ctx: CollectContext,
    store: Store,
    ws: Workspace,
    run_id: str,
    result: SourceResult,
    say: Progress,
    secrets: list[str],
) -> None:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    ledger: dict[str, object] = {"run_id": run_id, "started_at": started, "demo": ws.demo}
    say(
        collector.provider,
        f"{task.endpoint} {task.window.start:%Y-%m-%d}..{task.window.end:%Y-%m-%d}",
    )
    try:
        sw = collector.fetch(task, ctx)
        # A provider may echo a credential inside a successful body: mask known secrets before
        # the raw page is landed (values only, so the payload stays otherwise byte-identical).
        sw.raw = [replace(p, body=mask_values(p.body, secrets)) for p in sw.raw]
        ledger.update(finished_at=datetime.now(UTC), duration_ms=(time.perf_counter() - t0) * 1000)
        store.write_slice(sw, ledger)
    except Exception as exc:
        msg = redact(
            str(exc) if isinstance(exc, CostsError) else f"{type(exc).__name__}: {exc}", secrets
        )
        ledger.update(finished_at=datetime.now(UTC), duration_ms=(time.perf_counter() - t0) * 1000)
        store.record_failure(collector.provider, task.endpoint, task.window, ledger, msg)
        result.windows_failed += 1
        result.errors.append(msg)
        say(collector.provider, f"failed: {msg}")
        return
    result.windows_ok += 1
    result.rows += sw.rows


def is_settled(store: Store, month: Month, sources: list[str], settle_days: int) -> bool:
    """Whether every source has an ok run over the whole month that finished ``settle_days``
    after it ended: providers restate only recent periods, so collecting it again changes nothing.
    """
    if not sources or not month.is_complete():
        return False
    start, end = month.window.start, month.window.end
    # Per source, its latest run touching the month must be all ok, span the whole month (a day's
    # slack: Vercel's month is the Los Angeles one) and have finished after the settle period.
    done = store.query(
        "WITH runs AS (SELECT provider, run_id, bool_and(status = 'ok') AS ok, "
        "min(window_start) AS ws, max(window_end) AS we, max(finished_at) AS fin "
        "FROM ingest_ledger WHERE window_start < ? AND window_end > ? GROUP BY ALL) "
        "SELECT provider FROM runs GROUP BY provider HAVING arg_max(ok, fin) "
        "AND arg_max(ws, fin) <= ? AND arg_max(we, fin) >= ? AND max(fin) >= ?",
        [
            end,
            start,
            start + timedelta(days=1),
            end - timedelta(days=1),
            end + timedelta(days=settle_days),
        ],
    )
    return set(sources) <= set(done["provider"].to_list())


def demo_now(window: Window, now: datetime | None = None) -> datetime:
    """The demo's clock: a collection run shortly after the window ends (or now, if sooner).

    The demo serves any month, so it simulates a timely collection: providers' lookback limits
    (Neon keeps 1 year) and "the Costs API fills a day after it ends" then behave as they would
    have for a team collecting that month on schedule.
    """
    real = now or datetime.now(UTC)
    return min(real, window.end + timedelta(hours=6))


def check_workspace_mode(store: Store, demo: bool) -> None:
    """A database holds DEMO DATA or live data, never both."""
    mode = "demo" if demo else "live"
    current = store.scalar("SELECT value FROM workspace WHERE key = 'mode'")
    if current is None:
        with store.transaction() as con:
            con.execute("INSERT INTO workspace VALUES ('mode', ?)", [mode])
        return
    if current != mode:
        hint = (
            "it holds DEMO DATA and providers are now configured"
            if current == "demo"
            else "it holds live data and no provider is configured"
        )
        raise ConfigError(
            f"the database {store.path} is a {current} workspace ({hint}): set CONTRIBUX_COSTS_DB "
            "to another file, or delete this one to start over"
        )
