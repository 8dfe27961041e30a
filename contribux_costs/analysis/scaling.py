"""Scaling and capacity rules (Neon, Vercel, Upstash) and time-to-limit for plan quotas."""

from __future__ import annotations

from contribux_costs.analysis.rulebase import Candidate, Rule, RuleContext
from contribux_costs.models import TimeToLimit

RULES: tuple[Rule, ...] = ()


def time_to_limits(ctx: RuleContext) -> list[TimeToLimit]:
    return []


def _unused(ctx: RuleContext) -> list[Candidate]:
    return []
