"""Demo Postgres statistics: contribux's database as ``pg_stat_statements`` / ``pg_stat_database``.

:class:`DemoPostgres` answers the collector with rows of exactly the live views' shape, as they
would read at any instant: counters are cumulative since the last reset, built from seeded daily
volumes (growth × weekly seasonality × noise from :class:`DemoModel`; hourly jobs are flat). A task
over a window replays one snapshot at the window's start (the baseline) and one at the end of each
simulated day (23:59:59 UTC) up to now, so a demo month has a history to diff.

Planted for the analysis (documented so tests and the engine can rely on them):

- 13 statements with a mean execution time above 1000 ms (unindexed scans, a pgvector ``<->``
  search without a matching index, reporting jobs), two more between 100 and 1000 ms: the guide's
  rule "Neon slow queries > 10" fires at the default ``SLOW_QUERY_MS``;
- a buffer-cache hit ratio of about 0.90 for ``neondb`` (scans read from disk), under the 95% rule;
- a stats reset every month on day :data:`RESET_DAY` at :data:`RESET_HOUR`:00 UTC (a compute
  restart): counters drop to the activity since the reset, ``stats_reset`` changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from contribux_costs.demo.model import DemoModel
from contribux_costs.periods import Window

STATEMENTS = "pg_stat_statements"
RESET_DAY = 11
RESET_HOUR = 3
SNAPSHOT_TIME = time(23, 59, 59)
SERVER = "ep-demo-contribux.us-east-2.aws.neon.tech:5432"
APP_DB, APP_DB_OID = "neondb", 16389
ADMIN_DB, ADMIN_DB_OID = "postgres", 5
APP_ROLE, APP_ROLE_OID = "contribux_app", 16401
OWNER_ROLE, OWNER_ROLE_OID = "neondb_owner", 16400


@dataclass(frozen=True)
class DemoQuery:
    """One normalized statement: daily calls at the model's epoch, mean ms, per-call rows/blocks."""

    query: str
    calls: float
    mean_ms: float
    rows: float
    blocks: float
    hit: float
    kind: str = "select"
    job: bool = False  # a scheduled job: flat calls, run by the owner role

    @property
    def queryid(self) -> int:
        """A stable signed 64-bit id, like PostgreSQL's query fingerprint."""
        digest = hashlib.sha256(self.query.encode()).digest()
        return int.from_bytes(digest[:8], "little", signed=True)


_OPP = "o.id, o.title, o.repository_id"
# fmt: off
QUERIES: tuple[DemoQuery, ...] = (
    # -- fast OLTP -------------------------------------------------------------------------
    DemoQuery(f"SELECT {_OPP}, o.description, o.difficulty, o.labels, o.created_at "
              "FROM opportunities o WHERE o.id = $1", 42000, 0.35, 1, 5, 0.998),
    DemoQuery("SELECT id, github_id, login, email, avatar_url, created_at FROM users "
              "WHERE id = $1", 36000, 0.22, 1, 4, 0.999),
    DemoQuery("SELECT p.user_id, p.skills, p.languages, p.experience_level, p.preferences "
              "FROM user_profiles p WHERE p.user_id = $1", 28000, 0.31, 1, 4, 0.998),
    DemoQuery("SELECT s.user_id, s.expires_at FROM sessions s WHERE s.token_hash = $1 "
              "AND s.expires_at > now()", 51000, 0.18, 1, 4, 0.999),
    DemoQuery("INSERT INTO repositories (github_id, full_name, description, language, stars, "
              "forks, topics, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT "
              "(github_id) DO UPDATE SET description = EXCLUDED.description, stars = "
              "EXCLUDED.stars, forks = EXCLUDED.forks, topics = EXCLUDED.topics, updated_at = "
              "EXCLUDED.updated_at", 9000, 1.9, 1, 14, 0.97, "insert"),
    DemoQuery(f"SELECT {_OPP}, o.embedding <=> $1 AS distance FROM opportunities o "
              "WHERE o.status = $2 ORDER BY o.embedding <=> $1 LIMIT $3", 7500, 42.0, 20, 900,
              0.93),
    DemoQuery("UPDATE opportunities SET view_count = view_count + $1 WHERE id = $2",
              18000, 0.6, 1, 6, 0.995, "update"),
    DemoQuery("SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
              22000, 0.9, 1, 8, 0.99),
    DemoQuery("INSERT INTO analytics_events (user_id, event_type, properties, created_at) "
              "VALUES ($1, $2, $3, $4)", 60000, 0.25, 1, 3, 0.999, "insert"),
    DemoQuery("SELECT id, github_id, full_name, language, stars FROM repositories "
              "WHERE full_name = $1", 14000, 0.28, 1, 4, 0.998),
    DemoQuery("INSERT INTO contributions (user_id, repo_id, opportunity_id, pr_url, status, "
              "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", 1800, 0.9, 1, 6, 0.99,
              "insert"),
    DemoQuery("UPDATE opportunities SET embedding = $1, embedded_at = now() WHERE id = $2",
              3000, 3.4, 1, 12, 0.96, "update"),
    # -- between 100 ms and 1 s ------------------------------------------------------------
    DemoQuery("SELECT o.id, o.title, o.difficulty FROM opportunities o WHERE o.repository_id "
              "= ANY($1) AND o.status = $2 ORDER BY o.created_at DESC LIMIT $3", 5200, 240, 25,
              2200, 0.95),
    DemoQuery("SELECT o.id, o.title, o.embedding <=> $1 AS distance FROM opportunities o JOIN "
              "repositories r ON r.id = o.repository_id WHERE r.language = $2 AND o.difficulty = "
              "$3 ORDER BY o.embedding <=> $1 LIMIT $4", 2400, 420, 20, 5200, 0.92),
    # -- slow: mean above 1000 ms ----------------------------------------------------------
    DemoQuery("SELECT c.id, c.user_id, c.pr_url, c.status, c.created_at FROM contributions c "
              "WHERE c.repo_id = $1 AND c.created_at > $2", 900, 1480, 35, 42000, 0.88),
    DemoQuery("SELECT id, title FROM opportunities WHERE to_tsvector($1, title || $2 || "
              "description) @@ plainto_tsquery($1, $3) ORDER BY created_at DESC LIMIT $4",
              700, 2350, 15, 61000, 0.9),
    DemoQuery("SELECT r.id, r.full_name, count(c.id) AS contributions FROM repositories r LEFT "
              "JOIN contributions c ON c.repo_id = r.id GROUP BY r.id, r.full_name ORDER BY "
              "contributions DESC LIMIT $1", 96, 3300, 50, 95000, 0.86),
    DemoQuery("SELECT id, title FROM opportunities ORDER BY embedding <-> $1 LIMIT $2",
              420, 1850, 10, 70000, 0.89),
    DemoQuery("SELECT id, login FROM users WHERE lower(email) = lower($1)",
              650, 1120, 1, 30000, 0.91),
    DemoQuery("SELECT id, kind, payload, created_at FROM notifications WHERE user_id = $1 "
              "ORDER BY created_at DESC OFFSET $2 LIMIT $3", 820, 1260, 20, 28000, 0.9),
    DemoQuery("DELETE FROM sessions WHERE expires_at < $1", 24, 4100, 1500, 120000, 0.82,
              "delete", job=True),
    DemoQuery("UPDATE repositories r SET health_score = s.score FROM (SELECT repo_id, "
              "avg(merge_days) AS score FROM contributions GROUP BY repo_id) s WHERE s.repo_id = "
              "r.id", 24, 6200, 3000, 160000, 0.84, "update", job=True),
    DemoQuery("SELECT date_trunc($1, created_at) AS bucket, event_type, count(*) FROM "
              "analytics_events WHERE created_at >= $2 GROUP BY 1, 2 ORDER BY 1", 48, 5200, 400,
              210000, 0.8),
    DemoQuery("SELECT o.id, o.title FROM opportunities o WHERE NOT EXISTS (SELECT $1 FROM "
              "opportunity_views v WHERE v.opportunity_id = o.id AND v.user_id = $2) ORDER BY "
              "o.score DESC LIMIT $3", 1100, 1620, 20, 38000, 0.91),
    DemoQuery("SELECT c.id, c.pr_url, c.status, c.merged_at FROM contributions c WHERE "
              "c.user_id = $1 AND c.status = $2 ORDER BY c.merged_at DESC", 1500, 1340, 12, 36000,
              0.91),
    DemoQuery("SELECT id, full_name, stars FROM repositories WHERE topics @> $1 ORDER BY stars "
              "DESC LIMIT $2", 980, 1150, 20, 26000, 0.92),
    DemoQuery("REFRESH MATERIALIZED VIEW CONCURRENTLY repository_stats", 24, 8800, 0, 180000,
              0.85, "utility", job=True),
)
# fmt: on
# Per-query daily columns: calls, total_exec_time, rows, shared_blks_hit, shared_blks_read.
_NQ, _NC = len(QUERIES), 5
# fmt: off
DB_COUNTERS = (
    "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
    "tup_inserted", "tup_updated", "tup_deleted", "temp_files", "temp_bytes", "deadlocks",
    "blk_read_time", "blk_write_time",
)
# The maintenance database: health checks every 30 s, nothing else.
_ADMIN_DAY = dict.fromkeys(DB_COUNTERS, 0.0) | {
    "xact_commit": 2880.0, "blks_hit": 61000.0, "blks_read": 40.0, "tup_returned": 910000.0,
    "tup_fetched": 30500.0, "blk_read_time": 4.0,
}
# fmt: on


_HOURS_DONE = tuple(sum(DemoModel().hour_share(h) for h in range(hour)) for hour in range(24))


@dataclass(frozen=True)
class DemoPostgres:
    """The demo's Postgres server, read at any instant (deterministic for a seed)."""

    model: DemoModel = field(default_factory=DemoModel)
    replays_window: bool = True
    server: str = SERVER

    def snapshot_times(self, window: Window, now: datetime) -> list[datetime]:
        """The window's start, each day's end (23:59:59) up to ``now``, and ``now`` itself."""
        times = [window.start]
        last = min(now, window.end - timedelta(seconds=1)).replace(microsecond=0)
        day = window.start.date()
        while (at := datetime.combine(day, SNAPSHOT_TIME, UTC)) <= last:
            if at > window.start:
                times.append(at)
            day += timedelta(days=1)
        if last > times[-1]:
            times.append(last)
        return times

    def read(self, endpoint: str, at: datetime) -> list[dict[str, Any]]:
        """Rows of ``pg_stat_statements`` or ``pg_stat_database`` as they read at ``at``."""
        reset = last_reset(at)
        cum = self._cumulative(at, reset)
        if endpoint == STATEMENTS:
            return _statement_rows(cum[: _NQ * _NC].reshape(_NQ, _NC), reset)
        app = dict(zip(DB_COUNTERS, cum[_NQ * _NC :], strict=True))
        admin = {k: v * _elapsed_days(at, reset) for k, v in _ADMIN_DAY.items()}
        return [
            _database_row(ADMIN_DB_OID, ADMIN_DB, admin, 1, reset),
            _database_row(APP_DB_OID, APP_DB, app, self._backends(at), reset),
        ]

    def _cumulative(self, at: datetime, reset: datetime) -> np.ndarray:
        total = np.zeros(_NQ * _NC + len(DB_COUNTERS))
        day = reset.date()
        while day <= at.date():
            lo = day_fraction(reset) if day == reset.date() else 0.0
            hi = day_fraction(at) if day == at.date() else 1.0
            total += _daily(self.model, day) * max(0.0, hi - lo)
            day += timedelta(days=1)
        return total

    def _backends(self, at: datetime) -> int:
        load = self.model.hour_share(at.hour) * 24 * self.model.level(at.date(), "pg:backends")
        return int(4 + round(9 * load))


def last_reset(at: datetime) -> datetime:
    """The latest planted stats reset at or before ``at`` (day RESET_DAY, RESET_HOUR:00 UTC)."""
    this = datetime(at.year, at.month, RESET_DAY, RESET_HOUR, tzinfo=UTC)
    if at >= this:
        return this
    prev = at.replace(day=1) - timedelta(days=1)
    return datetime(prev.year, prev.month, RESET_DAY, RESET_HOUR, tzinfo=UTC)


def day_fraction(at: datetime) -> float:
    """Share of the UTC day's traffic done by ``at`` (the day-end snapshot counts the full day)."""
    if at.time() >= SNAPSHOT_TIME:
        return 1.0
    done = _HOURS_DONE[at.hour]
    return done + DemoModel().hour_share(at.hour) * (at.minute * 60 + at.second) / 3600


def _elapsed_days(at: datetime, reset: datetime) -> float:
    days = (at.date() - reset.date()).days
    return days - day_fraction(reset) + day_fraction(at)


@lru_cache(maxsize=4096)
def _daily(model: DemoModel, day: date) -> np.ndarray:
    """One day's activity: per query (calls, ms, rows, hit, read), then the app DB's counters."""
    per_query = np.zeros((_NQ, _NC))
    for i, q in enumerate(QUERIES):
        stream = f"pg:{q.queryid}"
        calls = q.calls if q.job else q.calls * model.level(day, stream)
        blocks = calls * q.blocks * model.noise(day, stream + ":blocks", 0.03)
        hit = min(0.9995, q.hit * model.noise(day, stream + ":hit", 0.004))
        ms = q.mean_ms * model.noise(day, stream + ":ms", 0.04)
        per_query[i] = (calls, calls * ms, calls * q.rows, blocks * hit, blocks * (1 - hit))
    return np.concatenate([per_query.ravel(), _database_day(per_query, model, day)])


def _database_day(per_query: np.ndarray, model: DemoModel, day: date) -> np.ndarray:
    calls, rows, hit, read = per_query[:, 0], per_query[:, 2], per_query[:, 3], per_query[:, 4]
    kinds = np.array([q.kind for q in QUERIES])
    commits = calls.sum() * 0.85
    temp = sum(calls[i] for i, q in enumerate(QUERIES) if q.rows >= 50)
    day_values = {
        "xact_commit": commits,
        "xact_rollback": commits * 0.004,
        # Autovacuum and catalog reads come on top of the statements' own blocks.
        "blks_read": read.sum() * 1.03,
        "blks_hit": hit.sum() * 1.05,
        "tup_returned": (hit + read).sum() * 48,
        "tup_fetched": rows[kinds == "select"].sum(),
        "tup_inserted": rows[kinds == "insert"].sum(),
        "tup_updated": rows[kinds == "update"].sum(),
        "tup_deleted": rows[kinds == "delete"].sum(),
        "temp_files": temp,
        "temp_bytes": temp * 48 * 2**20,
        "deadlocks": 0.1 * model.noise(day, "pg:deadlocks", 0.5),
        "blk_read_time": read.sum() * 0.12,
        "blk_write_time": read.sum() * 0.01,
    }
    return np.array([day_values[k] for k in DB_COUNTERS])


def _statement_rows(cum: np.ndarray, reset: datetime) -> list[dict[str, Any]]:
    rows = []
    for q, (calls, ms, nrows, hit, read) in zip(QUERIES, cum, strict=True):
        n = round(calls)
        if n == 0:
            continue  # not executed since the reset: no entry, as in pg_stat_statements
        owner = q.job
        rows.append(
            {
                "dbid": APP_DB_OID,
                "datname": APP_DB,
                "userid": OWNER_ROLE_OID if owner else APP_ROLE_OID,
                "rolname": OWNER_ROLE if owner else APP_ROLE,
                "queryid": q.queryid,
                "toplevel": True,
                "query": q.query,
                "calls": n,
                "total_exec_time": float(ms),
                "mean_exec_time": float(ms) / n,
                "rows": round(nrows),
                "shared_blks_hit": round(hit),
                "shared_blks_read": round(read),
                "stats_reset": reset,
            }
        )
    return rows


def _database_row(
    oid: int, name: str, values: dict[str, float], backends: int, reset: datetime
) -> dict[str, Any]:
    row: dict[str, Any] = {"datid": oid, "datname": name, "numbackends": backends}
    for key, value in values.items():
        row[key] = float(value) if key.endswith("_time") else round(value)
    row["stats_reset"] = reset
    return row


# -- business volumes (unit costs) -------------------------------------------------------------
# What the default [unit_costs] queries would count in the demo's database, per UTC day, tied to
# the usage the other demo providers serve: an active user makes ~34 authenticated requests a
# day (the session lookup), every analysed opportunity gets one new embedding (the UPDATE ... SET
# embedding statement), and every AI analysis run is one production gpt-4o request (the planted
# runaway job's extra requests on the spike day excepted).
REQUESTS_PER_ACTIVE_USER = 34
_SESSION_LOOKUP = next(i for i, q in enumerate(QUERIES) if "FROM sessions s" in q.query)
_EMBEDDING_UPDATE = next(i for i, q in enumerate(QUERIES) if "SET embedding" in q.query)


def business_volumes(model: DemoModel, day: date) -> dict[str, float]:
    """``{metric id: volume}`` of one UTC day (active_users, opportunities_analysed,
    ai_analyses)."""
    from contribux_costs.demo import openai as demo_openai

    calls = _daily(model, day)[: _NQ * _NC].reshape(_NQ, _NC)[:, 0]
    start = datetime.combine(day, time(0), UTC)
    analysis = next(
        w
        for w in demo_openai.WORKLOADS
        if w.project_id == "proj_contribux_prod" and w.model.startswith("gpt-4o-2")
    )
    requests = demo_openai.volume(model, start, start + timedelta(days=1), analysis)[0]
    # The planted runaway job's requests analyse nothing: they are not analyses run.
    spike = demo_openai.SPIKE_FACTOR if model.is_spike(day) else 1
    return {
        "active_users": float(round(calls[_SESSION_LOOKUP] / REQUESTS_PER_ACTIVE_USER)),
        "opportunities_analysed": float(round(calls[_EMBEDDING_UPDATE])),
        "ai_analyses": float(round(requests / spike)),
    }
