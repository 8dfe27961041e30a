"""Typed results of :meth:`CostOptimizer.analyze_usage` (pydantic, JSON round-trip).

Conventions:

- **Money** fields are :class:`~decimal.Decimal` (USD) and serialize to JSON as **strings**
  (``"123.45"``), so no float rounding creeps in; they parse back to the same Decimal.
- ``estimated_monthly_savings_usd`` is positive for a saving. A scale-up recommendation (more
  compute, a read replica, a bigger cache) carries a **negative** value: the added monthly cost.
- Ratios (hit ratios, shares) are floats in ``[0, 1]``; percentages are named ``*_pct``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Money = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str, when_used="json")]
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
Category = Literal["cost", "scaling", "cache"]
Level = Literal["low", "medium", "high"]
Evidence = dict[str, float | str]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


class ProviderUsage(_Model):
    """One provider's month: cost (by service and by billing day) and its key volumes."""

    provider: str
    cost_usd: Money
    cost_source: str = Field(description="billed | computed | billed+computed | none")
    cost_by_service: dict[str, Money] = {}
    daily_cost: dict[date, Money] = {}
    volumes: dict[str, float] = {}


class Forecast(_Model):
    """A provider/service month-end projection with its rolling-origin backtest error."""

    provider: str
    service: str
    month_to_date_usd: Money
    remaining_usd: Money
    projected_usd: Money
    lower_usd: Money
    upper_usd: Money
    backtest_error_pct: float | None = Field(
        default=None, description="rolling-origin backtest: mean |Σ forecast − Σ actual| / Σ actual"
    )
    backtest_coverage: float | None = None
    method: str
    days_observed: int


class Projection(_Model):
    """Projected monthly cost: the actual for a closed month, MTD + forecast for an open one."""

    closed: bool
    month_to_date_usd: Money
    remaining_usd: Money
    projected_usd: Money
    lower_usd: Money
    upper_usd: Money
    backtest_error_pct: float | None = None
    method: str = "actual"
    by_provider: dict[str, Money] = {}
    forecasts: list[Forecast] = []


class DailyForecast(_Model):
    """One forecast day: the point and its interval (USD)."""

    date: date
    point_usd: Money
    lower_usd: Money
    upper_usd: Money


class NextMonthForecast(_Model):
    """The month after the analysed one: the ONE next-month forecast (report, CLI, JSON).

    Continued from the last complete day (an open month's partial today is left out), with the
    rolling-origin backtest error (WAPE) of the same model on the same series.
    """

    month: str
    point_usd: Money
    lower_usd: Money
    upper_usd: Money
    interval: float = 0.8
    backtest_error_pct: float | None = None
    method: str
    history_end: date | None = None
    # Every forecast day after ``history_end``: an open month's remaining days, then the next
    # month (the totals above are the next month's days only).
    daily: list[DailyForecast] = []


class TimeToLimit(_Model):
    """When a plan quota or configured limit is reached at the forecast pace."""

    provider: str
    resource: str
    metric: str
    limit: float
    used: float
    projected_month_end: float
    days_to_limit: float | None = Field(description="None: not reached within the horizon")
    limit_date: date | None = None


class Recommendation(_Model):
    """What to do, how much it is worth per month, and the figures and rule behind it."""

    id: str
    provider: str
    category: Category
    title: str
    action: str
    estimated_monthly_savings_usd: Money = Field(
        description="positive = saving; negative = added monthly cost of a scale-up"
    )
    basis_usd: Money = Field(description="the month's cost the estimate comes from")
    confidence: Level
    confidence_reason: str
    effort: Level
    evidence: Evidence = {}
    rule_id: str
    threshold: str = Field(description="the configured threshold that fired, as text")
    subject: str
    status: Literal["open", "accepted", "dismissed", "done"] = "open"
    status_note: str | None = None

    cost_ahead_usd: Money | None = Field(
        default=None,
        description="a cost this rule foresees for the month (e.g. a plan allowance overage) "
        "that no measured change removes: listed as a cost ahead, never as a saving",
    )


class TrackedRecommendation(_Model):
    """A recommendation with a status set (``contribux-costs recommendations set``) and, once
    done, the saving realised since, against the baseline recorded when it was marked."""

    id: str
    status: Literal["accepted", "dismissed", "done"]
    reason: str | None = None
    marked_in: str = Field(description="YYYY-MM: the month whose analysis the status was set on")
    provider: str
    title: str
    estimate_usd: Money = Field(description="the monthly saving estimated when it was marked")
    baseline_usd: Money = Field(description="the month's cost of the rows it acts on, then")
    realised_usd: Money | None = Field(
        default=None, description="done, later months: baseline per day × days − actual cost"
    )
    current_estimate_usd: Money | None = None
    hidden: bool = Field(default=False, description="dismissed and its evidence not changed")


class TtlWhatIf(_Model):
    """Predicted hit ratio for a TTL from the observed request rate per key."""

    ttl_s: float
    predicted_hit_ratio: float = Field(ge=0, le=1)
    advised: bool = Field(default=False, description="the TTL the recommendation advises")


class CacheFinding(_Model):
    """A cache layer's hit ratio over the month (from deltas), trend and status."""

    layer: str = Field(description="redis | postgres_buffer | openai_prompt | vercel_edge")
    subject: str
    hit_ratio: float | None = Field(ge=0, le=1)
    hits: float
    lookups: float
    trend_per_week: float | None = Field(default=None, description="change in ratio per week")
    status: str = Field(description="good | look | poor | unknown")
    threshold: str
    ttl_s: float | None = None
    ttl_what_if: list[TtlWhatIf] = []
    note: str = ""


class Alert(_Model):
    """A rule that fired: which, how severe, on what figure."""

    rule_id: str
    name: str
    severity: Severity
    message: str
    observed: float
    threshold: float
    basis: str = Field(description="actual | forecast | daily")
    provider: str | None = None
    day: date | None = None
    # Every rule that fired on this event (an anomaly and a daily threshold on the same provider
    # and day are one alert); empty on results from before issue 12.
    rules: list[str] = []


class AnomalyDriver(_Model):
    """One dimension value that carries most of an anomaly's change (``analysis.causes``)."""

    dimension: str = Field(description="model | project | API key | environment | owner | resource")
    value: str
    before_usd: Money = Field(description="its spend over as many days just before the episode")
    during_usd: Money
    share: float = Field(description="of the episode's total change, 0–1")


class Anomaly(_Model):
    """One episode of unusual daily cost (consecutive days count once)."""

    provider: str
    service: str
    start: date
    end: date
    days: int
    cost_usd: Money
    expected_usd: Money
    excess_usd: Money
    excess_pct: float
    cause: str | None = Field(
        default=None, description="the slice that drove it, with before/after spend, or None"
    )
    drivers: list[AnomalyDriver] = []


class SharedSplit(_Model):
    """One shared cost split across (environment, owner) targets (FOCUS Allocated* rows)."""

    method_id: str = Field(description="AllocatedMethodId, e.g. contribux-costs/proportional-cost")
    rule_id: str
    service: str
    cost_usd: Money
    parts: dict[str, Money] = Field(default={}, description="AllocatedResourceId → cost")


class PreviewCost(_Model):
    """What one pull request's preview environment cost (where a provider identifies it)."""

    pull_request: str
    provider: str
    resources: list[str] = []
    cost_usd: Money


class Allocation(_Model):
    """The month's cost by environment and by owner; each adds up to ``total_usd`` to the cent
    (parts rounded by largest remainder). ``unallocated`` is always shown."""

    total_usd: Money
    by_environment: dict[str, Money]
    by_owner: dict[str, Money]
    by_provider: dict[str, Money] = {}
    by_provider_environment: dict[str, dict[str, Money]] = Field(
        default={}, description="per provider, its environments adding up to by_provider"
    )
    shared: list[SharedSplit] = []
    preview_by_pull_request: list[PreviewCost] = []
    preview_by_provider: dict[str, Money] = Field(
        default={}, description="the preview environment's month per provider"
    )


class UnitCost(_Model):
    """Cost per unit of business volume (a daily active user, an AI analysis run...)."""

    metric: str
    name: str
    source: str = Field(description="postgres | csv | demo")
    month_volume: float = Field(description="sum of daily volumes, or their mean for a gauge")
    cost_usd: Money
    cost_per_unit_usd: Money | None
    by_provider: dict[str, Money | None] = {}
    by_environment: dict[str, Money | None] = {}
    daily: dict[date, Money | None] = Field(default={}, description="day cost / day volume")
    daily_volume: dict[date, float] = {}
    trend_pct_per_week: float | None = Field(
        default=None, description="least-squares slope of the daily cost per unit, % of mean"
    )


class BudgetDay(_Model):
    day: date
    actual_cumulative_usd: Money | None = None
    forecast_cumulative_usd: Money | None = None
    remaining_usd: Money


class BudgetView(_Model):
    """A budget against the month's actuals and forecast: burn-down and run-out day."""

    name: str
    scope: str = Field(description="provider | environment | owner | total | providers")
    match: list[str]
    budget_usd: Money
    actual_usd: Money
    projected_usd: Money
    used_share: float
    projected_share: float
    run_out_date: date | None = Field(description="the day the budget runs out at current pace")
    levels_reached: list[float] = []
    burn_down: list[BudgetDay] = []


class AnalysisResult(_Model):
    """Everything :meth:`CostOptimizer.analyze_usage` returns for one month."""

    month: str
    demo: bool
    current_usage: dict[str, ProviderUsage]
    projected_monthly_cost: Projection
    recommendations: list[Recommendation] = []
    cache_findings: list[CacheFinding] = []
    alerts: list[Alert] = []
    anomalies: list[Anomaly] = []
    time_to_limit: list[TimeToLimit] = []
    data_quality: list[str] = []
    allocation: Allocation | None = None
    unit_costs: list[UnitCost] = []
    budgets: list[BudgetView] = []
    tracked_recommendations: list[TrackedRecommendation] = []
    # Added by issue 12: the month's state and the one next-month forecast.
    month_state: str | None = None
    next_month_forecast: NextMonthForecast | None = None

    @property
    def total_savings_usd(self) -> Decimal:
        """Sum of the positive estimates (the ledger guarantees no dollar counts twice)."""
        values = (r.estimated_monthly_savings_usd for r in self.recommendations)
        return sum((v for v in values if v > 0), Decimal(0))

    @property
    def total_added_cost_usd(self) -> Decimal:
        """Sum of the scale-ups' added monthly cost (a positive number)."""
        values = (r.estimated_monthly_savings_usd for r in self.recommendations)
        return -sum((v for v in values if v < 0), Decimal(0))


def recommendation_id(rule_id: str, provider: str, subject: str) -> str:
    """Stable id: the same rule on the same subject has the same id in every month and run."""
    digest = hashlib.sha256(f"{rule_id}\x1f{provider}\x1f{subject}".encode()).hexdigest()
    return f"rec_{digest[:12]}"


def severity_rank(severity: str) -> int:
    """Order of severities (info lowest); raises ValueError on an unknown name."""
    return SEVERITIES.index(severity)
