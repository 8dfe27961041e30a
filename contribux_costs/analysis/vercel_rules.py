"""Vercel what-ifs on measured figures: the edge cache's effect on origin transfer, allowance
overage ahead, and the Pro plan's monthly usage credit.

Sources (cited in ``defaults.toml`` beside each value): Pro includes 1 TB Fast Data Transfer and
10M Edge Requests a month and a $20 monthly usage credit that offsets usage charges; overage is
billed at the list prices in the price book.
"""

from __future__ import annotations

from decimal import Decimal

from contribux_costs.analysis.rulebase import Candidate, Rule, RuleContext, unit_price, usd

ORIGIN = "Fast Origin Transfer"


def overage_cost(
    ctx: RuleContext, service: str, projected: float, included: float, billed: Decimal, used: float
) -> Decimal:
    """The month's projected overage of ``service`` at its list price (else the billed cost
    scaled to the projection)."""
    rate = unit_price(ctx, f"vercel/{service}")
    over = Decimal(str(max(projected - included, 0.0)))
    if rate is not None:
        return over * rate
    return billed * Decimal(str(projected / used)) if used > 0 else billed


def credit_left(ctx: RuleContext) -> Decimal:
    """What the monthly usage credit has not yet absorbed: 0 when the bill already carries a
    Credit row (it is then in the billed figures), else credit − the month's usage cost."""
    credit = ctx.cfg.dec("vercel.monthly_usage_credit_usd")
    rows = ctx.store.query(
        "SELECT ChargeCategory AS category, sum(BilledCost) AS cost FROM charges "
        "WHERE provider = 'vercel' AND x_billing_date >= ? AND x_billing_date < ? GROUP BY 1",
        [ctx.first, ctx.end],
    )
    by = {str(c): Decimal(str(v)) for c, v in rows.iter_rows()}
    if "Credit" in by:
        return Decimal(0)
    return max(credit - by.get("Usage", Decimal(0)), Decimal(0))


def edge_cache(ctx: RuleContext) -> list[Candidate]:
    """A measured edge byte hit ratio below target: raising it to the target removes that share of
    the origin bytes, so of the Fast Origin Transfer cost: (target − h) / (1 − h)."""
    from contribux_costs.analysis.cache import vercel_edge_findings

    target = ctx.cfg.num("vercel.edge_hit_ratio_target")
    out = []
    for f in vercel_edge_findings(ctx):
        h = f.hit_ratio
        if h is None or h >= target:
            continue
        cost = Decimal(
            str(
                ctx.store.scalar(
                    "SELECT coalesce(sum(BilledCost), 0) FROM charges WHERE provider = 'vercel' "
                    "AND ServiceName = ? AND x_billing_date >= ? AND x_billing_date < ?",
                    [ORIGIN, ctx.first, ctx.end],
                )
            )
        )
        removed = Decimal(str((target - h) / (1 - h)))
        if cost <= 0:
            continue
        out.append(
            Candidate(
                "vercel.edge_cache", "vercel", ORIGIN, "cache",
                f"The edge serves {h:.0%} of bytes from cache; at {target:.0%} origin transfer "
                f"falls by {float(removed):.0%}",
                "Cache static assets and ISR pages at the edge (long s-maxage, "
                "stale-while-revalidate) so fewer bytes come from the origin",
                cost * removed, cost, f"vercel:{ORIGIN}", "medium",
                "measured byte hit ratio (1 − origin GB / delivered GB); Fast Data Transfer to "
                "users is unchanged by caching", "low",
                f"edge byte hit ratio < {target:.0%}",
                {"hit_ratio": h, "target_hit_ratio": target, "delivered_gb": f.lookups,
                 "origin_gb": f.lookups - f.hits, "origin_cost_usd": float(usd(cost)),
                 "origin_share_removed": float(removed)},
            )
        )  # fmt: skip
    return out


RULES: tuple[Rule, ...] = (edge_cache,)
