"""The demo OpenAI API: real envelopes, deterministic, honours the real query parameters."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import polars as pl
import pytest

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients
from contribux_costs.collect.openai.collector import OpenAICollector, validate_page
from contribux_costs.config import Settings
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.openai import (
    DEMO_PRICES,
    PRIORITY_PRICES,
    UNEXPLAINED_DAILY,
    UNEXPLAINED_LINE_ITEM,
    WEB_SEARCH_DAILY_CALLS,
    WEB_SEARCH_LINE_ITEM,
)
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.periods import Month

JAN = Month(2025, 1)
LATER = datetime(2026, 1, 1, tzinfo=UTC)
GROUPED = ["model", "project_id"]


def client(now: datetime = LATER) -> httpx.Client:
    transport = demo_transport(Settings(), DemoModel(), DemoClock(now))
    return httpx.Client(transport=transport, base_url="https://api.openai.com/v1/")


def get(path: str, start: datetime, days: float, now: datetime = LATER, **params: Any) -> Any:
    query = {
        "start_time": int(start.timestamp()),
        "end_time": int(start.timestamp() + days * 86400),
    }
    response = client(now).get(path, params={**query, **params})
    assert response.status_code == 200, response.text
    return response.json()


def totals(page: Any) -> dict[tuple[str, str], list[int]]:
    """(project, model) → [requests, input, cached, output] summed over every bucket."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for bucket in page["data"]:
        for r in bucket["results"]:
            acc = out[(r["project_id"], r["model"])]
            acc[0] += r["num_model_requests"]
            acc[1] += r["input_tokens"]
            acc[2] += r.get("input_cached_tokens", 0)
            acc[3] += r.get("output_tokens", 0)
    return dict(out)


def test_same_request_gives_the_same_bytes() -> None:
    params = {"start_time": 1735689600, "limit": 5, "group_by": GROUPED}
    first = client().get("organization/usage/completions", params=params)
    second = client().get("organization/usage/completions", params=params)
    assert first.status_code == 200 and first.content == second.content
    validate_page(first.json(), "usage/completions")  # the real envelope
    assert first.json()["data"][0]["results"][0]["object"] == (
        "organization.usage.completions.result"
    )


def run_collector(limit: int) -> Any:
    settings = Settings()
    transport = demo_transport(settings, DemoModel(), DemoClock(LATER))
    ctx = CollectContext(settings, HttpClients(settings, transport), now=lambda: LATER)
    return OpenAICollector(limit=limit).fetch(Task("usage/completions", JAN.window), ctx)


def test_small_limit_walks_pages_and_gives_the_same_rows_as_one_page() -> None:
    paged, whole = run_collector(3), run_collector(31)
    assert len(paged.raw) == 11 and len(whole.raw) == 1  # ceil(31 / 3) pages
    cursors = [p.params.get("page") for p in paged.raw]
    assert cursors[0] is None and len(set(cursors[1:])) == 10
    assert all(p.params["limit"] == 3 for p in paged.raw)
    order = ["period_start", "resource_id", "resource_name", "metric"]
    a, b = paged.tables["usage"].sort(order), whole.tables["usage"].sort(order)
    assert a.height == b.height > 0 and a.equals(b)


def test_hourly_buckets_sum_to_the_daily_bucket_and_minutes_to_the_hour() -> None:
    day = datetime(2025, 1, 14, tzinfo=UTC)
    path = "organization/usage/completions"
    daily = get(path, day, 1, bucket_width="1d", group_by=GROUPED)
    hourly = get(path, day, 1, bucket_width="1h", limit=24, group_by=GROUPED)
    assert len(hourly["data"]) == 24 and not hourly["has_more"]
    assert totals(hourly) == totals(daily)
    hour = day + timedelta(hours=18)
    minutes = get(path, hour, 1 / 24, bucket_width="1m", limit=60, group_by=GROUPED)
    one_hour = get(path, hour, 1 / 24, bucket_width="1h", group_by=GROUPED)
    assert len(minutes["data"]) == 60 and totals(minutes) == totals(one_hour)


def test_ungrouped_results_have_null_dimensions_and_sum_the_groups() -> None:
    day = datetime(2025, 1, 14, tzinfo=UTC)
    grouped = get("organization/usage/embeddings", day, 1, group_by=GROUPED)
    flat = get("organization/usage/embeddings", day, 1)
    (result,) = flat["data"][0]["results"]
    assert result["project_id"] is None and result["model"] is None
    assert result["input_tokens"] == sum(v[1] for v in totals(grouped).values())


def test_spike_day_has_about_six_times_the_gpt4o_traffic() -> None:
    page = get("organization/usage/completions", JAN.window.start, 31, limit=31, group_by=GROUPED)
    daily = {
        datetime.fromtimestamp(b["start_time"], UTC).date(): {
            (r["project_id"], r["model"]): r["num_model_requests"] for r in b["results"]
        }
        for b in page["data"]
    }
    spike = DemoModel().spike_day(JAN)
    key = ("proj_contribux_prod", "gpt-4o-2024-08-06")
    neighbours = [daily[spike - timedelta(days=7)][key], daily[spike + timedelta(days=7)][key]]
    ratio = daily[spike][key] / (sum(neighbours) / 2)
    assert 5.0 <= ratio <= 7.0
    mini = ("proj_contribux_prod", "gpt-4o-mini-2024-07-18")
    assert daily[spike][mini] < 1.5 * daily[spike - timedelta(days=7)][mini]  # only gpt-4o


def test_costs_equal_usage_times_prices_except_the_planted_line_item() -> None:
    # Issue 14: Batch rows are billed at 50%, priority rows at their own prices; image input and
    # cache writes as input (input − cached = uncached text + image + cache writes, 2026 shape).
    day = datetime(2025, 9, 20, tzinfo=UTC)  # after gpt-5's launch
    slices = [*GROUPED, "batch", "service_tier"]
    usage = get("organization/usage/completions", day, 1, group_by=slices)
    usage["data"][0]["results"] += get("organization/usage/embeddings", day, 1, group_by=GROUPED)[
        "data"
    ][0]["results"]
    costs = get("organization/costs", day, 1, group_by=["line_item", "project_id"])
    billed = {
        (r["project_id"], r["line_item"]): Decimal(r["amount"]["value"])
        for r in costs["data"][0]["results"]
    }
    assert all(isinstance(r["amount"]["value"], str) for r in costs["data"][0]["results"])
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in usage["data"][0]["results"]:
        project, model = r["project_id"], r["model"]
        table = PRIORITY_PRICES if r.get("service_tier") == "priority" else DEMO_PRICES
        p_in, p_cached, p_out = table[model]
        f = Decimal("0.5") if r.get("batch") else Decimal(1)
        inp, cached = r["input_tokens"], r.get("input_cached_tokens", 0)
        expected[(project, f"{model}, input")] += (inp - cached) * p_in * f / 1_000_000
        if not model.startswith("text-embedding"):
            expected[(project, f"{model}, cached input")] += cached * p_cached * f / 1_000_000
            expected[(project, f"{model}, output")] += r["output_tokens"] * p_out * f / 1_000_000
    planted = billed.pop(("proj_contribux_prod", UNEXPLAINED_LINE_ITEM))
    assert planted == UNEXPLAINED_DAILY
    # Web search is billed from the calls the web_search_calls endpoint reports ($10 per 1K).
    web = get("organization/usage/web_search_calls", day, 1, group_by=["model", "project_id"])
    [calls] = [r["num_requests"] for r in web["data"][0]["results"]]
    assert calls == WEB_SEARCH_DAILY_CALLS
    assert billed.pop(("proj_contribux_prod", WEB_SEARCH_LINE_ITEM)) == calls * Decimal("0.01")
    assert billed == expected
    batched = [r for r in usage["data"][0]["results"] if r.get("batch")]
    assert batched and {r["model"] for r in batched} == {"gpt-4o-mini-2024-07-18"}
    assert any(r["model"].startswith("gpt-5") for r in usage["data"][0]["results"])


def test_web_search_calls_accrue_by_bucket() -> None:
    day = datetime(2025, 1, 20, tzinfo=UTC)
    hourly = get(
        "organization/usage/web_search_calls",
        day,
        1,
        bucket_width="1h",
        limit=24,
        group_by=["model"],
    )
    per_hour = [sum(r["num_requests"] for r in b["results"]) for b in hourly["data"]]
    assert len(per_hour) == 24 and sum(per_hour) == WEB_SEARCH_DAILY_CALLS


def test_a_day_is_billed_only_after_it_ends_while_usage_is_partial() -> None:
    now = datetime(2025, 1, 15, 12, tzinfo=UTC)
    day = datetime(2025, 1, 15, tzinfo=UTC)
    costs = get("organization/costs", day - timedelta(days=1), 2, now=now)
    assert costs["data"][0]["results"] != [] and costs["data"][1]["results"] == []
    partial = totals(get("organization/usage/embeddings", day, 1, now=now, group_by=GROUPED))
    full = totals(get("organization/usage/embeddings", day, 1, group_by=GROUPED))
    assert 0 < sum(v[0] for v in partial.values()) < sum(v[0] for v in full.values())
    future = get("organization/usage/embeddings", day + timedelta(days=1), 1, now=now)
    assert future["data"][0]["results"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("organization/usage/completions", {"limit": 32}),
        ("organization/usage/completions", {"bucket_width": "1h", "limit": 169}),
        ("organization/usage/completions", {"bucket_width": "1w"}),
        ("organization/costs", {"bucket_width": "1h"}),
        ("organization/costs", {"limit": 181}),
    ],
)
def test_out_of_range_parameters_get_a_400_like_the_real_api(
    path: str, params: dict[str, Any]
) -> None:
    response = client().get(path, params={"start_time": 1735689600, **params})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_default_limit_is_seven_daily_buckets() -> None:
    page = client().get(
        "organization/costs", params={"start_time": 1735689600, "end_time": 1738368000}
    )
    body = page.json()
    assert len(body["data"]) == 7 and body["has_more"] and body["next_page"].startswith("page_")


def test_collector_frame_from_demo_has_the_tidy_columns() -> None:
    usage = run_collector(31).tables["usage"]
    assert set(usage["metric"].unique()) >= {
        "input_tokens",
        "input_cached_tokens",
        "input_uncached_tokens",
        "output_tokens",
        "num_model_requests",
        # 2026 shape (issue 14): the parts priced at their own rates.
        "input_text_tokens",
        "input_cached_text_tokens",
        "input_cache_write_tokens",
        "input_image_tokens",
        "output_text_tokens",
    }
    assert usage.filter(pl.col("value") < 0).height == 0
    assert usage["period_start"].dt.day().n_unique() == 31


def test_a_foreign_cursor_gets_a_400_not_a_crash() -> None:
    params = {"start_time": 1735689600, "page": "page_not-base64!"}
    response = client().get("organization/usage/completions", params=params)
    assert response.status_code == 400 and "invalid page cursor" in response.text


def test_models_and_project_ids_filters_are_honoured() -> None:
    day = datetime(2025, 1, 14, tzinfo=UTC)
    mini = "gpt-4o-mini-2024-07-18"
    page = get(
        "organization/usage/completions",
        day,
        1,
        group_by=GROUPED,
        models=[mini],
        project_ids=["proj_contribux_dev"],
    )
    assert list(totals(page)) == [("proj_contribux_dev", mini)]


def test_unknown_host_is_a_404_from_the_demo_transport() -> None:
    response = client().get("https://example.invalid/v1/anything")
    assert response.status_code == 404 and "no host example.invalid" in response.text
