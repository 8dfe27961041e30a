"""Upstash plan rules: pay-as-you-go vs fixed plan break-even, storage near a plan limit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from contribux_costs.analysis.rulebase import (
    Candidate,
    Rule,
    RuleContext,
    pricebook,
    unit_price,
    usage_cte,
    usd,
)
from contribux_costs.errors import CostsError

_SQL = f"""
WITH {usage_cte("upstash")}
SELECT resource_id AS database_id, any_value(resource_name) AS name,
  any_value(dimensions) AS dimensions,
  coalesce(sum(value) FILTER (WHERE metric = 'commands'), 0) AS commands,
  coalesce(sum(value) FILTER (WHERE metric = 'bandwidth_gb'), 0) AS bandwidth_gb,
  -- Upstash bills storage on the daily average of the data size (pricing.mdx), not the peak.
  coalesce(sum(value) FILTER (WHERE metric = 'storage_gb'), 0) / $days AS storage_gb,
  coalesce(arg_max(value, billing_date) FILTER (WHERE metric = 'storage_gb'), 0) AS storage_now_gb
FROM u GROUP BY 1 ORDER BY 1
"""


# The latest database record up to the month's end: its limits as the Developer API reports them.
_LIMITS = """
SELECT database_id, db_disk_threshold, db_request_limit, db_daily_bandwidth_limit
FROM upstash_databases WHERE fetched_at < $end
QUALIFY row_number() OVER (PARTITION BY database_id ORDER BY fetched_at DESC) = 1
"""
GB = 1e9
GIB = 2**30


@dataclass(frozen=True)
class RedisDb:
    database_id: str
    name: str
    plan: str
    commands: float
    bandwidth_gb: float
    storage_gb: float  # the month's daily average (what Upstash bills)
    storage_now_gb: float
    disk_limit_gb: float | None = None  # db_disk_threshold, when collected
    request_limit: float | None = None  # db_request_limit (monthly commands), when collected

    @property
    def key(self) -> str:
        """The plan as the price book names it: payg, free, enterprise, fixed-1gb ..."""
        return plan_key(self.plan)


def plan_key(plan: str) -> str:
    """Any spelling of an Upstash plan → the price book's key ("Fixed 1 GB", "fixed_1gb" →
    "fixed-1gb"; "Pay as You Go" → "payg")."""
    p = plan.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    if p in ("payasyougo", "payg", ""):
        return "payg"
    if p.startswith("fixed"):
        return "fixed-" + p.removeprefix("fixed")
    return p


def _limits(ctx: RuleContext) -> dict[str, tuple[float | None, float | None]]:
    if "upstash_databases" not in ctx.tables:
        return {}
    frame = ctx.store.query(_LIMITS, {"end": ctx.month.window.end})
    out = {}
    for dbid, disk, requests, _bw in frame.iter_rows():
        out[str(dbid)] = (None if disk is None else disk / GIB, requests)
    return out


def databases(ctx: RuleContext) -> list[RedisDb]:
    """The month's Upstash databases with their volumes (aggregated in DuckDB)."""
    if "upstash_dbs" not in ctx.cache:
        rows = []
        if ctx.usage("upstash"):
            frame = ctx.store.query(
                ctx.usage_sql(_SQL, "upstash"),
                {"first": ctx.first, "end": ctx.end, "days": ctx.month.days},
            )
            limits = _limits(ctx)
            for r in frame.iter_rows(named=True):  # one row per database
                dims = json.loads(r["dimensions"] or "{}")
                disk, requests = limits.get(str(r["database_id"]), (None, None))
                rows.append(
                    RedisDb(
                        str(r["database_id"]), str(r["name"]),
                        str(dims.get("database_type") or "Pay as You Go"), float(r["commands"]),
                        float(r["bandwidth_gb"]), float(r["storage_gb"]),
                        float(r["storage_now_gb"]), disk, requests,
                    )
                )  # fmt: skip
        ctx.cache["upstash_dbs"] = rows
    return list(ctx.cache["upstash_dbs"])


def payg_cost(ctx: RuleContext, db: RedisDb) -> Decimal:
    """The month at pay-as-you-go list prices (the price-book fallback in the config)."""
    c = ctx.cfg
    commands = Decimal(str(db.commands)) * command_price(ctx)
    storage = max(db.storage_gb - c.num("upstash.payg_free_storage_gb"), 0.0)
    transfer = max(db.bandwidth_gb - c.num("upstash.payg_free_bandwidth_gb"), 0.0)
    return (
        commands
        + Decimal(str(storage)) * c.dec("upstash.payg_storage_gb")
        + Decimal(str(transfer)) * c.dec("upstash.payg_bandwidth_gb")
    )


def command_price(ctx: RuleContext) -> Decimal:
    """USD per pay-as-you-go command: the price book, else the config."""
    rate = unit_price(ctx, "upstash/commands", "payg")
    return rate if rate is not None else ctx.cfg.dec("upstash.payg_per_100k_commands") / 100_000


def billed(ctx: RuleContext, database_id: str) -> Decimal | None:
    """The database's priced cost from FOCUS rows (None when the pricing step has not run)."""
    if "upstash_billed" not in ctx.cache:
        costs: dict[str, Decimal] = {}
        if "focus_charges" in ctx.tables:
            frame = ctx.store.query(
                "SELECT ResourceId, sum(BilledCost) FROM focus_charges WHERE x_provider = "
                "'upstash' AND x_billing_date >= ? AND x_billing_date < ? GROUP BY 1",
                [ctx.first, ctx.end],
            )
            costs = {str(k): Decimal(v) for k, v in frame.iter_rows() if v is not None}
        ctx.cache["upstash_billed"] = costs
    found: Decimal | None = ctx.cache["upstash_billed"].get(database_id)
    return found


def cheapest_fixed(ctx: RuleContext, storage_gb: float) -> tuple[float, Decimal] | None:
    """The cheapest fixed plan whose size leaves the configured headroom over ``storage_gb``."""
    headroom = 1 / ctx.cfg.num("upstash.storage_limit_share")
    sizes = sorted((float(s), Decimal(str(p))) for s, p in ctx.cfg.get("upstash.fixed_plans") or [])
    fit = next(((s, p) for s, p in sizes if s >= storage_gb * headroom), None)
    if fit is None:
        return None
    book = pricebook(ctx)  # the plan fee from the price book when it has one
    if book is not None:
        try:
            plan = f"fixed-{_size(fit[0]).replace(' ', '').lower()}"
            return fit[0], book.lookup("upstash/plan-fee", ctx.price_day, plan).price
        except CostsError:
            pass
    return fit


def plan_breakeven(ctx: RuleContext) -> list[Candidate]:
    """Pay-as-you-go vs the cheapest fitting fixed plan, per database."""
    out = []
    for db in databases(ctx):
        current = billed(ctx, db.database_id)
        current = payg_cost(ctx, db) if current is None else current
        if db.key.startswith("fixed-"):
            fee = billed(ctx, db.database_id)
            fee = plan_fee(ctx, db.plan) if fee is None else fee
            out.extend(_back_to_payg(ctx, db, fee or Decimal(0)))
            continue
        if db.key != "payg":
            continue  # Free is capped, Enterprise is a contract: no per-command comparison
        fixed = cheapest_fixed(ctx, db.storage_gb)
        if fixed is None:
            continue
        size, price = fixed
        if price >= current:
            continue
        out.append(
            Candidate(
                "upstash.plan_breakeven", "upstash", db.database_id, "cost",
                f"{db.name}: a fixed {_size(size)} plan (${price}) costs less than "
                f"pay-as-you-go (${usd(current)})",
                f"Switch {db.name} to the fixed {_size(size)} plan: {db.commands:,.0f} commands "
                "a month are past the break-even; check its bandwidth and request limits",
                current - price, current, f"upstash:{db.database_id}", "medium",
                "computed from the month's commands and storage at list prices", "low",
                "fixed plan price < pay-as-you-go cost",
                {"database": db.name, "commands": db.commands, "storage_gb": db.storage_gb,
                 "payg_cost_usd": float(usd(current)), "fixed_plan_usd": float(price),
                 "fixed_plan_gb": size},
            )
        )  # fmt: skip
    return out


def plan_fee(ctx: RuleContext, plan: str) -> Decimal | None:
    """Monthly fee of a fixed plan ("Fixed 1GB"): the price book, else the config's sizes."""
    book = pricebook(ctx)
    if book is not None:
        try:
            return book.lookup("upstash/plan-fee", ctx.price_day, plan_key(plan)).price
        except CostsError:
            pass
    size = plan_limit_gb(ctx, plan)
    sizes = {float(s): Decimal(str(p)) for s, p in ctx.cfg.get("upstash.fixed_plans") or []}
    return sizes.get(size) if size is not None else None


def _back_to_payg(ctx: RuleContext, db: RedisDb, fee: Decimal) -> list[Candidate]:
    """A fixed plan whose month would cost less at pay-as-you-go prices."""
    payg = payg_cost(ctx, db)
    if fee <= 0 or payg >= fee:
        return []
    return [
        Candidate(
            "upstash.plan_breakeven", "upstash", db.database_id, "cost",
            f"{db.name}: pay-as-you-go (${usd(payg)}) costs less than its {db.plan} plan "
            f"(${usd(fee)})",
            f"Switch {db.name} to pay-as-you-go: {db.commands:,.0f} commands a month are below "
            "the break-even",
            fee - payg, fee, f"upstash:{db.database_id}", "medium",
            "computed from the month's commands and storage at list prices", "low",
            "pay-as-you-go cost < fixed plan price",
            {"database": db.name, "commands": db.commands, "storage_gb": db.storage_gb,
             "payg_cost_usd": float(usd(payg)), "fixed_plan_usd": float(usd(fee))},
        )
    ]  # fmt: skip


def storage_limit(ctx: RuleContext) -> list[Candidate]:
    """Storage at or above the configured share of the database's plan size."""
    share = ctx.cfg.num("upstash.storage_limit_share")
    out = []
    for db in databases(ctx):
        limit = storage_cap_gb(ctx, db)
        if limit is None or db.storage_now_gb < share * limit:
            continue
        nxt = cheapest_fixed(ctx, limit)
        added = nxt[1] if nxt is not None else Decimal(0)
        out.append(
            Candidate(
                "upstash.storage_limit", "upstash", db.database_id, "scaling",
                f"{db.name} uses {db.storage_now_gb / limit:.0%} of its {_size(limit)} plan",
                "Evict cold keys (shorter TTLs, maxmemory policy) or move to the next plan size",
                -added, added, f"upstash:size:{db.database_id}", "medium",
                "storage gauge at the end of the month vs the plan size", "low",
                f"storage ≥ {share:.0%} of the plan size",
                {"database": db.name, "storage_gb": db.storage_now_gb, "plan_gb": limit},
            )
        )  # fmt: skip
    return out


def plan_limit_gb(ctx: RuleContext, plan: str) -> float | None:
    """Storage limit of a plan name: Free 256 MB, "Fixed 1GB" → 1.0; pay-as-you-go: none."""
    p = plan_key(plan)
    if p == "free":
        return ctx.cfg.num("upstash.free_plan_storage_gb")
    if p.startswith("fixed-"):
        size = p.removeprefix("fixed-")
        try:
            return float(size[:-2]) / (1000 if size.endswith("mb") else 1)
        except ValueError:
            ctx.note(f"unknown Upstash plan {plan!r}: storage limit not checked")
    return None


def storage_cap_gb(ctx: RuleContext, db: RedisDb) -> float | None:
    """The database's data-size limit: the one Upstash reports for it (db_disk_threshold), else
    its plan's published size (pay-as-you-go: none known)."""
    return db.disk_limit_gb if db.disk_limit_gb is not None else plan_limit_gb(ctx, db.plan)


def free_plan_caps(ctx: RuleContext) -> list[Candidate]:
    """A Free database past a Free-plan cap (500K commands, 256 MB, 10 GB bandwidth a month):
    Upstash throttles it there, so the month's real need is the pay-as-you-go price."""
    c = ctx.cfg
    out = []
    for db in databases(ctx):
        if db.key != "free":
            continue
        caps = {
            "commands": (db.commands, db.request_limit or c.num("upstash.free_plan_commands")),
            "bandwidth_gb": (db.bandwidth_gb, c.num("upstash.free_plan_bandwidth_gb")),
            "storage_gb": (db.storage_now_gb, storage_cap_gb(ctx, db) or 0.256),
        }
        over = {k: (used, cap) for k, (used, cap) in caps.items() if used > cap}
        if not over:
            continue
        payg = payg_cost(ctx, db)
        what = ", ".join(f"{k} {used:,.3g} > {cap:,.3g}" for k, (used, cap) in over.items())
        out.append(
            Candidate(
                "upstash.free_plan_caps", "upstash", db.database_id, "scaling",
                f"{db.name} is past the Free plan's caps ({what}): Upstash throttles it",
                f"Move {db.name} to pay-as-you-go (about ${usd(payg)} a month at this volume) or "
                "cut its traffic below the caps",
                -payg, payg, f"upstash:size:{db.database_id}", "high",
                "the Free plan's published caps against the month's volumes", "low",
                "Free plan: 500K commands, 256 MB, 10 GB bandwidth a month",
                {"database": db.name, **{k: float(v[0]) for k, v in over.items()},
                 "payg_cost_usd": float(usd(payg))},
            )
        )  # fmt: skip
    return out


def _size(gb: float) -> str:
    return f"{gb * 1000:.0f} MB" if gb < 1 else f"{gb:g} GB"


RULES: tuple[Rule, ...] = (plan_breakeven, storage_limit, free_plan_caps)


def storage_series(ctx: RuleContext, database_id: str) -> pl.DataFrame:
    """Daily storage gauge (date, value) of one database."""
    return ctx.store.query(
        "SELECT billing_date AS date, max(value) AS value FROM usage WHERE provider = 'upstash' "
        "AND metric = 'storage_gb' AND resource_id = ? AND billing_date >= ? AND billing_date < ? "
        "GROUP BY 1 ORDER BY 1",
        [database_id, ctx.first, ctx.end],
    )
