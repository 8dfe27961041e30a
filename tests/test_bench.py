"""Smoke tests of the bench machinery at tiny sizes (the full bench is ``make bench``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest

from contribux_costs.bench import __main__ as bench_main
from contribux_costs.bench import analysis_case, collect_case
from contribux_costs.bench.common import CaseResult
from contribux_costs.bench.loopback import Loopback, max_per_window
from contribux_costs.collect.http import SlidingWindowLimiter
from contribux_costs.config import Settings
from contribux_costs.periods import Month
from contribux_costs.store import open_store

MONTH = "2025-03"


def test_main_prints_the_table_and_writes_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "latest.json"
    assert bench_main.main(["--cases", "1", "--results", "2000", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cpus"] and report["parameters"]["results"] == 2000
    [case] = report["cases"]
    assert case["case"] == "1 load path" and case["error"] is None and case["met"] is not None
    assert case["wall_s"] and case["baseline_s"] and case["rss_mb"] and case["rows_per_s"]
    assert case["ratio"] == pytest.approx(case["wall_s"] / case["baseline_s"])
    figures = case["figures"]
    real = figures["path_with_raw_landing"]
    # 2,000 completions results × 10 metrics (6 counts + uncached input + the 3 text parts
    # priced at the text rates, issue 14), one page.
    assert real["usage_rows"] == 20000 and real["raw_pages"] == 1
    assert figures["path_without_raw_landing"]["raw_pages"] == 0
    assert figures["baseline_read_json"]["rows"] == 2000
    assert figures["sql_floor_tidy_usage"]["usage_rows"] == 20000
    printed = capsys.readouterr().out
    assert "1 load path" in printed and str(out) in printed


def test_a_missed_target_and_a_failure_are_printed_as_such() -> None:
    missed = CaseResult("x", "<= 1 s", wall_s=2.0, met=False)
    failed = bench_main._guarded("9", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    text = bench_main.table([missed, failed])
    assert "MISSED" in text and "FAILED: RuntimeError: boom" in text


def test_loopback_serves_the_demo_with_latency_and_counts_requests() -> None:
    settings = Settings(_env_file=None)
    with Loopback(settings, datetime(2025, 4, 1, 6, tzinfo=UTC), delay_s=0.05) as server:
        client = httpx.Client(transport=server.transport())
        t0 = time.perf_counter()
        r = client.get(
            "https://api.openai.com/v1/organization/usage/completions",
            params={"start_time": 1740787200, "bucket_width": "1d", "limit": 2},
        )
        elapsed = time.perf_counter() - t0
        client.close()
        counts = server.counts()
    assert r.status_code == 200 and r.json()["object"] == "page"
    assert elapsed >= 0.05
    assert counts == {"openai": {"requests": 1, "max_per_minute": 1, "429": 0}}


def test_max_per_window_counts_the_busiest_minute() -> None:
    assert max_per_window([0, 10, 59.9, 60, 61, 200], 60.0) == 4
    assert max_per_window([], 60.0) == 0


def test_sliding_window_limiter_never_exceeds_its_budget() -> None:
    limiter = SlidingWindowLimiter(limit=3, window_s=0.3)
    stamps = []
    for _ in range(5):
        limiter.acquire()
        stamps.append(time.monotonic())
    assert stamps[2] - stamps[0] < 0.1  # a run up to the limit goes at once
    assert max_per_window(stamps, 0.3) == 3
    assert stamps[3] - stamps[0] >= 0.3


def test_collection_workloads_need_20_requests_each(tmp_path: Path) -> None:
    params = {"month": MONTH, "db": str(tmp_path / "c.duckdb"), "delay_s": 0.0}
    result = collect_case.run({**params, "providers": list(collect_case.PROVIDERS)})
    requests = result["requests"]
    assert set(requests) == set(collect_case.PROVIDERS)
    assert all(r["requests"] >= 20 and r["429"] == 0 for r in requests.values()), requests
    assert requests["neon"]["max_per_minute"] <= 30
    assert result["usage_rows"] > 0


def test_analysis_data_spreads_hours_and_replicates_resources(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a.duckdb")
    day = datetime(2025, 3, 1, tzinfo=UTC)
    usage = pl.DataFrame(
        {
            "provider": ["openai", "vercel"],
            "endpoint": ["usage/completions", "billing/charges"],
            "service": ["completions", "Function Invocations"],
            "resource_id": ["proj_a", "prj_v"],
            "resource_name": ["gpt-4o-2024-08-06", "web"],
            "metric": ["input_tokens", "consumed_quantity"],
            "unit": ["tokens", "invocations"],
            "period_start": [day, day],
            "period_end": [day.replace(day=2), day.replace(day=2)],
            "granularity": ["1d", "1d"],
            "value": [2400.0, 10.0],
            "dimensions": ['{"project_id":"proj_a","model":"gpt-4o-2024-08-06"}', None],
            "billing_date": [date(2025, 3, 1)] * 2,
        }
    )
    with store.transaction() as con:
        store.insert_frame(con, "usage", usage)
        con.execute(analysis_case.HOURLY_SQL)
    analysis_case.replicate(store, 3, Month.parse(MONTH).window)
    analysis_case.replicate(store, 3, Month.parse("2025-04").window)  # no row there: no copy
    hours = store.query(
        "SELECT count(*) AS n, sum(value) AS v FROM usage WHERE resource_id = 'proj_a'"
    ).row(0)
    assert hours == (24, pytest.approx(2400.0))  # one day spread over its 24 hours
    copies = store.query(
        "SELECT resource_id, any_value(resource_name) AS name, any_value(dimensions) AS d "
        "FROM usage WHERE provider = 'openai' GROUP BY 1 ORDER BY 1"
    )
    assert copies["resource_id"].to_list() == ["proj_a", "proj_a-c1", "proj_a-c2"]
    assert set(copies["name"].to_list()) == {"gpt-4o-2024-08-06"}  # models keep their price
    assert json.loads(copies["d"][1])["project_id"] == "proj_a-c1"
    vercel = store.query("SELECT resource_name FROM usage WHERE provider = 'vercel' ORDER BY 1")
    assert vercel["resource_name"].to_list() == ["web", "web-c1", "web-c2"]
    store.close()
