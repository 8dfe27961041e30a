"""Neon branches (per-branch consumption) and compute settings, collected as snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contribux_costs.collect.base import CollectContext
from contribux_costs.collect.http import HttpClients
from contribux_costs.collect.neon import NeonCollector, make_collector
from contribux_costs.collect.neon_settings import SETTINGS, _compute
from contribux_costs.config import Settings
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window
from contribux_costs.store import open_store

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def _ctx() -> CollectContext:
    settings = Settings()
    clock = DemoClock(NOW)
    clients = HttpClients(settings, demo_transport(settings, clock=clock), limiters={})
    return CollectContext(settings, clients, lambda: NOW, clock)


def test_the_runner_collector_snapshots_settings_once_per_run() -> None:
    ctx = _ctx()
    window = Window(NOW - timedelta(days=3), NOW)
    assert [t.endpoint for t in make_collector(Settings()).tasks(window, ctx)][-1] == SETTINGS
    assert SETTINGS not in [t.endpoint for t in NeonCollector().tasks(window, ctx)]


def test_demo_settings_land_in_the_store_and_rerun_replaces() -> None:
    ctx = _ctx()
    collector = make_collector(Settings())
    task = collector.tasks(Window(NOW - timedelta(days=1), NOW), ctx)[-1]
    store = open_store(":memory:")
    for _ in range(2):  # the same instant twice: replaced, not duplicated
        store.write_slice(collector.fetch(task, ctx), {"run_id": "t", "started_at": NOW})
    computes = store.query(
        "SELECT compute_id, suspend_timeout_seconds, autoscaling_limit_min_cu FROM neon_computes "
        "ORDER BY 1"
    )
    assert dict(zip(computes["compute_id"], computes["suspend_timeout_seconds"], strict=True)) == {
        "ep-contribux-prod-primary": 0,
        "ep-contribux-prod-replica": -1,
        "ep-contribux-staging-primary": -1,
    }
    branches = store.query("SELECT * FROM neon_branches")
    prs = branches.filter(branches["branch_name"].str.starts_with("preview/pr-"))
    assert prs.height > 9  # the planted sprawl: more child branches alive than Launch includes
    root = branches.filter(branches["is_default"]).sort("project_id")
    # The root branch carries the period's consumption: active seconds within the period so far.
    elapsed = (NOW.replace(minute=0) - datetime(2026, 11, 1, tzinfo=UTC)).total_seconds()
    assert all(0 < a <= elapsed for a in root["active_time_seconds"])
    assert all(c > 0 for c in root["compute_time_seconds"])


def test_a_non_numeric_suspend_timeout_fails_naming_the_compute() -> None:
    with pytest.raises(SchemaError, match="ep-1: suspend_timeout_seconds 'never'"):
        _compute("p", {"id": "ep-1", "suspend_timeout_seconds": "never"}, NOW)
