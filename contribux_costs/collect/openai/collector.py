"""OpenAI organization Usage API (volumes) and Costs API (money).

Usage: ``GET /organization/usage/{completions,embeddings}`` grouped by model, project and API key
(completions also by ``batch`` and ``service_tier``, so Batch and flex/priority traffic is priced at
its own rate and attributed), bucketed (1d/1h/1m) with ``limit`` counting *buckets* per page.
Costs: ``GET /organization/costs``, 1d buckets only, grouped by line item and project;
``amount.value`` arrives as a decimal string in live responses (a number in the spec), so both are
parsed into Decimal.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import polars as pl

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import get_json
from contribux_costs.collect.openai.pages import (
    Envelope,
    WidePage,
    fast_usage_page,
    is_count,
    page_envelope,
)
from contribux_costs.collect.openai.tools import TOOL_GROUP_BY, TOOL_METRICS, tool_usage_frame
from contribux_costs.collect.paginate import CursorPaginator, page_budget
from contribux_costs.errors import ConfigError, SchemaError
from contribux_costs.periods import Window
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "openai"
USAGE_ENDPOINTS = ("completions", "embeddings")
COSTS = "costs"
# Buckets per page: the API's maximum for each width (fewer requests, same data).
MAX_LIMIT = {"1d": 31, "1h": 168, "1m": 1440}
COSTS_MAX_LIMIT = 180
BUCKET_SECONDS = {"1d": 86400, "1h": 3600, "1m": 60}
DIMENSIONS = ("project_id", "model", "user_id", "api_key_id", "batch", "service_tier")
# group_by values per endpoint (openapi.yaml: completions takes project_id, user_id, api_key_id,
# model, batch, service_tier; embeddings project_id, user_id, api_key_id, model).
GROUP_BY = {
    "completions": ["model", "project_id", "api_key_id", "batch", "service_tier"],
    "embeddings": ["model", "project_id", "api_key_id"],
}
# Tokens are counted in units of tokens; requests in requests. Anything else numeric is kept too.
UNITS = {"num_model_requests": "requests"}
CURRENCY = "USD"


@dataclass
class OpenAICollector:
    """Collects usage (completions, embeddings) and costs for an organization."""

    bucket_width: str = "1d"
    limit: int | None = None
    costs_limit: int | None = None
    provider: str = PROVIDER

    def __post_init__(self) -> None:
        # The API answers 400 outside these ranges; fail before any request, naming the value.
        if self.bucket_width not in MAX_LIMIT:
            raise ConfigError(f"OpenAI bucket_width {self.bucket_width!r}: use 1d, 1h or 1m")
        top = MAX_LIMIT[self.bucket_width]
        if self.limit is not None and not 1 <= self.limit <= top:
            raise ConfigError(f"OpenAI limit {self.limit} for {self.bucket_width}: 1..{top}")
        if self.costs_limit is not None and not 1 <= self.costs_limit <= COSTS_MAX_LIMIT:
            raise ConfigError(f"OpenAI costs limit {self.costs_limit}: 1..{COSTS_MAX_LIMIT}")

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        # Start on a UTC midnight: the API would start the first bucket at an unaligned
        # start_time, and that partial bucket would sit beside (not replace) the full day stored.
        day_start = window.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        window = Window(day_start, window.end).clamp_end(ctx.now())
        return (
            [Task(f"usage/{e}", window) for e in USAGE_ENDPOINTS]
            + [Task(f"usage/{e}", window) for e in TOOL_METRICS]
            + [Task(COSTS, window)]
        )

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        if task.endpoint == COSTS:
            return self._fetch_costs(task, ctx)
        if task.endpoint.removeprefix("usage/") in TOOL_METRICS:
            return self._fetch_tool_usage(task, ctx)
        return self._fetch_usage(task, ctx)

    # -- other usage endpoints (issue 15): images, audio, vector stores, tool calls ------------
    def _fetch_tool_usage(self, task: Task, ctx: CollectContext) -> SliceWrite:
        kind = task.endpoint.split("/", 1)[1]
        params: dict[str, Any] = {
            "start_time": task.window.start_ts,
            "end_time": task.window.end_ts,
            "bucket_width": self.bucket_width,
            "limit": self.limit or MAX_LIMIT[self.bucket_width],
            "group_by": TOOL_GROUP_BY[kind],
        }
        budget = _paginator(task.endpoint, task.window, self.bucket_width, params["limit"], ctx)
        pages = self._pages(f"organization/usage/{kind}", task.endpoint, params, ctx, budget)
        results = [r for p in pages for r in _bucket_results(p[0], task.endpoint)]
        frame = tool_usage_frame(results, kind, task.endpoint, self.bucket_width)
        raw = [RawPage(p[2], p[3], p[1]) for p in pages]
        return SliceWrite(PROVIDER, task.endpoint, task.window, {"usage": frame}, raw)

    # -- usage ----------------------------------------------------------------------------
    def _fetch_usage(self, task: Task, ctx: CollectContext) -> SliceWrite:
        kind = task.endpoint.split("/", 1)[1]
        limit = self.limit or MAX_LIMIT[self.bucket_width]
        params: dict[str, Any] = {
            "start_time": task.window.start_ts,
            "end_time": task.window.end_ts,
            "bucket_width": self.bucket_width,
            "limit": limit,
            "group_by": GROUP_BY[kind],
        }
        path = f"organization/usage/{kind}"
        client = ctx.clients.client("openai")
        caller = ctx.clients.caller(PROVIDER)
        raw: list[RawPage] = []
        parsed: list[tuple[Future[WidePage], Envelope | WidePage]] = []
        paginator = _paginator(task.endpoint, task.window, self.bucket_width, limit, ctx)
        # Each page's results are parsed in a worker while the next page is asked for (its
        # cursor read ahead from the envelope): pages parse side by side instead of in turn.
        with ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="openai-parse") as pool:
            for cursor in paginator:
                sent = dict(params) if cursor is None else {**params, "page": cursor}
                page, body = caller.call(
                    task.endpoint,
                    lambda s=sent: _get_usage_body(client, path, s, task.endpoint),  # type: ignore[misc]
                )
                raw.append(RawPage(sent, ctx.now(), body))
                parsed.append((_parse_later(pool, page, body, task.endpoint), page))
                paginator.advance(page.next_page if page.has_more else None)
            wides = [_settled(f, page, task.endpoint).wide for f, page in parsed]
        frame = _usage_frame_in_slices(_concat(wides), kind, task.endpoint, self.bucket_width)
        return SliceWrite(PROVIDER, task.endpoint, task.window, {"usage": frame}, raw)

    # -- costs ----------------------------------------------------------------------------
    def _fetch_costs(self, task: Task, ctx: CollectContext) -> SliceWrite:
        params: dict[str, Any] = {
            "start_time": task.window.start_ts,
            "end_time": task.window.end_ts,
            "bucket_width": "1d",
            "limit": self.costs_limit or COSTS_MAX_LIMIT,
            # api_key_id: attribution by API key (the Costs API's newer group_by value).
            "group_by": ["line_item", "project_id", "api_key_id"],
        }
        budget = _paginator(COSTS, task.window, "1d", params["limit"], ctx)
        pages = self._pages("organization/costs", COSTS, params, ctx, budget)
        results = [r for p in pages for r in _bucket_results(p[0], COSTS)]
        frame = costs_frame(results, ctx.settings.billing_currency)
        raw = [RawPage(p[2], p[3], p[1]) for p in pages]
        return SliceWrite(PROVIDER, COSTS, task.window, {"charges": frame}, raw)

    def _pages(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any],
        ctx: CollectContext,
        paginator: CursorPaginator,
    ) -> list[tuple[dict[str, Any], str, dict[str, object], datetime]]:
        """Every page as (parsed, body, params sent, fetched_at), following ``next_page``."""
        client = ctx.clients.client("openai")
        caller = ctx.clients.caller(PROVIDER)
        out = []
        for cursor in paginator:
            sent = dict(params) if cursor is None else {**params, "page": cursor}
            parsed, body = caller.call(endpoint, lambda s=sent: get_json(client, path, s))  # type: ignore[misc]
            page = validate_page(parsed, endpoint)
            out.append((page, body, sent, ctx.now()))
            paginator.advance(page.get("next_page") if page.get("has_more") else None)
        return out


def _paginator(
    endpoint: str, window: Window, width: str, limit: int, ctx: CollectContext
) -> CursorPaginator:
    """``limit`` counts buckets per page: the window needs span / width / limit pages."""
    factor = ctx.settings.page_budget_factor
    budget = page_budget(window, BUCKET_SECONDS[width], limit, factor)
    why = f"budget for {window} at {limit} {width} buckets a page × {factor:g}"
    return CursorPaginator(PROVIDER, endpoint, max_pages=budget, why=why)


def _concat(wides: list[pl.DataFrame]) -> pl.DataFrame:
    """Pages' wide frames as one (a later page may add a field or widen a type)."""
    frames = [w for w in wides if w.width]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


# Results normalized at a time: the tidy frame has ~7 rows per result, and the unpivot's
# intermediates for a whole month of minute buckets (~1 M results) doubled the fetch's peak memory.
NORMALIZE_SLICE = 131_072


def _usage_frame_in_slices(
    wide: pl.DataFrame, kind: str, endpoint: str, width: str
) -> pl.DataFrame:
    """:func:`usage_frame` of the window's wide frame, one row slice at a time (the schema, and so
    the metrics, are the whole window's: the same rows as in one go), the pieces kept as chunks."""
    if wide.height <= NORMALIZE_SLICE:
        return usage_frame(wide, kind, endpoint, width)
    pieces = [
        usage_frame(wide.slice(offset, NORMALIZE_SLICE), kind, endpoint, width)
        for offset in range(0, wide.height, NORMALIZE_SLICE)
    ]
    return pl.concat([p for p in pieces if p.width], rechunk=False)


PARSE_THREADS = 2


def _get_usage_body(
    client: httpx.Client, path: str, params: dict[str, Any], endpoint: str
) -> tuple[Envelope | WidePage, str]:
    """One attempt: GET, raise for status, and read the page's envelope (a doubtful one, or a
    body that is not JSON, gets the full parse at once: its error is raised or retried here)."""
    response = client.get(path, params=params)
    response.raise_for_status()
    body = response.text
    return page_envelope(body) or parse_usage_body(body, endpoint), body


def _parse_later(
    pool: ThreadPoolExecutor, page: Envelope | WidePage, body: str, endpoint: str
) -> Future[WidePage]:
    if isinstance(page, WidePage):
        done: Future[WidePage] = Future()
        done.set_result(page)
        return done
    return pool.submit(parse_usage_body, body, endpoint)


def _settled(parsed: Future[WidePage], followed: Envelope | WidePage, endpoint: str) -> WidePage:
    """The worker's page, checked against the envelope whose cursor was followed."""
    try:
        page = parsed.result()
    except json.JSONDecodeError as exc:  # DuckDB read it as JSON, Python does not
        raise SchemaError(PROVIDER, endpoint, f"page is not standard JSON: {exc}") from None
    if (page.has_more, page.next_page) != (followed.has_more, followed.next_page):
        raise SchemaError(PROVIDER, endpoint, "page's has_more/next_page read two ways differ")
    return page


def parse_usage_body(body: str, endpoint: str) -> WidePage:
    """A usage page's text → its wide frame: DuckDB's fast parse, else the exact validation."""
    return fast_usage_page(body) or exact_usage_page(json.loads(body), endpoint)


def exact_usage_page(parsed: object, endpoint: str) -> WidePage:
    """The reference parse: every bucket and result checked in Python, naming what is wrong."""
    page = validate_page(parsed, endpoint)
    results = _bucket_results(page, endpoint)
    more = bool(page.get("has_more"))
    return WidePage(results_frame(results, endpoint), more, page.get("next_page") if more else None)


def results_frame(results: list[dict[str, Any]], endpoint: str) -> pl.DataFrame:
    """Result dicts → one wide row each (every key of any result, types inferred from all)."""
    if not results:
        return pl.DataFrame()
    try:
        return pl.from_dicts(results, infer_schema_length=None)
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(PROVIDER, endpoint, f"results do not form a table: {exc}") from None


def validate_page(parsed: object, endpoint: str) -> dict[str, Any]:
    """Check the documented envelope; name what is wrong."""
    if not isinstance(parsed, dict) or parsed.get("object") != "page":
        raise SchemaError(PROVIDER, endpoint, 'response is not a page object ({"object":"page"})')
    data = parsed.get("data")
    if not isinstance(data, list):
        raise SchemaError(PROVIDER, endpoint, "page has no 'data' list")
    for i, bucket in enumerate(data):
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            raise SchemaError(PROVIDER, endpoint, f"bucket {i} has no 'results' list")
        if not isinstance(bucket.get("start_time"), int) or not isinstance(
            bucket.get("end_time"), int
        ):
            raise SchemaError(PROVIDER, endpoint, f"bucket {i} lacks integer start_time/end_time")
    if parsed.get("has_more") and not parsed.get("next_page"):
        raise SchemaError(PROVIDER, endpoint, "has_more is true but next_page is missing")
    return parsed


def _bucket_results(page: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    out = []
    for bucket in page["data"]:
        for r in bucket["results"]:
            if not isinstance(r, dict):
                raise SchemaError(PROVIDER, endpoint, "a bucket result is not an object")
            out.append({**r, "_start": bucket["start_time"], "_end": bucket["end_time"]})
    return out


def usage_frame(
    results: list[dict[str, Any]] | pl.DataFrame, kind: str, endpoint: str, width: str
) -> pl.DataFrame:
    """Wide results (dicts, or a frame with one row each) → tidy usage rows (one per metric),
    with the billable uncached input."""
    wide = results if isinstance(results, pl.DataFrame) else results_frame(results, endpoint)
    if wide.height == 0:
        return pl.DataFrame()
    if "input_tokens" not in wide.columns or "num_model_requests" not in wide.columns:
        raise SchemaError(PROVIDER, endpoint, "results lack input_tokens/num_model_requests")
    _check_counts_are_numbers(wide, endpoint)
    for dim in DIMENSIONS:
        if dim not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.String).alias(dim))
    if kind == "completions":
        # The text parts first: whether the API sent input_uncached_tokens tells the shape.
        wide = wide.with_columns(_text_parts(wide))
        wide = wide.with_columns(_uncached_input(wide).alias("input_uncached_tokens"))
    metrics = [
        c
        for c, t in wide.schema.items()
        if c not in DIMENSIONS and not c.startswith("_") and c != "object" and t.is_numeric()
    ]
    dims = [d for d in DIMENSIONS if d in wide.columns]
    # ~7 rows per result, and every text column repeats a handful of values: dictionary
    # (categorical) columns are built once per result, before the unpivot, so the long frame
    # holds codes, not copied strings (a 7M-row slice: ~0.5 GB instead of ~1.5 GB), and DuckDB
    # receives Arrow dictionaries.
    text = ("project_id", "model", "dimensions")
    return (
        wide.with_columns(
            pl.struct([pl.col(d).cast(pl.String) for d in dims])
            .struct.json_encode()
            .alias("dimensions")
        )
        .with_columns(pl.col(c).cast(pl.String).cast(pl.Categorical) for c in text)
        .unpivot(
            on=metrics,
            index=["_start", "_end", "project_id", "model", "dimensions"],
            variable_name="metric",
            value_name="value",
        )
        .filter(pl.col("value").is_not_null())
        .with_columns(pl.col("metric").cast(pl.Categorical))
        .select(
            _category(PROVIDER).alias("provider"),
            _category(endpoint).alias("endpoint"),
            _category(kind).alias("service"),
            pl.col("project_id").alias("resource_id"),
            pl.col("model").alias("resource_name"),
            pl.col("metric"),
            pl.col("metric")
            .replace_strict(UNITS, default="tokens", return_dtype=pl.Categorical)
            .alias("unit"),
            _ts("_start").alias("period_start"),
            _ts("_end").alias("period_end"),
            _category(width).alias("granularity"),
            pl.col("value").cast(pl.Float64),
            pl.col("dimensions"),
            _ts("_start").dt.date().alias("billing_date"),
        )
    )


def _category(value: str) -> pl.Expr:
    return pl.lit(value).cast(pl.Categorical)


def _check_counts_are_numbers(wide: pl.DataFrame, endpoint: str) -> None:
    # A count that arrives as text would silently drop out of the numeric metrics.
    for col, dtype in wide.schema.items():
        if is_count(col) and not (dtype.is_numeric() or dtype == pl.Null):
            raise SchemaError(PROVIDER, endpoint, f"result field {col!r} is {dtype}, not a number")


def _uncached_input(wide: pl.DataFrame) -> pl.Expr:
    """Billable uncached input: the 2026 field when present, else input − cached (2025 shape)."""
    derived = pl.col("input_tokens") - pl.col("input_cached_tokens").fill_null(0)
    if "input_cached_tokens" not in wide.columns:
        derived = pl.col("input_tokens")
    if "input_uncached_tokens" in wide.columns:
        return pl.coalesce(pl.col("input_uncached_tokens"), derived)
    return derived


def _col(wide: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name).fill_null(0) if name in wide.columns else pl.lit(0)


def _text_parts(wide: pl.DataFrame) -> list[pl.Expr]:
    """The text parts of input and output (priced at the text rates), per result.

    2026 shape (openapi.yaml UsageCompletionsResult, ``input_uncached_tokens`` given): the API
    sends ``input_text_tokens`` (uncached text), ``input_cached_text_tokens`` and
    ``output_text_tokens``; when it leaves one out, it is the aggregate minus its audio and image
    parts. 2025 shape (no ``input_uncached_tokens``): ``input_tokens`` was text input including
    cached, ``input_cached_tokens`` cached text, ``output_tokens`` text output.
    """
    given = (
        pl.col("input_uncached_tokens").is_not_null()
        if "input_uncached_tokens" in wide.columns
        else pl.lit(False)
    )
    derived = {
        "input_text_tokens": pl.when(given)
        .then(_col(wide, "input_uncached_tokens") - _col(wide, "input_audio_tokens")
              - _col(wide, "input_image_tokens"))
        .otherwise(_col(wide, "input_tokens") - _col(wide, "input_cached_tokens")),
        "input_cached_text_tokens": pl.when(given)
        .then(_col(wide, "input_cached_tokens") - _col(wide, "input_cached_audio_tokens")
              - _col(wide, "input_cached_image_tokens"))
        .otherwise(_col(wide, "input_cached_tokens")),
        "output_text_tokens": pl.when(given)
        .then(_col(wide, "output_tokens") - _col(wide, "output_audio_tokens")
              - _col(wide, "output_image_tokens"))
        .otherwise(_col(wide, "output_tokens")),
    }  # fmt: skip
    return [
        (pl.coalesce(pl.col(name), expr) if name in wide.columns else expr)
        .cast(pl.Int64)
        .alias(name)
        for name, expr in derived.items()
    ]


def _ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.replace_time_zone("UTC")


def parse_amount(value: object, endpoint: str = COSTS) -> Decimal:
    """Decimal from a JSON string or number (never through float arithmetic)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SchemaError(PROVIDER, endpoint, f"amount.value {value!r} is not a number or string")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise SchemaError(PROVIDER, endpoint, f"amount.value {value!r} is not a decimal") from None
    if not out.is_finite():
        raise SchemaError(PROVIDER, endpoint, f"amount.value {value!r} is not finite")
    return out


def costs_frame(results: list[dict[str, Any]], currency: str = CURRENCY) -> pl.DataFrame:
    """Costs results → FOCUS-named charge rows billed by OpenAI (each checked for plausibility)."""
    rows = [_cost_row(r, currency, i + 1) for i, r in enumerate(results)]
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows, schema_overrides=_COST_SCHEMA)


_COST_SCHEMA = {
    "BilledCost": pl.Decimal(38, 12),
    "ConsumedQuantity": pl.Decimal(38, 12),
    "ConsumedUnit": pl.String(),
    "EffectiveCost": pl.Decimal(38, 12),
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "ChargePeriodEnd": pl.Datetime("us", "UTC"),
}


def _cost_row(r: dict[str, Any], expected: str = CURRENCY, number: int = 1) -> dict[str, Any]:
    amount = r.get("amount")
    if not isinstance(amount, dict) or "value" not in amount:
        raise SchemaError(PROVIDER, COSTS, "a costs result has no amount.value")
    value = parse_amount(amount["value"])
    currency = str(amount.get("currency") or "usd").upper()
    start = datetime.fromtimestamp(r["_start"], UTC)
    line_item = r.get("line_item")
    _plausible(value, currency, expected, f"result {number} ({start:%Y-%m-%d}, {line_item!r})")
    project = r.get("project_id")
    return {
        "provider": PROVIDER,
        "endpoint": COSTS,
        "BilledCost": value,
        "EffectiveCost": value,
        "BillingCurrency": currency,
        "ChargePeriodStart": start,
        "ChargePeriodEnd": datetime.fromtimestamp(r["_end"], UTC),
        "ChargeCategory": "Usage",
        "ChargeDescription": line_item,
        "ServiceName": "OpenAI API",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceProviderName": "OpenAI",
        "SkuId": line_item,
        **_quantity(r),
        "ResourceId": project,
        "Tags": _cost_tags(r),
        "x_billing_date": start.date(),
        "x_project_id": project,
        "x_line_item": line_item,
    }


def _quantity(r: dict[str, Any]) -> dict[str, Any]:
    """The line item's billed quantity and unit, where the Costs API reports them (else null)."""
    qty, unit = r.get("quantity"), r.get("quantity_unit")
    if qty is None:
        return {"ConsumedQuantity": None, "ConsumedUnit": None}
    value = parse_amount(qty)
    if value < 0 or not isinstance(unit, str) or not unit.strip():
        raise SchemaError(PROVIDER, COSTS, f"quantity {qty!r} {unit!r} is not a count with a unit")
    return {"ConsumedQuantity": value, "ConsumedUnit": unit}


def _cost_tags(r: dict[str, Any]) -> str | None:
    """project_id and api_key_id (attribution by key) where the Costs API gives them."""
    keys = ("project_id", "api_key_id")
    tags = {k: r[k] for k in keys if r.get(k) is not None}
    return json.dumps(tags) if tags else None


def _plausible(value: Decimal, currency: str, expected: str, row: str) -> None:
    """The Costs API documents no credit or refund line items (``CostsResult`` is amount,
    line_item, project_id: openai/openai-openapi), so a negative amount is never plausible, and
    an amount in another currency would be added into the wrong totals."""
    if currency != expected:
        raise SchemaError(
            PROVIDER,
            COSTS,
            f"{row} has amount.currency {currency!r}, not the billing account's {expected} (set "
            "BILLING_CURRENCY if the organization bills in it); the window was not loaded",
        )
    if value < 0:
        raise SchemaError(
            PROVIDER,
            COSTS,
            f"{row} has amount.value {value} < 0 and the Costs API marks no line item as a "
            "credit; the window was not loaded",
        )


def make_collector(settings: object) -> OpenAICollector:
    """Daily buckets are what the analysis uses; 1h/1m are available for finer studies."""
    return OpenAICollector()
