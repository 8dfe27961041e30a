"""Cost rules for OpenAI spend: the guide's cost-per-request rule, model downgrade, prompt caching,
the Batch API for non-interactive workloads, and embedding spend spikes.

Money comes from the provider-billed Costs API line items (``charges``) joined to the Usage API
volumes per (project, model); a model with volumes but no billed line is priced at list prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

from contribux_costs.analysis.environments import environment_of
from contribux_costs.analysis.rulebase import Candidate, RuleContext, pricebook, usage_cte, usd
from contribux_costs.errors import CostsError

if TYPE_CHECKING:
    from contribux_costs.pricing import PriceBook

M = Decimal(1_000_000)
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")

_SQL = f"""
WITH {usage_cte("openai")},
us AS (
  SELECT resource_id AS project_id, resource_name AS model, any_value(service) AS service,
    coalesce(sum(value) FILTER (WHERE metric = 'num_model_requests'), 0) AS requests,
    coalesce(sum(value) FILTER (WHERE metric = 'input_tokens'), 0) AS input_tokens,
    coalesce(sum(value) FILTER (WHERE metric = 'input_cached_tokens'), 0) AS cached_tokens,
    coalesce(sum(value) FILTER (WHERE metric = 'output_tokens'), 0) AS output_tokens
  FROM u GROUP BY ALL),
c AS (
  SELECT x_project_id AS project_id, split_part(x_line_item, ', ', 1) AS model,
    sum(BilledCost) AS cost
  FROM charges WHERE provider = 'openai' AND x_billing_date >= $first AND x_billing_date < $end
  GROUP BY ALL)
SELECT us.*, c.cost FROM us LEFT JOIN c USING (project_id, model)
ORDER BY project_id, model
"""


@dataclass(frozen=True)
class ModelSpend:
    """A (project, model)'s month: volumes and cost (billed, else list-priced)."""

    project_id: str
    model: str
    family: str
    service: str
    requests: float
    input_tokens: float
    cached_tokens: float
    output_tokens: float
    cost: Decimal
    billed: bool

    @property
    def pool(self) -> str:
        return f"openai:{self.project_id}:{self.model}"

    @property
    def subject(self) -> str:
        return f"{self.project_id}/{self.family}"

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.input_tokens if self.input_tokens > 0 else 0.0

    def priced(self, prices: tuple[Decimal, Decimal, Decimal]) -> Decimal:
        """These volumes at (input, cached input, output) USD per 1M tokens."""
        uncached = Decimal(str(self.input_tokens - self.cached_tokens))
        cached = Decimal(str(self.cached_tokens))
        out = Decimal(str(self.output_tokens))
        return (uncached * prices[0] + cached * prices[1] + out * prices[2]) / M

    def evidence(self) -> dict[str, float | str]:
        return {
            "project_id": self.project_id,
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": float(usd(self.cost)),
            "cost_source": "billed" if self.billed else "list price",
        }


def family_of(model: str, ctx: RuleContext | None = None) -> str:
    """``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini`` (the price book's families, else the id
    without its date suffix)."""
    book = pricebook(ctx) if ctx is not None else None
    known = book.family(model) if book is not None else None
    return known or _DATE_SUFFIX.sub("", model)


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


def model_spend(ctx: RuleContext) -> list[ModelSpend]:
    """Month volumes and cost per (project, model), aggregated in DuckDB."""
    frame = ctx.store.query(ctx.usage_sql(_SQL, "openai"), {"first": ctx.first, "end": ctx.end})
    out = []
    for row in frame.iter_rows(named=True):  # one row per (project, model): a handful
        family = family_of(str(row["model"]), ctx)
        spend = ModelSpend(
            str(row["project_id"]),
            str(row["model"]),
            family,
            str(row["service"]),
            float(row["requests"]),
            float(row["input_tokens"]),
            float(row["cached_tokens"]),
            float(row["output_tokens"]),
            Decimal(0),
            row["cost"] is not None,
        )
        out.append(_with_cost(ctx, spend, row["cost"]))
    return out


def _with_cost(ctx: RuleContext, s: ModelSpend, billed: object) -> ModelSpend:
    if isinstance(billed, Decimal):
        return _replace_cost(s, billed)
    prices = list_prices(ctx, s.family)
    if prices is None:
        ctx.note(f"openai model {s.model} has no billed cost and no list price: left at $0")
        return s
    return _replace_cost(s, s.priced(prices))


def _replace_cost(s: ModelSpend, cost: Decimal) -> ModelSpend:
    return ModelSpend(
        s.project_id, s.model, s.family, s.service, s.requests, s.input_tokens,
        s.cached_tokens, s.output_tokens, cost, s.billed,
    )  # fmt: skip


def _spend(ctx: RuleContext) -> list[ModelSpend]:
    if "openai_spend" not in ctx.cache:
        ctx.cache["openai_spend"] = model_spend(ctx) if ctx.usage("openai") else []
    return list(ctx.cache["openai_spend"])


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
    """The same volume priced on the configured cheaper family (share of traffic movable)."""
    targets: dict[str, str] = ctx.cfg.get("openai.downgrade.targets") or {}
    share = ctx.cfg.dec("openai.downgrade.share")
    min_requests = ctx.cfg.num("openai.downgrade.min_requests")
    out = []
    for s in _spend(ctx):
        target = targets.get(s.family)
        if target is None or s.requests < min_requests:
            continue
        prices = list_prices(ctx, target)
        if prices is None:
            ctx.note(f"no list price for {target}: model downgrade of {s.family} not priced")
            continue
        typical, left_out = typical_month_factor(ctx, s)
        on_target = s.priced(prices)
        # A recurring saving is claimed on a typical month: anomaly days (a one-off runaway job)
        # are left out and the other days' average stands in for them.
        saving = (s.cost - on_target) * share * typical
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
                f"exact for the month's volume at list prices; a {env} key serves no users"
                if off_prod else
                "exact for the month's volume at list prices; quality on the cheaper model "
                "must be validated",
                "low" if off_prod else "medium",
                f"cheaper family configured: {s.family} → {target}",
                {**s.evidence(), "target_model": target, "environment": env,
                 "cost_on_target_usd": float(usd(on_target)),
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
        saving = extra * (prices[0] - prices[1]) / M
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
    discount = ctx.cfg.dec("openai.batch.discount")
    out = []
    for s in _spend(ctx):
        match = next((w for w in workloads if _matches(w, s)), None)
        if match is None or s.cost <= 0:
            continue
        out.append(
            Candidate(
                "openai.batch_api", "openai", s.subject, "cost",
                f"Send {s.family} work in {s.project_id} through the Batch API",
                f"Submit these non-interactive requests ({match.get('reason', 'configured')}) "
                f"as Batch jobs: {float(discount):.0%} off, results within 24 h",
                s.cost * discount, s.cost, s.pool, "high",
                "the Batch API discount is a published price; the workload is marked "
                "non-interactive in the config",
                "medium", "workload marked non-interactive",
                s.evidence(),
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
