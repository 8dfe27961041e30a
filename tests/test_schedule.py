"""The scheduled workflow parses, and calls only make targets and CLI commands that exist."""

from __future__ import annotations

import re

import yaml

from contribux_costs.cli import build_parser
from tests.report_helpers import REPO

WORKFLOW = REPO / ".github" / "workflows" / "costs.yml"


def _targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


def _subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


def test_workflow_parses_with_daily_and_monthly_schedules() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as True
    crons = [s["cron"] for s in triggers["schedule"]]
    assert all(len(c.split()) == 5 for c in crons)
    assert any(c.split()[2:] == ["*", "*", "*"] for c in crons)  # daily
    assert any(c.split()[2] == "1" for c in crons)  # monthly, on the 1st
    assert "workflow_dispatch" in triggers


def test_workflow_runs_only_existing_targets_and_commands() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    runs = [s["run"] for job in flow["jobs"].values() for s in job["steps"] if "run" in s]
    targets, commands = _targets(), _subcommands()
    made = [m for r in runs for m in re.findall(r"\bmake ([a-z][a-z-]*)", r)]
    called = [c for r in runs for c in re.findall(r"contribux-costs ([a-z]+)", r)]
    assert made and called
    assert set(made) <= targets, set(made) - targets
    assert set(called) <= commands, set(called) - commands
    uploads = [
        s
        for job in flow["jobs"].values()
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact")
    ]
    assert uploads and uploads[0]["with"]["path"] == "reports/"


def test_workflow_posts_the_digest_on_the_first_only_with_a_webhook() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    [step] = [s for s in steps if "contribux-costs digest" in s.get("run", "")]
    assert "'45 3 1 * *'" in step["if"]  # the monthly schedule, on the 1st
    assert step["env"]["COSTS_WEBHOOK_URL"] == "${{ secrets.COSTS_WEBHOOK_URL }}"
    # --notify only when the secret is non-empty (shell ${VAR:+...}): no secret, no post
    assert '${COSTS_WEBHOOK_URL:+--notify "$COSTS_WEBHOOK_URL"}' in step["run"]


def test_workflow_keeps_a_daily_backup_that_outlives_the_cache() -> None:
    """Issue 13: the Actions cache evicts the database after 7 idle days; a backup artifact
    (kept 90 days) is uploaded on every run, and a run without a cached database restores it."""
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    names = [str(s.get("name", s.get("uses", ""))) for s in steps]
    backup = next(i for i, s in enumerate(steps) if "contribux-costs backup" in s.get("run", ""))
    collect = next(i for i, s in enumerate(steps) if "contribux-costs collect" in s.get("run", ""))
    restore = next(i for i, s in enumerate(steps) if "contribux-costs restore" in s.get("run", ""))
    assert restore < collect < backup, names
    assert "always()" in steps[backup]["if"]  # a failed source does not skip the backup
    assert "cache-matched-key == ''" in steps[restore]["if"]
    upload = next(
        s
        for s in steps[backup:]
        if str(s.get("uses", "")).startswith("actions/upload-artifact")
        and s["with"]["name"] == "contribux-costs-backup"
    )
    assert int(upload["with"]["retention-days"]) >= 30
    assert "name=contribux-costs-backup" in steps[restore]["run"]
    assert flow["permissions"]["actions"] == "read"
