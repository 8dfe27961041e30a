"""Case 1, the load path: OpenAI usage pages → collector parse/validate/normalize → DuckDB.

The timed path is the production one: ``OpenAICollector.fetch`` (pages served from memory by an
``httpx`` transport, so no network time is in it) and ``Store.write_slice`` into a DuckDB file,
raw page landing included (it is part of every real collection). The baseline is DuckDB's own
``read_json`` of the same records as NDJSON into a table of the same database kind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contribux_costs.bench.openai_data import Plan, page_cursor, write_ndjson, write_pages


def generate(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: write the pages and the NDJSON (not timed as part of either side)."""
    plan = Plan(int(params["results"]))
    folder = Path(params["folder"])
    pages = write_pages(plan, folder / "pages")
    rows = write_ndjson(plan, folder / "records.ndjson")
    return {
        "results": rows,
        "pages": len(pages),
        "page_mb": round(sum(p.stat().st_size for p in pages) / 1e6, 1),
        "ndjson_mb": round((folder / "records.ndjson").stat().st_size / 1e6, 1),
    }


def baseline(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: DuckDB ``read_json`` of the NDJSON into a table (the floor)."""
    import duckdb

    con = duckdb.connect(str(params["db"]))
    con.execute("SET enable_progress_bar = false")
    path = str(params["ndjson"]).replace("'", "''")
    t0 = time.perf_counter()
    con.execute(
        f"CREATE TABLE records AS SELECT * FROM read_json('{path}', format='newline_delimited')"
    )
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t0
    rows = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "rows": rows}


def sql_floor(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: the same records into the tidy ``usage`` table by SQL alone (read_json +
    UNPIVOT in DuckDB, no Python per page): the floor for *this* table layout, which has one row
    per metric (~7 per result) and a JSON column that DuckDB validates row by row."""
    from contribux_costs.store import open_store

    store = open_store(params["db"])
    store.con.execute("SET enable_progress_bar = false")
    path = str(params["ndjson"]).replace("'", "''")
    t0 = time.perf_counter()
    store.con.execute(FLOOR_SQL.replace("{path}", path))
    store.con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t0
    rows = store.scalar("SELECT count(*) FROM usage")
    store.close()
    return {"seconds": seconds, "usage_rows": rows}


FLOOR_SQL = """
INSERT INTO usage BY NAME
WITH w AS (SELECT * FROM read_json('{path}', format = 'newline_delimited')),
u AS (
    UNPIVOT (SELECT *, input_tokens - coalesce(input_cached_tokens, 0) AS input_uncached_tokens,
                    input_tokens - coalesce(input_cached_tokens, 0) AS input_text_tokens,
                    coalesce(input_cached_tokens, 0) AS input_cached_text_tokens,
                    output_tokens AS output_text_tokens
             FROM w)
    ON input_tokens, output_tokens, input_cached_tokens, input_audio_tokens,
       output_audio_tokens, num_model_requests, input_uncached_tokens, input_text_tokens,
       input_cached_text_tokens, output_text_tokens
    INTO NAME metric VALUE value
)
SELECT 'openai' AS provider, 'usage/completions' AS endpoint, 'completions' AS service,
       project_id AS resource_id, model AS resource_name, metric,
       CASE WHEN metric = 'num_model_requests' THEN 'requests' ELSE 'tokens' END AS unit,
       to_timestamp(start_time) AS period_start, to_timestamp(end_time) AS period_end,
       '1m' AS granularity, value::DOUBLE AS value,
       json_object('project_id', project_id, 'model', model, 'user_id', user_id,
                   'api_key_id', api_key_id, 'batch', batch, 'service_tier', service_tier)
           AS dimensions,
       to_timestamp(start_time)::DATE AS billing_date
FROM u
"""


def path(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: the collector's fetch of every page and the store's slice write."""
    from contribux_costs.collect.base import CollectContext, Task
    from contribux_costs.collect.http import HttpClients
    from contribux_costs.collect.openai import collector as openai_collector
    from contribux_costs.config import Settings
    from contribux_costs.store import open_store

    plan = Plan(int(params["results"]))
    pages = sorted(Path(params["pages"]).glob("page_*.json"))
    settings = Settings(openai_admin_key="sk-bench-not-a-key")
    clients = HttpClients(settings, serve_pages(pages))
    ctx = CollectContext(settings, clients, now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    store = open_store(params["db"])
    store.con.execute("SET enable_progress_bar = false")
    collector = openai_collector.OpenAICollector(bucket_width="1m")
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    sw = collector.fetch(Task("usage/completions", plan.window), ctx)
    t1 = time.perf_counter()
    if not params.get("raw", True):
        sw.raw = []
    store.write_slice(sw, {"run_id": "bench", "started_at": started})
    store.con.execute("CHECKPOINT")
    t2 = time.perf_counter()
    usage_rows = store.scalar("SELECT count(*) FROM usage")
    raw_pages = store.scalar("SELECT count(*) FROM raw_payloads")
    store.close()
    return {
        "seconds": t2 - t0,
        "fetch_parse_normalize_s": t1 - t0,
        "write_slice_s": t2 - t1,
        "results": plan.results,
        "usage_rows": usage_rows,
        "raw_pages": raw_pages,
        "requests": len(pages),
    }


def serve_pages(pages: list[Path]) -> httpx.MockTransport:
    """Answers each request with the page its ``page`` cursor points at, read from its file
    when asked (as a network delivers one page at a time)."""
    index = {page_cursor(k): k for k in range(1, len(pages))}

    def handle(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("page")
        k = 0 if cursor is None else index[cursor]
        headers = {"content-type": "application/json; charset=utf-8"}
        return httpx.Response(200, content=pages[k].read_bytes(), headers=headers)

    return httpx.MockTransport(handle)
