"""Case 2, collection concurrency: four providers against the loopback server (+50 ms each).

Each provider gets a workload of >= 20 requests for the bench month, set through the collectors'
own parameters and task windows (the runner's defaults would need only a few requests per month):

- openai: ``OpenAICollector(limit=4, costs_limit=4)`` → 8 pages per endpoint, 3 endpoints;
- vercel: one request per LA billing day (``split_la(..., max_span=1 day)``), 31 requests;
- neon: ``NeonCollector(page_limit=1)`` over the month in 7 pieces (3 pages each: two projects,
  then the empty page that ends the walk) + the organization and project listings;
- upstash: three daily snapshot runs (23:55 UTC of the last three days: 1 list + 3 × stats +
  3 × INFO each), then the usage derivation from the stored snapshots.

Like the runner, each provider runs in its own thread with its tasks in order, every task written
by ``Store.write_slice``. The Neon budget (30 requests/minute per account) is kept by a sliding
window limiter shared by Neon's requests; each run gets a fresh server (a fresh account minute).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contribux_costs.bench.loopback import Loopback
from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RateLimiter, RetryPolicy, SlidingWindowLimiter
from contribux_costs.collect.neon import NeonCollector
from contribux_costs.collect.openai.collector import OpenAICollector
from contribux_costs.collect.runner import demo_now
from contribux_costs.collect.upstash.collector import UpstashCollector
from contribux_costs.collect.vercel import ENDPOINT as VERCEL_CHARGES
from contribux_costs.collect.vercel import VercelCollector, la_days, split_la
from contribux_costs.config import Settings
from contribux_costs.periods import Month, Window
from contribux_costs.store import Store, open_store

PROVIDERS = ("openai", "vercel", "neon", "upstash")
NEON_PER_MINUTE = 30
NEON_PIECES = 7
UPSTASH_RUNS = 3


@dataclass
class Env:
    settings: Settings
    store: Store
    server: Loopback
    month: Month
    now: datetime
    limiters: dict[str, RateLimiter]

    def clients(self, now: datetime | None = None) -> HttpClients:
        policy = RetryPolicy(max_tries=3)
        return HttpClients(self.settings, self.server.transport(now), policy, self.limiters)

    def ctx(self, clients: HttpClients, now: datetime | None = None) -> CollectContext:
        when = now or self.now
        return CollectContext(self.settings, clients, lambda: when, None, store=self.store)


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: collect ``params["providers"]`` concurrently; seconds and request counts."""
    month = Month.parse(str(params["month"]))
    now = demo_now(month.window)
    settings = Settings(_env_file=None)
    store = open_store(Path(params["db"]))
    limiters: dict[str, RateLimiter] = {"neon": SlidingWindowLimiter(NEON_PER_MINUTE, 60.0)}
    with Loopback(settings, now, float(params.get("delay_s", 0.05))) as server:
        env = Env(settings, store, server, month, now, limiters)
        providers = list(params["providers"])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(providers)) as pool:
            spans = list(pool.map(lambda p: _timed(WORKLOADS[p], env), providers))
        seconds = time.perf_counter() - t0
        counts = server.counts()
    rows = store.scalar("SELECT count(*) FROM usage")
    store.close()
    return {
        "seconds": seconds,
        "per_provider_s": dict(zip(providers, spans, strict=True)),
        "requests": counts,
        "usage_rows": rows,
    }


def _timed(work: Callable[[Env], None], env: Env) -> float:
    t0 = time.perf_counter()
    work(env)
    return time.perf_counter() - t0


def _write(env: Env, collector: Any, tasks: list[Task], ctx: CollectContext) -> None:
    for task in tasks:
        started = datetime.now(UTC)
        sw = collector.fetch(task, ctx)
        env.store.write_slice(sw, {"run_id": "bench", "started_at": started})


def openai(env: Env) -> None:
    collector = OpenAICollector(limit=4, costs_limit=4)
    ctx = env.ctx(env.clients())
    _write(env, collector, collector.tasks(env.month.window, ctx), ctx)


def vercel(env: Env) -> None:
    collector = VercelCollector()
    ctx = env.ctx(env.clients())
    days = split_la(la_days(env.month.window), timedelta(days=1))
    _write(env, collector, [Task(VERCEL_CHARGES, d) for d in days], ctx)


def neon(env: Env) -> None:
    collector = NeonCollector(page_limit=1)
    ctx = env.ctx(env.clients())
    days = env.month.days
    step = timedelta(days=-(-days // NEON_PIECES))
    pieces = env.month.window.split(step)
    _write(env, collector, [t for w in pieces for t in collector.tasks(w, ctx)], ctx)


def upstash(env: Env) -> None:
    collector = UpstashCollector()
    last = env.month.window.end
    for back in range(UPSTASH_RUNS, 0, -1):
        at = last - timedelta(days=back) + timedelta(hours=23, minutes=55)
        clients = env.clients(at)
        ctx = env.ctx(clients, at)
        stats = [t for t in collector.tasks(Window(at, at + timedelta(minutes=1)), ctx)]
        _write(env, collector, [t for t in stats if t.endpoint != "usage"], ctx)
        clients.close()
    ctx = env.ctx(env.clients())
    _write(env, collector, [Task("usage", env.month.window)], ctx)


WORKLOADS: dict[str, Callable[[Env], None]] = {
    "openai": openai,
    "vercel": vercel,
    "neon": neon,
    "upstash": upstash,
}
