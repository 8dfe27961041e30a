"""Which environment a resource serves, for rules that only make sense off production.

The same ordered rules that label every FOCUS row (:mod:`contribux_costs.focus.allocation`, the
``[allocation]`` table of the analysis config over ``focus/allocation.toml``), asked about one
resource known by provider, id and name. Rules that need a tag, service or charge category cannot
match such a lookup; the name rules (``prod``, ``preview``/``pr-``, ``staging``/``stg``, ``dev``)
and provider rules can.
"""

from __future__ import annotations

from contribux_costs.analysis.rulebase import RuleContext
from contribux_costs.focus.allocation import (
    ENVIRONMENTS,
    UNALLOCATED,
    AllocationRules,
    allocation_rules,
)

__all__ = ["ENVIRONMENTS", "UNALLOCATED", "branch_environment", "environment_of", "rules_of"]


def rules_of(ctx: RuleContext) -> AllocationRules:
    """The allocation rules of the context's config (parsed once per analysis)."""
    if "allocation_rules" not in ctx.cache:
        ctx.cache["allocation_rules"] = allocation_rules(ctx.cfg.get("allocation"))
    rules: AllocationRules = ctx.cache["allocation_rules"]
    return rules


def environment_of(
    ctx: RuleContext, provider: str, resource_id: str, resource_name: str | None = None
) -> str:
    """One of :data:`ENVIRONMENTS`, or ``"unallocated"`` when no rule names the resource's."""
    key = f"environment_of\x1f{provider}\x1f{resource_id}\x1f{resource_name}"
    if key not in ctx.cache:
        ctx.cache[key] = rules_of(ctx).environment_of(provider, resource_id, resource_name)
    return str(ctx.cache[key])


def branch_environment(ctx: RuleContext, project_id: str, project_name: str | None) -> str:
    """The environment of a Neon project's child branches (their extra-branch charge), as the
    FOCUS rows label it: preview by default (a branch per pull request)."""
    tags = {"source_metric": "extra_branches_month"}
    return rules_of(ctx).environment_of("neon", project_id, project_name, tags)
