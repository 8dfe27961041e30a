"""Cost rules for OpenAI spend: the guide's cost-per-request rule, model downgrade, prompt caching,
the Batch API for non-interactive workloads, and embedding spend spikes.

Every figure comes from :mod:`contribux_costs.analysis.openai_spend`: the usage priced by the same
function as the FOCUS table (each token part, batch row and service tier at its own rate) and the
month's bill per (project, model); a what-if is that function run on another family's prices.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

from contribux_costs.analysis.environments import environment_of
from contribux_costs.analysis.openai_spend import (
    ModelSpend,
    family_of,
    model_spend,
    priced_lines,
    spend,
)
from contribux_costs.analysis.rulebase import Candidate, RuleContext, pricebook, usd
from contribux_costs.errors import CostsError

__all__ = ["ModelSpend", "family_of", "model_spend"]

if TYPE_CHECKING:
    from contribux_costs.pricing import PriceBook

M = Decimal(1_000_000)


def list_prices(ctx: RuleContext, family: str) -> tuple[Decimal, Decimal, Decimal] | None:
    """USD per 1M tokens (input, cached input, output) of a model family: the price book
    (negotiated override included), else ``openai.list_prices`` in the config."""
    book = pricebook(ctx)
    if book is not None:
        try:
            rates = [
                _rate_or_zero(book, f"openai/{family}/{part}", ctx.price_day, part != "input")
                for part in ("input", "cached_input", "output")
            ]
            return (rates[0] * M, rates[1] * M, rates[2] * M)
        except CostsError:
            pass
    raw = (ctx.cfg.get("openai.list_prices") or {}).get(family)
    if not isinstance(raw, list) or len(raw) != 3:
        return None
    return (Decimal(str(raw[0])), Decimal(str(raw[1])), Decimal(str(raw[2])))


def _rate_or_zero(book: PriceBook, sku: str, day: date, optional: bool) -> Decimal:
    # Embedding models have no output (and some no cached-input) price: those parts cost 0.
    try:
        return book.lookup(sku, day).rate
    except CostsError:
        if optional:
            return Decimal(0)
        raise


def _spend(ctx: RuleContext) -> list[ModelSpend]:
    return spend(ctx)


def cost_per_request(ctx: RuleContext) -> list[Candidate]:
    """Guide: OpenAI cost per request > $0.05 → optimize prompts or use a smaller model (30%)."""
    limit = ctx.cfg.dec("openai.cost_per_request_usd")
    share = ctx.cfg.dec("openai.cost_per_request_saving")
    out = []
    for s in _spend(ctx):
        if s.requests <= 0 or s.cost <= 0:
            continue
        per_request = s.cost / Decimal(str(s.requests))
        if per_request <= limit:
            continue
        out.append(
            Candidate(
                "openai.cost_per_request", "openai", s.subject, "cost",
                f"{s.family} costs ${per_request:.4f} per request in {s.project_id}",
                "Optimize prompts (shorter context, fewer retries) or use a smaller model",
                s.cost * share, s.cost, s.pool, "medium",
                "the guide's 30% rule of thumb; actual saving depends on the prompt work",
                "medium", f"cost per request > ${limit}",
                {**s.evidence(), "cost_per_request_usd": float(per_request)},
            )
        )  # fmt: skip
    return out


def model_downgrade(ctx: RuleContext) -> list[Candidate]:
    """The same priced rows on the configured cheaper family (share of traffic movable)."""
    targets: dict[str, str] = ctx.cfg.get("openai.downgrade.targets") or {}
    share = ctx.cfg.dec("openai.downgrade.share")
    min_requests = ctx.cfg.num("openai.downgrade.min_requests")
    moves = {s.model: targets[s.family] for s in _spend(ctx) if s.family in targets}
    on_target = _by_model(priced_lines(ctx, moves)) if moves else {}
    out = []
    for s in _spend(ctx):
        target = moves.get(s.model)
        qty, priced_on_target = on_target.get((s.project_id, s.model), (0.0, Decimal(0)))
        if target is None or s.requests < min_requests or s.priced <= 0:
            continue
        if qty < sum(s.qty.values()) * (1 - 1e-9):  # float sums in another order
            ctx.note(f"{target} has no price for every token part of {s.model}: not compared")
            continue
        typical, left_out = typical_month_factor(ctx, s)
        # A recurring saving is claimed on a typical month: anomaly days (a one-off runaway job)
        # are left out and the other days' average stands in for them.
        saving = (s.priced - priced_on_target) * share * s.to_bill * typical
        if saving <= 0:
            continue
        # A dev/preview key serves no user: the cheaper model is the default, no eval needed.
        env = environment_of(ctx, "openai", s.project_id)
        off_prod = env in ("development", "preview")
        basis = (
            "typical month: anomaly day(s) " + ", ".join(str(d) for d in left_out) + " left out"
            if left_out
            else "the whole month (no anomaly episode)"
        )
        out.append(
            Candidate(
                "openai.model_downgrade", "openai", s.subject, "cost",
                f"Move {s.family} traffic in {s.project_id} to {target}",
                f"Make {target} the default for {s.family} calls on this {env} key"
                if off_prod else
                f"Route {float(share):.0%} of {s.family} requests to {target} after an eval "
                "shows equal quality on this workload",
                saving, s.cost, s.pool, "high" if off_prod else "medium",
                f"the month's priced usage re-priced on the cheaper family by the same rules "
                f"(token parts, batch, tier); a {env} key serves no users"
                if off_prod else
                "the month's priced usage re-priced on the cheaper family by the same rules "
                "(token parts, batch, tier); quality on the cheaper model must be validated",
                "low" if off_prod else "medium",
                f"cheaper family configured: {s.family} → {target}",
                {**s.evidence(), "target_model": target, "environment": env,
                 "cost_on_target_usd": float(usd(priced_on_target * s.to_bill)),
                 "saving_basis": basis, "typical_month_factor": round(float(typical), 4)},
            )
        )  # fmt: skip
    return out


def anomaly_days(ctx: RuleContext, provider: str) -> set[date]:
    """The month's days inside one of ``provider``'s anomaly episodes (cached per analysis)."""
    key = f"anomaly_days:{provider}"
    if key not in ctx.cache:
        from contribux_costs.analysis.overview import anomalies  # the engine's one detector

        days: set[date] = set()
        for a in anomalies(ctx):
            if a.provider == provider:
                days |= {a.start + timedelta(days=i) for i in range((a.end - a.start).days + 1)}
        ctx.cache[key] = days
    return set(ctx.cache[key])


def typical_month_factor(ctx: RuleContext, s: ModelSpend) -> tuple[Decimal, list[date]]:
    """(typical month ÷ actual month, anomaly days left out) for one (project, model): the
    days outside anomaly episodes, averaged, stand in for the anomalous ones. 1 without
    billed daily cost or without anomalies."""
    episode = anomaly_days(ctx, "openai")
    if not episode or not s.billed or s.cost <= 0:
        return Decimal(1), []
    daily = ctx.store.query(
        "SELECT x_billing_date AS day, sum(BilledCost) AS cost FROM charges "
        "WHERE provider = 'openai' AND x_project_id = ? AND split_part(x_line_item, ', ', 1) = ? "
        "AND x_billing_date >= ? AND x_billing_date < ? GROUP BY ALL",
        [s.project_id, s.model, ctx.first, ctx.end],
    )
    normal = daily.filter(~pl.col("day").is_in(sorted(episode)))
    left_out = sorted(d for d in daily["day"].to_list() if d in episode)
    if not left_out or normal.height == 0:
        return Decimal(1), []
    typical = Decimal(str(normal["cost"].sum())) / normal.height * daily.height
    return min(Decimal(1), typical / s.cost), left_out


def _by_model(lines: pl.DataFrame) -> dict[tuple[str, str], tuple[float, Decimal]]:
    """(project, model) → (tokens, cost) of priced rows, in one group-by."""
    if not lines.height:
        return {}
    sums = lines.group_by(
        pl.col("resource_id").cast(pl.String).fill_null("None"),
        pl.col("resource_name").cast(pl.String).fill_null("None"),
    ).agg(pl.col("qty").cast(pl.Float64).sum(), pl.col("cost").sum())
    return {(p, m): (float(q), Decimal(str(c))) for p, m, q, c in sums.iter_rows()}


def prompt_caching(ctx: RuleContext) -> list[Candidate]:
    """Large repeated input with a low cached share: cache a stable prompt prefix."""
    min_tokens = ctx.cfg.num("openai.prompt_caching.min_input_tokens_per_request")
    below = ctx.cfg.num("openai.prompt_caching.max_cached_share")
    target = ctx.cfg.num("openai.prompt_caching.target_cached_share")
    out = []
    for s in _spend(ctx):
        prices = list_prices(ctx, s.family)
        if s.requests <= 0 or s.service != "completions" or prices is None:
            continue
        per_request = s.input_tokens / s.requests
        if per_request < min_tokens or s.cached_share >= below:
            continue
        extra = Decimal(str((target - s.cached_share) * s.input_tokens))
        # Only uncached input can move to the cached rate: the saving is capped at its cost.
        movable = s.cost_by_part.get("input", Decimal(0))
        saving = min(extra * (prices[0] - prices[1]) / M, movable) * s.to_bill
        if saving <= 0:
            continue
        out.append(
            Candidate(
                "openai.prompt_caching", "openai", s.subject, "cost",
                f"Only {s.cached_share:.0%} of {s.family} input is cached in {s.project_id}",
                "Put the stable part of the prompt (instructions, schemas, examples) first so "
                f"OpenAI's prompt cache serves it; aim for {target:.0%} cached input",
                saving, s.cost, s.pool, "medium",
                "priced at the cached-input discount; the reachable cached share is an estimate",
                "low", f"cached share < {below:.0%} with ≥ {min_tokens:.0f} input tokens/request",
                {**s.evidence(), "cached_share": s.cached_share,
                 "input_tokens_per_request": per_request},
            )
        )  # fmt: skip
    return out


def batch_api(ctx: RuleContext) -> list[Candidate]:
    """Workloads marked non-interactive in the config → Batch API at its discount."""
    workloads = ctx.cfg.get("openai.batch.workloads") or []
    book = pricebook(ctx)
    discount = 1 - book.batch_factor if book else ctx.cfg.dec("openai.batch.discount")
    out = []
    for s in _spend(ctx):
        match = next((w for w in workloads if _matches(w, s)), None)
        # Rows already batched (or on flex, billed at the Batch rate) have nothing left to save.
        basis = s.batchable * s.to_bill
        if match is None or basis <= 0:
            continue
        out.append(
            Candidate(
                "openai.batch_api", "openai", s.subject, "cost",
                f"Send {s.family} work in {s.project_id} through the Batch API",
                f"Submit these non-interactive requests ({match.get('reason', 'configured')}) "
                f"as Batch jobs: {float(discount):.0%} off, results within 24 h",
                basis * discount, basis, s.pool, "high",
                "the Batch API rate is a published price, applied to the rows not yet batched; "
                "the workload is marked non-interactive in the config",
                "medium", "workload marked non-interactive",
                {**s.evidence(), "not_batched_usd": float(usd(basis))},
            )
        )  # fmt: skip
    return out


def _matches(w: object, s: ModelSpend) -> bool:
    if not isinstance(w, dict):
        return False
    project, model = w.get("project_id", "*"), w.get("model", "*")
    return project in ("*", s.project_id) and model in ("*", s.model, s.family)


def embedding_spikes(ctx: RuleContext) -> list[Candidate]:
    """Embedding spend spikes (one per episode): the excess over the weekday baseline."""
    from contribux_costs.analysis.overview import HISTORY_DAYS, detect

    if not _spend(ctx):
        return []
    series = ctx.store.query(
        "SELECT x_billing_date AS date, sum(BilledCost)::DOUBLE AS value FROM charges "
        "WHERE provider = 'openai' AND x_line_item LIKE 'text-embedding%' "
        "AND x_billing_date >= ? AND x_billing_date < ? GROUP BY 1 ORDER BY 1",
        [ctx.first - timedelta(days=HISTORY_DAYS), ctx.end],
    )
    out = []
    series = series.with_columns(pl.lit("openai embeddings").alias("service"))
    for e in detect(ctx, series, ["service"]):
        if e.end < ctx.first:
            continue
        excess = e.excess_usd
        out.append(
            Candidate(
                "openai.embedding_spike", "openai", f"embeddings/{e.start}", "cost",
                f"Embedding spend spiked {e.start}–{e.end} (+${excess} over the usual)",
                "Find the job that re-embedded content (backfill, retry loop); embed only "
                "changed documents and cache embeddings by content hash",
                excess, e.cost_usd, f"openai:embeddings:{e.start}", "medium",
                "excess over the same-weekday median baseline", "low",
                "anomaly: excess ≥ $ and % thresholds",
                {"start": str(e.start), "end": str(e.end), "excess_usd": float(excess),
                 "baseline_usd": float(e.expected_usd), "actual_usd": float(e.cost_usd)},
            )
        )  # fmt: skip
    return out
