"""Price tidy usage with the dated price book, in bulk (one DuckDB statement per month).

Each usage row (provider, metric) maps through a meter to a SKU, joins the entry valid on its
billing day for its plan (an override wins; ListCost uses the shipped list price), consumes the
billing period's allowance in time order (the first days use it up), and becomes a priced line.
Rows no entry prices are returned as data-quality findings with their volume, never as $0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

import polars as pl

from contribux_costs.periods import Month
from contribux_costs.pricing.book import PriceBook
from contribux_costs.pricing.extras import count_lines, fixed_fee_lines, minimum_lines
from contribux_costs.pricing.findings import DataQualityFinding, unpriced_findings
from contribux_costs.pricing.openai_usage import PRICED_USAGE
from contribux_costs.store import Store


def _in_month_usage(sql: str) -> str:
    """Read ``usage`` as the month's rows at one granularity per day (no day priced twice),
    OpenAI completions as disjoint priced parts (:mod:`contribux_costs.pricing.openai_usage`)."""
    return sql.replace("__MONTH_USAGE__", PRICED_USAGE)


@contextmanager
def registered(store: Store, frames: dict[str, pl.DataFrame]) -> Iterator[None]:
    """Expose polars frames to SQL under temporary names while the store lock is held."""
    with store.lock:
        for name, frame in frames.items():
            store.con.register(name, frame.to_arrow())
        try:
            yield
        finally:
            for name in frames:
                store.con.unregister(name)


def price_usage(
    store: Store,
    book: PriceBook,
    month: Month,
    providers: Sequence[str],
    families: dict[str, str] | None = None,
    source: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, list[DataQualityFinding]]:
    """Priced lines for ``providers``' usage in ``month`` (by billing day) and the findings.

    ``families`` maps OpenAI model ids to the family whose prices apply instead of their own:
    the what-if "this traffic on a cheaper model", priced by the very same rules as the bill.
    ``source`` replaces the ``usage`` table (same columns): e.g. the month's priced rows, daily,
    for a what-if that need not read a month of hourly usage again.
    """
    table = "_pb_usage" if source is not None else "usage"
    frames = {
        "_pb_entries": book.entries_frame(),
        "_pb_meters": _meters_frame(book),
        "_pb_plans": _plans_frame(book),
        "_pb_families": _families_frame(store, book, month, families, table),
        "_pb_tiers": _tiers_frame(book),
        "_pb_providers": pl.DataFrame(
            {"provider": list(providers)}, schema={"provider": pl.String}
        ),
    }
    params = {
        "first": month.first_day,
        "next": month.next.first_day,
        "days": month.days,
        "batch": book.batch_factor,
    }
    if source is not None:
        frames["_pb_usage"] = source
    with registered(store, frames):
        lines = store.query(_from(_PRICED_SQL, table), params)
        unmetered = store.query(
            _from(_UNMETERED_SQL, table), {"first": month.first_day, "next": month.next.first_day}
        )
    priced = lines.filter(pl.col("entry_id").is_not_null())
    findings = unpriced_findings(
        lines.filter(pl.col("entry_id").is_null()), unmetered, month, book.ignore
    )
    extra = [
        minimum_lines(priced, book, month),
        fixed_fee_lines(priced, book, month),
        count_lines(priced, book, month),
    ]
    return pl.concat([priced, *[e for e in extra if e.height]], how="diagonal_relaxed"), findings


def _from(sql: str, table: str) -> str:
    return sql if table == "usage" else sql.replace(" FROM usage ", f" FROM {table} ")


def _meters_frame(book: PriceBook) -> pl.DataFrame:
    rows = [m.model_dump() for m in book.meters]
    return pl.DataFrame(
        rows,
        schema={
            "provider": pl.String,
            "service": pl.String,
            "metric": pl.String,
            "sku": pl.String,
            "component": pl.String,
            "gauge": pl.Boolean,
            "unit": pl.String,
            "sku_from_service": pl.Boolean,
            "fallback": pl.String,
        },
    )


def _tiers_frame(book: PriceBook) -> pl.DataFrame:
    tiers = sorted({*book.tier_factors, *book.own_rate_tiers})
    return pl.DataFrame(
        {
            "tier": tiers,
            "factor": [book.tier_factors.get(t, Decimal(1)) for t in tiers],
            "own_rate": [t in book.own_rate_tiers for t in tiers],
        },
        schema={"tier": pl.String, "factor": pl.Decimal(38, 12), "own_rate": pl.Boolean},
    )


def _plans_frame(book: PriceBook) -> pl.DataFrame:
    # Plan names match case-insensitively ("Pay As You Go" = "Pay as You Go"): one row per name.
    unique = {
        (p, rule.field, raw.lower()): plan
        for p, rule in book.plans.items()
        for raw, plan in [*rule.aliases.items(), ("", "")]
    }
    rows = [
        {"provider": p, "field": field, "raw": raw, "plan": plan}
        for (p, field, raw), plan in unique.items()
    ]
    return pl.DataFrame(
        rows,
        schema={"provider": pl.String, "field": pl.String, "raw": pl.String, "plan": pl.String},
    )


def _families_frame(
    store: Store,
    book: PriceBook,
    month: Month,
    override: dict[str, str] | None = None,
    table: str = "usage",
) -> pl.DataFrame:
    # Few distinct model ids per month: mapping them in Python is not a per-row loop.
    if table != "usage":
        return pl.DataFrame(
            {"model": list(override or {}), "family": list((override or {}).values())},
            schema={"model": pl.String, "family": pl.String},
        )
    ids = store.query(
        f"SELECT DISTINCT resource_name FROM {table} WHERE provider = 'openai' "
        "AND billing_date >= ? AND billing_date < ? AND resource_name IS NOT NULL",
        [month.first_day, month.next.first_day],
    )["resource_name"].to_list()
    fams = [(override or {}).get(str(i)) or book.family(str(i)) for i in ids]
    return pl.DataFrame(
        {"model": ids, "family": fams},
        schema={"model": pl.String, "family": pl.String},
    )


_PRICED_SQL = _in_month_usage("""
WITH plan_fields AS (SELECT DISTINCT provider, field FROM _pb_plans),
-- A per-bucket allowance (Neon branches: (branches per project - 1) x hours in the bucket,
-- usage-calculations.md) is taken from each stored bucket, hour or day, BEFORE buckets are summed
-- to the day: free = least(value, allowance per hour x bucket hours), per resource and bucket.
ub AS (
    SELECT u.*, coalesce((
        SELECT max(e.bucket_per_hour) FROM _pb_meters m JOIN _pb_entries e ON e.sku = m.sku
        WHERE m.provider = u.provider AND m.metric = u.metric
          AND (m.service IS NULL OR m.service = '*' OR m.service = u.service)
          AND e.kind = 'usage' AND e.bucket_per_hour > 0
          AND coalesce(a.plan, lower(json_extract_string(u.dimensions, '$.' || pf.field)), '')
              LIKE e.plan_like
          AND u.billing_date >= e.effective_from AND u.billing_date < e.effective_to
    ), 0) * (epoch(u.period_end) - epoch(u.period_start)) / 3600 AS bucket_allowance
    FROM (__MONTH_USAGE__) u
    LEFT JOIN plan_fields pf ON pf.provider = u.provider
    LEFT JOIN _pb_plans a ON a.provider = u.provider
         AND lower(a.raw) = lower(json_extract_string(u.dimensions, '$.' || pf.field))
    WHERE u.billing_date >= $first AND u.billing_date < $next
),
-- Hourly or minute buckets are summed to the billing day first (a gauge is averaged): prices
-- are dated by day, and a FOCUS row per day and resource is what invoices show.
d AS (
    SELECT u.provider, u.endpoint, u.service, u.resource_id, u.resource_name, u.metric,
           coalesce(m.unit, u.unit) AS c_unit, u.billing_date, u.dimensions, m.component, m.gauge,
           m.fallback,
           CASE WHEN u.provider = 'openai' THEN NULL
                WHEN m.sku_from_service THEN u.provider || '/' || u.service
                ELSE m.sku END AS meter_sku,
           min(u.period_start) AS period_start, max(u.period_end) AS period_end,
           sum(u.value) AS total, avg(u.value) AS mean,
           sum(least(u.value, u.bucket_allowance))::DECIMAL(38, 12) AS bucket_free
    FROM ub u
    JOIN _pb_providers p ON p.provider = u.provider
    JOIN _pb_meters m ON m.provider = u.provider AND m.metric = u.metric
         AND (m.service IS NULL OR m.service = '*' OR m.service = u.service)
    GROUP BY ALL
),
u AS (
    SELECT d.*, row_number() OVER () AS rid,
           json_extract_string(d.dimensions, '$.' || pf.field) AS raw_plan,
           f.family,
           CASE WHEN d.provider = 'openai'
                     THEN 'openai/' || coalesce(f.family, '?' || coalesce(d.resource_name, ''))
                          || '/' || d.component
                ELSE d.meter_sku END AS sku,
           CASE WHEN d.provider = 'openai' AND d.fallback IS NOT NULL
                     THEN 'openai/' || coalesce(f.family, '?' || coalesce(d.resource_name, ''))
                          || '/' || d.fallback END AS alt_sku,
           coalesce(json_extract_string(d.dimensions, '$.batch'), '') IN ('true', 'True', '1')
               AS batch,
           (CASE WHEN d.gauge THEN d.mean / $days ELSE d.total END)::DECIMAL(38, 12) AS qty
    FROM d
    LEFT JOIN plan_fields pf ON pf.provider = d.provider
    LEFT JOIN _pb_families f ON d.provider = 'openai' AND f.model = d.resource_name
),
p0 AS (
    SELECT u.*, CASE WHEN u.raw_plan IS NULL THEN '' ELSE coalesce(a.plan, lower(u.raw_plan)) END
                AS plan
    FROM u LEFT JOIN _pb_plans a ON a.provider = u.provider AND lower(a.raw) = lower(u.raw_plan)
),
-- An OpenAI service tier: a price factor (flex) or the need for entries of its own (priority).
up AS (
    SELECT p0.*, coalesce(t.factor, 1)::DECIMAL(38, 12) AS tier_factor,
           coalesce(t.own_rate, false) AS own_rate
    FROM p0 LEFT JOIN _pb_tiers t ON p0.provider = 'openai' AND t.tier = p0.plan
),
-- The component's own price first; else its fallback's (image input billed as text input).
cand AS (
    SELECT up.rid, e.*, (e.sku = up.sku) AS own_sku
    FROM up JOIN _pb_entries e
      ON e.kind = 'usage' AND (e.sku = up.sku OR e.sku = up.alt_sku) AND up.plan LIKE e.plan_like
     AND NOT (up.own_rate AND e.plan = '*')
     AND e.unit_lc = lower(up.c_unit)
     AND up.billing_date >= e.effective_from AND up.billing_date < e.effective_to
),
eff AS (
    SELECT * FROM cand
    QUALIFY row_number() OVER (PARTITION BY rid
                               ORDER BY own_sku DESC, priority DESC, plan_specific DESC) = 1
),
lst AS (
    SELECT rid, entry_id AS list_entry_id, price AS list_price, rate AS list_rate FROM cand
    WHERE priority = 0
    QUALIFY row_number() OVER (PARTITION BY rid ORDER BY own_sku DESC, plan_specific DESC) = 1
),
j AS (
    SELECT up.*, eff.entry_id, eff.pricing_unit, eff.inv_per, eff.price, eff.rate,
           eff.included, eff.included_scope, eff.bucket_per_hour,
           -- An allowance of an any-plan entry is shared across plans (Neon's 100 GB of public
           -- transfer is one org-wide allowance for Launch and Scale projects alike).
           CASE WHEN eff.plan = '*' THEN '' ELSE up.plan END AS allowance_plan,
           lst.list_entry_id, lst.list_price, lst.list_rate,
           CASE WHEN eff.included_scope = 'resource' THEN coalesce(up.resource_id, '') ELSE '' END
               AS scope_key
    FROM up LEFT JOIN eff USING (rid) LEFT JOIN lst USING (rid)
),
a AS (
    SELECT j.*,
           sum(qty) OVER (PARTITION BY provider, sku, allowance_plan, scope_key
                          ORDER BY period_start, resource_id, rid ROWS UNBOUNDED PRECEDING) AS cum
    FROM j
),
b AS (
    SELECT a.*,
           CASE WHEN entry_id IS NULL THEN qty
                ELSE greatest(0::DECIMAL(38, 12),
                              least(qty - CASE WHEN bucket_per_hour > 0 THEN bucket_free
                                               ELSE 0 END, cum - included)) END AS billable,
           (CASE WHEN batch THEN $batch::DECIMAL(38, 12) ELSE 1::DECIMAL(38, 12) END
            * tier_factor)::DECIMAL(38, 12) AS mult
    FROM a
),
c AS (
    SELECT b.*, (rate * mult)::DECIMAL(38, 18) AS erate,
           (coalesce(list_rate, rate) * mult)::DECIMAL(38, 18) AS elrate
    FROM b
)
SELECT provider, endpoint, service, resource_id, resource_name, metric, c_unit AS unit,
       period_start, period_end, billing_date, dimensions, family, component, sku, plan, batch,
       entry_id || CASE WHEN batch THEN '#batch' ELSE '' END
                || CASE WHEN tier_factor <> 1 THEN '#' || plan ELSE '' END AS entry_id,
       list_entry_id, pricing_unit, qty, billable, qty - billable AS allowance_used,
       (billable * inv_per)::DECIMAL(38, 12) AS pricing_qty,
       (price * mult)::DECIMAL(38, 12) AS unit_price,
       (coalesce(list_price, price) * mult)::DECIMAL(38, 12) AS list_unit_price,
       (billable * erate)::DECIMAL(38, 12) AS cost,
       (billable * elrate)::DECIMAL(38, 12) AS list_cost,
       'Usage' AS charge_category, 'Usage-Based' AS charge_frequency
FROM c
ORDER BY provider, period_start, sku, resource_id
""")

# Metrics with a volume that neither a meter prices nor the book's ignore list names.
_UNMETERED_SQL = _in_month_usage("""
SELECT u.provider, u.service, u.metric, u.unit, u.resource_name, sum(u.value) AS volume,
       count(*) AS rows
FROM (__MONTH_USAGE__) u
JOIN _pb_providers p ON p.provider = u.provider
LEFT JOIN _pb_meters m ON m.provider = u.provider AND m.metric = u.metric
     AND (m.service IS NULL OR m.service = '*' OR m.service = u.service)
WHERE u.billing_date >= $first AND u.billing_date < $next AND m.metric IS NULL
GROUP BY ALL
HAVING sum(u.value) <> 0
""")
