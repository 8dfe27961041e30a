"""Which environment a resource serves: production, preview, staging or development.

A STAND-IN with the shared contract (COMMON.md): name patterns only. The real implementation
(ordered config rules per provider) replaces this body; callers depend on the signature alone.
"""

from __future__ import annotations

import re

from contribux_costs.analysis.rulebase import RuleContext

ENVIRONMENTS = ("production", "preview", "staging", "development")
# First match wins, checked on the resource name then its id: a branch named preview/pr-12 in a
# production project is a preview.
_PATTERNS = (
    ("production", re.compile(r"(^|[^a-z])(prod|production)([^a-z]|$)")),
    ("preview", re.compile(r"(^|[^a-z])(preview|pr-\d+)([^a-z]|$)")),
    ("staging", re.compile(r"(^|[^a-z])(staging|stg)([^a-z]|$)")),
    ("development", re.compile(r"(^|[^a-z])(dev|development)([^a-z]|$)")),
)


def environment_of(
    ctx: RuleContext, provider: str, resource_id: str, resource_name: str | None = None
) -> str:
    """One of :data:`ENVIRONMENTS`, or ``"unallocated"`` when no pattern matches."""
    del ctx, provider  # the stand-in reads names only
    for text in (resource_name, resource_id):
        if not text:
            continue
        low = text.lower()
        for env, pattern in _PATTERNS:
            if pattern.search(low):
                return env
    return "unallocated"
