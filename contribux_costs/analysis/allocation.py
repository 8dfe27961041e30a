"""The month's cost by environment and by owner, the shared-cost splits, and what previews cost.

Reads the labels the FOCUS build wrote (``x_environment``, ``x_owner``, the Allocated* columns):
the figures here are those of the exported rows. Every breakdown adds up to the month's total to
the cent: parts are summed exactly (12 decimals) and then rounded by largest remainder to the
rounded total. ``unallocated`` is always listed, zero or not, so a missing rule shows.

Preview per pull request: a preview row whose resource name, id or tags carry a pull-request
number (``pr-123``, ``pr/123``, ``pr_123``; ``allocation_view.pull_request_pattern``) is counted
for that pull request; without any, the preview environment's month per provider stands in.
"""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from contribux_costs.analysis.environments import ENVIRONMENTS, UNALLOCATED
from contribux_costs.analysis.rulebase import CENT, RuleContext
from contribux_costs.focus.split import round_parts
from contribux_costs.models import Allocation, PreviewCost, SharedSplit

DEFAULT_PR_PATTERN = r"(?i)(?:^|[^a-z0-9])pr[-_/#]?(\d+)"


def _month(ctx: RuleContext) -> pl.DataFrame:
    if "focus_charges" not in ctx.tables:
        return pl.DataFrame()
    cols = {c for c in ctx.store.query("DESCRIBE focus_charges")["column_name"].to_list()}
    if "x_environment" not in cols:
        return pl.DataFrame()
    return ctx.store.query(
        "SELECT x_provider AS provider, coalesce(x_environment, ?) AS environment, "
        "coalesce(x_owner, ?) AS owner, ServiceName AS service, ResourceId AS resource_id, "
        "ResourceName AS resource_name, Tags::VARCHAR AS tags, BilledCost AS cost, "
        "AllocatedMethodId AS method, AllocatedMethodDetails AS details, "
        "AllocatedResourceId AS target, x_billing_date AS day "
        "FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ?",
        [UNALLOCATED, UNALLOCATED, ctx.first, ctx.end],
    )


def month_rows(ctx: RuleContext) -> pl.DataFrame:
    """The month's FOCUS rows with provider, environment, owner, cost (cached per analysis)."""
    if "allocation_rows" not in ctx.cache:
        ctx.cache["allocation_rows"] = _month(ctx)
    frame: pl.DataFrame = ctx.cache["allocation_rows"]
    return frame


def _sums(frame: pl.DataFrame, key: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for k, v in frame.group_by(key).agg(pl.col("cost").sum()).iter_rows():
        out[str(k)] = Decimal(str(v))
    return out


def allocation(ctx: RuleContext) -> Allocation | None:
    """The month's allocation, or None when the FOCUS rows carry no labels (a note says so)."""
    frame = month_rows(ctx)
    if not frame.height:
        ctx.note("no allocated FOCUS rows for the month: allocation not shown")
        return None
    exact_total = sum(_sums(frame, "provider").values(), Decimal(0))
    by_env = {e: Decimal(0) for e in (*ENVIRONMENTS, UNALLOCATED)} | _sums(frame, "environment")
    by_owner = _sums(frame, "owner")
    by_owner.setdefault(UNALLOCATED, Decimal(0))
    by_provider = round_parts(dict(sorted(_sums(frame, "provider").items())), exact_total)
    matrix = {
        str(p): round_parts(
            {e: Decimal(0) for e in (*ENVIRONMENTS, UNALLOCATED)} | _sums(part, "environment"),
            by_provider[str(p)],
        )
        for (p,), part in sorted(frame.partition_by(["provider"], as_dict=True).items())
    }
    preview = frame.filter(pl.col("environment") == "preview")
    return Allocation(
        total_usd=exact_total.quantize(CENT),
        by_environment=round_parts(by_env, exact_total),
        by_owner=dict(sorted(round_parts(by_owner, exact_total).items())),
        by_provider=by_provider,
        by_provider_environment=matrix,
        shared=_shared(frame),
        preview_by_pull_request=_per_pull_request(ctx, preview),
        preview_by_provider=round_parts(_sums(preview, "provider")) if preview.height else {},
    )


def allocation_step(ctx: RuleContext) -> list[Allocation]:
    """:func:`allocation` as an engine step (a list, as :func:`guarded` runs them)."""
    found = allocation(ctx)
    return [found] if found is not None else []


def _shared(frame: pl.DataFrame) -> list[SharedSplit]:
    split = frame.filter(pl.col("method").is_not_null())
    out = []
    for (method, service), part in sorted(
        split.partition_by(["method", "service"], as_dict=True).items(), key=str
    ):
        details = json.loads(str(part["details"][0])) if part["details"][0] else {}
        parts = round_parts(_sums(part, "target"))
        out.append(
            SharedSplit(
                method_id=str(method),
                rule_id=str(details.get("x_RuleId", "")),
                service=str(service),
                cost_usd=sum(parts.values(), Decimal(0)),
                parts=parts,
            )
        )
    return out


def _per_pull_request(ctx: RuleContext, preview: pl.DataFrame) -> list[PreviewCost]:
    if not preview.height:
        return []
    pattern = str(ctx.cfg.get("allocation_view.pull_request_pattern") or DEFAULT_PR_PATTERN)
    text = pl.concat_str(
        [pl.col(c).fill_null("") for c in ("resource_name", "resource_id", "tags")], separator=" "
    )
    tagged = preview.with_columns(text.str.extract(pattern, 1).alias("pr")).filter(
        pl.col("pr").is_not_null()
    )
    out = []
    for (pr, provider), part in tagged.partition_by(["pr", "provider"], as_dict=True).items():
        branch = pl.col("tags").str.json_path_match("$.branch_name")
        names = part.select(pl.coalesce(branch, "resource_name", "resource_id")).to_series()
        out.append(
            PreviewCost(
                pull_request=str(pr),
                provider=str(provider),
                resources=sorted({str(n) for n in names if n is not None}),
                cost_usd=Decimal(str(part["cost"].sum())).quantize(CENT),
            )
        )
    return sorted(out, key=lambda p: (-p.cost_usd, p.pull_request))
