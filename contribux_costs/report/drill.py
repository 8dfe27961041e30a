"""Drill-down without a server: the data each chart and table is drawn from, embedded in the page.

Why this approach: a report is opened from ``file://`` or as an e-mail attachment, so there is no
server to ask and no network. The page carries the month's cost rows (and the series of each
chart) as JSON — small, because they are grouped by day and dimension values, column-wise, with
each text column's values written once (dictionary-encoded) — and ~300 lines of vanilla
JavaScript (``assets/drill.js``) filter them and re-draw every chart with ``Plotly.react`` and
every table by showing only its matching rows (or, for cost summaries, by re-summing). A plotly
update menu would need one pre-computed trace set per filter combination (combinatorial); a
framework would be heavier than the data.

Dimensions are generic: every entry of :data:`DIMENSIONS` whose source columns exist in
``focus_charges`` (and has a value in the month) becomes a filter. ``environment`` and ``owner``
come from the allocation columns ``x_environment``/``x_owner`` when the store has them; without
them the environment falls back to the provider's own tag (Vercel reports one), and the owner
filter is simply not offered.

A widget's rows carry only the dimensions that apply to it; a filter on a dimension a widget does
not have leaves it alone (a Neon compute chart has no "model"), while a row whose value is missing
for an active filter is hidden (a budget alert has no provider).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from contribux_costs.periods import Month
from contribux_costs.report.charts import PALETTE, PROVIDER_COLORS, FigureEmitter
from contribux_costs.report.html import table
from contribux_costs.store import Store

ASSETS = Path(__file__).parent / "assets"
_DATED = r"-\d{4}-\d{2}-\d{2}$"
# name → candidate (SQL over focus_charges, columns it needs); the first available one is used.
DIMENSIONS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "provider": [("x_provider", ("x_provider",))],
    "environment": [
        ("x_environment", ("x_environment",)),
        ("json_extract_string(Tags, '$.Environment')", ("Tags",)),
    ],
    "owner": [("x_owner", ("x_owner",))],
    "service": [("ServiceName", ("ServiceName",))],
    "resource": [
        (
            "coalesce(ResourceName, json_extract_string(Tags, '$.ProjectName'), ResourceId)",
            ("ResourceName", "ResourceId", "Tags"),
        )
    ],
    "model": [
        (
            "CASE WHEN x_provider = 'openai' AND position(',' IN coalesce(SkuId, '')) > 0 "
            f"THEN regexp_replace(split_part(SkuId, ',', 1), '{_DATED}', '') END",
            ("SkuId",),
        )
    ],
}
LAYER_PROVIDER = {
    "redis": "upstash",
    "openai_prompt": "openai",
    "postgres_buffer": "neon",
    "vercel_edge": "vercel",
}
HISTORY_MONTHS = 6


def dimension_sql(store: Store) -> dict[str, str]:
    """The dimensions this store can offer, each with its SQL over ``focus_charges``."""
    cols = set(store.query("DESCRIBE focus_charges")["column_name"].to_list())
    out = {}
    for name, candidates in DIMENSIONS.items():
        for sql, need in candidates:
            if set(need) <= cols:
                out[name] = sql
                break
    return out


def cost_facts(store: Store, month: Month, months: int = HISTORY_MONTHS) -> pl.DataFrame:
    """date, every available dimension, cost (float) per day and dimension values, for the
    ``months`` months up to ``month`` (the charts' history and the previous month's figures).
    Dimensions with no value in ``month`` are dropped (nothing to filter on)."""
    if "focus_charges" not in store.tables():
        return pl.DataFrame({"date": [], "cost": []})
    dims = dimension_sql(store)
    start = month.first_day
    for _ in range(months - 1):
        start = Month.containing(start).prev.first_day
    select = ", ".join(f'{sql} AS "{name}"' for name, sql in dims.items())
    # Daily rows where a chart or a like-for-like column needs days (the forecast's 8 weeks of
    # history, the previous month); older months only feed month over month: one row a month.
    daily_from = min(
        month.prev.first_day, Month.containing(month.first_day - _EIGHT_WEEKS).first_day
    )
    frame = store.query(
        "SELECT CASE WHEN x_billing_date < ? THEN date_trunc('month', x_billing_date)::DATE "
        f"ELSE x_billing_date END AS date, {select}, sum(BilledCost)::DOUBLE AS cost "
        "FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ? "
        "GROUP BY ALL ORDER BY ALL",
        [daily_from, start, month.next.first_day],
    )
    current = frame.filter(pl.col("date") >= month.first_day)
    empty = [d for d in dims if current[d].drop_nulls().is_empty()]
    return frame.drop(empty)


def resource_names(store: Store) -> dict[str, str]:
    """Every resource id and name → the value the ``resource`` filter shows for it."""
    if "focus_charges" not in store.tables():
        return {}
    sql = dimension_sql(store).get("resource")
    if sql is None:
        return {}
    rows = store.query(f"SELECT DISTINCT ResourceId, ResourceName, {sql} AS r FROM focus_charges")
    out: dict[str, str] = {}
    for rid, name, shown in rows.iter_rows():
        for key in (rid, name):
            if key and shown:
                out[str(key)] = str(shown)
    return out


def enrich(
    rows: pl.DataFrame, facts: pl.DataFrame, on: Sequence[str] = ("provider", "resource")
) -> pl.DataFrame:
    """``rows`` with the facts' dimensions they lack, where the ``on`` columns determine them
    uniquely (a Neon project's usage gets its environment and owner from its cost rows)."""
    have = [c for c in on if c in rows.columns and c in facts.columns]
    extra = [c for c in ("environment", "owner") if c in facts.columns and c not in rows.columns]
    if not have or not extra or rows.is_empty():
        return rows
    unique = (
        facts.select(*have, *extra)
        .unique()
        .group_by(have)
        .agg([pl.col(c).first() for c in extra] + [pl.len().alias("_n")])
        .filter(pl.col("_n") == 1)
        .drop("_n")
    )
    return rows.join(unique, on=have, how="left")


def _columns(frame: pl.DataFrame) -> dict[str, Any]:
    """Column-wise JSON (smaller than records): {"cols": [...], "data": [column, ...]}. Text and
    date columns are dictionary-encoded (see :func:`encode_column`); numbers stay plain."""
    data: list[Any] = []
    for name in frame.columns:
        s = frame[name]
        if s.dtype == pl.Date:
            data.append(encode_column([None if v is None else v.isoformat() for v in s.to_list()]))
        elif s.dtype.is_float():
            data.append([None if v is None else round(v, 6) for v in s.to_list()])
        elif s.dtype == pl.Decimal:
            data.append([None if v is None else float(v) for v in s.to_list()])
        elif s.dtype in (pl.String, pl.Categorical, pl.Enum):
            data.append(encode_column(s.cast(pl.String).to_list()))
        else:
            data.append(s.to_list())
    return {"cols": frame.columns, "data": data}


def encode_column(values: Sequence[str | None]) -> dict[str, list[Any]]:
    """A text column as {"dict": [each distinct value once], "codes": [index per row, or null]}.

    Why: the dimension values (provider, environment, owner, service, resource, model) and the
    dates repeat on every row; written once each, the month's facts shrink to about a third and
    the report page stays well under its 2 MB budget. ``drill.js`` decodes them once
    (``column()``); :func:`decode_column` is the same rule in Python, for tests."""
    index: dict[str, int] = {}
    codes: list[int | None] = []
    for v in values:
        codes.append(None if v is None else index.setdefault(v, len(index)))
    return {"dict": list(index), "codes": codes}


def decode_column(column: list[Any] | dict[str, list[Any]]) -> list[Any]:
    """A column as :func:`_columns` wrote it, back to one value per row."""
    if isinstance(column, list):
        return column
    values = column["dict"]
    return [None if c is None else values[c] for c in column["codes"]]


@dataclass
class Drill:
    """One page's filterable widgets. ``chart`` and ``table`` return HTML to display; ``script``
    returns the data and the code, to display once at the end of the page."""

    store: Store
    month: Month
    emitter: FigureEmitter = field(default_factory=FigureEmitter)
    facts: pl.DataFrame = field(init=False)
    widgets: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.facts = cost_facts(self.store, self.month)
        self.names = resource_names(self.store)
        self.sources["facts"] = _columns(self.facts)

    @property
    def dims(self) -> list[str]:
        return [d for d in DIMENSIONS if d in self.facts.columns]

    def _id(self, kind: str) -> str:
        return f"cc-{kind}-{len(self.widgets)}"

    def _source(self, rows: pl.DataFrame | None) -> str:
        if rows is None:
            return "facts"
        name = f"s{len(self.sources)}"
        self.sources[name] = _columns(rows)
        return name

    def chart(self, fig: Any, kind: str, rows: pl.DataFrame | None = None, **spec: Any) -> str:
        """The figure's HTML; the spec says how to re-draw it from ``rows`` (default: the
        month's cost facts) when a filter changes: kind ``stack`` | ``lines`` | ``hbar`` |
        ``forecast``; x, y, series or label/value; ``where`` (fixed filters), ``ignore``."""
        div = self._id("chart")
        colors = {**PROVIDER_COLORS}
        self.widgets.append(
            {"id": div, "type": "chart", "kind": kind, "src": self._source(rows),
             "colors": colors, "palette": PALETTE, **spec}
        )  # fmt: skip
        return self.emitter.html(fig, div_id=div)

    def table(
        self,
        frame: pl.DataFrame,
        dims: pl.DataFrame | Iterable[Mapping[str, object]] | None = None,
        money_cols: Sequence[str] = (),
        signed: Sequence[str] = (),
        empty: str = "Nothing to show.",
        limit: int | None = None,
    ) -> str:
        """A sortable table whose rows hide when they do not match the filters; ``dims`` gives
        each row's dimension values (same order as ``frame``); ``limit``: show at most that
        many matching rows (a "top 5" stays a top 5 of the selection)."""
        tid = self._id("table")
        if frame.is_empty():
            return f"<p>{escape(empty)}</p>"
        rows = dims.to_dicts() if isinstance(dims, pl.DataFrame) else [dict(d) for d in dims or []]
        self.widgets.append({"id": tid, "type": "rows", "limit": limit})
        return table(frame, money_cols, signed, table_id=tid, row_dims=rows or None)

    def pivot(
        self,
        frame: pl.DataFrame,
        by: str,
        where: dict[str, str] | None = None,
        title: str = "",
        keep: Sequence[str] = (),
    ) -> str:
        """A cost summary by ``by`` (cost in the selected days, the previous month, change),
        re-summed from the facts on every filter change; ``frame`` is its first rendering.
        ``keep``: values of ``by`` listed even at $0 (e.g. "unallocated", always shown)."""
        tid = self._id("pivot")
        self.widgets.append(
            {"id": tid, "type": "pivot", "by": by, "where": where or {}, "title": title,
             "month": str(self.month), "prev": str(self.month.prev), "keep": list(keep)}
        )  # fmt: skip
        signed = ("change",) if "change" in frame.columns else ()
        money = [c for c in ("cost", "previous", "change") if c in frame.columns]
        return table(frame, money, signed, table_id=tid)

    def explorer(self) -> str:
        """Every cost row of the month grouped by its dimensions: sortable, filterable."""
        month = self.facts.filter(pl.col("date") >= self.month.first_day)
        dims = self.dims
        if month.is_empty():
            return "<p>No cost rows this month.</p>"
        rows = (
            month.group_by(dims)
            .agg(pl.col("cost").sum(), pl.col("date").n_unique().alias("days"))
            .sort("cost", descending=True)
        )
        html = self.pivot(rows.select(*dims, "cost", "days"), ",".join(dims), title="explorer")
        return html.replace('class="cc-scroll"', 'class="cc-scroll cc-tall"', 1)

    def costs_by(self, by: str, where: dict[str, str], keep: Sequence[str] = ()) -> str:
        """A pivot of the month's cost by one dimension within ``where`` (e.g. Neon by project),
        with a total row; ``keep`` as in :meth:`pivot`."""
        if by not in self.dims:
            return ""
        return self.pivot(self.month_costs(by, where, keep), by, where, keep=keep)

    def month_costs(self, by: str, where: dict[str, str], keep: Sequence[str] = ()) -> pl.DataFrame:
        """The month's cost by ``by`` within ``where`` to the cent, ``keep`` values at $0 where
        absent, largest first, and a total row equal to the sum of the rows shown (the page's
        first rendering; the script re-sums it the same way under a filter)."""
        cond = [pl.col(k) == v for k, v in where.items() if k in self.facts.columns]
        part = self.facts.filter(*cond) if cond else self.facts
        cur = part.filter(pl.col("date") >= self.month.first_day)
        sums = {str(k): float(v) for k, v in cur.group_by(by).agg(pl.col("cost").sum()).rows()}
        sums = _to_cents({x: 0.0 for x in keep} | sums)
        rows = sorted(((k, v) for k, v in sums.items() if v or k in keep), key=lambda kv: -kv[1])
        if len(rows) > 1:
            rows.append(("total", round(sum(v for _, v in rows), 2)))
        return pl.DataFrame(rows, schema={by: pl.String, "cost": pl.Float64}, orient="row")

    def usage_rows(self, usage: pl.DataFrame, provider: str) -> pl.DataFrame:
        """A usage series (date, resource, value) with its provider and the environment/owner
        its resource has in the cost rows."""
        return enrich(usage.with_columns(pl.lit(provider).alias("provider")), self.facts)

    def ratio_rows(self, part: pl.DataFrame, layer: str) -> pl.DataFrame:
        """A cache layer's daily hits/lookups per subject, with the subject's dimensions."""
        subjects = part["subject"].unique().to_list()
        provider = LAYER_PROVIDER.get(layer, layer)
        dims = pl.DataFrame(
            [{"subject": s, **self.dims_of_rec(provider, str(s))} for s in subjects],
            infer_schema_length=None,
        )
        rows = part.select("date", "subject", "hits", "lookups").join(dims, on="subject")
        return enrich(rows, self.facts)

    def filter_bar(self) -> str:
        """The filter controls (filled in by the script from the embedded data)."""
        return (
            '<div id="cc-filters" class="cc-filters" role="search" aria-label="Filters">'
            "<noscript>Filters need JavaScript; the tables and charts below show everything."
            "</noscript></div>"
        )

    def dims_of_rec(self, provider: str, subject: str) -> dict[str, object]:
        """A recommendation's dimension values: provider, and the resource / model its subject
        names when the month's cost rows know them."""
        out: dict[str, object] = {"provider": provider}
        models = set(self.facts["model"].drop_nulls().to_list()) if "model" in self.dims else set()
        for part in subject.split("/"):
            if part in models:
                out["model"] = part
            elif part in self.names and "resource" in self.dims:
                out.setdefault("resource", self.names[part])
        if "model" in self.dims:
            out.setdefault("model", None)
        return out

    def script(self) -> str:
        """The embedded data and the drill-down code (once per page, at its end)."""
        payload = {
            "dims": self.dims,
            "month": str(self.month),
            "first": self.month.first_day.isoformat(),
            "last": (self.month.next.first_day - _ONE_DAY).isoformat(),
            "sources": self.sources,
            "widgets": self.widgets,
        }
        data = json.dumps(payload, separators=(",", ":"), default=_json_default)
        data = data.replace("</", "<\\/")  # never closes the script element early
        code = (ASSETS / "drill.js").read_text(encoding="utf-8")
        return (
            f'<script type="application/json" id="cc-data">{data}</script><script>{code}</script>'
        )


def _to_cents(values: dict[str, float]) -> dict[str, float]:
    """To the cent by largest remainder: the parts add up to their rounded exact sum (the same
    rule as ``toCents`` in drill.js, which re-sums under a filter)."""
    target = round(sum(values.values()) * 100)
    floors = {k: math.floor(v * 100 + 1e-7) for k, v in values.items()}
    order = sorted(values, key=lambda k: -(values[k] * 100 - floors[k]))
    for k in order[: max(target - sum(floors.values()), 0)]:
        floors[k] += 1
    return {k: v / 100 for k, v in floors.items()}


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


_ONE_DAY = timedelta(days=1)
_EIGHT_WEEKS = timedelta(days=56)
