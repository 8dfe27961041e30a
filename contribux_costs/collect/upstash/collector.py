"""Upstash Redis: database list, one stats snapshot per database per run, INFO, daily usage.

Upstash keeps **no history** (``GET /redis/stats/{id}`` is a snapshot of "now"), so this collector
must run at least daily (hourly is better): every run lands one snapshot per database, and the
daily usage rows are derived from the snapshot history kept in the store.

Secrets: ``GET /redis/databases`` returns each database's ``password``, ``rest_token`` and
``read_only_rest_token``. They are dropped (:func:`redact.drop_secret_keys`) before any row or raw
page is built; the REST token lives only in memory, for the ``INFO stats`` call to the database's
own endpoint (``POST https://<endpoint>``, ``Authorization: Bearer <token>``), and is added to the
redaction list of every message that call can produce.

Two tasks per run, each written by the runner as one :class:`SliceWrite` (one transaction):

1. ``redis/stats``: ``upstash_databases``, ``upstash_snapshots``, ``upstash_series`` and
   ``upstash_info`` rows plus the raw pages, sliced by ``fetched_at``. Live, the slice is
   ``[first fetch, last fetch + 1 µs)``, so a re-run at the same fetch time replaces instead of
   duplicating and never touches earlier snapshots. In the demo workspace the task REPLAYS the
   window: one snapshot per database at 23:55 UTC of each day (not after now), each through a
   private demo transport and clock, and the slice is the whole window.
2. ``usage``: daily ``usage`` rows for the requested window's UTC days (live, also the trailing
   ``REPULL_DAYS`` up to today, the day of the new snapshot), recomputed from the stored snapshot
   history and replacing those days' earlier rows. Usage is a pure function of
   the snapshots, so the two slices need not share a transaction: if a crash falls between them,
   the next run's usage slice recomputes the same days from the same (or more) snapshots.

Derivation, per database and consecutive snapshot pair (attributed to the later snapshot's UTC day):

- month-to-date counters (``total_monthly_*``): ``cur - prev`` in the same UTC month; ``cur`` when
  the month changed or the counter dropped (it reset: the new value is the amount since the
  reset); for the first snapshot ever, ``cur`` only on the month's first day (else unknown);
- hits/misses: INFO ``keyspace_hits``/``keyspace_misses`` are cumulative since the server started:
  ``cur - prev``, or ``cur`` after a drop (restart), never negative. When either side lacks them
  (INFO unavailable or without these fields: UNSURE in the docs), the pair's read requests are
  split by the hit share of the ``hits``/``misses`` series (rates over the last hour, also
  UNSURE): the volume is measured over the whole interval, only the ratio comes from the series;
  ``dimensions.source`` says which (``info`` or ``series``);
- storage: a gauge, the day's last ``current_storage``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import Caller, HttpClients, get_json
from contribux_costs.collect.upstash.frames import (
    PROVIDER,
    STATS,
    Database,
    Snapshot,
    parse_info,
    snapshot_slice,
)
from contribux_costs.collect.upstash.usage import derive_usage, snapshot_history
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, SchemaError
from contribux_costs.periods import Window, utc_midnight
from contribux_costs.redact import drop_secret_keys, redact
from contribux_costs.store.slices import RawPage, SliceWrite

USAGE = "usage"
INFO = "redis/info"
DEMO_SNAPSHOT_TIME = time(23, 55)  # the demo replays one snapshot per day, at this UTC time
ONE_US = timedelta(microseconds=1)
log = logging.getLogger(__name__)


@dataclass
class UpstashCollector:
    """Snapshots every database's stats (and INFO) per run; derives daily usage from history."""

    provider: str = PROVIDER

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        now = ctx.now()
        clamped = window.clamp_end(now)
        if ctx.demo_clock is None:
            usage = Task(USAGE, live_usage_window(clamped, now, ctx.settings.repull_days))
            return [Task(STATS, Window(now, now + ONE_US)), usage]
        # The demo replays exactly the window, so its usage is exactly the window's days.
        usage = Task(USAGE, day_window(clamped))
        return [Task(STATS, clamped), usage] if replay_times(clamped, now) else [usage]

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        if task.endpoint == USAGE:
            return self._fetch_usage(task, ctx)
        if ctx.demo_clock is not None:
            return self._replay(task, ctx)
        snaps, raw = take_snapshots(ctx.clients, ctx.settings, ctx.now)
        times = [s.fetched_at for s in snaps] or [raw[0].fetched_at]
        return snapshot_slice(Window(min(times), max(times) + ONE_US), snaps, raw)

    def _replay(self, task: Task, ctx: CollectContext) -> SliceWrite:
        # Imported here: the demo package is only needed by the demo workspace.
        from contribux_costs.demo.model import DemoModel
        from contribux_costs.demo.transport import DemoClock, demo_transport

        snaps: list[Snapshot] = []
        raw: list[RawPage] = []
        for t in replay_times(task.window, ctx.now()):
            # A private transport and clock per simulated time: ctx.demo_clock is shared.
            transport = demo_transport(ctx.settings, DemoModel(), DemoClock(t))
            clients = HttpClients(ctx.settings, transport, ctx.clients.policy, limiters={})
            try:
                s, r = take_snapshots(clients, ctx.settings, _fixed(t))
            finally:
                clients.close()
            snaps += s
            raw += r
        return snapshot_slice(task.window, snaps, raw)

    def _fetch_usage(self, task: Task, ctx: CollectContext) -> SliceWrite:
        if ctx.store is None:
            raise CollectError(PROVIDER, USAGE, "daily usage needs the store (snapshot history)")
        frame = derive_usage(snapshot_history(ctx.store, task.window), task.window)
        return SliceWrite(PROVIDER, USAGE, task.window, {"usage": frame})


def live_usage_window(window: Window, now: datetime, repull_days: int) -> Window:
    """Whole UTC days of ``window`` plus the trailing ``repull_days`` up to today.

    Each run's snapshot belongs to today and completes the day of the previous one, so the days
    around now are recomputed whatever month was asked for.
    """
    back = utc_midnight(now.date()) - timedelta(days=repull_days)
    return day_window(Window(min(window.start, back), max(window.end, now + ONE_US)))


def day_window(window: Window) -> Window:
    """The window widened to whole UTC days."""
    start = utc_midnight(window.start.date())
    end = utc_midnight(window.end.date())
    return Window(start, end if end == window.end else end + timedelta(days=1))


def replay_times(window: Window, now: datetime) -> list[datetime]:
    """The demo's daily snapshot instants inside ``window`` and not after ``now``."""
    out = []
    day = window.start.date()
    while day <= window.end.date():
        t = datetime.combine(day, DEMO_SNAPSHOT_TIME, UTC)
        if window.start <= t < window.end and t <= now:
            out.append(t)
        day += timedelta(days=1)
    return out


# -- fetching ------------------------------------------------------------------------------------
def take_snapshots(
    clients: HttpClients, settings: Settings, now: Callable[[], datetime]
) -> tuple[list[Snapshot], list[RawPage]]:
    """List databases (secrets dropped at once), then one stats snapshot (and INFO) per database."""
    client = clients.client("upstash")
    caller = clients.caller(PROVIDER)
    listed_at = now()
    parsed, _body = caller.call("redis/databases", lambda: get_json(client, "redis/databases"))
    databases = parse_databases(parsed)
    clean = [d.record for d in databases]
    raw = [RawPage({"path": "redis/databases"}, listed_at, json.dumps(clean))]
    snaps = []
    for db in databases:
        at = now()
        path = f"redis/stats/{db.id}"
        try:
            got, _ = caller.call(STATS, partial(get_json, client, path))
        except CollectError as exc:
            if exc.status != 404:
                raise
            # Deleted between the list and its stats call: the others' snapshots still count.
            log.warning("upstash database %s vanished before its stats were read", db.id)
            continue
        stats = drop_secret_keys(got)
        if not isinstance(stats, dict):
            raise SchemaError(PROVIDER, STATS, f"stats of database {db.id} is not a JSON object")
        info, status = fetch_info(clients, settings, db)
        snaps.append(Snapshot(at, db, stats, info, status))
        raw.append(RawPage({"path": path}, at, json.dumps(stats)))
        if info is not None:
            raw.append(
                RawPage({"path": INFO, "database_id": db.id}, at, json.dumps({"result": info}))
            )
    return snaps, raw


def parse_databases(parsed: object) -> list[Database]:
    """Validate the list, keep each REST token in memory and drop every secret key."""
    if not isinstance(parsed, list):
        raise SchemaError(PROVIDER, "redis/databases", "response is not a JSON array of databases")
    out = []
    for i, item in enumerate(parsed):
        if not isinstance(item, dict) or not item.get("database_id"):
            raise SchemaError(PROVIDER, "redis/databases", f"item {i} has no database_id")
        token = item.get("rest_token") or item.get("read_only_rest_token")
        record = drop_secret_keys(item)
        out.append(Database(record, str(token) if token else None))  # type: ignore[arg-type]
    return out


def fetch_info(clients: HttpClients, settings: Settings, db: Database) -> tuple[str | None, str]:
    """``INFO stats`` through the database's REST endpoint; a failure degrades to the series."""
    host = db.record.get("endpoint")
    if not db.token or not host:
        return None, "no_token"
    url = str(host) if str(host).startswith("http") else f"https://{host}"
    secrets = [db.token, *settings.secret_values()]
    caller = Caller(PROVIDER, clients.policy, secrets)
    client = clients.plain_client()
    headers = {"Authorization": f"Bearer {db.token}"}

    def attempt() -> Any:
        response = client.post(url, json=["INFO", "stats"], headers=headers)
        response.raise_for_status()
        return json.loads(response.text)

    try:
        reply = caller.call(INFO, attempt)
    except CollectError as exc:
        status = _failed(str(exc), secrets)
        log.warning(
            "upstash INFO for %s unavailable, using the hits/misses series: %s", db.id, status
        )
        return None, status
    finally:
        client.close()
    if not isinstance(reply, dict) or not isinstance(reply.get("result"), str):
        error = reply.get("error") if isinstance(reply, dict) else None
        return None, _failed(str(error or "no 'result' text in the reply"), secrets)
    text = reply["result"]
    has = parse_info(text)
    return text, "ok" if "keyspace_hits" in has and "keyspace_misses" in has else "no_counters"


def _fixed(t: datetime) -> Callable[[], datetime]:
    return lambda: t


def _failed(message: str, secrets: list[str]) -> str:
    """The INFO status kept with the snapshot: short, and with every secret masked."""
    return "failed: " + redact(message, secrets)[:300]


def make_collector(settings: Settings) -> UpstashCollector:
    """Upstash needs no per-settings state: one snapshot per database per run."""
    return UpstashCollector()
