"""Demo Vercel billing API: ``GET /v1/billing/charges`` as FOCUS JSON lines for a Pro team.

The team (3 members on Pro) runs two projects: ``contribux`` (production and per-PR preview
deployments) and the static ``contribux-docs``. Every LA billing day has rows starting at LA
midnight (08:00Z in winter, 07:00Z in summer) per service, deployment and region, priced with the
Pro list prices of docs/provider-apis.md. Planted shapes the analysis should find:

- monthly allowances (1 TB Fast Data Transfer, 10M Edge Requests) shared team-wide: rows bill $0
  until the month's cumulative use passes the allowance, mid-month, then list price;
- function invocations (and the Fluid compute that serves them) grow faster than traffic;
- team-level rows without project tags: the seats ``Purchase`` on the 1st (3 × $20) and daily
  negative ``Credit`` rows drawing down the included $20-per-seat usage credit until it is spent;
- today's row is partial (scaled by the share of the LA day elapsed on the demo clock).

Service names used: Function Invocations, Fluid Active CPU, Fluid Provisioned Memory,
Fast Data Transfer, Fast Origin Transfer, Edge Requests; tags ProjectId, ProjectName, Environment.
Amounts keep at most 6 decimals; a window always gives the same bytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

import httpx

from contribux_costs.demo.model import EPOCH, DemoModel
from contribux_costs.periods import la_billing_date, la_midnight

if TYPE_CHECKING:
    from contribux_costs.demo.context import DemoContext

MAX_SPAN = timedelta(days=366)  # "at most 1 year per request"
Q6 = Decimal("0.000001")
SEATS = 3
SEAT_PRICE = Decimal(20)  # per member and month, including $20 of usage credit
REGION_NAMES = {"iad1": "Washington, D.C., USA", "sfo1": "San Francisco, USA"}


@dataclass(frozen=True)
class Service:
    """A metered Vercel service: Pro list price, monthly allowance, epoch volume, regions."""

    name: str
    category: str
    unit: str
    pricing_unit: str
    per: Decimal  # consumed units per pricing unit
    price: Decimal  # USD per pricing unit
    included: Decimal  # team-wide monthly allowance, in consumed units
    daily: float  # team-wide volume per day at the demo epoch
    regions: tuple[tuple[str, float], ...]
    integer: bool
    extra_growth: float = 0.0  # monthly growth on top of the platform's
    compute: bool = True


M = Decimal(1_000_000)
SERVICES = (
    Service("Function Invocations", "Compute", "Invocations", "1M Invocations", M,
            Decimal("0.60"), Decimal(0), 1_200_000, (("iad1", 0.8), ("sfo1", 0.2)), True, 0.04),
    Service("Fluid Active CPU", "Compute", "CPU-Hours", "CPU-Hours", Decimal(1),
            Decimal("0.128"), Decimal(0), 12.0, (("iad1", 1.0),), False, 0.03),
    Service("Fluid Provisioned Memory", "Compute", "GB-Hours", "GB-Hours", Decimal(1),
            Decimal("0.0106"), Decimal(0), 150.0, (("iad1", 1.0),), False, 0.03),
    Service("Fast Data Transfer", "Networking", "GB", "GB", Decimal(1), Decimal("0.15"),
            Decimal(1000), 30.0, (("iad1", 0.6), ("sfo1", 0.4)), False, compute=False),
    Service("Fast Origin Transfer", "Networking", "GB", "GB", Decimal(1), Decimal("0.06"),
            Decimal(0), 4.0, (("iad1", 1.0),), False, compute=False),
    Service("Edge Requests", "Networking", "Requests", "1M Requests", M, Decimal("2.00"),
            Decimal(10_000_000), 300_000, (("iad1", 0.6), ("sfo1", 0.4)), True, compute=False),
)  # fmt: skip


@dataclass(frozen=True)
class Deployment:
    project_id: str
    project_name: str
    environment: str
    compute_share: float
    network_share: float


# The docs site is static: little compute, a large share of the traffic.
DEPLOYMENTS = (
    Deployment("prj_contribux", "contribux", "production", 0.84, 0.70),
    Deployment("prj_contribux", "contribux", "preview", 0.14, 0.06),
    Deployment("prj_contribux_docs", "contribux-docs", "production", 0.02, 0.24),
)


@dataclass(frozen=True)
class MonthState:
    """What a billing month has used before a day: per-service quantity and credit left."""

    used: tuple[Decimal, ...]
    credit_left: Decimal


def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    """Serve ``/v1/billing/charges``: the LA-day rows whose ``ChargePeriodStart`` is in range."""
    if request.url.path.rstrip("/") == "/v1/billing/contract-commitments":
        body = "".join(line + "\n" for line in commitment_lines(ctx.clock.now()))
        return httpx.Response(200, headers={"Content-Type": "application/jsonl"}, content=body)
    if request.url.path.rstrip("/") != "/v1/billing/charges":
        return _error(404, "not_found", f"no route {request.url.path}")
    try:
        start, end = _instant(request, "from"), _instant(request, "to")
    except ValueError as exc:
        return _error(400, "bad_request", str(exc))
    if end <= start:
        return _error(400, "bad_request", "`to` must be after `from`")
    if end - start > MAX_SPAN:
        return _error(400, "bad_request", "the range between `from` and `to` is at most 1 year")
    lines = charge_lines(ctx.model, start, end, ctx.clock.now())
    gzip = "gzip" in request.headers.get("accept-encoding", "")
    headers = {"Content-Type": "application/jsonl"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    return httpx.Response(200, headers=headers, content=_body(lines, gzip))


def charge_lines(model: DemoModel, start: datetime, end: datetime, now: datetime) -> Iterator[str]:
    """Every line for LA days starting in ``[start, end)`` and before ``now``."""
    day = la_billing_date(start)
    while (day_start := la_midnight(day)) < min(end, now):
        if day_start >= start:
            day_end = la_midnight(day + timedelta(days=1))
            if now >= day_end:
                yield from full_day(model, day)[0]
            else:  # today: the share of the day elapsed so far
                share = Decimal((now - day_start) / (day_end - day_start)).quantize(
                    Decimal("0.0001")
                )
                yield from build_day(model, day, state_before(model, day), share)[0]
        day += timedelta(days=1)


@lru_cache(maxsize=4096)
def full_day(model: DemoModel, day: date) -> tuple[tuple[str, ...], MonthState]:
    """A completed LA day's lines and the month's state after it."""
    return build_day(model, day, state_before(model, day), Decimal(1))


def state_before(model: DemoModel, day: date) -> MonthState:
    """Allowances and the usage credit restart on the 1st of each LA billing month."""
    if day.day == 1:
        return MonthState(tuple(Decimal(0) for _ in SERVICES), SEATS * SEAT_PRICE)
    return full_day(model, day - timedelta(days=1))[1]


def build_day(
    model: DemoModel, day: date, state: MonthState, share: Decimal
) -> tuple[tuple[str, ...], MonthState]:
    """One LA day's lines: usage per service/deployment/region, seats on the 1st, the credit."""
    start, end = la_midnight(day), la_midnight(day + timedelta(days=1))
    lines: list[str] = []
    used = list(state.used)
    billed = Decimal(0)
    for i, svc in enumerate(SERVICES):
        parts = _quantities(model, day, svc, share)
        total = sum((q for _, _, q in parts), Decimal(0))
        over_before = max(Decimal(0), used[i] - svc.included)
        over_after = max(Decimal(0), used[i] + total - svc.included)
        used[i] += total
        for dep, region, qty in parts:
            billable = (over_after - over_before) * qty / total if total else Decimal(0)
            cost = (billable / svc.per * svc.price).quantize(Q6)
            billed += cost
            lines.append(_usage_line(svc, dep, region, qty, cost, start, end))
    if day.day == 1:
        lines.append(_seats_line(start, end))
    credit = min(state.credit_left, billed)
    if credit > 0:
        lines.append(_credit_line(credit, start, end))
    return tuple(lines), MonthState(tuple(used), state.credit_left - credit)


def _quantities(
    model: DemoModel, day: date, svc: Service, share: Decimal
) -> list[tuple[Deployment, str, Decimal]]:
    months = (day - EPOCH).days / 30.44
    level = model.level(day, f"vercel:{svc.name}") * (1 + svc.extra_growth) ** months
    out = []
    for dep in DEPLOYMENTS:
        weight = dep.compute_share if svc.compute else dep.network_share
        for region, region_share in svc.regions:
            noise = model.noise(
                day, f"vercel:{svc.name}:{dep.project_id}:{dep.environment}:{region}"
            )
            raw = Decimal(svc.daily * level * weight * region_share * noise) * share
            out.append((dep, region, raw.quantize(Decimal(1) if svc.integer else Q6)))
    return out


def _usage_line(
    svc: Service, dep: Deployment, region: str, qty: Decimal, cost: Decimal,
    start: datetime, end: datetime,
) -> str:  # fmt: skip
    return _encode({
        "ServiceName": svc.name, "ServiceCategory": svc.category, "ServiceProviderName": "Vercel",
        "ChargeCategory": "Usage", "ChargePeriodStart": _iso(start), "ChargePeriodEnd": _iso(end),
        "ConsumedQuantity": qty, "ConsumedUnit": svc.unit,
        "PricingQuantity": (qty / svc.per).quantize(Q6), "PricingUnit": svc.pricing_unit,
        "PricingCategory": "Standard", "PricingCurrency": "USD",
        "BilledCost": cost, "EffectiveCost": cost, "BillingCurrency": "USD",
        "RegionId": region, "RegionName": REGION_NAMES[region],
        "Tags": {"ProjectId": dep.project_id, "ProjectName": dep.project_name,
                 "Environment": dep.environment},
    })  # fmt: skip


def commitment_lines(now: datetime) -> Iterator[str]:
    """The Pro plan's monthly spend commitment (seats x $20, the usage credit), one term per LA
    month from the demo's epoch to now, in a yearly contract (Vercel's documented Pro shape)."""
    month = EPOCH.replace(day=1)
    while la_midnight(month) < now:
        nxt = (month + timedelta(days=32)).replace(day=1)
        year = month.replace(month=1)
        yield _encode({
            "ContractId": f"sub_demo_pro_{year.year}",
            "ContractCommitmentId": f"cc_demo_pro_{month:%Y_%m}",
            "ContractCommitmentCategory": "Spend", "ContractCommitmentType": "Pro",
            "ContractCommitmentUnit": "USD", "ContractCommitmentCost": SEATS * SEAT_PRICE,
            "ContractCommitmentDescription": f"Pro plan: {SEATS} seats x $20 monthly usage credit",
            "ContractCommitmentPeriodStart": _iso(la_midnight(month)),
            "ContractCommitmentPeriodEnd": _iso(la_midnight(nxt)),
            "ContractPeriodStart": _iso(la_midnight(year)),
            "ContractPeriodEnd": _iso(la_midnight(year.replace(year=year.year + 1))),
            "BillingCurrency": "USD",
        })  # fmt: skip
        month = nxt


def _seats_line(start: datetime, end: datetime) -> str:
    cost = SEATS * SEAT_PRICE
    return _encode({
        "ServiceName": "Pro Seats", "ServiceCategory": "Other", "ServiceProviderName": "Vercel",
        "ChargeCategory": "Purchase", "ChargeDescription": "Pro plan, $20 per member per month",
        "ChargePeriodStart": _iso(start), "ChargePeriodEnd": _iso(end),
        "ConsumedQuantity": Decimal(SEATS), "ConsumedUnit": "Seats",
        "PricingQuantity": Decimal(SEATS), "PricingUnit": "Seats", "PricingCategory": "Standard",
        "PricingCurrency": "USD", "BilledCost": cost, "EffectiveCost": cost,
        "BillingCurrency": "USD", "Tags": {},
    })  # fmt: skip


def _credit_line(amount: Decimal, start: datetime, end: datetime) -> str:
    return _encode({
        "ServiceName": "Pro Usage Credit", "ServiceCategory": "Other",
        "ServiceProviderName": "Vercel", "ChargeCategory": "Credit",
        "ChargeDescription": "Included usage credit ($20 per seat)",
        "ChargePeriodStart": _iso(start), "ChargePeriodEnd": _iso(end),
        "PricingCategory": "Other", "PricingCurrency": "USD",
        "BilledCost": -amount, "EffectiveCost": -amount, "BillingCurrency": "USD",
    })  # fmt: skip


def _encode(obj: dict[str, object]) -> str:
    """Compact JSON with Decimals written as exact JSON numbers (json.dumps cannot)."""
    parts = []
    for key, value in obj.items():
        if isinstance(value, Decimal):
            text = format(value.normalize(), "f")
        elif isinstance(value, dict):
            text = _encode(value)
        else:
            text = json.dumps(value)
        parts.append(f"{json.dumps(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _body(lines: Iterator[str], gzip: bool) -> Iterator[bytes]:
    """The body as a stream; zlib's gzip header carries no timestamp, so bytes are stable."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None
    for line in lines:
        data = (line + "\n").encode()
        out = packer.compress(data) if packer else data
        if out:
            yield out
    if packer:
        yield packer.flush()


def _instant(request: httpx.Request, name: str) -> datetime:
    value = request.url.params.get(name)
    if not value:
        raise ValueError(f"`{name}` is required (ISO 8601, e.g. 2025-01-01T08:00:00.000Z)")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"`{name}` {value!r} is not an ISO 8601 date") from None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})
