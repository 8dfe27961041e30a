"""``CostOptimizer``: the month's usage, projection, recommendations, cache findings and alerts.

>>> from contribux_costs import CostOptimizer
>>> result = CostOptimizer("data/contribux_costs.duckdb").analyze_usage("2025-01")
>>> [r.title for r in result.recommendations[:3]]

Aggregation happens in DuckDB (one GROUP BY per question); Python only sees per-model,
per-service or per-day rows. Each rule is a small function in ``analysis/``; the engine runs them,
settles their dollars through the savings ledger (no dollar is claimed twice) and assembles the
typed :class:`~contribux_costs.models.AnalysisResult`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from contribux_costs.analysis import alerts as alerts_mod
from contribux_costs.analysis import (
    cache,
    commitments,
    costs,
    database,
    lifecycle,
    neon_compute,
    overview,
    scaling,
    upstash_plans,
)
from contribux_costs.analysis.allocation import allocation_step
from contribux_costs.analysis.budgets import budget_views
from contribux_costs.analysis.pricing_notes import note_unpriced
from contribux_costs.analysis.rulebase import Config, Rule, RuleContext, guarded, settle
from contribux_costs.analysis.unit_costs import unit_costs
from contribux_costs.analysis.vercel_rules import RULES as VERCEL_RULES
from contribux_costs.errors import ConfigError
from contribux_costs.focus import summary
from contribux_costs.models import Alert, AnalysisResult, Recommendation
from contribux_costs.periods import Month
from contribux_costs.store import Store, open_store

RULES: tuple[Rule, ...] = (
    costs.model_downgrade,
    costs.prompt_caching,
    costs.batch_api,
    costs.cost_per_request,
    costs.embedding_spikes,
    database.branch_sprawl,
    neon_compute.scale_to_zero,
    database.storage_growth,
    neon_compute.compute_overprovisioned,
    database.slow_queries,
    database.slowest_queries,
    *upstash_plans.RULES,
    *scaling.RULES,
    *cache.RULES,
    commitments.unused_commitment,
    *VERCEL_RULES,
)


class CostOptimizer:
    """Analyze a month of collected usage. ``db`` is a store path or an open :class:`Store`.

    ``config`` is an analysis config (or a TOML path merged over ``analysis/defaults.toml``);
    by default ``settings.contribux_costs_config`` when set, else the defaults.
    """

    def __init__(self, db: str | Path | Store, config: Config | Path | None = None) -> None:
        self.store = db if isinstance(db, Store) else open_store(db)
        self._own_store = not isinstance(db, Store)
        self.config = config if isinstance(config, Config) else default_config(config)

    def analyze_usage(self, month: str | Month, as_of: date | None = None) -> AnalysisResult:
        """Analyze ``month`` (``"YYYY-MM"``). ``as_of`` = today (UTC) unless given: days from
        ``as_of`` on are forecast for an open month; a closed month is all actuals."""
        m = month if isinstance(month, Month) else Month.parse(month)
        today = as_of or datetime.now(UTC).date()
        summary.refuse_future(m, today)  # the one month-state rule: nothing to analyze yet
        ctx = RuleContext(self.store, m, self.config, today)
        overview.refresh_focus(ctx)
        note_unpriced(ctx)  # an unpriced volume is always reported, with its size
        usage = overview.current_usage(ctx)
        projection = overview.projection(ctx)
        anomalies = overview.anomalies(ctx)
        result = AnalysisResult(
            month=str(m),
            demo=summary.is_demo(self.store),
            current_usage=usage,
            projected_monthly_cost=projection,
            recommendations=self._recommendations(ctx),
            cache_findings=guarded(ctx, cache.findings),
            anomalies=anomalies,
            time_to_limit=guarded(ctx, scaling.time_to_limits),
        )
        result.recommendations, result.tracked_recommendations = lifecycle.apply(
            self.store, m, result.recommendations
        )
        self._allocation(ctx, result)
        result.month_state = m.phase(ctx.as_of)
        result.next_month_forecast = overview.next_month_forecast(ctx)
        result.alerts = alerts_mod.evaluate(result, ctx.cfg)
        result.data_quality = list(ctx.notes)
        return result

    def _recommendations(self, ctx: RuleContext) -> list[Recommendation]:
        candidates = [c for rule in RULES for c in guarded(ctx, rule)]
        caps = {
            p: c for p in ("openai", "vercel", "neon", "upstash") if (c := ctx.provider_cost(p)) > 0
        }
        order = [str(r) for r in ctx.cfg.get("general.rule_order", [])]
        return settle(candidates, order, caps, Decimal(str(ctx.cfg.num("general.min_savings_usd"))))

    @staticmethod
    def _allocation(ctx: RuleContext, result: AnalysisResult) -> None:
        """Issue 16: allocation by environment/owner, unit costs, budgets (each step guarded)."""
        found = guarded(ctx, allocation_step)
        result.allocation = found[0] if found else None
        result.unit_costs = guarded(ctx, unit_costs)
        result.budgets = guarded(ctx, lambda c: budget_views(c, result.projected_monthly_cost))

    def close(self) -> None:
        """Close the store when this optimizer opened it."""
        if self._own_store:
            self.store.close()

    def __enter__(self) -> CostOptimizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_config(path: Path | None = None) -> Config:
    """``path`` merged over the defaults; without it ``settings.contribux_costs_config``
    (env ``CONTRIBUX_COSTS_CONFIG``) when set."""
    from contribux_costs.config import load_settings

    return Config.load(path or load_settings().contribux_costs_config)


def evaluate_alerts(
    result_or_store: AnalysisResult | Store,
    month: str | Month,
    rules: list[alerts_mod.AlertRule] | Config | None = None,
) -> list[Alert]:
    """Alerts for ``month`` from an analysis result, or from a store (analysed first)."""
    cfg = rules if isinstance(rules, Config) else default_config()
    if isinstance(result_or_store, AnalysisResult):
        result = result_or_store
        if result.month != str(month if isinstance(month, Month) else Month.parse(month)):
            raise ConfigError(f"the result is for {result.month}, not {month}")
    else:
        result = CostOptimizer(result_or_store, cfg).analyze_usage(month)
    return alerts_mod.evaluate(result, cfg, rules if isinstance(rules, list) else None)
