"""Demo Upstash Developer API and per-database REST endpoints (INFO), as of the clock's "now".

Routes (real shapes, see ``provider-apis.md`` §4):

- ``GET /v2/redis/databases``: a JSON array, *with* fake ``password``/``rest_token``/
  ``read_only_rest_token`` fields exactly as the real API sends them (the collector must drop them);
- ``GET /v2/redis/stats/{id}``: scalars, month-to-date counters that reset at UTC month start,
  series with Go-formatted ``x`` timestamps (nanoseconds, trailing zeros trimmed, ``+0000 UTC``),
  ``command_counts`` and the object-valued ``monitor_count``;
- ``POST https://<endpoint>`` (hosts ending in ``.upstash.io``) with ``["INFO","stats"]`` and
  ``Authorization: Bearer <rest_token>``: ``{"result": "<INFO text>"}`` with cumulative
  ``keyspace_hits``/``keyspace_misses`` since the last server restart (planted on the 10th of
  every month at 00:05 UTC, so counter resets are part of the demo).

The planted cache behaviour follows the platform's cache config (``domain.md``): each key class has
a TTL ``T`` and a per-key request rate ``λ`` (:data:`PLANTED_REQUEST_RATE_PER_KEY_S`), and its hit
ratio is the fixed-expiry TTL model ``λT / (1 + λT)`` (:attr:`KeyClass.planted_hit_ratio`). The
vector-search cache is the one that misses too often (≈ 0.55). Live keys (the ``keyspace``
series) are ``Σ keys × hit ratio``: in that model a key is resident a fraction ``λT/(1+λT)`` of
the time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.upstash_dbs import _FREE_LIMITS, DATABASES, DemoDatabase

if TYPE_CHECKING:
    from contribux_costs.demo.context import DemoContext


@dataclass(frozen=True)
class KeyClass:
    """A class of cache keys: TTL, the planted per-key request rate λ, and its size."""

    name: str
    ttl_s: int
    per_key_rate_per_s: float
    keys_at_epoch: int
    value_bytes: int

    @property
    def planted_hit_ratio(self) -> float:
        """λT / (1 + λT): the hit ratio of a TTL cache whose hits do not refresh the expiry."""
        lt = self.per_key_rate_per_s * self.ttl_s
        return lt / (1 + lt)


# λ chosen so that λT/(1+λT) lands on each class's intended hit ratio.
KEY_CLASSES = {
    "repositories": KeyClass("repositories", 1800, 0.0075, 400, 4096),  # λT = 13.5 → 0.931
    "vector_search": KeyClass("vector_search", 600, 0.0020, 250, 6144),  # λT = 1.2 → 0.545
    "opportunities": KeyClass("opportunities", 300, 0.0180, 150, 2048),  # λT = 5.4 → 0.844
    "user_profile": KeyClass("user_profile", 1800, 0.0035, 800, 1024),  # λT = 6.3 → 0.863
    # Small single-purpose databases (rate limits, sessions, flags, previews): λT = 18 → 0.947.
    "small": KeyClass("small", 3600, 0.005, 50, 256),
    "sandbox": KeyClass("sandbox", 3600, 0.005, 10, 256),  # ~134K commands a month: Free-sized
}
# The per-key request rate (requests per second per key) planted for each key class.
PLANTED_REQUEST_RATE_PER_KEY_S = {k: c.per_key_rate_per_s for k, c in KEY_CLASSES.items()}
INVALIDATION_SHARE = 0.01  # DEL commands per read (cache invalidations on writes upstream)
PRICE_PER_COMMAND_USD = 0.20 / 100_000  # pay-as-you-go
RESTART_DAY, RESTART_MINUTE = 10, 5  # INFO counters restart on the 10th at 00:05 UTC (maintenance)
SERIES_STEP = timedelta(minutes=5)  # resolution of the last-hour series


BY_ID = {d.database_id: d for d in DATABASES}
BY_HOST = {d.endpoint: d for d in DATABASES}
METRICS = ("reads", "hits", "misses", "sets", "dels", "commands", "bytes_in", "bytes_out")


# -- the volume model ----------------------------------------------------------------------------
@lru_cache(maxsize=16384)
def daily(model: DemoModel, db: DemoDatabase, day: date) -> dict[str, float]:
    """One database's volumes for one whole UTC day."""
    out = dict.fromkeys(METRICS, 0.0)
    for name in db.classes:
        kc = KEY_CLASSES[name]
        reads = (
            kc.keys_at_epoch * kc.per_key_rate_per_s * 86400 * model.level(day, f"upstash:{name}")
        )
        hits = reads * min(
            0.999, kc.planted_hit_ratio * model.noise(day, f"upstash:h:{name}", 0.004)
        )
        dels = reads * INVALIDATION_SHARE
        misses = reads - hits
        out["reads"] += reads
        out["hits"] += hits
        out["misses"] += misses
        out["sets"] += misses
        out["dels"] += dels
        out["bytes_out"] += hits * kc.value_bytes + reads * 64
        out["bytes_in"] += misses * kc.value_bytes + (reads + dels) * 64
    out["commands"] = out["reads"] + out["sets"] + out["dels"]
    return out


@lru_cache(maxsize=8)
def _hour_shares(model: DemoModel) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(share of each UTC hour, share done before each hour): computed once per model."""
    shares = tuple(model.hour_share(h) for h in range(24))
    before = tuple(sum(shares[:h]) for h in range(24))
    return shares, before


def _day_fraction(model: DemoModel, t: datetime) -> float:
    """Share of a day's traffic that happened by ``t`` within its UTC day."""
    shares, before = _hour_shares(model)
    within = (t.minute * 60 + t.second + t.microsecond / 1e6) / 3600
    return before[t.hour] + shares[t.hour] * within


def amount(model: DemoModel, db: DemoDatabase, start: datetime, end: datetime) -> dict[str, float]:
    """Volumes over ``[start, end)``: whole days plus the fractions at both ends."""
    out = dict.fromkeys(METRICS, 0.0)
    day = start.date()
    while start < end and day <= end.date():
        lo = _day_fraction(model, start) if day == start.date() else 0.0
        hi = _day_fraction(model, end) if day == end.date() else 1.0
        for k, v in daily(model, db, day).items():
            out[k] += v * max(0.0, hi - lo)
        day += timedelta(days=1)
    return out


def month_start(t: datetime) -> datetime:
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def last_restart(t: datetime) -> datetime:
    restart = datetime(t.year, t.month, RESTART_DAY, 0, RESTART_MINUTE, tzinfo=UTC)
    if restart > t:
        prev = month_start(t) - timedelta(days=1)
        restart = datetime(prev.year, prev.month, RESTART_DAY, 0, RESTART_MINUTE, tzinfo=UTC)
    return restart


@lru_cache(maxsize=16384)
def _noise(model: DemoModel, day: date, stream: str, sd: float = 0.05) -> float:
    return model.noise(day, stream, sd)


def storage_bytes(model: DemoModel, db: DemoDatabase, day: date) -> int:
    return round(
        db.storage_bytes_at_epoch * model.growth(day) * _noise(model, day, f"st:{db.name}", 0.004)
    )


def live_keys(model: DemoModel, db: DemoDatabase, day: date) -> int:
    return round(
        sum(
            KEY_CLASSES[c].keys_at_epoch * model.growth(day) * KEY_CLASSES[c].planted_hit_ratio
            for c in db.classes
        )
    )


# -- the Go time format --------------------------------------------------------------------------
def go_time(t: datetime, salt: str) -> str:
    """Go's ``time.String()``: nanoseconds with trailing zeros trimmed, ``+0000 UTC``."""
    # The API stamps points a fraction of a second after the sampling instant.
    nanos = int(hashlib.sha256(f"{t.isoformat()}:{salt}".encode()).hexdigest()[:8], 16) % 10**9
    frac = f"{nanos:09d}".rstrip("0")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def _point(t: datetime, y: float, salt: str) -> dict[str, Any]:
    return {"x": go_time(t, salt), "y": y}


# -- routes --------------------------------------------------------------------------------------
def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    host = request.url.host
    if host in BY_HOST:
        return _rest(request, ctx, BY_HOST[host])
    if host.endswith(".upstash.io"):
        return httpx.Response(404, text="database not found")
    path = request.url.path.rstrip("/")
    now = ctx.clock.now()
    if request.method == "GET" and path.endswith("/redis/databases"):
        return httpx.Response(200, json=[_database(d) for d in DATABASES if d.created <= now])
    if request.method == "GET" and "/redis/stats/" in path:
        db = BY_ID.get(path.rsplit("/", 1)[1])
        if db is None or db.created > now:
            return httpx.Response(404, text="database not found")
        return httpx.Response(200, json=stats(ctx.model, db, now))
    return httpx.Response(404, text=f"no route {request.method} {path}")


def _database(db: DemoDatabase) -> dict[str, Any]:
    return {
        "database_id": db.database_id,
        "database_name": db.name,
        "database_type": db.plan,
        "region": db.region,
        "type": "free" if db.plan == "Free" else "paid",
        "port": 6379,
        "creation_time": int(db.created.timestamp()),
        "budget": 360,
        "state": "active",
        "password": db.secret("password"),
        "user_email": "ops@contribux.example",
        "endpoint": db.endpoint,
        "tls": True,
        "eviction": True,
        "auto_upgrade": False,
        "consistent": False,
        "reserved_per_region_price": 0,
        "modifying_state": "",
        "rest_token": db.secret("rest_token"),
        "read_only_rest_token": db.secret("read_only_rest_token"),
        "db_max_clients": 10000,
        "db_max_request_size": 104857600,
        "db_disk_threshold": 107374182400,
        "db_max_entry_size": 104857600,
        "db_memory_threshold": 3221225472,
        "db_daily_bandwidth_limit": 53687091200,
        "db_max_commands_per_second": 10000,
        **(_FREE_LIMITS if db.plan == "Free" else {}),
    }


def _price(db: DemoDatabase) -> float:
    """USD per command in Upstash's running estimate: a Free database costs nothing."""
    return 0.0 if db.plan == "Free" else PRICE_PER_COMMAND_USD


def stats(model: DemoModel, db: DemoDatabase, now: datetime) -> dict[str, Any]:
    """The ``/redis/stats/{id}`` payload as of ``now``."""
    day0 = datetime(now.year, now.month, now.day, tzinfo=UTC)
    today = amount(model, db, day0, now)
    mtd = amount(model, db, month_start(now), now)
    storage = storage_bytes(model, db, now.date())
    out: dict[str, Any] = {
        "monitor_count": _point(now, 0, "monitor"),
        "daily_net_commands": round(today["commands"]),
        "daily_read_requests": round(today["reads"]),
        "daily_write_requests": round(today["sets"] + today["dels"]),
        **_last_hour(model, db, now),
        **_last_day(model, db, now, storage),
        **_last_days(model, db, now),
        "dailybandwidth": round(today["bytes_in"] + today["bytes_out"]),
        "total_monthly_bandwidth": round(mtd["bytes_in"] + mtd["bytes_out"]),
        "total_monthly_requests": round(mtd["commands"]),
        "total_monthly_read_requests": round(mtd["reads"]),
        "total_monthly_write_requests": round(mtd["sets"] + mtd["dels"]),
        "total_monthly_storage": storage,
        "current_storage": storage,
        "total_monthly_billing": round(round(mtd["commands"]) * _price(db), 4),
        "produce_throughput": None,
        "consume_throughput": None,
    }
    return out


def _last_hour(model: DemoModel, db: DemoDatabase, now: datetime) -> dict[str, Any]:
    """Per-second rates and command counts over the last hour, one point per 5 minutes."""
    times = [now - SERIES_STEP * k for k in range(11, -1, -1)]
    rates: dict[str, list[dict[str, Any]]] = {k: [] for k in ("hits", "misses", "read", "write")}
    counts: dict[str, list[dict[str, Any]]] = {"GET": [], "SET": [], "DEL": []}
    extra: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "throughput",
            "connection_count",
            "latencymean",
            "latency_99",
            "read_latency_mean",
            "read_latency_99",
            "write_latency_mean",
            "write_latency_99",
        )
    }
    for t in times:
        step = amount(model, db, t - SERIES_STEP, t)
        sec = SERIES_STEP.total_seconds()
        for key, metric in (("hits", "hits"), ("misses", "misses"), ("read", "reads")):
            rates[key].append(_point(t, round(step[metric] / sec, 4), key))
        rates["write"].append(_point(t, round((step["sets"] + step["dels"]) / sec, 4), "write"))
        for cmd, metric in (("GET", "reads"), ("SET", "sets"), ("DEL", "dels")):
            counts[cmd].append(_point(t, round(step[metric]), cmd))
        extra["throughput"].append(_point(t, round(step["commands"] / sec, 4), "tp"))
        extra["connection_count"].append(_point(t, 4 + round(step["commands"] / sec / 5), "cc"))
        for i, key in enumerate(list(extra)[2:]):
            extra[key].append(
                _point(t, round(0.18 + 0.07 * i * _noise(model, t.date(), key), 4), key)
            )
    cmd_counts = [{"metric_identifier": c, "data_points": pts} for c, pts in counts.items()]
    return {**rates, **extra, "command_counts": cmd_counts}


def _last_day(model: DemoModel, db: DemoDatabase, now: datetime, storage: int) -> dict[str, Any]:
    """Gauges over the last 24 hours, hourly."""
    times = [now - timedelta(hours=k) for k in range(23, -1, -1)]
    return {
        "keyspace": [_point(t, live_keys(model, db, t.date()), "ks") for t in times],
        "diskusage": [
            _point(t, storage if t == now else storage_bytes(model, db, t.date()), "du")
            for t in times
        ],
    }


def _last_days(model: DemoModel, db: DemoDatabase, now: datetime) -> dict[str, Any]:
    """Daily totals for the last 5 days (today so far last), stamped at now's time of day."""
    times = [now - timedelta(days=k) for k in range(4, -1, -1)]
    requests, billing, bandwidths = [], [], []
    for t in times:
        day0 = datetime(t.year, t.month, t.day, tzinfo=UTC)
        vol = amount(model, db, day0, min(day0 + timedelta(days=1), now))
        requests.append(_point(t, round(vol["commands"]), "dr"))
        billing.append(_point(t, round(round(vol["commands"]) * _price(db), 4), "db"))
        bandwidths.append(_point(t, round(vol["bytes_in"] + vol["bytes_out"]), "bw"))
    return {
        "dailyrequests": requests,
        "days": [t.strftime("%A") for t in times],
        "dailybilling": billing,
        "bandwidths": bandwidths,
    }


# -- the per-database REST endpoint --------------------------------------------------------------
def _rest(request: httpx.Request, ctx: DemoContext, db: DemoDatabase) -> httpx.Response:
    auth = request.headers.get("authorization", "")
    tokens = {f"Bearer {db.secret('rest_token')}", f"Bearer {db.secret('read_only_rest_token')}"}
    if auth not in tokens:
        return httpx.Response(401, json={"error": "Unauthorized"})
    try:
        command = [str(p).upper() for p in json.loads(request.content or b"null")]
    except (TypeError, ValueError):
        return httpx.Response(400, json={"error": "ERR failed to parse command"})
    if request.method != "POST" or command[:1] != ["INFO"]:
        return httpx.Response(400, json={"error": "ERR the demo endpoint only answers INFO"})
    return httpx.Response(200, json={"result": info_text(ctx.model, db, ctx.clock.now())})


def info_text(model: DemoModel, db: DemoDatabase, now: datetime) -> str:
    """An ``INFO stats`` report: cumulative counters since the last (planted) restart."""
    since = amount(model, db, last_restart(now), now)
    lines = {
        "total_connections_received": round(since["commands"] / 400),
        "total_commands_processed": round(since["commands"]),
        "instantaneous_ops_per_sec": round(
            amount(model, db, now - timedelta(minutes=1), now)["commands"] / 60
        ),
        "total_net_input_bytes": round(since["bytes_in"]),
        "total_net_output_bytes": round(since["bytes_out"]),
        "instantaneous_input_kbps": "0.00",
        "instantaneous_output_kbps": "0.00",
        "rejected_connections": 0,
        "expired_keys": round(since["misses"] * 0.9),
        "evicted_keys": 0,
        "keyspace_hits": round(since["hits"]),
        "keyspace_misses": round(since["misses"]),
        "pubsub_channels": 0,
        "pubsub_patterns": 0,
    }
    return "# Stats\r\n" + "".join(f"{k}:{v}\r\n" for k, v in lines.items())
