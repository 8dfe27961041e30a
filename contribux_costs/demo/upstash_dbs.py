"""The demo Upstash account's databases: three caches with planted behaviour, eight small ones.

Eleven databases in all, one past the 10 Upstash includes ($0.50 a month for each beyond 10);
``contribux-dev-sandbox`` is on the Free plan and reports the Free caps as its limits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class DemoDatabase:
    database_id: str
    name: str
    region: str
    endpoint: str
    classes: tuple[str, ...]
    storage_bytes_at_epoch: int
    created: datetime
    plan: str = "Pay as You Go"  # database_type as the Developer API spells it

    def secret(self, kind: str) -> str:
        """Fake, distinctive credentials (tests assert they never reach the store)."""
        digest = hashlib.sha256(f"{self.database_id}:{kind}".encode()).hexdigest()[:24]
        return f"DEMO-FAKE-{kind.upper()}-{digest}"


# The repositories cache sits near a 256 MB plan size (≈ 230 MB in late 2026): a plan finding.
_MAIN = (
    DemoDatabase(
        "8f2c1e4a-0b7d-4c55-9a1e-3d6f00c0ffee",
        "contribux-repos-cache",
        "us-east-1",
        "us1-brave-otter-31417.upstash.io",
        ("repositories",),
        85_000_000,
        datetime(2024, 1, 3, 17, 20, tzinfo=UTC),
    ),
    DemoDatabase(
        "5b9d7a31-6e2f-4a08-b4c2-71e0decaf001",
        "contribux-vector-cache",
        "us-east-1",
        "us1-quiet-heron-27182.upstash.io",
        ("vector_search",),
        18_000_000,
        datetime(2024, 1, 3, 17, 25, tzinfo=UTC),
    ),
    DemoDatabase(
        "c3e4f5a6-1b2c-4d3e-8f90-aa55bb66cc77",
        "contribux-api-cache",
        "us-east-1",
        "us1-swift-lynx-16180.upstash.io",
        ("opportunities", "user_profile"),
        6_000_000,
        datetime(2024, 1, 4, 9, 5, tzinfo=UTC),
    ),
)
# Eight small databases more: 11 in all, one past the 10 included (Upstash bills $0.50 a month
# for each database beyond 10); the sandbox is on the Free plan.
_SMALL = (
    ("contribux-ratelimit-api", "us1-keen-wren-10101", "Pay as You Go"),
    ("contribux-ratelimit-auth", "us1-calm-kite-10102", "Pay as You Go"),
    ("contribux-sessions", "us1-bold-hare-10103", "Pay as You Go"),
    ("contribux-queue-jobs", "us1-fair-moth-10104", "Pay as You Go"),
    ("contribux-feature-flags", "us1-warm-newt-10105", "Pay as You Go"),
    ("contribux-preview-pr-101", "us1-glad-vole-10106", "Pay as You Go"),
    ("contribux-staging-cache", "us1-pure-lark-10107", "Pay as You Go"),
    ("contribux-dev-sandbox", "us1-tidy-mink-10108", "Free"),
)
DATABASES: tuple[DemoDatabase, ...] = _MAIN + tuple(
    DemoDatabase(
        f"d0d0{i:04d}-5a11-4db0-9e00-00000000{i:04d}",
        name,
        "us-east-1",
        f"{host}.upstash.io",
        ("sandbox",) if plan == "Free" else ("small",),
        2_000_000,
        datetime(2024, 2, 1 + i, 12, tzinfo=UTC),
        plan,
    )
    for i, (name, host, plan) in enumerate(_SMALL, start=1)
)


# The Free plan's caps as the API reports them (256 MB, 10 GB bandwidth, 500K commands a month).
_FREE_LIMITS = {
    "db_disk_threshold": 268435456,
    "db_memory_threshold": 268435456,
    "db_daily_bandwidth_limit": 10737418240,
    "db_request_limit": 500000,
    "budget": 0,
}
