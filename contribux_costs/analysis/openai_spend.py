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
    model ids to another family's prices for a what-if. Empty without a price book."""
    key = f"openai_priced:{sorted((families or {}).items())}"
    if key not in ctx.cache:
        from contribux_costs.pricing import price_usage

        book = pricebook(ctx)
        if book is None:
            ctx.cache[key] = pl.DataFrame()
        else:
            lines, _ = price_usage(ctx.store, book, ctx.month, ["openai"], families)
            ctx.cache[key] = lines.filter(pl.col("charge_category") == "Usage")
    frame: pl.DataFrame = ctx.cache[key]
    return frame


def model_spend(ctx: RuleContext) -> list[ModelSpend]:
    """Per (project, model): volumes by part, priced cost and the bill (see the module doc)."""
    lines = priced_lines(ctx)
    params = {"first": ctx.first, "end": ctx.end}
    requests = ctx.store.query(ctx.usage_sql(_REQUESTS, "openai"), params)
    billed = ctx.store.query(_BILLED, params)
    billed_days = set(billed["day"].to_list()) if billed.height else set()
    bill = _sums(billed, ["project_id", "model"], "cost")
    out = []
    for r in requests.sort("project_id", "model").iter_rows(named=True):
        pid, model = str(r["project_id"]), str(r["model"])
        mine = _mine(lines, pid, model)
        billed_cost = bill.get((pid, model))
        # The FOCUS rule: billed line items where the Costs API has filled the day, else priced.
        unbilled = _where(mine, ~pl.col("billing_date").is_in(list(billed_days)))
        cost = (billed_cost or Decimal(0)) + _total(unbilled, "cost")
        # Batch and flex rows already pay the Batch rate: only the rest can move to it.
        batchable = _where(mine, ~pl.col("batch") & ~pl.col("entry_id").str.ends_with("#flex"))
        out.append(
            ModelSpend(
                pid, model, _family(ctx, model), str(r["service"]), float(r["requests"]),
                _qty_by_part(mine), _cost_by_part(mine), _total(mine, "cost"),
                _total(batchable, "cost"), cost, billed_cost is not None,
            )
        )  # fmt: skip
    return out


def _family(ctx: RuleContext, model: str) -> str:
    return family_of(model, ctx)


def family_of(model: str, ctx: RuleContext | None = None) -> str:
    """``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini`` (the price book's families, else the id
    without its date suffix)."""
    book = pricebook(ctx) if ctx is not None else None
    known = book.family(model) if book is not None else None
    return known or _DATE_SUFFIX.sub("", model)


def _mine(lines: pl.DataFrame, pid: str, model: str) -> pl.DataFrame:
    if not lines.height:
        return lines
    return lines.filter(
        (pl.col("resource_id").fill_null("None") == pid)
        & (pl.col("resource_name").fill_null("None") == model)
    )


def _dec(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _total(frame: pl.DataFrame, col: str) -> Decimal:
    return _dec(frame[col].sum()) if frame.height else Decimal(0)


def _where(frame: pl.DataFrame, cond: pl.Expr) -> pl.DataFrame:
    return frame.filter(cond) if frame.height else frame


def _qty_by_part(frame: pl.DataFrame) -> dict[str, float]:
    if not frame.height:
        return {}
    sums = frame.group_by("component").agg(pl.col("qty").cast(pl.Float64).sum())
    return {str(c): float(v) for c, v in sums.iter_rows()}


def _cost_by_part(frame: pl.DataFrame) -> dict[str, Decimal]:
    if not frame.height:
        return {}
    sums = frame.group_by("component").agg(pl.col("cost").sum())
    return {str(c): _dec(v) for c, v in sums.iter_rows()}


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
