"""The demo Vercel billing API: real JSONL format, LA days, allowances, and the collector on it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from contribux_costs.collect.http import RetryPolicy
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.demo.transport import DemoClock, demo_transport
from contribux_costs.demo.vercel import SERVICES
from contribux_costs.periods import Month, la_midnight
from contribux_costs.pipeline import collect
from contribux_costs.store import open_store

JUNE = Month(2025, 6)
AFTER = datetime(2025, 8, 1, tzinfo=UTC)


def demo_settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def client(now: datetime = AFTER) -> httpx.Client:
    settings = demo_settings()
    transport = demo_transport(settings, clock=DemoClock(now))
    return httpx.Client(transport=transport, base_url=settings.vercel_api_url)


def fetch(
    start: datetime, end: datetime, now: datetime = AFTER, gzip: bool = True
) -> httpx.Response:
    params = {"from": iso(start), "to": iso(end), "teamId": "team_demo"}
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    return client(now).get("/v1/billing/charges", params=params, headers=headers)


def rows(start: datetime, end: datetime, now: datetime = AFTER) -> list[dict[str, object]]:
    body = fetch(start, end, now).text
    return [json.loads(x, parse_float=Decimal) for x in body.splitlines() if x.strip()]


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def la(month: Month) -> tuple[datetime, datetime]:
    return month.la_window.start, month.la_window.end


def dec(value: object) -> Decimal:
    return Decimal(str(value))


def test_collecting_a_demo_month_stores_exactly_what_was_served() -> None:
    served = rows(*la(JUNE))
    settings = demo_settings()
    clock = DemoClock(AFTER)
    ws = Workspace(["vercel"], demo_transport(settings, clock=clock), True, clock)
    with open_store(":memory:") as store:
        report = collect(
            settings, store, JUNE.window, workspace=ws, policy=RetryPolicy(max_tries=1)
        )
        # Only this source's result: later steps of the run (FOCUS rebuild) are not under test.
        assert report.results["vercel"].ok, report.summary_lines()
        assert store.scalar("SELECT count(*) FROM charges") == len(served)
        total = sum((dec(r["BilledCost"]) for r in served), Decimal(0))
        assert store.scalar("SELECT sum(BilledCost) FROM charges") == total
        by_category = dict(
            store.query("SELECT ChargeCategory, sum(BilledCost) FROM charges GROUP BY 1").rows()
        )
        assert by_category["Purchase"] == Decimal(60)  # 3 members × $20
        assert by_category["Credit"] == Decimal(-60)  # the included usage credit, all spent
        assert store.scalar("SELECT min(x_billing_date) FROM charges") == date(2025, 6, 1)
        assert store.scalar("SELECT max(x_billing_date) FROM charges") == date(2025, 6, 30)
        assert store.scalar("SELECT count(DISTINCT resource_id) FROM usage") == 2


def test_same_window_gives_the_same_bytes() -> None:
    start, end = JUNE.la_window.start, JUNE.la_window.end
    params = {"from": iso(start), "to": iso(end)}
    raw = []
    for _ in range(2):
        with client().stream(
            "GET", "/v1/billing/charges", params=params, headers={"Accept-Encoding": "gzip"}
        ) as response:
            raw.append(b"".join(response.iter_raw()))
    assert raw[0] == raw[1] and raw[0][:2] == b"\x1f\x8b"  # gzip magic
    assert fetch(start, end).content == fetch(start, end, gzip=False).content


def test_jsonl_content_type_and_gzip_only_when_asked() -> None:
    start, end = la_midnight(date(2025, 1, 6)), la_midnight(date(2025, 1, 7))
    zipped, plain = fetch(start, end), fetch(start, end, gzip=False)
    assert zipped.headers["content-type"] == "application/jsonl"
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert plain.text.endswith("\n")


def test_rows_are_la_days_inside_from_and_to() -> None:
    winter = rows(la_midnight(date(2025, 1, 10)), la_midnight(date(2025, 1, 12)))
    assert {r["ChargePeriodStart"] for r in winter} == {
        "2025-01-10T08:00:00.000Z",
        "2025-01-11T08:00:00.000Z",
    }
    summer = rows(la_midnight(date(2025, 7, 10)), la_midnight(date(2025, 7, 11)))
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in summer} == {
        ("2025-07-10T07:00:00.000Z", "2025-07-11T07:00:00.000Z")
    }
    # A `from` after LA midnight excludes that day (its row starts before `from`).
    late = rows(la_midnight(date(2025, 1, 10)) + timedelta(hours=1), la_midnight(date(2025, 1, 12)))
    assert {r["ChargePeriodStart"] for r in late} == {"2025-01-11T08:00:00.000Z"}


def test_several_rows_per_day_and_service_and_untagged_team_rows() -> None:
    day = rows(la_midnight(date(2025, 6, 1)), la_midnight(date(2025, 6, 2)))
    per_service: dict[object, int] = defaultdict(int)
    for r in day:
        per_service[r["ServiceName"]] += 1
    assert per_service["Function Invocations"] == 6  # 3 deployments × 2 regions
    assert {r["RegionId"] for r in day if r["ServiceName"] == "Edge Requests"} == {"iad1", "sfo1"}
    untagged = [r for r in day if not r.get("Tags")]
    assert {r["ChargeCategory"] for r in untagged} == {"Purchase", "Credit"}
    assert all(dec(r["BilledCost"]) < 0 for r in untagged if r["ChargeCategory"] == "Credit")
    assert {(r["Tags"]["ProjectId"], r["Tags"]["ProjectName"]) for r in day if r.get("Tags")} == {  # type: ignore[index]
        ("prj_contribux", "contribux"),
        ("prj_contribux_docs", "contribux-docs"),
    }


@pytest.mark.parametrize(
    ("service", "included"), [("Fast Data Transfer", 1000), ("Edge Requests", 10_000_000)]
)
def test_allowance_bills_nothing_until_it_is_used_up_mid_month(service: str, included: int) -> None:
    svc = next(s for s in SERVICES if s.name == service)
    month = [r for r in rows(*la(JUNE)) if r["ServiceName"] == service]
    daily: dict[object, tuple[Decimal, Decimal]] = {}
    for r in month:
        q, c = daily.get(r["ChargePeriodStart"], (Decimal(0), Decimal(0)))
        daily[r["ChargePeriodStart"]] = (q + dec(r["ConsumedQuantity"]), c + dec(r["BilledCost"]))
    days = sorted(daily)
    free = [d for d in days if daily[d][1] == 0]
    assert days[: len(free)] == free and 10 <= len(free) <= 25  # exhausted mid-month
    total_q = sum((q for q, _ in daily.values()), Decimal(0))
    total_c = sum((c for _, c in daily.values()), Decimal(0))
    expected = (total_q - included) / svc.per * svc.price
    assert abs(total_c - expected) <= Decimal("0.000001") * len(month)


def test_credit_draws_down_the_seat_credit_and_stops() -> None:
    month = rows(*la(JUNE))
    credits = [dec(r["BilledCost"]) for r in month if r["ChargeCategory"] == "Credit"]
    assert sum(credits) == Decimal(-60) and 1 <= len(credits) < 10
    seats = [r for r in month if r["ChargeCategory"] == "Purchase"]
    assert [s["ChargePeriodStart"] for s in seats] == ["2025-06-01T07:00:00.000Z"]


def test_function_invocations_grow_faster_than_traffic() -> None:
    def total(month: Month, service: str) -> Decimal:
        served = rows(*la(month), now=datetime(2026, 3, 1, tzinfo=UTC))
        picked = [r for r in served if r["ServiceName"] == service]
        return sum((dec(r["ConsumedQuantity"]) for r in picked), Decimal(0))

    inv = total(Month(2026, 1), "Function Invocations") / total(
        Month(2025, 1), "Function Invocations"
    )
    edge = total(Month(2026, 1), "Edge Requests") / total(Month(2025, 1), "Edge Requests")
    assert inv > edge * Decimal("1.4") and edge > 1


def test_todays_row_is_partial_and_tomorrow_absent() -> None:
    noon = datetime(2025, 6, 15, 19, tzinfo=UTC)  # 12:00 in Los Angeles
    window = (la_midnight(date(2025, 6, 15)), la_midnight(date(2025, 6, 17)))
    partial, full = rows(*window, now=noon), rows(*window, now=AFTER)
    assert {r["ChargePeriodStart"] for r in partial} == {"2025-06-15T07:00:00.000Z"}

    def invocations(rs: list[dict[str, object]]) -> Decimal:
        day = "2025-06-15T07:00:00.000Z"
        picked = [r for r in rs if r["ServiceName"] == "Function Invocations"]
        return sum(
            (dec(r["ConsumedQuantity"]) for r in picked if r["ChargePeriodStart"] == day),
            Decimal(0),
        )

    ratio = invocations(partial) / invocations(full)
    assert Decimal("0.45") < ratio < Decimal("0.55")


def test_amounts_have_at_most_six_decimals() -> None:
    for r in rows(*la(JUNE)):
        for key in ("BilledCost", "EffectiveCost", "ConsumedQuantity", "PricingQuantity"):
            if key in r:
                assert dec(r[key]).as_tuple().exponent >= -6  # type: ignore[operator]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2024-01-01T08:00:00.000Z", "to": "2025-06-01T07:00:00.000Z"}, "at most 1 year"),
        ({"from": "yesterday", "to": "2025-06-01T07:00:00.000Z"}, "not an ISO 8601 date"),
        ({"to": "2025-06-01T07:00:00.000Z"}, "`from` is required"),
        ({"from": "2025-06-02T07:00:00.000Z", "to": "2025-06-01T07:00:00.000Z"}, "after `from`"),
    ],
)
def test_bad_windows_are_rejected_with_400(params: dict[str, str], message: str) -> None:
    response = client().get("/v1/billing/charges", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_unknown_route_is_404() -> None:
    assert client().get("/v2/billing/charges").status_code == 404
