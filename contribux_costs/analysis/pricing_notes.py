"""The pricing step's data-quality findings, as notes of the analysis.

A volume the price book cannot price (an unknown model, a token part without a rate, a service
tier without its own prices) is never priced at $0 and never dropped: the FOCUS build stores it in
``pricing_findings``, and every analysis of the month repeats it with its volume.
"""

from __future__ import annotations

from contribux_costs.analysis.rulebase import RuleContext


def note_unpriced(ctx: RuleContext) -> None:
    """One data-quality note per stored pricing finding of the month, volume included."""
    if "pricing_findings" not in ctx.tables:
        return
    rows = ctx.store.query(
        "SELECT provider, subject, metric, unit, volume, rows, detail FROM pricing_findings "
        "WHERE month = ? ORDER BY provider, subject, metric",
        [str(ctx.month)],
    )
    for r in rows.iter_rows(named=True):
        ctx.note(
            f"unpriced {r['provider']} {r['subject']}: {r['volume']:,.0f} {r['unit']} of "
            f"{r['metric']} ({r['rows']} rows) are not in the month's cost: {r['detail']}"
        )
