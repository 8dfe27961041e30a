"""Shared rule machinery (config, context, candidates, the savings ledger) and the month's costs.

A *rule* is a small function ``rule(ctx) -> list[Candidate]``. A candidate names the spend it
comes from (``pool`` and ``basis_usd``) and what it would save on that whole basis. The
:class:`SavingsLedger` then settles candidates in the configured ``rule_order``: a later rule on
the same pool is scaled to what earlier rules left (``savings × remaining / basis``), so two
recommendations never claim the same dollars; a provider's claims are also capped at its cost.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import polars as pl

from contribux_costs.analysis.config_schema import check_override
from contribux_costs.errors import ConfigError, CostsError
from contribux_costs.models import Category, Evidence, Level, Recommendation, recommendation_id
from contribux_costs.periods import Month
from contribux_costs.store import Store
from contribux_costs.store.grain import ONE_GRAIN  # shared with pricing

if TYPE_CHECKING:
    from contribux_costs.pricing import PriceBook

CENT = Decimal("0.01")


class Config:
    """Analysis configuration: ``defaults.toml`` merged with an optional user TOML file."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, override: Path | None = None) -> Config:
        """Defaults, then ``override`` (tables merge key by key, lists and scalars replace)."""
        text = (resources.files("contribux_costs.analysis") / "defaults.toml").read_text("utf-8")
        data = tomllib.loads(text)
        if override is not None:
            try:
                extra = tomllib.loads(Path(override).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(
                    f"cannot read the analysis config {override}: {_one_line(exc)}. Fix the TOML "
                    "or unset CONTRIBUX_COSTS_CONFIG to use the defaults"
                ) from exc
            except UnicodeDecodeError:
                raise ConfigError(
                    f"the analysis config {override} is not UTF-8 text: save it as UTF-8"
                ) from None
            check_override(extra, data, str(override))
            data = _merge(data, extra)
        return cls(data)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def num(self, dotted: str) -> float:
        """A required number; a missing or non-numeric value is a :class:`ConfigError`."""
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"analysis config {dotted!r} must be a number, got {value!r}")
        return float(value)

    def dec(self, dotted: str) -> Decimal:
        return Decimal(str(self.num(dotted)))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Candidate:
    """A recommendation before the ledger settles its dollars."""

    rule_id: str
    provider: str
    subject: str
    category: Category
    title: str
    action: str
    savings_usd: Decimal
    basis_usd: Decimal
    pool: str
    confidence: Level
    confidence_reason: str
    effort: Level
    threshold: str
    evidence: Evidence = field(default_factory=dict)
    # Whose spend the savings come from when it is not only ``provider``'s, as weights (a cache
    # miss costs a Redis command and an embedding request): each part counts against that
    # provider's cap.
    split: dict[str, Decimal] = field(default_factory=dict)
    # A cost ahead the rule foresees (an allowance overage), reported beside a zero saving.
    cost_ahead: Decimal | None = None


@dataclass
class RuleContext:
    """What a rule may read: the store, the month, the config, the month's costs, notes."""

    store: Store
    month: Month
    cfg: Config
    as_of: date
    notes: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> date:
        return self.month.first_day

    @property
    def end(self) -> date:
        return self.month.next.first_day

    @cached_property
    def tables(self) -> set[str]:
        return set(self.store.tables())

    @cached_property
    def daily_costs(self) -> pl.DataFrame:
        return daily_costs(self)

    def usage(self, provider: str) -> bool:
        """True when the month has usage rows for ``provider`` (else a data-quality note)."""
        n = self.store.scalar(
            "SELECT count(*) FROM usage WHERE provider = ? AND billing_date >= ? "
            "AND billing_date < ?",
            [provider, self.first, self.end],
        )
        if not n:
            self.note(f"no {provider} data for the month")
        return bool(n)

    @cached_property
    def mixed_grain(self) -> set[str]:
        """The providers that stored this month at more than one granularity."""
        frame = self.store.query(
            "SELECT provider FROM usage WHERE billing_date >= ? AND billing_date < ? "
            "GROUP BY provider HAVING count(DISTINCT granularity) > 1",
            [self.first, self.end],
        )
        return {str(p) for p in frame["provider"].to_list()} if frame.height else set()

    def usage_sql(self, sql: str, provider: str | None = None) -> str:
        """``sql`` without the one-granularity window when it cannot matter (``provider`` stored
        one granularity, or every provider did when ``None``): over a month of hourly rows the
        window is the costliest step."""
        mixed = self.mixed_grain if provider is None else self.mixed_grain & {provider}
        return sql if mixed else sql.replace(ONE_GRAIN, "")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def price_day(self) -> date:
        """The day prices are looked up on: the month's last day."""
        return self.end - timedelta(days=1)

    def provider_cost(self, provider: str) -> Decimal:
        frame = self.daily_costs.filter(pl.col("provider") == provider)
        return _dec(frame["cost"].sum()) if frame.height else Decimal(0)


def daily_costs(ctx: RuleContext) -> pl.DataFrame:
    """Cost per (provider, service, billing day) for the month: ``focus_charges`` when the pricing
    step has built it, else the provider-billed ``charges`` table alone."""
    params = [ctx.first, ctx.end]
    if "focus_charges" in ctx.tables:
        frame = ctx.store.query(
            "SELECT x_provider AS provider, coalesce(ServiceName, 'other') AS service, "
            "x_billing_date AS day, sum(BilledCost) AS cost, "
            "string_agg(DISTINCT x_cost_source, '+' ORDER BY x_cost_source) AS source "
            "FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ? "
            "GROUP BY ALL ORDER BY ALL",
            params,
        )
        if frame.height:
            return frame
    return ctx.store.query(
        "SELECT provider, coalesce(ServiceName, 'other') AS service, x_billing_date AS day, "
        "sum(BilledCost) AS cost, 'billed' AS source FROM charges "
        "WHERE x_billing_date >= ? AND x_billing_date < ? GROUP BY ALL ORDER BY ALL",
        params,
    )


def _dec(value: object) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fnum(value: object) -> float:
    """A float from a polars scalar (None → 0.0)."""
    if value is None:
        return 0.0
    return float(value)  # type: ignore[arg-type]


def usd(value: object) -> Decimal:
    """A money figure rounded to cents (half-even) from a Decimal, float or int."""
    return _dec(value).quantize(CENT)


def pricebook(ctx: RuleContext) -> PriceBook | None:
    """The dated price book (with the user's price override), loaded once per analysis."""
    if "pricebook" not in ctx.cache:
        from contribux_costs.config import load_settings
        from contribux_costs.pricing import load_pricebook

        try:
            ctx.cache["pricebook"] = load_pricebook(load_settings().contribux_costs_prices)
        except CostsError as exc:
            ctx.note(f"price book unavailable ({exc}): what-ifs use the config's fallback prices")
            ctx.cache["pricebook"] = None
    book: PriceBook | None = ctx.cache["pricebook"]
    return book


def unit_price(
    ctx: RuleContext, sku: str, plan: str = "*", fallback: str | None = None
) -> Decimal | None:
    """USD per consumed unit of ``sku`` on the month's last day (price book), else the config
    value named by ``fallback`` (with a note), else None."""
    book = pricebook(ctx)
    if book is not None:
        try:
            return book.lookup(sku, ctx.price_day, plan).rate
        except CostsError:
            pass
    if fallback is None:
        return None
    ctx.note(f"no price-book entry for {sku} ({plan}): using {fallback}")
    return ctx.cfg.dec(fallback)


Rule = Callable[[RuleContext], list[Candidate]]
T = TypeVar("T")


def guarded(ctx: RuleContext, step: Callable[[RuleContext], list[T]]) -> list[T]:
    """Run one rule/finding step; a data error (store, frame, package error) becomes a
    data-quality note naming the step instead of failing the whole analysis."""
    try:
        return step(ctx)
    except (CostsError, duckdb.Error, pl.exceptions.PolarsError) as exc:
        ctx.note(f"{step.__module__.rsplit('.', 1)[-1]}.{step.__name__} skipped: {exc}")
        return []


def usage_cte(provider: str | None = None) -> str:
    """``u``: the month's usage rows (params ``$first``/``$end``), one granularity per day.
    Run it through :meth:`RuleContext.usage_sql`, which drops the window when it cannot matter."""
    who = f"AND provider = '{provider}' " if provider else ""
    return (
        f"u AS (SELECT * FROM usage WHERE billing_date >= $first AND billing_date < $end {who}"
        f"{ONE_GRAIN})"
    )


class SavingsLedger:
    """Settles candidates so no dollar is claimed twice (see the module docstring)."""

    def __init__(self, provider_caps: dict[str, Decimal]) -> None:
        self.claimed: dict[str, Decimal] = {}
        self.basis: dict[str, Decimal] = {}
        self.provider_left = dict(provider_caps)

    def settle(self, c: Candidate) -> Decimal:
        """The candidate's savings on what is left of its pool and provider (added cost as is)."""
        if c.savings_usd <= 0:
            return c.savings_usd  # a scale-up's added cost is not a claim on spend
        basis = self.basis.setdefault(c.pool, c.basis_usd)
        left = max(basis - self.claimed.get(c.pool, Decimal(0)), Decimal(0))
        scaled = c.savings_usd if basis <= 0 else c.savings_usd * left / max(c.basis_usd, left)
        scaled = max(min(scaled, left), Decimal(0))
        scaled = self._claim_providers(c, scaled)
        self.claimed[c.pool] = self.claimed.get(c.pool, Decimal(0)) + scaled
        return scaled

    def _claim_providers(self, c: Candidate, amount: Decimal) -> Decimal:
        """Take ``amount`` from the providers' caps (split by ``c.split``); return what fit."""
        weights = {p: w for p, w in (c.split or {c.provider: Decimal(1)}).items() if w > 0}
        total_w = sum(weights.values(), Decimal(0))
        got = Decimal(0)
        for provider, weight in weights.items():
            part = amount * weight / total_w if total_w > 0 else Decimal(0)
            part = min(part, self.provider_left.get(provider, part))
            if provider in self.provider_left:
                self.provider_left[provider] -= part
            got += part
        return got


def settle(
    candidates: list[Candidate], order: list[str], caps: dict[str, Decimal], min_usd: Decimal
) -> list[Recommendation]:
    """Apply the ledger in rule order; drop savings below ``min_usd`` (scale-ups are kept)."""
    rank = {rule: i for i, rule in enumerate(order)}
    ledger = SavingsLedger(caps)
    ordered = sorted(
        candidates, key=lambda c: (rank.get(c.rule_id, len(rank)), c.pool, -c.savings_usd)
    )
    out = []
    for c in ordered:
        savings = usd(ledger.settle(c))
        if c.savings_usd > 0 and savings < min_usd:
            continue  # too small once earlier rules took their share; advisory (0) ones stay
        out.append(_to_recommendation(c, savings))
    return sorted(out, key=lambda r: -abs(r.estimated_monthly_savings_usd))


def _finite(value: float | str) -> float | str:
    # JSON has no NaN/inf: such a figure is kept as text so the result still round-trips.
    return value if isinstance(value, str) or math.isfinite(value) else str(value)


def _to_recommendation(c: Candidate, savings: Decimal) -> Recommendation:
    return Recommendation(
        id=recommendation_id(c.rule_id, c.provider, c.subject),
        provider=c.provider,
        category=c.category,
        title=c.title,
        action=c.action,
        estimated_monthly_savings_usd=savings,
        basis_usd=usd(c.basis_usd),
        confidence=c.confidence,
        confidence_reason=c.confidence_reason,
        effort=c.effort,
        evidence={k: _finite(v) for k, v in c.evidence.items()},
        rule_id=c.rule_id,
        threshold=c.threshold,
        subject=c.subject,
        cost_ahead_usd=None if c.cost_ahead is None else usd(c.cost_ahead),
    )
