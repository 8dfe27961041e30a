"""Neon compute rules that read each compute's settings: scale-to-zero and over-provisioning.

Settings come from the ``neon_computes`` snapshots (``GET /projects/{id}/endpoints``): a compute
whose ``suspend_timeout_seconds`` is -1 never suspends, by configuration. A compute configured to
suspend is flagged only when Neon's own active time says it runs around the clock anyway (the
branch's ``active_time_seconds`` when that branch has one compute, else hourly consumption). A
compute that suspends and runs 8 hours a day is never flagged, and production is never advised
to suspend unless ``neon.scale_to_zero_allow_production`` says so.

Money: CU-hours × the rate of the month's priced FOCUS rows (cost ÷ CU-hours of neon/compute), the
same rows as the bill; the price book's rate when the pricing step has not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from contribux_costs.analysis.database import _plan, _projects, neon_sku_costs
from contribux_costs.analysis.environments import environment_of
from contribux_costs.analysis.rulebase import Candidate, RuleContext, unit_price, usage_cte, usd

NEVER = -1  # Neon: suspend_timeout_seconds = -1 means the compute never suspends


@dataclass(frozen=True)
class Compute:
    project_id: str
    compute_id: str
    branch_id: str | None
    branch_name: str | None
    kind: str | None
    min_cu: float | None
    max_cu: float | None
    suspend: int | None
    active_share: float | None  # Neon's active time ÷ elapsed time of its billing period
    fetched_at: datetime


def compute_rate(ctx: RuleContext, project_id: str, plan: str) -> Decimal:
    """USD per CU-hour from the project's priced FOCUS rows, else the price book (or config)."""
    priced = neon_sku_costs(ctx).get((project_id, "neon/compute"))
    if priced is not None and priced[1] > 0:
        return priced[0] / priced[1]
    return unit_price(ctx, "neon/compute", plan, "neon.cu_hour_price_usd") or Decimal(0)


# The snapshot that describes the month: the last one taken in it, else the first one after it
# (settings change rarely; a note says so), else the last one before it.
_SNAPSHOT = """
WITH s AS (SELECT DISTINCT fetched_at FROM neon_computes),
pick AS (
  SELECT coalesce(
    (SELECT max(fetched_at) FROM s WHERE fetched_at >= $start AND fetched_at < $end),
    (SELECT min(fetched_at) FROM s WHERE fetched_at >= $end),
    (SELECT max(fetched_at) FROM s WHERE fetched_at < $start)) AS at)
SELECT c.*, b.branch_name, b.active_time_seconds,
  count(*) OVER (PARTITION BY c.project_id, c.branch_id) AS computes_on_branch
FROM neon_computes c JOIN pick ON c.fetched_at = pick.at
LEFT JOIN neon_branches b ON b.fetched_at = c.fetched_at AND b.project_id = c.project_id
  AND b.branch_id = c.branch_id
ORDER BY c.project_id, c.compute_id
"""


def computes(ctx: RuleContext) -> list[Compute]:
    """Each compute of the month's settings snapshot (empty, with a note, when none exists)."""
    if "neon_computes" in ctx.cache:
        return list(ctx.cache["neon_computes"])
    out: list[Compute] = []
    w = ctx.month.window
    frame = (
        ctx.store.query(_SNAPSHOT, {"start": w.start, "end": w.end})
        if "neon_computes" in ctx.tables
        else pl.DataFrame()
    )
    if frame.is_empty():
        ctx.note("no Neon compute settings collected: scale-to-zero judged from hourly data only")
    for r in frame.iter_rows(named=True):
        at = r["fetched_at"]
        if not w.start <= at < w.end:
            ctx.note(f"Neon compute settings from the snapshot of {at:%Y-%m-%d} (none in month)")
        out.append(
            Compute(
                str(r["project_id"]), str(r["compute_id"]), r["branch_id"], r["branch_name"],
                r["compute_type"], r["autoscaling_limit_min_cu"], r["autoscaling_limit_max_cu"],
                r["suspend_timeout_seconds"], _active_share(r, at), at,
            )
        )  # fmt: skip
    ctx.cache["neon_computes"] = out
    return list(out)


def _active_share(r: dict[str, object], at: datetime) -> float | None:
    """Branch active time over the billing period so far, when the branch has one compute."""
    active = r.get("active_time_seconds")
    if active is None or r.get("computes_on_branch") != 1:
        return None
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    elapsed = (at - start).total_seconds()
    return float(active) / elapsed if elapsed >= 86400 else None  # type: ignore[arg-type]


_ACTIVE_HOURS = f"""
WITH {usage_cte("neon")}
SELECT resource_id AS project_id, count(*) AS hours, count(*) FILTER (WHERE value > 0) AS active
FROM u WHERE metric = 'cu_hours' AND granularity IN ('hourly', '1h') GROUP BY 1
"""


def _hourly_active(ctx: RuleContext) -> dict[str, float]:
    """Project → share of its stored hours with compute running (hourly data only)."""
    if "neon_active_hours" not in ctx.cache:
        frame = ctx.store.query(
            ctx.usage_sql(_ACTIVE_HOURS, "neon"), {"first": ctx.first, "end": ctx.end}
        )
        ctx.cache["neon_active_hours"] = {
            str(p): a / h for p, h, a in frame.iter_rows() if h and h >= 24
        }
    return dict(ctx.cache["neon_active_hours"])


def environment(ctx: RuleContext, c: Compute, project_name: str) -> str:
    """The compute's environment: by its branch name, else by its project's name."""
    env = environment_of(ctx, "neon", c.compute_id, c.branch_name)
    if env == "unallocated":
        env = environment_of(ctx, "neon", c.project_id, project_name)
    return env


def _always_on(ctx: RuleContext, c: Compute, alone: bool) -> tuple[bool, str]:
    """Whether the compute runs around the clock, and the evidence that says so."""
    share = ctx.cfg.num("neon.scale_to_zero_active_share")
    if c.suspend == NEVER:
        return True, "its suspend_timeout_seconds is -1 (never suspends)"
    if c.active_share is not None:
        return c.active_share >= share, f"Neon reports it active {c.active_share:.0%} of the period"
    hourly = _hourly_active(ctx).get(c.project_id) if alone else None
    if hourly is not None:
        return hourly >= share, f"compute ran in {hourly:.0%} of the month's hours"
    return False, "no active-time data"


def scale_to_zero(ctx: RuleContext) -> list[Candidate]:
    """A non-production compute that never suspends: enable scale-to-zero."""
    projects = _projects(ctx)
    settings = computes(ctx)
    idle = Decimal(str(ctx.cfg.num("neon.scale_to_zero_idle_share")))
    allow_prod = bool(ctx.cfg.get("neon.scale_to_zero_allow_production", False))
    hours = Decimal(ctx.month.days * 24)
    out = []
    for c in settings:
        days = projects.get(c.project_id)
        if days is None:
            continue
        mine = [x for x in settings if x.project_id == c.project_id]
        on, why = _always_on(ctx, c, len(mine) == 1)
        name = str(days["project"][0])
        env = environment(ctx, c, name)
        if not on or (env == "production" and not allow_prod):
            continue
        cu_hours = Decimal(str(float(days["cu_hours"].fill_null(0).sum())))
        if len(mine) > 1:  # a fixed share of a shared project: its floor ran every hour
            cu_hours = min(cu_hours, Decimal(str(c.min_cu or 0)) * hours)
        cost = cu_hours * compute_rate(ctx, c.project_id, _plan(days))
        if cost <= 0:
            continue
        out.append(
            Candidate(
                "neon.scale_to_zero", "neon", c.compute_id, "cost",
                f"{c.compute_id} ({name}, {env}) never scales to zero",
                "Enable scale-to-zero on this compute (suspend after 5 minutes idle: "
                "suspend_timeout_seconds 300); it then runs only while it serves queries",
                cost * idle, cost, f"neon:compute:{c.project_id}", "medium",
                f"{why}; {float(idle):.0%} idle time assumed (neon.scale_to_zero_idle_share)",
                "low", "never suspends, and not production (neon.scale_to_zero_allow_production)",
                {"project": name, "compute": c.compute_id, "environment": env,
                 "suspend_timeout_seconds": float(c.suspend if c.suspend is not None else 0),
                 "cu_hours": float(cu_hours), "compute_cost_usd": float(usd(cost))},
            )
        )  # fmt: skip
    return out


_HOURLY_CU = f"""
WITH {usage_cte("neon")}
SELECT resource_id AS project_id, any_value(resource_name) AS project,
  coalesce(any_value(json_extract_string(dimensions, '$.plan')), 'launch') AS plan,
  count(*) FILTER (WHERE value > 0) AS active_hours,
  min(value) FILTER (WHERE value > 0) AS floor_cu,
  quantile_cont(value, 0.5) FILTER (WHERE value > 0) AS median_cu
FROM u WHERE metric = 'cu_hours' AND granularity IN ('hourly', '1h')
GROUP BY 1 ORDER BY 1
"""


def compute_overprovisioned(ctx: RuleContext) -> list[Candidate]:
    """Hourly CU that sits at a minimum size above Neon's smallest: lower the autoscaling min.

    Saving = (floor − smallest) CU × the hours spent at the floor × the CU-hour rate: 600 h at
    1 CU + 100 h at 4 CU on Launch ($0.106) saves 0.75 × 600 × 0.106 = $47.70, not the whole
    month's compute cost divided over the floor hours.
    """
    if not ctx.usage("neon"):
        return []
    smallest = ctx.cfg.num("neon.min_cu")
    frame = ctx.store.query(ctx.usage_sql(_HOURLY_CU, "neon"), {"first": ctx.first, "end": ctx.end})
    out = []
    for r in frame.iter_rows(named=True):  # one row per project
        floor, median = float(r["floor_cu"] or 0), float(r["median_cu"] or 0)
        if floor < 1.5 * smallest or median > 1.1 * floor or not r["active_hours"]:
            continue
        pid = str(r["project_id"])
        hours = _hours_at_floor(ctx, pid, floor)
        rate = compute_rate(ctx, pid, str(r["plan"]))
        saving = Decimal(str((floor - smallest) * hours)) * rate
        basis = Decimal(str(floor * hours)) * rate
        mins = [c.min_cu for c in computes(ctx) if c.project_id == pid and c.min_cu is not None]
        setting = f" (autoscaling minimum {max(mins):g} CU)" if mins else ""
        out.append(
            Candidate(
                "neon.compute_overprovisioned", "neon", pid, "scaling",
                f"{r['project']} idles at {floor:.2f} CU{setting} (median {median:.2f}) for "
                f"{hours} hours",
                f"Lower the autoscaling minimum to {smallest} CU; autoscaling adds CU when load "
                "needs it",
                saving, basis, f"neon:compute:{pid}", "medium",
                "hourly CU sits at its floor most hours; the floor is above the smallest size",
                "low", f"floor ≥ {1.5 * smallest:.2f} CU with median ≤ 1.1 × floor",
                {"floor_cu": floor, "median_cu": median, "hours_at_floor": float(hours),
                 "cu_hour_rate_usd": float(rate)},
            )
        )  # fmt: skip
    return out


def _hours_at_floor(ctx: RuleContext, project_id: str, floor: float) -> int:
    n = ctx.store.scalar(
        "SELECT count(*) FROM usage WHERE provider = 'neon' AND metric = 'cu_hours' "
        "AND granularity IN ('hourly', '1h') AND resource_id = ? AND billing_date >= ? "
        "AND billing_date < ? AND value > 0 AND value <= ?",
        [project_id, ctx.first, ctx.end, 1.1 * floor],
    )
    return int(n or 0)
