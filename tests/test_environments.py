"""Environment-aware advice: the allocation rules answer which environment a resource serves, and
rules that only make sense off production (scale-to-zero, downgrades on dev keys) read it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from contribux_costs.analysis import database, neon_compute
from contribux_costs.analysis.environments import ENVIRONMENTS, environment_of
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.errors import ConfigError
from contribux_costs.periods import Month
from contribux_costs.store import Store
from tests.engine_support import insert, month_days, new_store, usage_row

JAN = Month(2025, 1)
DAYS = month_days(2025, 1)


def _ctx(store: Store, cfg: Config | None = None) -> RuleContext:
    return RuleContext(store, JAN, cfg or Config.load(), date(2025, 3, 1))


def _always_on(pid: str, name: str) -> list[dict[str, Any]]:
    """0.25 CU around the clock every day: a compute that never suspends."""
    return [
        usage_row("neon", "compute", "cu_hours", 6.0, d, pid, name, "CU-hours", "daily",
                  dimensions={"plan": "launch"})
        for d in DAYS
    ]  # fmt: skip


def _never_suspends(pid: str, cid: str) -> dict[str, Any]:
    """The compute's own setting (Neon: suspend_timeout_seconds = -1 never suspends)."""
    return {"provider": "neon", "endpoint": "projects/settings",
            "fetched_at": datetime(2025, 1, 20, tzinfo=UTC), "project_id": pid, "compute_id": cid,
            "branch_id": f"br-{pid}", "compute_type": "read_write",
            "autoscaling_limit_min_cu": 0.25, "autoscaling_limit_max_cu": 0.25,
            "suspend_timeout_seconds": -1, "metadata": "{}"}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "advised"), [("contribux-prod", False), ("contribux-staging", True)]
)
def test_scale_to_zero_never_advises_production(name: str, advised: bool) -> None:
    store = new_store()
    insert(store, "usage", _always_on("proj-1", name))
    insert(store, "neon_computes", [_never_suspends("proj-1", "ep-1")])
    found = neon_compute.scale_to_zero(_ctx(store))
    assert [c.subject for c in found] == (["ep-1"] if advised else [])


@pytest.mark.parametrize(
    ("provider", "rid", "name", "env"),
    [
        ("neon", "quiet-river-1", "contribux-prod", "production"),
        ("neon", "misty-1", "contribux-staging", "staging"),
        ("neon", "br-1", "pr-123-fix-login", "preview"),
        ("neon", "br-2", "contribux-prod-pr-12", "preview"),  # a PR of prod is a preview
        ("openai", "proj_contribux_dev", None, "development"),
        ("openai", "proj_contribux_prod", None, "production"),
        ("upstash", "uuid-1", "contribux-api-cache", "production"),
        ("upstash", "uuid-2", "someone-elses-cache", "unallocated"),
    ],
)
def test_environment_of_default_rules(provider: str, rid: str, name: str | None, env: str) -> None:
    assert environment_of(_ctx(new_store()), provider, rid, name) == env
    assert env in (*ENVIRONMENTS, "unallocated")


def test_config_rules_come_first_with_keep_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[allocation]\nkeep_defaults = true\n"
        '[[allocation.rules]]\nprovider = "neon"\nresource = "misty-*"\n'
        'environment = "development"\n',
        encoding="utf-8",
    )
    ctx = _ctx(new_store(), Config.load(path))
    assert environment_of(ctx, "neon", "misty-1", "contribux-staging") == "development"
    assert environment_of(ctx, "neon", "q-1", "contribux-prod") == "production"  # defaults kept


def test_a_bad_rule_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[allocation.rules]]\nprovider = "neon"\nenvironment = "qa"\n', "utf-8")
    with pytest.raises(ConfigError, match=r"\[allocation\] rules\.0.*'qa' is not one of") as exc:
        environment_of(_ctx(new_store(), Config.load(path)), "neon", "x")
    assert "\n" not in str(exc.value)


def test_model_downgrade_on_a_dev_key_is_confident_and_cheap_to_do() -> None:
    from contribux_costs.analysis import costs
    from tests.test_rules_openai import GPT4O, _store

    dev = ("proj_contribux_dev", *GPT4O[1:])
    found = {c.subject: c for c in costs.model_downgrade(_ctx(_store([GPT4O, dev])))}
    on_dev, other = found["proj_contribux_dev/gpt-4o"], found[f"{GPT4O[0]}/gpt-4o"]
    assert (on_dev.confidence, on_dev.effort, on_dev.evidence["environment"]) == (
        "high",
        "low",
        "development",
    )
    assert other.confidence == "medium"
    assert on_dev.savings_usd == other.savings_usd  # same volume, same saving


def test_branch_cleanup_reads_the_branches_environment(tmp_path: Path) -> None:
    rows = [
        usage_row("neon", "compute", "extra_branch_months", 25 / 31, d, "p1", "contribux-prod",
                  "branch-months", "daily", dimensions={"plan": "launch"})
        for d in DAYS
    ]  # fmt: skip
    store = new_store()
    insert(store, "usage", rows)
    assert [c.subject for c in database.branch_sprawl(_ctx(store))] == ["p1"]  # preview branches
    path = tmp_path / "c.toml"
    path.write_text(
        '[allocation]\nkeep_defaults = true\n[[allocation.rules]]\nprovider = "neon"\n'
        'resource = "contribux-prod"\ntags = { source_metric = "extra_branches_month" }\n'
        'environment = "production"\n',
        encoding="utf-8",
    )
    assert database.branch_sprawl(_ctx(store, Config.load(path))) == []
