"""Demo OpenAI organization Usage and Costs APIs (real envelope, buckets, paging, group_by)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.openai_parts import (
    Parts,
    add_parts,
    cost_lines,
    parts,
    result_fields,
    slices,
)

if TYPE_CHECKING:
    from contribux_costs.demo.context import DemoContext

PROJECTS = {"proj_contribux_prod": "contribux-prod", "proj_contribux_dev": "contribux-dev"}


@dataclass(frozen=True)
class Workload:
    """A project's daily traffic on one model at the epoch, before growth and seasonality."""

    project_id: str
    model: str
    endpoint: str
    requests: int
    input_per_request: int
    output_per_request: int
    cached_share: float
    batch_share: float = 0.0  # of the traffic sent through the Batch API
    priority_share: float = 0.0  # of the rest, on the priority service tier
    image_share: float = 0.0  # of the uncached input that is image tokens
    write_share: float = 0.0  # of the uncached input written to the prompt cache
    start: date | None = None  # the model's first day (its first snapshot)


# gpt-4o runs repository analysis (long prompts: > $0.05 per request); gpt-4o-mini runs the
# opportunity matching; embeddings feed the vector search. Dev traffic is a small slice.
WORKLOADS = (
    Workload("proj_contribux_prod", "gpt-4o-2024-08-06", "completions", 260, 15000, 2000, 0.10),
    Workload("proj_contribux_prod", "gpt-4o-mini-2024-07-18", "completions", 9000, 1800, 300, 0.35),
    Workload("proj_contribux_prod", "text-embedding-3-small", "embeddings", 40000, 600, 0, 0.0),
    Workload("proj_contribux_dev", "gpt-4o-2024-08-06", "completions", 25, 12000, 1500, 0.05),
    Workload("proj_contribux_dev", "gpt-4o-mini-2024-07-18", "completions", 1200, 1600, 280, 0.20,
             batch_share=0.6),  # the evaluation runs go through the Batch API
    Workload("proj_contribux_dev", "text-embedding-3-small", "embeddings", 5000, 600, 0, 0.0),
    # From its launch: gpt-5 drafts the repository summaries (screenshots as image input, a long
    # cached system prompt, 20% of calls on the priority tier).
    Workload("proj_contribux_prod", "gpt-5-2025-08-07", "completions", 300, 6000, 900, 0.40,
             priority_share=0.2, image_share=0.10, write_share=0.05, start=date(2025, 8, 7)),
)  # fmt: skip
SPIKE_FACTOR = 6.0  # the runaway job multiplies prod gpt-4o traffic on the spike day
# USD per 1M tokens (input, cached input, output) used to bill the demo's Costs API.
DEMO_PRICES = {
    "gpt-4o-2024-08-06": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini-2024-07-18": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "text-embedding-3-small": (Decimal("0.02"), Decimal("0.02"), Decimal("0")),
    "gpt-5-2025-08-07": (Decimal("1.25"), Decimal("0.125"), Decimal("10.00")),
}
# The priority tier's own prices (openai.com/api-priority-processing).
PRIORITY_PRICES = {"gpt-5-2025-08-07": (Decimal("2.50"), Decimal("0.25"), Decimal("20.00"))}
API_KEYS = {"proj_contribux_prod": "key_contribux_prod", "proj_contribux_dev": "key_contribux_dev"}
# Web search: 350 calls a day, served by /organization/usage/web_search_calls and billed at
# $10 per 1K calls, so reconciliation explains the line. The planted variance: a file-search
# line billed daily with no file-search usage behind it.
WEB_SEARCH_LINE_ITEM = "web search tool calls"
WEB_SEARCH_DAILY_CALLS = 350
WEB_SEARCH_PRICE_PER_CALL = Decimal("0.01")
UNEXPLAINED_LINE_ITEM = "assistants api | file search"
UNEXPLAINED_DAILY = Decimal("1.25")
MAX_LIMIT = {"1d": 31, "1h": 168, "1m": 1440}
DEFAULT_LIMIT = {"1d": 7, "1h": 24, "1m": 60}
WIDTH_S = {"1d": 86400, "1h": 3600, "1m": 60}


@lru_cache(maxsize=65536)
def hourly(model: DemoModel, day: date, hour: int, w: Workload) -> tuple[int, int, int, int]:
    """(requests, input_tokens incl. cached, cached tokens, output_tokens) for one UTC hour."""
    if w.start is not None and day < w.start:
        return 0, 0, 0, 0
    level = model.level(day, f"openai:{w.project_id}:{w.model}")
    if (
        w.project_id == "proj_contribux_prod"
        and w.model.startswith("gpt-4o-2")
        and model.is_spike(day)
    ):
        level *= SPIKE_FACTOR
    req = round(w.requests * level * model.hour_share(hour))
    inp = req * w.input_per_request
    cached = round(inp * w.cached_share * model.noise(day, f"cache:{w.model}", 0.03))
    return req, inp, min(cached, inp), req * w.output_per_request


def _minute_part(vals: tuple[int, int, int, int], minute: int) -> tuple[int, int, int, int]:
    """One minute of an hour: requests split evenly, tokens follow the requests.

    Splitting tokens independently would put tokens in minutes with no request (which the
    result filter then drops), so 60 minute buckets would not add up to their hour.
    """
    req = vals[0]
    if req == 0:
        return 0, 0, 0, 0

    def before(m: int) -> int:  # requests in the minutes before minute m
        base, extra = divmod(req, 60)
        return base * m + min(m, extra)

    lo, hi = before(minute), before(minute + 1)
    toks = [v * hi // req - v * lo // req for v in vals[1:]]
    return hi - lo, toks[0], toks[1], toks[2]


def volume(
    model: DemoModel, start: datetime, end: datetime, w: Workload
) -> tuple[int, int, int, int]:
    """Sum of hourly volumes over [start, end); minute buckets take a share of their hour."""
    totals = [0, 0, 0, 0]
    t = start
    while t < end:
        hour_start = t.replace(minute=0, second=0, microsecond=0)
        vals = hourly(model, t.date(), t.hour, w)
        if (end - t) >= timedelta(hours=1) and t == hour_start:
            step = timedelta(hours=1)
            part = vals
        else:
            step = timedelta(minutes=1)
            minute = t.minute
            part = _minute_part(vals, minute)
        totals = [a + b for a, b in zip(totals, part, strict=True)]
        t = t + step
    return totals[0], totals[1], totals[2], totals[3]


def handle(request: httpx.Request, ctx: DemoContext) -> httpx.Response:
    path = request.url.path
    if path.endswith("/organization/costs"):
        return _page(request, ctx, costs=True)
    for kind in ("completions", "embeddings"):
        if path.endswith(f"/organization/usage/{kind}"):
            return _page(request, ctx, kind=kind)
    if path.endswith("/organization/usage/web_search_calls"):
        return _page(request, ctx, kind="web_search_calls")
    if "/organization/usage/" in path:
        return _page(request, ctx, kind="other")
    return httpx.Response(404, json={"error": {"message": f"no route {path}"}})


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": "invalid_request_error"}}
    )


def _page(
    request: httpx.Request, ctx: DemoContext, kind: str = "", costs: bool = False
) -> httpx.Response:
    q = request.url.params
    width = q.get("bucket_width", "1d")
    if width not in WIDTH_S or (costs and width != "1d"):
        return _error(400, f"invalid bucket_width {width!r}")
    try:
        start = int(q["start_time"])
        end = int(q.get("end_time") or ctx.clock.now().timestamp())
        limit = int(q.get("limit") or (7 if costs else DEFAULT_LIMIT[width]))
    except (KeyError, ValueError):
        return _error(400, "start_time is required (Unix seconds)")
    if not 1 <= limit <= (180 if costs else MAX_LIMIT[width]):
        return _error(400, f"limit {limit} out of range for bucket_width {width}")
    bounds = _buckets(start, end, WIDTH_S[width])
    try:
        offset = _decode(q.get("page"))
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        return _error(400, f"invalid page cursor {q.get('page')!r}")
    chunk = bounds[offset : offset + limit]
    group_by = q.get_list("group_by")
    now = ctx.clock.now()
    data = [
        {
            "object": "bucket",
            "start_time": s,
            "end_time": e,
            "results": _cost_results(ctx.model, s, e, group_by, now)
            if costs
            else _usage_results(ctx.model, s, e, kind, group_by, q, now),
        }
        for s, e in chunk
    ]
    more = offset + limit < len(bounds)
    return httpx.Response(
        200,
        json={
            "object": "page",
            "data": data,
            "has_more": more,
            "next_page": _encode(offset + limit) if more else None,
        },
    )


def _buckets(start: int, end: int, width: int) -> list[tuple[int, int]]:
    """Aligned buckets; the first starts at ``start`` when that is not aligned (as the API does)."""
    out = []
    s = start
    while s < end:
        e = min((s // width + 1) * width, end)
        out.append((s, e))
        s = e
    return out


def _encode(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    raw = cursor.removeprefix("page_")
    return int(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()[1:])


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


Key = tuple[str | None, str | None, bool | None, str | None, str | None]


def _usage_results(
    model: DemoModel,
    s: int,
    e: int,
    kind: str,
    group_by: list[str],
    q: httpx.QueryParams,
    now: datetime,
) -> list[dict[str, Any]]:
    if _dt(s) >= now:
        return []
    end = min(_dt(e), now.replace(second=0, microsecond=0))
    if kind == "web_search_calls":
        return _web_search_results(s, int(end.timestamp()), group_by)
    groups: dict[Key, Parts] = {}
    models, projects = set(q.get_list("models")), set(q.get_list("project_ids"))
    for w in WORKLOADS:
        if w.endpoint != kind or (models and w.model not in models):
            continue
        if projects and w.project_id not in projects:
            continue
        vals = volume(model, _dt(s), end, w) if end > _dt(s) else (0, 0, 0, 0)
        for sl in slices(w.batch_share, w.priority_share):
            key: Key = (
                w.project_id if "project_id" in group_by else None,
                w.model if "model" in group_by else None,
                sl.batch if "batch" in group_by else None,
                sl.tier if "service_tier" in group_by else None,
                API_KEYS[w.project_id] if "api_key_id" in group_by else None,
            )
            got = parts(vals, sl.share, w.image_share, w.write_share)
            groups[key] = add_parts(groups[key], got) if key in groups else got
    return [_result(kind, k, v) for k, v in groups.items() if v.requests > 0]


def _web_search_results(s: int, e: int, group_by: list[str]) -> list[dict[str, Any]]:
    # Calls accrue evenly over the day: a bucket holds its share of the daily count.
    day = s // 86400 * 86400
    calls = (
        WEB_SEARCH_DAILY_CALLS * (e - day) // 86400 - WEB_SEARCH_DAILY_CALLS * (s - day) // 86400
    )
    if calls <= 0:
        return []
    return [
        {
            "object": "organization.usage.web_search_calls.result",
            "num_requests": calls,
            "num_model_requests": calls,
            "project_id": "proj_contribux_prod" if "project_id" in group_by else None,
            "model": "gpt-4o-2024-08-06" if "model" in group_by else None,
            "user_id": None,
            "api_key_id": None,
        }
    ]


def _result(kind: str, key: Key, p: Parts) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project_id": key[0],
        "user_id": None,
        "api_key_id": key[4],
        "model": key[1],
    }
    if kind == "embeddings":
        return {
            "object": "organization.usage.embeddings.result",
            "input_tokens": p.input_total,
            "num_model_requests": p.requests,
            **base,
        }
    # The 2026 shape (openapi.yaml UsageCompletionsResult): every token part, batch, tier.
    return {
        "object": "organization.usage.completions.result",
        **result_fields(p),
        **base,
        "batch": key[2],
        "service_tier": key[3],
    }


def _cost_results(
    model: DemoModel, s: int, e: int, group_by: list[str], now: datetime
) -> list[dict[str, Any]]:
    # The Costs API fills a day only after that UTC day has ended (usage-derived estimates cover
    # the gap), even when the request's end_time cuts the bucket at "now".
    if _dt((s // 86400 + 1) * 86400) > now:
        return []
    acc: dict[_CostKey, list[Decimal]] = {}
    for w in WORKLOADS:
        vals = volume(model, _dt(s), _dt(e), w)
        for sl in slices(w.batch_share, w.priority_share):
            prices = (PRIORITY_PRICES if sl.tier == "priority" else DEMO_PRICES)[w.model]
            p = parts(vals, sl.share, w.image_share, w.write_share)
            lines = cost_lines(w.model, p, prices, sl.batch, w.endpoint == "embeddings")
            for item, micro, tokens in lines:
                cost = micro / Decimal(1_000_000)
                _add(acc, group_by, (item, w.project_id, "tokens"), cost, tokens)
    web = WEB_SEARCH_PRICE_PER_CALL * WEB_SEARCH_DAILY_CALLS
    prod = "proj_contribux_prod"
    _add(acc, group_by, (WEB_SEARCH_LINE_ITEM, prod, "calls"), web, WEB_SEARCH_DAILY_CALLS)
    _add(acc, group_by, (UNEXPLAINED_LINE_ITEM, prod, "calls"), UNEXPLAINED_DAILY, 500)
    return [_cost_result(k, v) for k, v in acc.items()]


# (line item, project, api key, quantity unit): None where the request did not group by it.
_CostKey = tuple[str | None, str | None, str | None, str | None]


def _cost_result(k: _CostKey, v: list[Decimal]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": "organization.costs.result",
        "amount": {"value": f"{v[0]:.20f}", "currency": "usd"},
        "line_item": k[0],
        "project_id": k[1],
        "api_key_id": k[2],
    }
    if k[3] is not None:  # a quantity is only meaningful per line item
        out |= {"quantity": int(v[1]), "quantity_unit": k[3]}
    return out


def _add(
    acc: dict[_CostKey, list[Decimal]],
    group_by: list[str],
    line: tuple[str, str, str],
    value: Decimal,
    quantity: int,
) -> None:
    item, project, unit = line
    by_item = "line_item" in group_by
    key = (
        item if by_item else None,
        project if "project_id" in group_by else None,
        API_KEYS[project] if "api_key_id" in group_by else None,
        unit if by_item else None,
    )
    sums = acc.setdefault(key, [Decimal(0), Decimal(0)])
    sums[0] += value
    sums[1] += quantity
