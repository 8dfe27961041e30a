"""Vercel FOCUS charges collector, on bodies in the real JSONL format (tests/fixtures/vercel)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from contribux_costs.collect.base import CollectContext, Task
from contribux_costs.collect.http import HttpClients, RetryPolicy
from contribux_costs.collect.vercel import (
    ENDPOINT,
    VercelCollector,
    la_days,
    make_collector,
    split_la,
    split_lines,
)
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError, SchemaError
from contribux_costs.periods import Month, Window, la_midnight
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

FIX = Path(__file__).parent / "fixtures" / "vercel"
JAN = Month(2025, 1)
NOW = datetime(2025, 12, 1, tzinfo=UTC)
TOKEN = "vercel_tok_FAKE_123456789"


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


def lines_of(name: str) -> list[dict[str, object]]:
    text = fixture(name).decode()
    return [json.loads(x, parse_float=Decimal) for x in text.splitlines() if x.strip()]


def jsonl(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """What Vercel sends when asked for gzip: a compressed JSON-lines body."""
    h = {"Content-Type": "application/jsonl", "Content-Encoding": "gzip", **(headers or {})}
    return httpx.Response(status, content=gzip.compress(body), headers=h)


class FakeVercel:
    """Answers with the queued replies in order (the last one repeats) and records requests."""

    def __init__(
        self, *replies: httpx.Response | Callable[[httpx.Request], httpx.Response]
    ) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/billing/contract-commitments":
            return httpx.Response(200, content=b"")  # no commitments (tests/test_commitments.py)
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(request) if callable(reply) else reply

    @property
    def windows(self) -> list[tuple[str, str]]:
        return [(r.url.params["from"], r.url.params["to"]) for r in self.requests]


def make_settings(team: str | None = "team_contribux") -> Settings:
    return Settings(_env_file=None, vercel_token=TOKEN, vercel_team_id=team)  # type: ignore[call-arg]


def make_ctx(
    fake: FakeVercel, sleeps: list[float] | None = None, team: str | None = "team_contribux"
) -> CollectContext:
    settings = make_settings(team)
    policy = RetryPolicy(max_tries=3, sleep=(sleeps if sleeps is not None else []).append)
    clients = HttpClients(settings, httpx.MockTransport(fake), policy=policy)
    return CollectContext(settings, clients, now=lambda: NOW)


def run(fake: FakeVercel, store: Store, month: Month = JAN, **kw: object) -> None:
    """Collect one month through the runner (the production path: fetch + slice write + ledger)."""
    settings = make_settings()
    ws = Workspace(["vercel"], httpx.MockTransport(fake), False)
    collect(
        settings,
        store,
        month.window,
        workspace=ws,
        policy=RetryPolicy(max_tries=3, sleep=lambda _s: None),
    )


@pytest.fixture
def store() -> Store:
    return open_store(":memory:")


def charges(store: Store) -> list[tuple[object, ...]]:
    return store.query(
        "SELECT * EXCLUDE (Tags), Tags::VARCHAR AS Tags FROM charges "
        "ORDER BY ChargePeriodStart, ServiceName, RegionId, BilledCost"
    ).rows()


# -- the request ------------------------------------------------------------------------------
def test_request_asks_gzip_for_the_la_month_with_team_and_token() -> None:
    fake = FakeVercel(jsonl(fixture("charges_2025_01.jsonl")))
    ctx = make_ctx(fake)
    collector = make_collector(ctx.settings)
    [task] = [t for t in collector.tasks(JAN.window, ctx) if t.endpoint == ENDPOINT]
    collector.fetch(task, ctx)
    [req] = fake.requests
    assert req.url.path == "/v1/billing/charges"
    assert dict(req.url.params) == {
        # UTC midnights (API reference: from/to in UTC, 1-day granularity) around the LA month's
        # day starts (2025-01-01T08:00Z .. 2025-01-31T08:00Z).
        "from": "2025-01-01T00:00:00.000Z",
        "to": "2025-02-01T00:00:00.000Z",
        "teamId": "team_contribux",
    }
    assert req.headers["accept-encoding"] == "gzip"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"


def test_team_id_is_omitted_for_a_personal_account() -> None:
    fake = FakeVercel(jsonl(b""))
    ctx = make_ctx(fake, team=None)
    collector = make_collector(ctx.settings)
    collector.fetch(collector.tasks(JAN.window, ctx)[0], ctx)
    assert "teamId" not in fake.requests[0].url.params


def test_utc_month_maps_to_la_billing_days_across_dst() -> None:
    # March 2025: LA midnight is 08:00Z on the 1st and 07:00Z on April 1 (DST since March 9).
    assert la_days(Month(2025, 3).window) == Month(2025, 3).la_window
    assert la_days(Month(2025, 3).window) == Window(
        datetime(2025, 3, 1, 8, tzinfo=UTC), datetime(2025, 4, 1, 7, tzinfo=UTC)
    )
    # A bound inside a UTC day widens to the whole date.
    inside = Window(datetime(2025, 7, 4, 13, tzinfo=UTC), datetime(2025, 7, 5, 1, tzinfo=UTC))
    assert la_days(inside) == Window(la_midnight(date(2025, 7, 4)), la_midnight(date(2025, 7, 6)))


def test_tasks_stop_after_todays_la_day() -> None:
    ctx = make_ctx(FakeVercel(jsonl(b"")))
    now = datetime(2025, 1, 10, 5, tzinfo=UTC)  # still January 9 in Los Angeles
    ctx.now = lambda: now
    task, commitments = VercelCollector().tasks(JAN.window, ctx)
    assert task.window == Window(la_midnight(date(2025, 1, 1)), la_midnight(date(2025, 1, 10)))
    assert commitments.endpoint == "billing/contract-commitments"
    assert commitments.window == task.window
    ctx.now = lambda: datetime(2024, 12, 1, tzinfo=UTC)
    assert VercelCollector().tasks(JAN.window, ctx) == []


def test_window_over_one_year_is_split_into_la_aligned_requests() -> None:
    fake = FakeVercel(jsonl(b""))
    ctx = make_ctx(fake)
    collector = VercelCollector()
    two_years = Window(datetime(2023, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    for task in collector.tasks(two_years, ctx):
        collector.fetch(task, ctx)
    sent = [(datetime.fromisoformat(f), datetime.fromisoformat(t)) for f, t in fake.windows]
    assert fake.windows[0][0] == "2023-01-01T00:00:00.000Z"
    assert fake.windows[-1][1] == "2025-01-01T00:00:00.000Z"
    assert len(sent) == 3
    assert all(end - start <= timedelta(days=365) for start, end in sent)
    assert all(a[1] == b[0] for a, b in pairwise(sent))  # contiguous
    # Every bound is a UTC midnight (the API's 1-day granularity) of an LA-split day.
    assert all(b.hour == 0 and b.minute == 0 for pair in sent for b in pair)


def test_split_snaps_inner_bounds_back_to_la_midnight_across_dst() -> None:
    # LA midnight of 2024-11-03 is 07:00Z (PDT); 365 days later it is 07:00Z on 2025-11-03,
    # which is 23:00 PST on November 2: the split moves back to that day's LA midnight.
    start = la_midnight(date(2024, 11, 3))
    parts = split_la(Window(start, la_midnight(date(2025, 12, 1))))
    assert parts[0].end == la_midnight(date(2025, 11, 2))
    assert parts[0].end - parts[0].start <= timedelta(days=365)
    assert parts[1].start == parts[0].end


# -- the body ---------------------------------------------------------------------------------
def test_charges_keep_every_row_with_exact_decimals(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    served = lines_of("charges_2025_01.jsonl")
    assert store.scalar("SELECT count(*) FROM charges") == len(served) == 9
    total = sum((Decimal(str(x["BilledCost"])) for x in served), Decimal(0))
    assert store.scalar("SELECT sum(BilledCost) FROM charges") == total
    # 0.1 + 0.2 stays 0.3 (no float rounding on the way in), exponents parse.
    docs = store.scalar(
        "SELECT sum(BilledCost) FROM charges WHERE x_project_id = 'prj_contribux_docs'"
    )
    assert docs == Decimal("0.3")
    assert store.scalar("SELECT BilledCost FROM charges WHERE ServiceName = 'Edge Requests'") == (
        Decimal("0.00000012")
    )
    assert store.scalar(
        "SELECT ConsumedQuantity FROM charges WHERE x_project_id = 'prj_contribux_docs' "
        "AND RegionId = 'iad1'"
    ) == Decimal("41.234567")


def test_several_rows_per_day_and_service_and_untagged_rows(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    per_key = store.query(
        "SELECT ServiceName, count(*) AS n FROM charges WHERE x_billing_date = DATE '2025-01-06' "
        "GROUP BY ServiceName ORDER BY ServiceName"
    ).rows()
    assert ("Function Invocations", 2) in per_key and ("Fast Data Transfer", 2) in per_key
    untagged = store.query(
        "SELECT ServiceName, ChargeCategory, BilledCost FROM charges WHERE x_project_id IS NULL "
        "ORDER BY ServiceName"
    ).rows()
    assert untagged == [
        ("Build Minutes", "Usage", Decimal(0)),
        ("Pro Seats", "Purchase", Decimal(60)),
        ("Pro Usage Credit", "Credit", Decimal("-1.236")),
    ]
    negative = store.query(
        "SELECT ChargeCategory, BilledCost FROM charges WHERE BilledCost < 0 ORDER BY 1"
    ).rows()
    assert negative == [("Adjustment", Decimal("-0.3")), ("Credit", Decimal("-1.236"))]
    tags = store.scalar(
        "SELECT Tags->>'ProjectName' FROM charges WHERE RegionId = 'sfo1' "
        "AND ServiceName = 'Function Invocations'"
    )
    assert tags == "contribux"


def test_usage_rows_follow_the_tidy_conventions(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    usage = store.query(
        "SELECT service, resource_id, resource_name, metric, unit, value, granularity, "
        "billing_date, dimensions->>'RegionId' AS region FROM usage ORDER BY service, region"
    ).rows()
    # Usage rows with a quantity only: Purchase/Credit/Adjustment rows are money, not usage.
    assert len(usage) == 6
    assert (
        "Build Minutes",
        None,
        None,
        "consumed_quantity",
        "Minutes",
        37.0,
        "1d",
        date(2025, 1, 6),
        None,
    ) in usage
    assert (
        "Function Invocations",
        "prj_contribux",
        "contribux",
        "consumed_quantity",
        "Invocations",
        310000.0,
        "1d",
        date(2025, 1, 6),
        "sfo1",
    ) in usage


def test_billing_date_is_the_los_angeles_day_winter_and_summer(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_03_dst.jsonl"))), store, Month(2025, 3))
    rows = store.query(
        "SELECT ChargePeriodStart, ChargePeriodEnd, x_billing_date FROM charges "
        "ORDER BY ChargePeriodStart"
    ).rows()
    assert [(s.hour, (e - s).total_seconds() / 3600, d) for s, e, d in rows] == [
        (8, 24, date(2025, 3, 1)),  # PST: LA midnight is 08:00Z
        (8, 23, date(2025, 3, 9)),  # the DST switch day has 23 hours
        (7, 24, date(2025, 3, 10)),  # PDT: LA midnight is 07:00Z
        (7, 24, date(2025, 3, 31)),  # the last LA day of March ends on April 1, 07:00Z
    ]
    assert store.scalar("SELECT count(*) FROM usage WHERE billing_date = DATE '2025-03-31'") == 1


def test_rows_outside_the_asked_window_are_not_stored(store: Store) -> None:
    stray = fixture("charges_2025_03_dst.jsonl")  # March rows in a January answer
    fake = FakeVercel(jsonl(fixture("charges_2025_01.jsonl") + stray))
    run(fake, store)
    run(fake, store)
    assert store.scalar("SELECT count(*) FROM charges") == 9
    assert store.scalar("SELECT count(*) FROM raw_payloads") == 1


def test_raw_body_is_landed_with_its_request(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    sql = "SELECT payload, request_params::VARCHAR FROM raw_payloads"
    payload, params = store.query(sql).row(0)
    assert payload == fixture("charges_2025_01.jsonl").decode()
    assert json.loads(params)["from"] == "2025-01-01T00:00:00.000Z"
    assert TOKEN not in payload + params


def test_blank_lines_are_skipped_and_a_last_line_without_newline_is_kept() -> None:
    body = fixture("charges_2025_01.jsonl").rstrip(b"\n") + b"\n\n  \n"
    fake = FakeVercel(jsonl(body))
    ctx = make_ctx(fake)
    sw = VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), ctx)
    assert sw.tables["charges"].height == 9
    unterminated = VercelCollector().fetch(
        Task(ENDPOINT, JAN.la_window),
        make_ctx(FakeVercel(jsonl(fixture("charges_2025_01.jsonl").rstrip(b"\n")))),
    )
    assert unterminated.tables["charges"].height == 9


def test_split_lines_reports_numbers_and_termination_across_chunks() -> None:
    chunks = [b'{"a":1}\n\n{"b"', b':2}\r\n{"c":', b"3"]
    assert list(split_lines(chunks)) == [
        (1, b'{"a":1}', True),
        (2, b"", True),
        (3, b'{"b":2}', True),
        (4, b'{"c":3', False),
    ]


# -- failures ---------------------------------------------------------------------------------
def test_malformed_line_fails_the_window_with_its_number_and_keeps_old_rows(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    before = charges(store)
    fake = FakeVercel(jsonl(fixture("malformed_line5.jsonl")))
    run(fake, store)
    assert len(fake.requests) == 1  # a malformed line is not retried
    assert charges(store) == before
    status, error = store.query(
        "SELECT status, error FROM ingest_ledger WHERE endpoint = 'billing/charges' "
        "ORDER BY started_at DESC LIMIT 1"
    ).row(0)
    assert status == "failed"
    assert "vercel billing/charges" in error and "line 5 is not valid JSON" in error


def test_malformed_line_error_is_a_schema_error() -> None:
    ctx = make_ctx(FakeVercel(jsonl(fixture("malformed_line5.jsonl"))))
    with pytest.raises(SchemaError, match=r"vercel billing/charges: line 5 "):
        VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), ctx)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'["not", "an", "object"]', "line 2 is not a JSON object"),
        (b'{"error":{"code":"forbidden","message":"no billing access"}}', "line 2 is an API error"),
        (
            b'{"BilledCost":1,"BillingCurrency":"USD","ChargeCategory":"Usage"}',
            "line 2 lacks required FOCUS column(s) ChargePeriodStart, ChargePeriodEnd",
        ),
        (
            b'{"BilledCost":"x","BillingCurrency":"USD","ChargeCategory":"Usage",'
            b'"ChargePeriodStart":"2025-01-02T08:00:00Z","ChargePeriodEnd":"2025-01-03T08:00:00Z"}',
            "line 2 has BilledCost 'x'",
        ),
        (
            b'{"BilledCost":1,"BillingCurrency":"USD","ChargeCategory":"Usage",'
            b'"ChargePeriodStart":"yesterday","ChargePeriodEnd":"2025-01-03T08:00:00Z"}',
            "line 2 has ChargePeriodStart 'yesterday'",
        ),
    ],
)
def test_lines_of_the_wrong_shape_name_the_line(line: bytes, message: str) -> None:
    first = fixture("charges_2025_01.jsonl").splitlines()[0]
    ctx = make_ctx(FakeVercel(jsonl(first + b"\n" + line + b"\n")))
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), ctx)


def test_truncated_stream_is_retried_then_completes() -> None:
    body = fixture("charges_2025_01.jsonl")
    fake = FakeVercel(jsonl(body[: len(body) - 40]), jsonl(body))
    sleeps: list[float] = []
    sw = VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), make_ctx(fake, sleeps))
    assert len(fake.requests) == 2 and len(sleeps) == 1
    assert sw.tables["charges"].height == 9


def test_truncated_stream_that_never_recovers_names_the_line() -> None:
    body = fixture("charges_2025_01.jsonl")
    fake = FakeVercel(jsonl(body[: len(body) - 40]))
    with pytest.raises(SchemaError, match=r"vercel billing/charges: .*after 3 tries.*line 10"):
        VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), make_ctx(fake))
    assert len(fake.requests) == 3


def test_429_with_retry_after_then_success() -> None:
    fake = FakeVercel(
        httpx.Response(429, json={"error": {"code": "rate_limited"}}, headers={"Retry-After": "7"}),
        jsonl(fixture("charges_2025_01.jsonl")),
    )
    sleeps: list[float] = []
    sw = VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), make_ctx(fake, sleeps))
    assert sleeps == [7.0]
    assert len(fake.requests) == 2
    assert sw.tables["charges"].height == 9


def test_forbidden_is_not_retried_and_says_what_to_do() -> None:
    fake = FakeVercel(httpx.Response(403, json={"error": {"code": "forbidden"}}))
    with pytest.raises(CollectError, match=r"vercel billing/charges \(HTTP 403\): access denied"):
        VercelCollector().fetch(Task(ENDPOINT, JAN.la_window), make_ctx(fake))
    assert len(fake.requests) == 1


def test_empty_stream_replaces_the_slice_with_zero_rows(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    run(FakeVercel(jsonl(b"")), store)
    assert store.scalar("SELECT count(*) FROM charges") == 0
    assert store.scalar("SELECT count(*) FROM usage") == 0
    rows = store.query(
        "SELECT status, rows FROM ingest_ledger WHERE endpoint = 'billing/charges' "
        "ORDER BY started_at"
    ).rows()
    assert rows == [("ok", 15), ("ok", 0)]


def test_rerunning_a_month_gives_identical_rows(store: Store) -> None:
    fake = FakeVercel(jsonl(fixture("charges_2025_01.jsonl")))
    run(fake, store)
    first_charges, first_usage = (
        charges(store),
        store.query("SELECT * FROM usage ORDER BY ALL").rows(),
    )
    run(fake, store)
    assert charges(store) == first_charges
    assert store.query("SELECT * FROM usage ORDER BY ALL").rows() == first_usage
    assert store.scalar("SELECT count(*) FROM raw_payloads") == 1


def test_other_months_are_untouched_by_a_slice(store: Store) -> None:
    run(FakeVercel(jsonl(fixture("charges_2025_03_dst.jsonl"))), store, Month(2025, 3))
    run(FakeVercel(jsonl(fixture("charges_2025_01.jsonl"))), store)
    run(FakeVercel(jsonl(b"")), store)  # January again, now empty
    assert store.scalar("SELECT count(*) FROM charges") == 4  # March intact


def test_raw_landing_is_split_in_parts_that_rebuild_the_body(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contribux_costs.collect.vercel as vercel

    monkeypatch.setattr(vercel, "RAW_PART_BYTES", 1500)
    body = fixture("charges_2025_01.jsonl")
    run(FakeVercel(jsonl(body)), store)
    parts = store.query(
        "SELECT payload, request_params->>'first_line' AS first FROM raw_payloads ORDER BY seq"
    ).rows()
    assert len(parts) > 2
    assert "".join(p for p, _ in parts) == body.decode()
    assert parts[0][1] == "1" and all(int(f) > 1 for _, f in parts[1:])


def test_billing_day_is_the_rows_own_day() -> None:
    # Issue 14 item 5: the billing day comes from the row's own period. LA-aligned daily rows
    # (07:00Z/08:00Z) keep their LA date; a row aligned on UTC days keeps its own date too (the
    # LA date of its first instant would be the day before).
    first = json.loads(fixture("charges_2025_01.jsonl").decode().splitlines()[0])
    rows = [
        {**first, "ChargePeriodStart": start,
         "ChargePeriodEnd": end}
        for start, end in [("2025-01-06T08:00:00.000Z", "2025-01-07T08:00:00.000Z"),
                           ("2025-01-09T00:00:00.000Z", "2025-01-10T00:00:00.000Z")]
    ]  # fmt: skip
    body = "\n".join(json.dumps(r) for r in rows).encode()
    fake = FakeVercel(jsonl(body))
    ctx = make_ctx(fake)
    collector = make_collector(ctx.settings)
    [task] = [
        t for t in collector.tasks(JAN.window, ctx) if t.endpoint != "billing/contract-commitments"
    ]
    frame = collector.fetch(task, ctx).tables["charges"]
    assert sorted(frame["x_billing_date"].to_list()) == [date(2025, 1, 6), date(2025, 1, 9)]


def test_query_bounds_are_whole_utc_days_even_for_a_window_ending_mid_day() -> None:
    """LA midnights map to their UTC midnights; a window that ends inside an LA day (the 25-hour
    day of November 1, 2026 split into 24-hour spans) still asks for a whole day, never
    ``to == from`` (the API answers 400 "`to` must be after `from`")."""
    from datetime import UTC, datetime

    from contribux_costs.collect.vercel import utc_day, utc_day_after
    from contribux_costs.periods import la_midnight

    start, end = la_midnight(date(2026, 11, 1)), la_midnight(date(2026, 11, 2))
    assert (utc_day(start), utc_day_after(end)) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    )
    mid_day = start + timedelta(hours=24)  # 23:00 in Los Angeles, still November 1
    assert utc_day_after(mid_day) == datetime(2026, 11, 2, tzinfo=UTC) > utc_day(start)
