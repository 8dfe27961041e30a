"""OpenAI spend per (project, model) from the priced rows the bill is made of.

One pricing path (issue 14): the usage is priced by :func:`contribux_costs.pricing.price_usage`,
the function that prices the FOCUS table's estimated rows, so every token part (text, cached,
cache-write, audio, image, output), batch row and service tier is at its own rate. The month's
cost of a (project, model) is what the FOCUS table holds for it: the Costs API's billed line items
on the days it has filled, the priced usage on the days it has not. Savings are computed on the
priced rows and scaled to that bill (``bill / priced``), so a negotiated discount shrinks them too
and no saving exceeds the cost of the rows it acts on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from contribux_costs.analysis.rulebase import RuleContext, pricebook, usage_cte, usd

M = Decimal(1_000_000)
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
INPUT_PARTS = (
    "input", "cached_input", "cache_write", "image_input", "cached_image_input", "audio_input",
    "cached_audio_input",
)  # fmt: skip
CACHED_PARTS = ("cached_input", "cached_image_input", "cached_audio_input")
OUTPUT_PARTS = ("output", "audio_output", "image_output")

_REQUESTS = f"""
WITH {usage_cte("openai")}
SELECT resource_id AS project_id, resource_name AS model, any_value(service) AS service,
  coalesce(sum(value) FILTER (WHERE metric = 'num_model_requests'), 0) AS requests
FROM u GROUP BY ALL
"""
_BILLED = """
SELECT x_project_id AS project_id, split_part(x_line_item, ', ', 1) AS model, x_billing_date AS day,
  sum(BilledCost) AS cost
FROM charges WHERE provider = 'openai' AND x_billing_date >= $first AND x_billing_date < $end
GROUP BY ALL
"""


@dataclass(frozen=True)
class ModelSpend:
    """A (project, model)'s month: volumes by token part, priced cost, and the bill."""

    project_id: str
    model: str
    family: str
    service: str
    requests: float
    qty: dict[str, float] = field(default_factory=dict)  # tokens by priced part
    cost_by_part: dict[str, Decimal] = field(default_factory=dict)  # priced, all rows
    priced: Decimal = Decimal(0)  # every priced row
    batchable: Decimal = Decimal(0)  # priced rows neither batched nor on a discounted tier
    cost: Decimal = Decimal(0)  # the bill: billed line items + priced rows of unbilled days
    billed: bool = False

    @property
    def pool(self) -> str:
        return f"openai:{self.project_id}:{self.model}"

    @property
    def subject(self) -> str:
        return f"{self.project_id}/{self.family}"

    @property
    def input_tokens(self) -> float:
        return sum(self.qty.get(p, 0.0) for p in INPUT_PARTS)

    @property
    def cached_tokens(self) -> float:
        return sum(self.qty.get(p, 0.0) for p in CACHED_PARTS)

    @property
    def output_tokens(self) -> float:
        return sum(self.qty.get(p, 0.0) for p in OUTPUT_PARTS)

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.input_tokens if self.input_tokens > 0 else 0.0

    @property
    def to_bill(self) -> Decimal:
        """Priced dollars → billed dollars (1 when nothing is priced)."""
        return self.cost / self.priced if self.priced > 0 else Decimal(1)

    def evidence(self) -> dict[str, float | str]:
        return {
            "project_id": self.project_id,
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": float(usd(self.cost)),
            "priced_usd": float(usd(self.priced)),
            "cost_source": "billed" if self.billed else "priced usage",
        }


def priced_lines(ctx: RuleContext, families: dict[str, str] | None = None) -> pl.DataFrame:
    """The month's priced OpenAI usage rows (the FOCUS pricing function), ``families`` mapping
    model ids to another family's prices for a what-if. Empty without a price book.

    The FOCUS build keeps these rows (``openai_priced``): they are read back, not re-priced from
    a month of hourly usage; a what-if prices those daily rows again on the target's prices."""
    key = f"openai_priced:{sorted((families or {}).items())}"
    if key not in ctx.cache:
        from contribux_costs.pricing import price_usage

        book = pricebook(ctx)
        stored = _stored(ctx)
        if book is None:
            lines = pl.DataFrame()
        elif families is None and stored is not None:
            lines = stored
        else:
            source = None if stored is None else _as_usage(stored, families or {})
            lines, _ = price_usage(ctx.store, book, ctx.month, ["openai"], families, source)
        ctx.cache[key] = (
            lines.filter(pl.col("charge_category") == "Usage")
            if "charge_category" in lines.columns
            else lines
        )
    frame: pl.DataFrame = ctx.cache[key]
    return frame


def _stored(ctx: RuleContext) -> pl.DataFrame | None:
    """The rows the month's FOCUS build priced, or None when it has not stored any."""
    if "openai_priced" not in ctx.tables:
        return None
    frame = ctx.store.query(
        "SELECT * EXCLUDE (month) FROM openai_priced WHERE month = ?", [str(ctx.month)]
    )
    return frame if frame.height else None


def _as_usage(stored: pl.DataFrame, families: dict[str, str]) -> pl.DataFrame:
    """Stored priced rows of the moved models as daily ``usage`` rows (for a what-if)."""
    return stored.filter(pl.col("resource_name").is_in(list(families))).select(
        "provider", "endpoint", "service", "resource_id", "resource_name", "metric", "unit",
        "period_start", "period_end", pl.lit("1d").alias("granularity"),
        pl.col("qty").cast(pl.Float64).alias("value"), "dimensions", "billing_date",
    )  # fmt: skip


def model_spend(ctx: RuleContext) -> list[ModelSpend]:
    """Per (project, model): volumes by part, priced cost and the bill (see the module doc)."""
    params = {"first": ctx.first, "end": ctx.end}
    requests = ctx.store.query(ctx.usage_sql(_REQUESTS, "openai"), params)
    billed = ctx.store.query(_BILLED, params)
    billed_days = list(set(billed["day"].to_list())) if billed.height else []
    bill = _sums(billed, ["project_id", "model"], "cost")
    totals, parts = _aggregate(priced_lines(ctx), billed_days)
    out = []
    for r in requests.sort("project_id", "model").iter_rows(named=True):
        key = (str(r["project_id"]), str(r["model"]))
        t = totals.get(key, {})
        billed_cost = bill.get(key)
        # The FOCUS rule: billed line items where the Costs API has filled the day, else priced.
        cost = (billed_cost or Decimal(0)) + t.get("unbilled", Decimal(0))
        qty = {c: float(q) for c, (q, _) in parts.get(key, {}).items()}
        by_part = {c: v for c, (_, v) in parts.get(key, {}).items()}
        out.append(
            ModelSpend(
                key[0], key[1], family_of(key[1], ctx), str(r["service"]), float(r["requests"]),
                qty, by_part, t.get("priced", Decimal(0)), t.get("batchable", Decimal(0)),
                cost, billed_cost is not None,
            )
        )  # fmt: skip
    return out


Key = tuple[str, str]


def _aggregate(
    lines: pl.DataFrame, billed_days: list[object]
) -> tuple[dict[Key, dict[str, Decimal]], dict[Key, dict[str, tuple[Decimal, Decimal]]]]:
    """One group-by over the priced rows: per (project, model) the priced, batchable and
    unbilled-day cost, and per token part its tokens and cost."""
    if not lines.height:
        return {}, {}
    keyed = lines.with_columns(
        pl.col("resource_id").cast(pl.String).fill_null("None").alias("_p"),
        pl.col("resource_name").cast(pl.String).fill_null("None").alias("_m"),
    )
    # Batch and flex rows already pay the Batch rate: only the rest can move to it.
    movable = ~pl.col("batch") & ~pl.col("entry_id").str.ends_with("#flex")
    totals = keyed.group_by("_p", "_m").agg(
        pl.col("cost").sum().alias("priced"),
        pl.col("cost").filter(movable).sum().alias("batchable"),
        pl.col("cost").filter(~pl.col("billing_date").is_in(billed_days)).sum().alias("unbilled"),
    )
    by_part = keyed.group_by("_p", "_m", "component").agg(pl.col("qty").sum(), pl.col("cost").sum())
    out: dict[Key, dict[str, Decimal]] = {
        (p, m): {"priced": _dec(a), "batchable": _dec(b), "unbilled": _dec(u)}
        for p, m, a, b, u in totals.iter_rows()
    }
    parts: dict[Key, dict[str, tuple[Decimal, Decimal]]] = {}
    for p, m, c, q, v in by_part.iter_rows():
        parts.setdefault((p, m), {})[str(c)] = (_dec(q), _dec(v))
    return out, parts


def family_of(model: str, ctx: RuleContext | None = None) -> str:
    """``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini`` (the price book's families, else the id
    without its date suffix)."""
    book = pricebook(ctx) if ctx is not None else None
    known = book.family(model) if book is not None else None
    return known or _DATE_SUFFIX.sub("", model)


def _dec(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _sums(frame: pl.DataFrame, keys: list[str], col: str) -> dict[tuple[str, str], Decimal]:
    if not frame.height:
        return {}
    grouped = frame.group_by(keys).agg(pl.col(col).sum())
    return {(str(a), str(b)): _dec(v) for a, b, v in grouped.iter_rows()}


def spend(ctx: RuleContext) -> list[ModelSpend]:
    """:func:`model_spend`, once per analysis (a note when the month has no OpenAI data)."""
    if "openai_spend" not in ctx.cache:
        ctx.cache["openai_spend"] = model_spend(ctx) if ctx.usage("openai") else []
    return list(ctx.cache["openai_spend"])
