"""Vercel billing charges: ``GET /v1/billing/charges`` (FOCUS 1.3 rows as JSON lines).

One request per window of at most a year (``from`` inclusive, ``to`` exclusive), no pagination:
the body is a gzip-compressed stream of one JSON object per line, read line by line. Vercel bills
on the Los Angeles day, so windows are whole LA days and each row keeps its UTC bounds beside its
LA ``x_billing_date``. Money and quantities are parsed as Decimal straight from the JSON text.

Rows go to ``charges`` (FOCUS names) and, for usage rows with a quantity, to the tidy ``usage``
table as metric ``consumed_quantity`` (unit = ``ConsumedUnit``, resource = ``Tags.ProjectId``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import httpx
import polars as pl

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import TruncatedBody
from contribux_costs.collect.vercel_commitments import ENDPOINT as COMMITMENTS
from contribux_costs.collect.vercel_commitments import fetch_commitments
from contribux_costs.config import Settings
from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window, la_billing_date, la_midnight
from contribux_costs.store.slices import RawPage, SliceWrite

PROVIDER = "vercel"
ENDPOINT = "billing/charges"
PATH = "v1/billing/charges"
# The API serves at most one year per request; 365 days is under a year even in leap years.
MAX_SPAN = timedelta(days=365)
# Raw landing keeps the body as received, in parts of about this size (never one huge string).
RAW_PART_BYTES = 4_000_000
STREAM_HEADERS = {"Accept-Encoding": "gzip", "Accept": "application/jsonl"}
SCALE = Decimal("1e-12")  # the store's DECIMAL(38, 12)
MONEY = ("BilledCost", "EffectiveCost", "ListCost", "PricingQuantity", "ConsumedQuantity")
REQUIRED = (
    "BilledCost",
    "BillingCurrency",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
)
TEXT = (
    "BillingCurrency",
    "ChargeCategory",
    "ChargeDescription",
    "ServiceName",
    "ServiceCategory",
    "ServiceProviderName",
    "SkuId",
    "PricingCategory",
    "PricingUnit",
    "ConsumedUnit",
    "ResourceId",
    "ResourceName",
    "RegionId",
    "RegionName",
)
# One encoder for every line (json.dumps with options builds a new one per call).
_json = json.JSONEncoder(sort_keys=True, default=str).encode
_SERVICE, _PROVIDER_NAME = TEXT.index("ServiceName"), TEXT.index("ServiceProviderName")
_CURRENCY, _CATEGORY = TEXT.index("BillingCurrency"), TEXT.index("ChargeCategory")
COSTS = ("BilledCost", "EffectiveCost", "ListCost")
# FOCUS 1.3: a negative cost is plausible only on a row the provider marks as a credit or an
# adjustment (ChargeCategory), or as a correction of an earlier period (ChargeClass). Anything
# else negative (a usage row) would quietly lower the totals.
NEGATIVE_OK = frozenset({"Credit", "Adjustment"})
# Dimensions kept on each usage row beside the tags (what tells the several rows of a day apart).
USAGE_DIMENSIONS = ("RegionId", "PricingCategory", "SkuId", "ServiceCategory")

# Column order is the order of the tuples built by charge_row.
CHARGE_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "endpoint": pl.String(),
    **{c: pl.String() for c in MONEY},  # exact decimal text, cast to Decimal(38, 12) in bulk
    **{c: pl.String() for c in TEXT},
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "ChargePeriodEnd": pl.Datetime("us", "UTC"),
    "Tags": pl.String(),
    "x_billing_date": pl.Date(),
    "x_project_id": pl.String(),
    "x_line_item": pl.String(),
    "_project_name": pl.String(),
    "_dimensions": pl.String(),
}


@dataclass
class VercelCollector:
    """Collects a team's FOCUS billing charges by Los Angeles billing day."""

    team_id: str | None = None
    provider: str = PROVIDER

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        """The LA billing days covering ``window``'s UTC days, up to today, in ≤ 1-year tasks."""
        la = la_days(window)
        # Today's LA day is partial but billed; later days do not exist yet.
        tomorrow = la_midnight(la_billing_date(ctx.now()) + timedelta(days=1))
        if tomorrow <= la.start:
            return []
        span = Window(la.start, min(la.end, tomorrow))
        # Contract commitments: one small request for the whole span (the endpoint has no range).
        return [Task(ENDPOINT, w) for w in split_la(span)] + [Task(COMMITMENTS, span)]

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        """Stream the window's charges; the whole stream is one retried attempt."""
        if task.endpoint == COMMITMENTS:
            return fetch_commitments(task, ctx, self.team_id)
        params = {
            "from": iso(utc_day(task.window.start)),
            "to": iso(utc_day_after(task.window.end)),
        }
        if self.team_id:
            params["teamId"] = self.team_id
        client = ctx.clients.client("vercel")
        caller = ctx.clients.caller(PROVIDER)
        parsed = caller.call(ENDPOINT, lambda: _stream(client, params, ctx))
        charges = parsed.frame().filter(
            # A row outside the asked window would escape this slice's delete and be duplicated
            # by the next run; the raw landing still holds it.
            pl.col("ChargePeriodStart").is_between(task.window.start, task.window.end, "left")
        )
        tables = {
            "charges": charges.drop("_project_name", "_dimensions"),
            "usage": usage_frame(charges),
        }
        # An empty stream is not proof of zero usage (Vercel may lag), but it is what Vercel
        # reports now: the slice is replaced with zero rows and the ledger says 0.
        return SliceWrite(PROVIDER, ENDPOINT, task.window, tables, parsed.raw)


def utc_day(la_midnight_instant: datetime) -> datetime:
    """The UTC midnight of an LA billing day's date: the query bound the API takes.

    The API reference (vercel.com/docs/rest-api/billing/list-focus-billing-charges): ``from`` /
    ``to`` are "ISO 8601 date-time string[s] in UTC" (inclusive / exclusive) and the endpoint
    "supports 1-day granularity". So the bounds are UTC midnights: LA day D starts at 07:00Z or
    08:00Z of date D, inside [D 00:00Z, D+1 00:00Z), so ``[first 00:00Z, end 00:00Z)`` holds the
    starts of exactly the LA days first..end-1, whatever the API does with a time of day.
    """
    d = la_billing_date(la_midnight_instant)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def utc_day_after(end: datetime) -> datetime:
    """The exclusive ``to`` bound for a window ending at ``end``: the UTC midnight after the LA
    date of its last instant. At an LA midnight this is that day's UTC midnight (as
    :func:`utc_day`); a window ending mid-day (a 25-hour autumn day split into 24-hour spans)
    still asks for a whole day instead of ``to == from``, and rows outside the window are
    filtered out after the stream."""
    return utc_day(end - timedelta(microseconds=1)) + timedelta(days=1)


def iso(instant: datetime) -> str:
    """The API's timestamp format, e.g. ``2025-01-01T08:00:00.000Z``."""
    return (
        instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{instant.microsecond // 1000:03d}Z"
    )


def la_days(window: Window) -> Window:
    """Map a UTC window to the Los Angeles billing days of the same calendar dates.

    The CLI passes UTC months: ``[2025-03-01T00:00Z, 2025-04-01T00:00Z)`` becomes the LA days
    March 1..31, i.e. ``[2025-03-01T08:00Z, 2025-04-01T07:00Z)`` (= ``Month.la_window``). A bound
    inside a UTC day widens to that whole date.
    """
    first = window.start.astimezone(UTC).date()
    end = window.end.astimezone(UTC)
    last = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(days=1)
    return Window(la_midnight(first), la_midnight(last))


def split_la(window: Window, max_span: timedelta = MAX_SPAN) -> list[Window]:
    """Like :meth:`Window.split`, but every inner bound snapped back to an LA midnight."""
    out: list[Window] = []
    cur = window.start
    while cur < window.end:
        limit = min(cur + max_span, window.end)
        nxt = limit if limit == window.end else la_midnight(la_billing_date(limit))
        if nxt <= cur:  # a span shorter than a day: split where asked
            nxt = limit
        out.append(Window(cur, nxt))
        cur = nxt
    return out


def split_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ended by a newline) for every line of a byte stream.

    ``Response.iter_lines()`` cannot say whether the last line was terminated (the sign of a
    truncated stream) and its ``str.splitlines`` also breaks on U+2028 inside JSON strings.
    """
    pending = b""
    number = 0
    for chunk in chunks:
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            number += 1
            yield number, line.removesuffix(b"\r"), True
    if pending:
        yield number + 1, pending.removesuffix(b"\r"), False


def _stream(client: httpx.Client, params: dict[str, str], ctx: CollectContext) -> _Parsed:
    """One attempt: open the stream, check the status, parse every line."""
    with client.stream("GET", PATH, params=params, headers=STREAM_HEADERS) as response:
        if not response.is_success:
            response.read()  # so the error names the body Vercel sent
            response.raise_for_status()
        parsed = _Parsed(params, ctx.now(), ctx.settings.billing_currency)
        for number, line, ended in split_lines(response.iter_bytes()):
            parsed.feed(number, line, ended)
        parsed.close()
        return parsed


class _Parsed:
    """Rows parsed as lines arrive, plus the raw body in bounded parts.

    The raw text of each line is kept for raw landing, but split into parts of about
    ``RAW_PART_BYTES`` (each a ``raw_payloads`` row noting its first line) rather than one string
    holding a whole year's body.
    """

    def __init__(self, params: dict[str, str], fetched_at: datetime, currency: str = "USD") -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.currency = currency
        self.params, self.fetched_at = params, fetched_at
        self.raw: list[RawPage] = []
        self.part: list[str] = []
        self.part_bytes, self.part_first = 0, 1

    def feed(self, number: int, line: bytes, ended: bool) -> None:
        self._land(number, line)
        if not line.strip():
            return  # blank lines are allowed between records
        try:
            obj = json.loads(line, parse_float=Decimal)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            if not ended:
                raise TruncatedBody(f"stream ended inside line {number}") from None
            raise _schema(number, f"is not valid JSON ({exc})") from None
        self.rows.append(charge_row(obj, number, self.currency))

    def _land(self, number: int, line: bytes) -> None:
        if self.part_bytes + len(line) > RAW_PART_BYTES and self.part:
            self.close()
            self.part_first = number
        self.part.append(line.decode("utf-8", errors="replace"))
        self.part_bytes += len(line) + 1

    def close(self) -> None:
        """Finish the current raw part (the body as received, line numbers noted)."""
        if not self.part:
            return
        params = {**self.params, "first_line": self.part_first}
        self.raw.append(RawPage(params, self.fetched_at, "\n".join(self.part) + "\n"))
        self.part, self.part_bytes = [], 0

    def frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(self.rows, schema=CHARGE_SCHEMA, orient="row")
        # Building Decimal series from Python Decimals costs ~5 µs a value; casting their exact
        # text is ~40x faster and just as exact.
        return frame.with_columns(pl.col(*MONEY).cast(pl.Decimal(38, 12)))


def charge_row(obj: object, number: int, currency: str = "USD") -> tuple[Any, ...]:
    """One FOCUS line → the ``charges`` columns (plus hidden project name and dimensions).

    Plausibility at the boundary: the row is in the billing account's ``currency`` and a negative
    cost is on a credit/adjustment/correction row; otherwise the window fails (nothing written).
    """
    if not isinstance(obj, dict):
        raise _schema(number, "is not a JSON object")
    if "error" in obj and "BilledCost" not in obj:
        raise _schema(number, f"is an API error object: {str(obj['error'])[:200]}")
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise _schema(number, f"lacks required FOCUS column(s) {', '.join(missing)}")
    tags = obj.get("Tags") or {}
    if not isinstance(tags, dict):
        raise _schema(number, "has Tags that are not an object")
    texts = [obj.get(c) for c in TEXT]
    if not all(v is None or type(v) is str for v in texts):  # fast path: all strings already
        texts = [_text(v, c, number) for v, c in zip(texts, TEXT, strict=True)]
    if texts[_CURRENCY] != currency:
        raise _schema(
            number,
            f"has BillingCurrency {texts[_CURRENCY]!r}, not the billing account's {currency} "
            "(set BILLING_CURRENCY if the account bills in it)",
        )
    money = [_decimal(obj.get(c), c, number) for c in MONEY]
    _check_sign(obj, money, texts[_CATEGORY], number)
    service = texts[_SERVICE]
    # FOCUS 1.0 called it ProviderName; the Vercel export is Vercel's own bill either way.
    texts[_PROVIDER_NAME] = texts[_PROVIDER_NAME] or obj.get("ProviderName") or "Vercel"
    start = _instant(obj.get("ChargePeriodStart"), "ChargePeriodStart", number)
    dims = {k: obj[k] for k in USAGE_DIMENSIONS if obj.get(k) is not None} | tags
    return (
        PROVIDER,
        ENDPOINT,
        *money,
        *texts,
        start,
        _instant(obj.get("ChargePeriodEnd"), "ChargePeriodEnd", number),
        _json(tags) if tags else None,
        _billing_day(start, _instant(obj.get("ChargePeriodEnd"), "ChargePeriodEnd", number)),
        _text(tags.get("ProjectId"), "Tags.ProjectId", number),
        service,
        _text(tags.get("ProjectName"), "Tags.ProjectName", number),
        _json(dims),
    )


def _check_sign(obj: dict[str, Any], money: list[str | None], category: str | None, n: int) -> None:
    for name, value in zip(MONEY, money, strict=True):
        if name not in COSTS or value is None or not value.startswith("-") or not Decimal(value):
            continue
        if category in NEGATIVE_OK or obj.get("ChargeClass") == "Correction":
            return
        raise _schema(
            n,
            f"has {name} {value.rstrip('0').rstrip('.')} on a {category} row: only Credit and "
            "Adjustment rows (or ChargeClass Correction) may be negative",
        )


def usage_frame(charges: pl.DataFrame) -> pl.DataFrame:
    """Usage rows with a consumed quantity → tidy ``usage`` rows (metric ``consumed_quantity``)."""
    return charges.filter(
        (pl.col("ChargeCategory") == "Usage") & pl.col("ConsumedQuantity").is_not_null()
    ).select(
        pl.col("provider"),
        pl.col("endpoint"),
        pl.col("ServiceName").fill_null("(unnamed service)").alias("service"),
        pl.col("x_project_id").alias("resource_id"),
        pl.col("_project_name").alias("resource_name"),
        pl.lit("consumed_quantity").alias("metric"),
        pl.col("ConsumedUnit").fill_null("units").alias("unit"),
        pl.col("ChargePeriodStart").alias("period_start"),
        pl.col("ChargePeriodEnd").alias("period_end"),
        pl.lit("1d").alias("granularity"),
        pl.col("ConsumedQuantity").cast(pl.Float64).alias("value"),
        pl.col("_dimensions").alias("dimensions"),
        pl.col("x_billing_date").alias("billing_date"),
    )


def _schema(number: int, what: str) -> SchemaError:
    return SchemaError(
        PROVIDER,
        ENDPOINT,
        f"line {number} {what}; the window was not loaded (its earlier data stays in place)",
    )


def _decimal(value: object, name: str, number: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _schema(number, f"has {name} {value!r} that is not a number")
    try:
        out = Decimal(value)
        if not out.is_finite():
            raise InvalidOperation
        return format(out.quantize(SCALE), "f")
    except InvalidOperation:
        raise _schema(number, f"has {name} {value!r} that is not a finite decimal") from None


def _text(value: object, name: str, number: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise _schema(number, f"has {name} {value!r} that is not a string")


def _instant(value: object, name: str, number: int) -> datetime:
    parsed = _parse_instant(value) if isinstance(value, str) else None
    if parsed is None:
        raise _schema(number, f"has {name} {value!r} that is not an ISO 8601 timestamp with offset")
    return parsed


# A window has one distinct start per day: parse each timestamp text and LA date once.
@lru_cache(maxsize=8192)
def _parse_instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(UTC)


@lru_cache(maxsize=8192)
def _billing_day(start: datetime, end: datetime) -> date:
    """The row's own billing day: the LA date of its period's middle. Rows start at LA midnight
    (07:00Z/08:00Z) today; a row aligned on UTC days would still get its own date, not the LA
    date of its first instant (the day before)."""
    return la_billing_date(start + (end - start) / 2)


def make_collector(settings: Settings) -> VercelCollector:
    """The team comes from ``VERCEL_TEAM_ID`` (omitted for a personal account)."""
    return VercelCollector(team_id=settings.vercel_team_id)
