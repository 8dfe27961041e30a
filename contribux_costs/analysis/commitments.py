"""Contract commitments (Vercel ``GET /v1/billing/contract-commitments``): the unused part of a
commitment term that ended in the month is money paid for nothing, so it is a finding.

Used part of a term: for a Spend commitment, the usage credit it granted (Credit charges in the
term: Pro's seat fee comes back as up to $20 of usage credit per seat) or, with no credit rows,
the Usage spend in the term; for a Usage commitment (Enterprise MIUs), the priced quantity in
its unit. Unused = commitment − used, never below zero.
"""

from __future__ import annotations

from decimal import Decimal

from contribux_costs.analysis.rulebase import Candidate, RuleContext

RULE_ID = "vercel.unused_commitment"


def unused_commitment(ctx: RuleContext) -> list[Candidate]:
    """Terms ending in the month (by their end instant) with an unused part."""
    if "contract_commitments" not in ctx.tables:
        return []
    rows = ctx.store.query(_TERMS_SQL, [ctx.first, ctx.end])
    out = []
    for r in rows.iter_rows(named=True):
        committed, used = _amounts(r)
        unused = max(committed - used, Decimal(0))
        if committed <= 0 or unused <= 0:
            continue
        out.append(_candidate(r, committed, used, unused))
    return out


def _amounts(r: dict[str, object]) -> tuple[Decimal, Decimal]:
    if r["category"] == "Spend":
        used = Decimal(str(r["credit"])) if r["credit"] else Decimal(str(r["spend"] or 0))
        return Decimal(str(r["cost"])), used
    return Decimal(str(r["quantity"])), Decimal(str(r["used_qty"] or 0))


def _candidate(
    r: dict[str, object], committed: Decimal, used: Decimal, unused: Decimal
) -> Candidate:
    spend = r["category"] == "Spend"
    # A Usage commitment's unused units are worth its cost per unit when Vercel states a cost.
    per_unit = (
        Decimal(1)
        if spend
        else (Decimal(str(r["cost"])) / committed if r["cost"] is not None else Decimal(0))
    )
    unit = "USD" if spend else str(r["unit"])
    amount = f"${unused:,.2f}" if spend else f"{unused:,.2f} {unit}"
    return Candidate(
        RULE_ID, "vercel", str(r["id"]), "cost",
        f"Vercel commitment {r['id']}: {amount} of {committed:,.2f} {unit} unused",
        "Size the commitment to the usage at renewal (fewer seats, a smaller MIU allocation), "
        "or move workloads onto Vercel before the term ends",
        unused * per_unit, committed * per_unit, f"vercel:commitment:{r['id']}", "high",
        "the commitment and its use are both Vercel's own billing data", "medium",
        "any unused part of an ended commitment term",
        {"committed": float(committed), "used": float(used), "unused": float(unused),
         "unit": unit, "term_start": str(r["term_start"]), "term_end": str(r["term_end"])},
    )  # fmt: skip


_TERMS_SQL = """
SELECT k.ContractCommitmentId AS id, k.ContractCommitmentCategory AS category,
       k.ContractCommitmentUnit AS unit, k.ContractCommitmentCost AS cost,
       k.ContractCommitmentQuantity AS quantity,
       k.ContractCommitmentPeriodStart AS term_start, k.ContractCommitmentPeriodEnd AS term_end,
       -sum(c.BilledCost) FILTER (c.ChargeCategory = 'Credit') AS credit,
       sum(c.BilledCost) FILTER (c.ChargeCategory = 'Usage') AS spend,
       sum(c.PricingQuantity) FILTER (c.ChargeCategory = 'Usage'
                                      AND c.PricingUnit = k.ContractCommitmentUnit) AS used_qty
FROM contract_commitments k
LEFT JOIN charges c
  ON c.provider = k.provider AND c.ChargePeriodStart >= k.ContractCommitmentPeriodStart
 AND c.ChargePeriodStart < k.ContractCommitmentPeriodEnd
WHERE k.provider = 'vercel'
  AND (k.ContractCommitmentPeriodEnd AT TIME ZONE 'America/Los_Angeles')::DATE > ?
  AND (k.ContractCommitmentPeriodEnd AT TIME ZONE 'America/Los_Angeles')::DATE <= ?
GROUP BY ALL ORDER BY id
"""
