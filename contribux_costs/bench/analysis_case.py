"""Case 3, the analysis: ``CostOptimizer.analyze_usage`` over a year of hourly data at 100×.

The data keeps the conventions' shapes because it starts from the real thing: the demo
workspace's year collected by the real runner (every provider, real envelopes), then, in bulk
SQL inside DuckDB (no Python per row):

- OpenAI daily and Neon daily/monthly usage rows are spread over their hours (``1h``/``hourly``
  rows, value shared evenly), so the year is hourly as a live hourly collection would store it;
  Vercel and Upstash stay daily (their conventions' granularity);
- every usage and charge row is replicated ``scale`` times with new project/database ids and
  names (OpenAI copies keep their model, which prices them), each copy's values scaled by its
  own factor in [0.6, 1.4), so anomalies and trends are not just copies of one shape;
- the FOCUS rows of every month are rebuilt from the result (what the runner does after each
  collection), so the analysis reads 100× costs, not the demo's.

The floor is one scan of the whole usage table (``count(*)``, ``sum(value)``), timed cold in the
same process before the analysis.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from contribux_costs.bench.common import BenchError
from contribux_costs.config import Settings
from contribux_costs.periods import Month, Window
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

# One factor per copy k: deterministic, spread over [0.6, 1.4).
FACTOR = "(0.6 + ((k * 7919) % 1000) / 1250.0)"

HOURLY_SQL = """
CREATE TEMP TABLE spread AS
SELECT * REPLACE (
         period_start + INTERVAL (h) HOUR AS period_start,
         period_start + INTERVAL (h + 1) HOUR AS period_end,
         CASE provider WHEN 'openai' THEN '1h' ELSE 'hourly' END AS granularity,
         value / n AS value,
         CAST(period_start + INTERVAL (h) HOUR AS DATE) AS billing_date)
FROM (SELECT *, CAST(epoch(period_end - period_start) / 3600 AS BIGINT) AS n FROM usage
      WHERE provider IN ('openai', 'neon') AND granularity IN ('1d', 'daily', 'monthly')),
     range(n) AS r(h);
DELETE FROM usage
WHERE provider IN ('openai', 'neon') AND granularity IN ('1d', 'daily', 'monthly');
INSERT INTO usage BY NAME SELECT * EXCLUDE (n, h) FROM spread ORDER BY period_start;
DROP TABLE spread;
"""

USAGE_COPIES_SQL = f"""
INSERT INTO usage BY NAME
SELECT usage.* REPLACE (
         resource_id || '-c' || k AS resource_id,
         CASE WHEN provider = 'openai' THEN resource_name ELSE resource_name || '-c' || k END
             AS resource_name,
         value * {FACTOR} AS value,
         -- the id is unique text inside the JSON: a string replace keeps the object valid
         CASE WHEN provider = 'openai'
              THEN replace(dimensions::VARCHAR, '"' || resource_id || '"',
                           '"' || resource_id || '-c' || k || '"')
              ELSE dimensions END AS dimensions)
FROM usage, range(1, $copies) AS c(k)
WHERE resource_id IS NOT NULL AND period_start >= $start AND period_start < $end
"""

CHARGES_COPIES_SQL = f"""
INSERT INTO charges BY NAME
SELECT charges.* REPLACE (
         CAST(BilledCost * {FACTOR} AS DECIMAL(38, 12)) AS BilledCost,
         CAST(EffectiveCost * {FACTOR} AS DECIMAL(38, 12)) AS EffectiveCost,
         CAST(ListCost * {FACTOR} AS DECIMAL(38, 12)) AS ListCost,
         CAST(PricingQuantity * {FACTOR} AS DECIMAL(38, 12)) AS PricingQuantity,
         CAST(ConsumedQuantity * {FACTOR} AS DECIMAL(38, 12)) AS ConsumedQuantity,
         ResourceId || '-c' || k AS ResourceId,
         ResourceName || '-c' || k AS ResourceName,
         x_project_id || '-c' || k AS x_project_id)
FROM charges, range(1, $copies) AS c(k)
WHERE (x_project_id IS NOT NULL OR ResourceId IS NOT NULL)
  AND ChargePeriodStart >= $start AND ChargePeriodStart < $end
"""


def year_window(month: Month) -> Window:
    """Twelve months ending with ``month``."""
    first = month
    for _ in range(11):
        first = first.prev
    return Window(first.window.start, month.window.end)


def replicate(store: Store, copies: int, window: Window) -> None:
    """Add ``copies - 1`` scaled copies of ``window``'s usage and charge rows."""
    bounds = {"copies": copies, "start": window.start, "end": window.end}
    with store.transaction() as con:
        con.execute(USAGE_COPIES_SQL, bounds)
        con.execute(CHARGES_COPIES_SQL, bounds)


def rebuild_focus(store: Store, months: list[Month]) -> dict[str, float]:
    """FOCUS rows re-derived from the replicated usage, as the runner does after a collection
    (the engine prices a month itself only when it has no FOCUS rows)."""
    from contribux_costs.focus import build_focus

    seconds = {}
    for m in months:
        t0 = time.perf_counter()
        build_focus(store, m)
        seconds[str(m)] = round(time.perf_counter() - t0, 2)
    return seconds


def generate(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: collect the demo year, spread it hourly, replicate it ``scale`` times."""
    month = Month.parse(str(params["month"]))
    store = open_store(Path(params["db"]))
    store.con.execute("SET enable_progress_bar = false")
    t0 = time.perf_counter()
    report = collect(Settings(_env_file=None), store, year_window(month))
    collected = time.perf_counter() - t0
    demo_rows = store.scalar("SELECT count(*) FROM usage")
    copies = max(1, round(float(params["scale"])))
    with store.transaction() as con:
        con.execute(HOURLY_SQL)
    # Month by month: each month's copies land together (time-clustered row groups, as a
    # collection writes them) and no statement has to hold or sort the whole year.
    for m in year_window(month).months():
        replicate(store, copies, m.window)
    focus_s = rebuild_focus(store, year_window(month).months())
    store.con.execute("CHECKPOINT")
    figures = {
        "collect_demo_year_s": round(collected, 1),
        "collect_errors": [e for r in report.results.values() for e in r.errors],
        "demo_usage_rows": demo_rows,
        "usage_rows": store.scalar("SELECT count(*) FROM usage"),
        "hourly_rows": store.scalar(
            "SELECT count(*) FROM usage WHERE granularity IN ('1h', 'hourly')"
        ),
        "charge_rows": store.scalar("SELECT count(*) FROM charges"),
        "resources": store.scalar("SELECT count(DISTINCT resource_id) FROM usage"),
        "focus_rows": store.scalar("SELECT count(*) FROM focus_charges"),
        "focus_build_s_per_month": focus_s,
        "generate_s": round(time.perf_counter() - t0, 1),
    }
    store.close()
    return figures


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: one cold scan of ``usage`` (the floor), then ``analyze_usage`` twice."""
    from contribux_costs.analysis.engine import CostOptimizer

    store = open_store(Path(params["db"]))
    store.con.execute("SET enable_progress_bar = false")
    t0 = time.perf_counter()
    rows, total = store.con.execute("SELECT count(*), sum(value) FROM usage").fetchall()[0]
    scan = time.perf_counter() - t0
    out: dict[str, Any] = {"scan_s": scan, "scanned_rows": rows, "scan_sum": total}
    try:
        optimizer = CostOptimizer(store)
        t1 = time.perf_counter()
        result = optimizer.analyze_usage(str(params["month"]))
        out["seconds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        optimizer.analyze_usage(str(params["month"]))
        out["second_call_s"] = time.perf_counter() - t2
    except Exception as exc:  # the engine is still moving: report, never crash the bench
        raise BenchError(f"analyze_usage failed: {type(exc).__name__}: {exc}") from exc
    out["recommendations"] = len(result.recommendations)
    out["anomalies"] = len(result.anomalies)
    out["data_quality_notes"] = len(result.data_quality)
    store.close()
    return out
