"""Cache findings for every layer we can see."""

from __future__ import annotations

from contribux_costs.analysis.rulebase import Rule, RuleContext
from contribux_costs.models import CacheFinding

RULES: tuple[Rule, ...] = ()


def findings(ctx: RuleContext) -> list[CacheFinding]:
    return []
