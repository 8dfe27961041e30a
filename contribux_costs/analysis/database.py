"""Database rules: Neon cost drivers (branch sprawl, scale-to-zero, storage growth, compute
provisioning) and Postgres query load (the guide's slow-query rule, the slowest queries).

Neon money comes from ``focus_charges`` (the pricing step prices Neon usage); without it the
configured fallback prices are used and a data-quality note says so. Postgres statistics come
from snapshot **deltas** (``collectors.postgres_deltas``), never lifetime counters.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from contribux_costs.analysis.environments import branch_environment
from contribux_costs.analysis.rulebase import (
    Candidate,
    RuleContext,
    fnum,
    pricebook,
    unit_price,
    usage_cte,
    usd,
)
from contribux_costs.errors import CostsError

_NEON_DAILY = f"""
WITH {usage_cte("neon")}
SELECT resource_id AS project_id, any_value(resource_name) AS project, billing_date AS date,
  coalesce(any_value(json_extract_string(dimensions, '$.plan')), 'launch') AS plan,
  sum(value) FILTER (WHERE metric = 'cu_hours') AS cu_hours,
  sum(value) FILTER (WHERE metric = 'root_branch_gb_months') AS root_gb_months,
  sum(value) FILTER (WHERE metric = 'extra_branch_months') AS branch_months,
  count(DISTINCT period_start) FILTER (WHERE metric = 'cu_hours' AND value > 0) AS active_periods
FROM u GROUP BY ALL ORDER BY 1, 3
"""


def neon_daily(ctx: RuleContext) -> pl.DataFrame:
    """Per Neon project and day: CU-hours, root storage, branch-months, active periods."""
    if "neon_daily" not in ctx.cache:
        ctx.cache["neon_daily"] = (
            ctx.store.query(
                ctx.usage_sql(_NEON_DAILY, "neon"), {"first": ctx.first, "end": ctx.end}
            )
            if ctx.usage("neon")
            else pl.DataFrame()
        )
    frame: pl.DataFrame = ctx.cache["neon_daily"]
    return frame


def neon_sku_costs(ctx: RuleContext) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(project id, sku) → (cost, consumed quantity) from the month's FOCUS rows."""
    if "neon_sku" in ctx.cache:
        return dict(ctx.cache["neon_sku"])
    out: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    if "focus_charges" in ctx.tables:
        frame = ctx.store.query(
            "SELECT ResourceId, SkuId, sum(BilledCost) AS cost, sum(ConsumedQuantity) AS qty "
            "FROM focus_charges WHERE x_provider = 'neon' AND x_billing_date >= ? "
            "AND x_billing_date < ? GROUP BY ALL",
            [ctx.first, ctx.end],
        )
        for rid, sku, cost, qty in frame.iter_rows():
            out[(str(rid), str(sku))] = (Decimal(cost or 0), Decimal(qty or 0))
    ctx.cache["neon_sku"] = out
    return dict(out)


def compute_cost(
    ctx: RuleContext, project_id: str, cu_hours: float, plan: str = "launch"
) -> Decimal:
    """The project's compute cost: priced FOCUS rows, else CU-hours × the price-book rate."""
    priced = neon_sku_costs(ctx).get((project_id, "neon/compute"))
    if priced is not None:
        return priced[0]
    rate = unit_price(ctx, "neon/compute", plan, "neon.cu_hour_price_usd") or Decimal(0)
    return Decimal(str(cu_hours)) * rate


def _plan(days: pl.DataFrame) -> str:
    return str(days["plan"][0]) if "plan" in days.columns and days.height else "launch"


NEON_MONTH_HOURS = 744  # Neon's billing month for every byte-hour and branch-hour conversion


def _branch_terms(ctx: RuleContext, plan: str) -> tuple[float, Decimal]:
    """(child branches free in every hour per project, USD per extra branch-month)."""
    book = pricebook(ctx)
    if book is not None:
        try:
            entry = book.lookup("neon/extra-branches", ctx.price_day, plan)
            return float(entry.included_concurrent), entry.rate
        except CostsError:
            pass
    ctx.note("no price-book entry for neon/extra-branches: using the config's branch terms")
    return ctx.cfg.num("neon.included_branches") - 1, ctx.cfg.dec("neon.branch_price_usd")


def _billable_branch_months(days: pl.DataFrame, free: float) -> float:
    """Σ max(0, branch-hours − free × 24) per daily bucket, in branch-months (/744)."""
    hours = days["branch_months"].fill_null(0) * NEON_MONTH_HOURS
    return float((hours - free * 24).clip(lower_bound=0).sum()) / NEON_MONTH_HOURS


_BRANCHES = """
SELECT branch_name, created_at, expires_at, logical_size FROM neon_branches
WHERE project_id = $pid AND NOT coalesce(is_default, false) AND parent_id IS NOT NULL
  AND fetched_at = (SELECT max(fetched_at) FROM neon_branches WHERE project_id = $pid
                    AND fetched_at < $end)
ORDER BY created_at
"""


def child_branches(ctx: RuleContext, project_id: str) -> pl.DataFrame:
    """The project's child branches in its last snapshot up to the month's end, oldest first."""
    if "neon_branches" not in ctx.tables:
        return pl.DataFrame()
    return ctx.store.query(_BRANCHES, {"pid": project_id, "end": ctx.month.window.end})


def _projects(ctx: RuleContext) -> dict[str, pl.DataFrame]:
    if "neon_projects" not in ctx.cache:
        frame = neon_daily(ctx)
        parts = frame.partition_by(["project_id"], as_dict=True) if frame.height else {}
        ctx.cache["neon_projects"] = {str(k[0]): v for k, v in parts.items()}
    return dict(ctx.cache["neon_projects"])


def branch_sprawl(ctx: RuleContext) -> list[Candidate]:
    """Child branches beyond the plan's allowance (a preview branch per pull request).

    Billed per project per bucket (Neon's usage-calculations.md): the priced FOCUS rows carry
    it; without them the same rule runs on the daily rows here. Cleanup names the oldest
    branches of the latest branch snapshot.
    """
    out = []
    for pid, days in _projects(ctx).items():
        months = float(days["branch_months"].fill_null(0).sum())
        if months <= 0 or branch_environment(ctx, pid, str(days["project"][0])) == "production":
            continue  # branch cleanup is for preview branches, never production's
        free, price = _branch_terms(ctx, _plan(days))
        priced = neon_sku_costs(ctx).get((pid, "neon/extra-branches"))
        billable = _billable_branch_months(days, free)
        cost = priced[0] if priced is not None else Decimal(str(billable)) * price
        if cost <= 0:
            continue
        name = str(days["project"][0])
        hours = float(days.height * 24)
        names = child_branches(ctx, pid)
        oldest = [str(n) for n in names["branch_name"].head(10)] if names.height else []
        cleanup = f" Oldest now: {', '.join(oldest)}." if oldest else ""
        out.append(
            Candidate(
                "neon.branch_sprawl", "neon", pid, "cost",
                f"{months * NEON_MONTH_HOURS / hours:.1f} child branches alive on average in "
                f"{name} (plan includes {free:.0f} besides the root)",
                "Delete each preview branch when its pull request closes (Vercel/Neon "
                "integration cleanup or a branch expiration time) so child branches stay within "
                f"the plan's allowance.{cleanup}",
                cost, cost, f"neon:branches:{pid}", "high",
                "extra branch-hours are billed exactly, per project and hour; closed-PR branches "
                "carry no value",
                "low", f"more than {free:.0f} child branches per project in an hour",
                {"project": name, "branch_months": months, "billable_branch_months": billable,
                 "included_child_branches": free,
                 "avg_branches_alive": months * NEON_MONTH_HOURS / hours,
                 "child_branches_now": float(names.height), "oldest_branches": ", ".join(oldest),
                 "extra_branch_cost_usd": float(usd(cost))},
            )
        )  # fmt: skip
    return out


def storage_growth(ctx: RuleContext) -> list[Candidate]:
    """Root-branch storage growing faster than the configured monthly rate."""
    limit = ctx.cfg.num("neon.storage_growth_pct")
    out = []
    for pid, days in _projects(ctx).items():
        gb = days["root_gb_months"].drop_nulls()
        if gb.len() < 2 or fnum(gb[0]) <= 0:
            continue
        # A bucket's GB-months × 744 / its hours = the GB level held (Neon's fixed 744-hour
        # month, usage-calculations.md): a daily row × 31, whatever the calendar month's length.
        first, last = fnum(gb[0]) * NEON_MONTH_HOURS / 24, fnum(gb[-1]) * NEON_MONTH_HOURS / 24
        pct = 100 * (last / first - 1) * ctx.month.days / max(gb.len() - 1, 1)
        if pct <= limit:
            continue
        price = unit_price(ctx, "neon/storage", _plan(days), "neon.storage_gb_month_price_usd")
        added = Decimal(str(last - first)) * (price or Decimal(0))
        name = str(days["project"][0])
        out.append(
            Candidate(
                "neon.storage_growth", "neon", pid, "cost",
                f"{name} storage grows {pct:.0f}% a month ({first:.1f} → {last:.1f} GB)",
                "Find the growing tables (pg_total_relation_size), archive or partition old rows, "
                "and shorten the instant-restore window if it is longer than needed",
                added, added, f"neon:storage:{pid}", "low",
                "the growth is measured; how much of it can be pruned is not known",
                "medium", f"storage growth > {limit:.0f}% per month",
                {"project": name, "gb_start": first, "gb_end": last, "growth_pct_per_month": pct},
            )
        )  # fmt: skip
    return out


def database_project(ctx: RuleContext) -> tuple[str, Decimal] | None:
    """The Neon project behind the Postgres statistics: configured, else the largest compute."""
    wanted = str(ctx.cfg.get("neon.database_project") or "")
    best: tuple[str, Decimal] | None = None
    for pid, days in _projects(ctx).items():
        cost = compute_cost(ctx, pid, float(days["cu_hours"].fill_null(0).sum()), _plan(days))
        if wanted and wanted in (pid, str(days["project"][0])):
            return pid, cost
        if best is None or cost > best[1]:
            best = (pid, cost)
    return best


def statement_summary(ctx: RuleContext) -> pl.DataFrame:
    """Per statement over the month (from snapshot deltas): calls, time, share, ``is_slow``."""
    if "pg_summary" not in ctx.cache:
        ctx.cache["pg_summary"] = _load_summary(ctx)
    frame: pl.DataFrame = ctx.cache["pg_summary"]
    return frame


# The month's pg_stat_statements deltas summed per statement and UTC day, in DuckDB: the same
# rules as collectors.postgres_deltas.diff_snapshots (a key absent from its server's previous
# snapshot is new; a counter going down or stats_reset changing is a reset; both take the new
# cumulative value), computed with window functions instead of per-row frames (≈10× faster on a
# month of hourly snapshots). tests/test_rules_database.py checks both agree on the demo.
_COUNTERS = {
    "calls": "BIGINT",
    "total_exec_time": "DOUBLE",
    "rows": "BIGINT",
    "shared_blks_hit": "BIGINT",
    "shared_blks_read": "BIGINT",
}
_KEY = "server, dbid, userid, queryid, toplevel"
_DELTAS_SQL = f"""
WITH snaps AS (
  SELECT t.* FROM pg_statements_snapshots t
  WHERE t.provider = 'postgres' AND t.endpoint = 'pg_stat_statements' AND t.fetched_at < $end
    AND t.fetched_at >= coalesce((SELECT max(b.fetched_at) FROM pg_statements_snapshots b
      WHERE b.provider = 'postgres' AND b.endpoint = 'pg_stat_statements'
        AND b.server = t.server AND b.fetched_at < $start), $start)),
times AS (
  SELECT server, fetched_at,
    lag(fetched_at) OVER (PARTITION BY server ORDER BY fetched_at) AS period_start
  FROM (SELECT DISTINCT server, fetched_at FROM snaps)),
s AS (
  SELECT snaps.*, times.period_start,
    lag(snaps.fetched_at) OVER w AS prev_at, lag(stats_reset) OVER w AS prev_reset,
    {", ".join(f"lag({c}) OVER w AS p_{c}" for c in _COUNTERS)}
  FROM snaps JOIN times USING (server, fetched_at)
  WINDOW w AS (PARTITION BY {_KEY} ORDER BY snaps.fetched_at)),
d AS (
  SELECT *, prev_at IS NULL OR prev_at <> period_start
    OR {" OR ".join(f"coalesce({c} < p_{c}, false)" for c in _COUNTERS)}
    OR stats_reset IS DISTINCT FROM prev_reset AS restart
  FROM s WHERE period_start IS NOT NULL)
SELECT {_KEY}, max(fetched_at) AS period_end,
  arg_max(datname, fetched_at) AS datname, arg_max(rolname, fetched_at) AS rolname,
  arg_max(query, fetched_at) AS query,
  {
    ", ".join(
        f"sum(CASE WHEN restart THEN {c} ELSE {c} - p_{c} END)::{t} AS {c}"
        for c, t in _COUNTERS.items()
    )
}
FROM d GROUP BY {_KEY}, fetched_at::DATE ORDER BY period_end
"""


def statement_deltas(ctx: RuleContext) -> pl.DataFrame:
    """The month's statement deltas per statement and day (loaded once per analysis)."""
    if "pg_deltas" not in ctx.cache:
        frame = pl.DataFrame()
        if "pg_statements_snapshots" in ctx.tables:
            w = ctx.month.window
            frame = ctx.store.query(_DELTAS_SQL, {"start": w.start, "end": w.end})
        if frame.is_empty():
            ctx.note("no postgres data for the month")
        ctx.cache["pg_deltas"] = frame
    deltas: pl.DataFrame = ctx.cache["pg_deltas"]
    return deltas


def _load_summary(ctx: RuleContext) -> pl.DataFrame:
    from contribux_costs.collect.postgres import deltas as pgd

    deltas = statement_deltas(ctx)
    if deltas.is_empty():
        return pl.DataFrame()
    return pgd.query_summary(deltas, ctx.cfg.num("neon.slow_query_ms"))


def slow_queries(ctx: RuleContext) -> list[Candidate]:
    """Guide: Neon slow queries > 10 → add indexes or optimize queries (20% of database cost)."""
    summary = statement_summary(ctx)
    limit = int(ctx.cfg.num("neon.slow_query_count"))
    target = database_project(ctx)
    if summary.is_empty() or target is None:
        return []
    slow = summary.filter(pl.col("is_slow"))
    if slow.height <= limit:
        return []
    pid, cost = target
    share = ctx.cfg.dec("neon.slow_query_saving")
    ms = ctx.cfg.num("neon.slow_query_ms")
    worst = slow.sort("mean_exec_time", descending=True).row(0, named=True)
    return [
        Candidate(
            "neon.slow_queries", "neon", pid, "cost",
            f"{slow.height} queries average over {ms:.0f} ms",
            "Add database indexes or optimize queries: start with the slowest statements "
            "(EXPLAIN ANALYZE, missing indexes, pgvector index for <-> searches)",
            cost * share, cost, f"neon:compute:{pid}", "medium",
            "the guide's 20% rule of thumb on the database's compute cost",
            "medium", f"slow queries (mean > {ms:.0f} ms) > {limit}",
            {"slow_queries": float(slow.height), "slowest_mean_ms": float(worst["mean_exec_time"]),
             "slowest_query": str(worst["query"])[:120], "compute_cost_usd": float(usd(cost)),
             "slow_share_of_time": float(slow["share_of_total_time"].sum())},
        )
    ]  # fmt: skip


def slowest_queries(ctx: RuleContext) -> list[Candidate]:
    """The top statements by total time and their share of all execution time."""
    summary = statement_summary(ctx)
    target = database_project(ctx)
    if summary.is_empty() or target is None:
        return []
    top = summary.head(int(ctx.cfg.num("neon.slowest_top_n")))
    share = float(top["share_of_total_time"].fill_null(0).sum())
    if share < ctx.cfg.num("neon.slowest_share"):
        return []
    pid, cost = target
    gain = ctx.cfg.dec("neon.slowest_saving")
    evidence: dict[str, float | str] = {"top_share_of_time": share}
    for i, row in enumerate(top.iter_rows(named=True), start=1):  # top N statements only
        evidence[f"q{i}_share"] = float(row["share_of_total_time"] or 0)
        evidence[f"q{i}_mean_ms"] = float(row["mean_exec_time"] or 0)
        evidence[f"q{i}_query"] = str(row["query"])[:120]
    return [
        Candidate(
            "postgres.slowest_queries", "neon", pid, "cost",
            f"{top.height} statements take {share:.0%} of all database time",
            "Optimize these statements first (indexes, narrower selects, caching their results)",
            cost * Decimal(str(share)) * gain, cost, f"neon:compute:{pid}", "low",
            f"assumes {float(gain):.0%} less time on their share of compute; "
            "counted after the slow-query rule",
            "medium", f"top {top.height} share of time ≥ {ctx.cfg.num('neon.slowest_share'):.0%}",
            evidence,
        )
    ]  # fmt: skip
