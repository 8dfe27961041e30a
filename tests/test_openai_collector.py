"""OpenAI Usage/Costs collector against recorded-style payloads in the API's real format."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.openai.collector import (
    MAX_LIMIT,
    OpenAICollector,
    costs_frame,
    parse_amount,
)
from contribux_costs.collect.openai.tools import TOOL_METRICS
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.errors import CollectError, ConfigError, SchemaError
from contribux_costs.periods import Window
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
KEY = "sk-admin-PLANTED-SECRET-123"
D0 = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW = Window(D0, D0 + timedelta(days=3))
COMPLETIONS = "/v1/organization/usage/completions"
EMBEDDINGS = "/v1/organization/usage/embeddings"
COSTS = "/v1/organization/costs"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


class FakeOpenAI:
    """Serves fixture pages per path, following ``page`` cursors; records every request.

    ``before`` holds responses served first (e.g. a 429) regardless of path.
    """

    def __init__(self, routes: dict[str, list[dict[str, Any]]]) -> None:
        self.routes = routes
        self.before: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before:
            return self.before.pop(0)
        pages = self.routes.get(request.url.path)
        if pages is None:
            return httpx.Response(404, json={"error": {"message": "no route"}})
        cursor = request.url.params.get("page")
        index = 0
        if cursor is not None:
            index = 1 + next(i for i, p in enumerate(pages) if p.get("next_page") == cursor)
        return httpx.Response(200, json=pages[index])


EMPTY_PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}
TOOLS = {k: f"/v1/organization/usage/{k}" for k in TOOL_METRICS}
ENDPOINTS = ["usage/completions", "usage/embeddings", *(f"usage/{k}" for k in TOOL_METRICS)]


def good_routes() -> dict[str, list[dict[str, Any]]]:
    return {
        COMPLETIONS: [load(f"usage_completions_page{i}") for i in (1, 2, 3)],
        EMBEDDINGS: [load("usage_embeddings")],
        COSTS: [load("costs_page1"), load("costs_page2")],
        **{path: [dict(EMPTY_PAGE)] for path in TOOLS.values()},
        TOOLS["web_search_calls"]: [load("tool_web_search_calls")],
    }


def make_ctx(fake: FakeOpenAI, sleeps: list[float], tries: int = 3) -> CollectContext:
    settings = Settings(openai_admin_key=KEY)  # type: ignore[arg-type]
    policy = RetryPolicy(max_tries=tries, sleep=sleeps.append)
    clients = HttpClients(settings, httpx.MockTransport(fake), policy)
    return CollectContext(settings, clients, now=lambda: datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def sleeps() -> list[float]:
    return []


def fetch(
    fake: FakeOpenAI, endpoint: str, sleeps: list[float], collector: OpenAICollector | None = None
) -> Any:
    return (collector or OpenAICollector()).fetch(Task(endpoint, WINDOW), make_ctx(fake, sleeps))


def metric(frame: pl.DataFrame, name: str, **where: object) -> list[float]:
    rows = frame.filter(pl.col("metric") == name)
    for col, val in where.items():
        rows = rows.filter(pl.col(col) == val)
    return [float(v) for v in rows["value"].to_list()]


# -- usage ------------------------------------------------------------------------------------
def test_usage_follows_three_pages_and_sends_the_documented_query(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    sw = fetch(fake, "usage/completions", sleeps, OpenAICollector(limit=1))

    assert [r.url.path for r in fake.requests] == [COMPLETIONS] * 3
    pages = [r.url.params.get("page") for r in fake.requests]
    assert pages == [None, "page_AAAAAGd6ZWxsbw", "page_AAAAAGd6ZW5kMg"]
    for r in fake.requests:
        q = r.url.params
        assert q["start_time"] == str(int(D0.timestamp()))
        assert q["end_time"] == str(int(D0.timestamp()) + 3 * 86400)
        assert q["bucket_width"] == "1d"
        assert q["limit"] == "1"
        # Repeated key, not a CSV; batch and service_tier so those rows are priced at their own
        # rates, api_key_id for attribution (openapi.yaml /organization/usage/completions).
        assert q.get_list("group_by") == [
            "model", "project_id", "api_key_id", "batch", "service_tier"
        ]  # fmt: skip
        assert r.headers["authorization"] == f"Bearer {KEY}"
    assert sleeps == []
    assert len(sw.raw) == 3 and sw.raw[1].params["page"] == "page_AAAAAGd6ZWxsbw"

    usage = sw.tables["usage"]
    # 3 results × 10 metrics (6 numeric fields + the derived uncached input + the 3 text parts
    # priced at the text rates: input_text, input_cached_text, output_text).
    assert usage.height == 30
    # The empty middle bucket (results: []) yields no rows.
    days = set(usage["period_start"].dt.day().to_list())
    assert days == {1, 3}
    assert set(usage["granularity"].to_list()) == {"1d"}
    mini = {"resource_name": "gpt-4o-mini-2024-07-18", "resource_id": "proj_abc123"}
    assert metric(usage, "input_tokens", **mini) == [120000]
    assert metric(usage, "input_cached_tokens", **mini) == [40000]
    # 2025 definition: input_tokens includes the cached part.
    assert metric(usage, "input_uncached_tokens", **mini) == [80000]
    assert metric(usage, "input_uncached_tokens", resource_name="gpt-4o-2024-08-06") == [300000]
    # 2025 shape: the text parts are input − cached, cached, and output.
    assert metric(usage, "input_text_tokens", **mini) == [80000]
    assert metric(usage, "input_cached_text_tokens", **mini) == [40000]
    units = dict(zip(usage["metric"], usage["unit"], strict=True))
    assert units["num_model_requests"] == "requests" and units["output_tokens"] == "tokens"
    assert set(usage["service"].to_list()) == {"completions"}
    dims = json.loads(usage["dimensions"][0])
    assert dims["project_id"] == "proj_abc123" and dims["model"].startswith("gpt-4o")


def test_ungrouped_results_have_null_dimensions(sleeps: list[float]) -> None:
    fake = FakeOpenAI({COMPLETIONS: [load("usage_completions_ungrouped")]})
    usage = fetch(fake, "usage/completions", sleeps).tables["usage"]
    assert usage["resource_id"].null_count() == usage.height
    assert usage["resource_name"].null_count() == usage.height
    dims = json.loads(usage["dimensions"][0])
    assert dims["project_id"] is None and dims["model"] is None
    assert metric(usage, "input_uncached_tokens") == [125000 - 41000]


def test_2026_input_uncached_tokens_wins_over_the_derivation(sleeps: list[float]) -> None:
    fake = FakeOpenAI({COMPLETIONS: [load("usage_completions_2026")]})
    usage = fetch(fake, "usage/completions", sleeps).tables["usage"]
    # input − cached would be 70000; the 2026 field says 65000 (cache writes billed apart).
    assert metric(usage, "input_uncached_tokens") == [65000]
    assert metric(usage, "input_cache_write_tokens") == [5000]
    assert json.loads(usage["dimensions"][0])["service_tier"] == "default"


def test_2026_field_null_falls_back_to_input_minus_cached(sleeps: list[float]) -> None:
    page = load("usage_completions_2026")
    page["data"][0]["results"][0]["input_uncached_tokens"] = None
    usage = fetch(FakeOpenAI({COMPLETIONS: [page]}), "usage/completions", sleeps).tables["usage"]
    assert metric(usage, "input_uncached_tokens") == [70000]


def test_embeddings(sleeps: list[float]) -> None:
    fake = FakeOpenAI({EMBEDDINGS: [load("usage_embeddings")]})
    sw = fetch(fake, "usage/embeddings", sleeps)
    usage = sw.tables["usage"]
    assert fake.requests[0].url.path == EMBEDDINGS
    assert sw.endpoint == "usage/embeddings"
    assert sorted(usage["metric"].to_list()) == ["input_tokens", "num_model_requests"]
    assert set(usage["service"].to_list()) == {"embeddings"}
    assert metric(usage, "input_tokens") == [640000]


def test_all_buckets_empty_gives_an_empty_slice(sleeps: list[float]) -> None:
    page = load("usage_embeddings")
    page["data"][0]["results"] = []
    sw = fetch(FakeOpenAI({EMBEDDINGS: [page]}), "usage/embeddings", sleeps)
    assert sw.rows == 0 and len(sw.raw) == 1


# -- costs ------------------------------------------------------------------------------------
def test_costs_amounts_are_exact_decimals_in_duckdb(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    sw = fetch(fake, "costs", sleeps)
    q = fake.requests[0].url.params
    assert fake.requests[0].url.path == COSTS
    assert q["bucket_width"] == "1d" and q["limit"] == "180"
    assert q.get_list("group_by") == ["line_item", "project_id", "api_key_id"]
    assert fake.requests[1].url.params["page"] == "page_AAAAAGdjb3N0cw"

    store = open_store()
    store.write_slice(sw, {"started_at": datetime.now(UTC)})
    rows = store.query(
        "SELECT x_line_item, BilledCost::VARCHAR AS billed, BillingCurrency, x_billing_date "
        "FROM charges ORDER BY ChargePeriodStart, x_line_item"
    )
    billed = dict(zip(rows["x_line_item"], rows["billed"], strict=True))
    assert billed["text-embedding-3-small, input"] == "0.000004500000"  # from a long string
    assert billed["gpt-4o-mini-2024-07-18, input"] == "0.012300000000"  # from a JSON number
    assert billed["web search tool calls"] == "3.500000000000"
    assert set(rows["BillingCurrency"].to_list()) == {"USD"}
    assert str(rows["x_billing_date"][0]) == "2025-01-01"
    total = store.scalar("SELECT sum(BilledCost) FROM charges")
    assert total == Decimal("4.5048045")
    assert store.scalar("SELECT typeof(BilledCost) FROM charges LIMIT 1") == "DECIMAL(38,12)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.00000450000000000000", "0.00000450000000000000"),
        (0.1, "0.1"),
        (3, "3"),
        ("1e-7", "1E-7"),
    ],
)
def test_parse_amount_never_goes_through_float_sums(value: object, expected: str) -> None:
    assert parse_amount(value) == Decimal(expected)


@pytest.mark.parametrize("value", [None, True, "abc", "NaN", {"v": 1}])
def test_parse_amount_rejects_non_numbers(value: object) -> None:
    with pytest.raises(SchemaError, match=r"openai costs: amount\.value"):
        parse_amount(value)


# -- limits per bucket width -------------------------------------------------------------------
@pytest.mark.parametrize(("width", "expected"), [("1d", 31), ("1h", 168), ("1m", 1440)])
def test_default_limit_is_the_maximum_for_the_bucket_width(
    width: str, expected: int, sleeps: list[float]
) -> None:
    fake = FakeOpenAI({EMBEDDINGS: [load("usage_embeddings")]})
    fetch(fake, "usage/embeddings", sleeps, OpenAICollector(bucket_width=width))
    assert fake.requests[0].url.params["limit"] == str(expected) == str(MAX_LIMIT[width])
    assert fake.requests[0].url.params["bucket_width"] == width


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket_width": "1d", "limit": 32},
        {"bucket_width": "1h", "limit": 169},
        {"bucket_width": "1m", "limit": 0},
        {"bucket_width": "1w"},
        {"costs_limit": 181},
    ],
)
def test_out_of_range_limits_are_refused_before_any_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="OpenAI"):
        OpenAICollector(**kwargs)


def test_web_search_calls_become_usage_priced_per_call(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    sw = fetch(fake, "usage/web_search_calls", sleeps)
    assert fake.requests[0].url.path == TOOLS["web_search_calls"]
    assert fake.requests[0].url.params.get_list("group_by") == ["model", "project_id"]
    usage = sw.tables["usage"]
    assert usage.select("service", "resource_id", "resource_name", "metric", "unit").row(0) == (
        "web_search_calls",
        "proj_abc123",
        "web-search",
        "num_requests",
        "calls",
    )
    assert usage["value"].to_list() == [350.0]
    assert json.loads(usage["dimensions"][0])["model"] == "gpt-4o-2024-08-06"


def test_a_tool_result_without_its_volume_field_fails_the_window(sleeps: list[float]) -> None:
    page = load("tool_web_search_calls")
    del page["data"][0]["results"][0]["num_requests"]
    with pytest.raises(SchemaError, match="no 'num_requests'"):
        fetch(FakeOpenAI({TOOLS["web_search_calls"]: [page]}), "usage/web_search_calls", sleeps)


def test_tasks_align_to_utc_midnight_and_never_ask_for_the_future() -> None:
    ctx = make_ctx(FakeOpenAI({}), [])
    ctx.now = lambda: D0 + timedelta(days=2, hours=5)
    tasks = OpenAICollector().tasks(Window(D0 + timedelta(hours=13), D0 + timedelta(days=9)), ctx)
    assert [t.endpoint for t in tasks] == [*ENDPOINTS, "costs"]
    assert {t.window for t in tasks} == {Window(D0, D0 + timedelta(days=2, hours=5))}


# -- retries and errors ------------------------------------------------------------------------
def test_429_with_retry_after_then_success(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    fake.before = [httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {}})]
    sw = fetch(fake, "usage/embeddings", sleeps)
    assert sleeps == [7.0]
    assert len(fake.requests) == 2
    assert fake.requests[0].url == fake.requests[1].url  # the same request is retried
    assert metric(sw.tables["usage"], "input_tokens") == [640000]


def test_500_then_success(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    fake.before = [httpx.Response(500, text="Internal Server Error")]
    sw = fetch(fake, "usage/embeddings", sleeps)
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 0.5  # first backoff step of the default policy
    assert sw.rows == 2


def test_retry_gives_up_naming_provider_and_endpoint(sleeps: list[float]) -> None:
    fake = FakeOpenAI(good_routes())
    fake.before = [httpx.Response(503, text="overloaded")] * 5
    with pytest.raises(CollectError) as info:
        fetch(fake, "costs", sleeps)
    err = info.value
    assert (err.provider, err.endpoint, err.status) == ("openai", "costs", 503)
    assert str(err).startswith("openai costs (HTTP 503): still failing after 3 tries")
    assert len(fake.requests) == 3 and len(sleeps) == 2


def corrupt(name: str, change: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    routes = good_routes()
    path = COSTS if name == "costs" else COMPLETIONS
    pages = copy.deepcopy(routes[path])
    change(pages[1])
    return pages


def _amount_missing(p: dict[str, Any]) -> None:
    del p["data"][0]["results"][0]["amount"]


def _repeat_cursor(p: dict[str, Any]) -> None:
    p["next_page"] = "page_AAAAAGd6ZWxsbw"  # page 1's cursor again


def _count_as_text(p: dict[str, Any]) -> None:
    result = load("usage_completions_page3")["data"][0]["results"][0]
    p["data"][0]["results"] = [{**result, "input_tokens": "5000"}]


MALFORMED = [
    ("usage/completions", lambda p: p.update(data={"bucket": 1}), "page has no 'data' list"),
    ("usage/completions", lambda p: p.update(object="list"), "not a page object"),
    ("usage/completions", lambda p: p["data"][0].pop("results"), "bucket 0 has no 'results'"),
    ("usage/completions", lambda p: p.update(next_page=None), "has_more is true but next_page"),
    ("usage/completions", _repeat_cursor, "cursor 'page_AAAAAGd6ZWxsbw' repeated"),
    ("costs", _amount_missing, "a costs result has no amount.value"),
    ("usage/completions", _count_as_text, "field 'input_tokens' is String, not a number"),
]


@pytest.mark.parametrize(("endpoint", "change", "what"), MALFORMED)
def test_malformed_page_raises_schema_error_naming_provider_endpoint_and_problem(
    endpoint: str, change: Callable[[dict[str, Any]], None], what: str, sleeps: list[float]
) -> None:
    routes = good_routes()
    routes[COSTS if endpoint == "costs" else COMPLETIONS] = corrupt(endpoint, change)
    with pytest.raises(SchemaError) as info:
        fetch(FakeOpenAI(routes), endpoint, sleeps, OpenAICollector(limit=1))
    assert info.value.provider == "openai" and info.value.endpoint == endpoint
    assert str(info.value).startswith(f"openai {endpoint}: ")
    assert what in str(info.value)
    assert sleeps == []  # a malformed page is not retried


# -- through the runner and the store ----------------------------------------------------------
def run(store: Store, fake: FakeOpenAI, sleeps: list[float]) -> Any:
    settings = Settings(openai_admin_key=KEY)  # type: ignore[arg-type]
    ws = Workspace(["openai"], httpx.MockTransport(fake), demo=False)
    policy = RetryPolicy(max_tries=3, sleep=sleeps.append)
    return collect(settings, store, WINDOW, workspace=ws, policy=policy)


def snapshot(store: Store) -> tuple[Any, ...]:
    usage = store.query("SELECT count(*) AS n, sum(value) AS s FROM usage").row(0)
    charges = store.query("SELECT count(*) AS n, sum(BilledCost) AS s FROM charges").row(0)
    raw = store.scalar("SELECT count(*) FROM raw_payloads")
    return usage, charges, raw


@pytest.mark.parametrize(("endpoint", "change", "what"), [MALFORMED[0], MALFORMED[5]])
def test_malformed_page_leaves_the_windows_earlier_data_intact(
    endpoint: str, change: Callable[[dict[str, Any]], None], what: str, sleeps: list[float]
) -> None:
    store = open_store()
    fake = FakeOpenAI(good_routes())
    first = run(store, fake, sleeps)
    assert first.ok, first.summary_lines()
    before = snapshot(store)
    # 30 completions rows (10 metrics: the 3 text parts added) + 2 embeddings rows + 1 web-search
    # row; 6 pages + one per tool endpoint.
    assert before[0][0] == 33 and before[1][0] == 5 and before[2] == 6 + len(TOOLS)

    fake.routes[COSTS if endpoint == "costs" else COMPLETIONS] = corrupt(endpoint, change)
    second = run(store, fake, sleeps)

    assert not second.ok
    errors = second.results["openai"].errors
    assert len(errors) == 1 and errors[0].startswith(f"openai {endpoint}: ") and what in errors[0]
    # the other endpoints still collected
    assert second.results["openai"].windows_ok == len(ENDPOINTS)
    assert snapshot(store) == before
    failed = store.query("SELECT endpoint, error FROM ingest_ledger WHERE status = 'failed'")
    assert failed["endpoint"].to_list() == [endpoint]
    assert what in failed["error"][0]


def test_rerun_replaces_the_slice_instead_of_duplicating(sleeps: list[float]) -> None:
    store = open_store()
    fake = FakeOpenAI(good_routes())
    run(store, fake, sleeps)
    once = snapshot(store)
    run(store, fake, sleeps)
    assert snapshot(store) == once
    ok = store.scalar("SELECT count(*) FROM ingest_ledger WHERE status = 'ok'")
    assert ok == 2 * (len(ENDPOINTS) + 1)


def test_401_names_the_problem_and_the_key_appears_nowhere(sleeps: list[float]) -> None:
    store = open_store()
    fake = FakeOpenAI(good_routes())
    # Worst case: the provider echoes the whole key back in its error body.
    body = {"error": {"message": f"Incorrect API key provided: {KEY}.", "code": "invalid_api_key"}}
    fake.before = [httpx.Response(401, json=body) for _ in range(len(ENDPOINTS) + 1)]
    report = run(store, fake, sleeps)

    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key was in play
    assert not report.ok
    errors = report.results["openai"].errors
    assert any(
        "openai usage/completions (HTTP 401): the credential was rejected" in e for e in errors
    )
    # 401 is not retried: one request per endpoint
    assert len(fake.requests) == len(ENDPOINTS) + 1
    assert report.results["openai"].windows_failed == len(ENDPOINTS) + 1 and sleeps == []
    text = "\n".join(report.summary_lines() + errors)
    everything = [
        store.query(f"SELECT * FROM {t}").write_csv()
        for t in ("ingest_ledger", "raw_payloads", "usage", "charges")
    ]
    assert KEY not in text and all(KEY not in dump for dump in everything)
    assert "PLANTED" not in text + "".join(everything)
    # The 401 body stays out (issue 13): the status, the hint and OpenAI's error code only.
    assert "Incorrect API key" not in errors[0] and errors[0].endswith("code: invalid_api_key.")


def test_a_repull_starting_mid_day_replaces_whole_days_without_duplicates() -> None:
    settings = Settings()
    transport = demo_transport(settings, DemoModel(), DemoClock(D0 + timedelta(days=40)))
    ctx = CollectContext(
        settings, HttpClients(settings, transport), now=lambda: D0 + timedelta(days=40)
    )
    store = open_store()
    collector = OpenAICollector()

    def collect_window(window: Window) -> None:
        for task in collector.tasks(window, ctx):
            store.write_slice(collector.fetch(task, ctx), {"started_at": D0})

    def per_day() -> list[tuple[Any, ...]]:
        return store.query(
            "SELECT period_start, count(*), sum(value) FROM usage GROUP BY 1 ORDER BY 1"
        ).rows()

    collect_window(Window(D0, D0 + timedelta(days=10)))
    before, charges = per_day(), store.scalar("SELECT sum(BilledCost) FROM charges")
    # The daily schedule re-pulls "the last few days" from an instant that is not midnight.
    collect_window(Window(D0 + timedelta(days=7, hours=13), D0 + timedelta(days=10)))
    assert per_day() == before
    assert store.scalar("SELECT sum(BilledCost) FROM charges") == charges


def _cost_result(**extra: Any) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": "1.50", "currency": "usd"},
        "line_item": "gpt-4o-2024-08-06, output",
        "project_id": "proj_a",
        "_start": 1735689600,
        "_end": 1735776000,
        **extra,
    }


def test_costs_keep_quantity_and_api_key_per_line_item() -> None:
    frame = costs_frame(
        [_cost_result(api_key_id="key_a", quantity=150000, quantity_unit="tokens"), _cost_result()]
    )
    assert frame["ConsumedQuantity"].to_list() == [Decimal("150000"), None]
    assert frame["ConsumedUnit"].to_list() == ["tokens", None]
    assert json.loads(frame["Tags"][0]) == {"project_id": "proj_a", "api_key_id": "key_a"}
    with pytest.raises(SchemaError, match="not a count with a unit"):
        costs_frame([_cost_result(quantity=5)])


# The spec's own example result (openapi.yaml UsageCompletionsResult, x-oaiMeta example).
SPEC_2026_RESULT = {
    "object": "organization.usage.completions.result",
    "input_tokens": 5000, "input_cached_tokens": 1800, "input_cache_write_tokens": 200,
    "input_uncached_tokens": 3000, "output_tokens": 1000, "input_text_tokens": 2500,
    "output_text_tokens": 800, "input_cached_text_tokens": 1500, "input_audio_tokens": 300,
    "input_cached_audio_tokens": 100, "output_audio_tokens": 100, "input_image_tokens": 200,
    "input_cached_image_tokens": 200, "output_image_tokens": 100, "num_model_requests": 5,
    "project_id": "proj_abc", "user_id": "user-abc", "api_key_id": "key_abc",
    "model": "gpt-4o-mini-2024-07-18", "batch": False, "service_tier": "default",
}  # fmt: skip


def _spec_page(result: dict[str, Any]) -> str:
    bucket = {"object": "bucket", "start_time": 1735689600, "end_time": 1735776000}
    page = {"object": "page", "data": [{**bucket, "results": [result]}], "has_more": False}
    return json.dumps({**page, "next_page": None})


@pytest.mark.parametrize("fast", [True, False])
def test_2026_fields_and_dimensions_collected_by_both_parsers(fast: bool) -> None:
    from contribux_costs.collect.openai.collector import exact_usage_page, usage_frame
    from contribux_costs.collect.openai.pages import fast_usage_page

    body = _spec_page(SPEC_2026_RESULT)
    page = fast_usage_page(body) if fast else exact_usage_page(json.loads(body), "usage/x")
    assert page is not None
    usage = usage_frame(page.wide, "completions", "usage/completions", "1d")
    got = {m: metric(usage, m) for m in SPEC_2026_RESULT if m.endswith("_tokens")}
    assert got == {m: [float(v)] for m, v in SPEC_2026_RESULT.items() if m.endswith("_tokens")}
    dims = json.loads(usage["dimensions"][0])
    assert (dims["batch"], dims["service_tier"], dims["api_key_id"]) == (
        "false",
        "default",
        "key_abc",
    )


def test_2026_text_parts_filled_when_the_api_leaves_them_out() -> None:
    from contribux_costs.collect.openai.collector import usage_frame

    lean = {k: v for k, v in SPEC_2026_RESULT.items() if "_text_" not in k}
    usage = usage_frame([{**lean, "_start": 1735689600, "_end": 1735776000}], "completions",
                        "usage/completions", "1d")  # fmt: skip
    # uncached 3000 − audio 300 − image 200; cached 1800 − 100 − 200; output 1000 − 100 − 100.
    assert metric(usage, "input_text_tokens") == [2500]
    assert metric(usage, "input_cached_text_tokens") == [1500]
    assert metric(usage, "output_text_tokens") == [800]
