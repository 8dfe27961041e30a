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
    cost_ahead_usd: Money | None = Field(
        default=None,
        description="a cost this rule foresees for the month (e.g. a plan allowance overage) "
        "that no measured change removes: listed as a cost ahead, never as a saving",
    )


class TtlWhatIf(_Model):
    """Predicted hit ratio for a TTL from the observed request rate per key."""

    ttl_s: float
    predicted_hit_ratio: float = Field(ge=0, le=1)


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
