"""Plausibility at the boundary (issue 13, defects 1 and 2): a provider value in another currency,
a negative cost on a row not marked as a credit, or a non-finite amount fails its window with one
line naming provider, endpoint, row and value; the window's earlier data stays as it was.

Each provider is served over a real loopback socket (tests/bridge.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from contribux_costs.collect.http import RetryPolicy
from contribux_costs.collect.openai.tools import TOOL_METRICS
from contribux_costs.collect.runner import CollectReport, collect
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.periods import Month, Window
from contribux_costs.store import Store, open_store
from tests.bridge import serve

FIXTURES = Path(__file__).parent / "fixtures"
VERCEL_BODY = (FIXTURES / "vercel" / "charges_2025_01.jsonl").read_text()
D0 = datetime(2025, 1, 1, tzinfo=UTC)
OPENAI_WINDOW = Window(D0, D0 + timedelta(days=3))


def run(store: Store, source: str, url: str, window: Window, **extra: object) -> CollectReport:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        vercel_token="vercel-FAKE-boundary-0001",
        openai_admin_key="sk-admin-FAKE-boundary-0002",
        vercel_api_url=f"{url}/vercel",
        openai_api_url=f"{url}/v1",
        **extra,
    )
    policy = RetryPolicy(max_tries=2, sleep=lambda _s: None)
    return collect(
        settings, store, window, workspace=Workspace([source], None, False), policy=policy
    )


def billed(store: Store, provider: str) -> tuple[int, Decimal]:
    n, total = store.query(
        "SELECT count(*), coalesce(sum(BilledCost), 0) FROM charges WHERE provider = ?", [provider]
    ).row(0)
    return int(n), Decimal(total)


# -- Vercel ------------------------------------------------------------------------------------
def vercel(body: Callable[[], str]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/billing/contract-commitments"):
            return httpx.Response(200, content=b"")  # no commitments (tests/test_commitments.py)
        return httpx.Response(200, text=body(), headers={"Content-Type": "application/jsonl"})

    return handle


def edit_line(line_no: int, **changes: object) -> str:
    lines = VERCEL_BODY.splitlines()
    row = json.loads(lines[line_no - 1])
    row.update(changes)
    lines[line_no - 1] = json.dumps(row)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (
            {"BillingCurrency": "EUR"},
            "line 2 has BillingCurrency 'EUR', not the billing account's USD",
        ),
        ({"BilledCost": -1000000}, "line 2 has BilledCost -1000000 on a Usage row"),
        ({"EffectiveCost": "-5.5"}, "line 2 has EffectiveCost -5.5 on a Usage row"),
        ({"BilledCost": "NaN"}, "line 2 has BilledCost 'NaN' that is not a finite decimal"),
    ],
)
def test_an_implausible_vercel_row_fails_the_window_and_keeps_the_earlier_data(
    tmp_path: Path, changes: dict[str, object], says: str
) -> None:
    body = [VERCEL_BODY]
    window = Month(2025, 1).window
    with serve(vercel(lambda: body[0])) as url, open_store(tmp_path / "v.duckdb") as store:
        assert run(store, "vercel", url, window).ok
        before = billed(store, "vercel")
        assert before[0] > 0
        body[0] = edit_line(2, **changes)
        report = run(store, "vercel", url, window)
        after = billed(store, "vercel")
    assert not report.ok
    error = report.results["vercel"].errors[0]
    assert error.startswith("vercel billing/charges: ") and "\n" not in error
    assert says in error
    assert after == before  # nothing of the bad window was written


def test_negative_vercel_rows_marked_as_credit_or_adjustment_are_accepted(tmp_path: Path) -> None:
    credit = edit_line(2, ChargeCategory="Credit", BilledCost=-10, EffectiveCost=-10)
    lines = credit.splitlines()
    row = json.loads(lines[0])
    row.update(ChargeCategory="Adjustment", BilledCost="-2.5", EffectiveCost="-2.5")
    lines[0] = json.dumps(row)
    with serve(vercel(lambda: "\n".join(lines) + "\n")) as url, open_store(tmp_path / "c.db") as s:
        report = run(s, "vercel", url, Month(2025, 1).window)
        negative = s.query("SELECT ChargeCategory, BilledCost FROM charges WHERE BilledCost < 0")
    assert report.ok, report.summary_lines()
    assert {("Adjustment", Decimal("-2.5")), ("Credit", Decimal("-10"))} <= set(negative.rows())


def test_billing_currency_setting_accepts_the_accounts_own_currency(tmp_path: Path) -> None:
    eur = VERCEL_BODY.replace('"BillingCurrency":"USD"', '"BillingCurrency":"EUR"')
    with serve(vercel(lambda: eur)) as url, open_store(tmp_path / "e.duckdb") as store:
        report = run(store, "vercel", url, Month(2025, 1).window, billing_currency="EUR")
        assert report.ok, report.summary_lines()
        assert store.scalar("SELECT DISTINCT BillingCurrency FROM charges") == "EUR"


# -- OpenAI ------------------------------------------------------------------------------------
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "openai" / f"{name}.json").read_text())
    return data


class FakeOpenAI:
    """Usage and Costs pages from the fixtures, following ``page`` cursors."""

    def __init__(self) -> None:
        self.routes = {
            "/v1/organization/usage/completions": [
                load(f"usage_completions_page{i}") for i in (1, 2, 3)
            ],
            "/v1/organization/usage/embeddings": [load("usage_embeddings")],
            "/v1/organization/costs": [load("costs_page1"), load("costs_page2")],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path not in self.routes:  # the other usage endpoints: no usage
            return httpx.Response(200, json={"object": "page", "data": [], "has_more": False})
        pages = self.routes[request.url.path]
        cursor = request.url.params.get("page")
        index = 0
        if cursor is not None:
            index = 1 + next(i for i, p in enumerate(pages) if p.get("next_page") == cursor)
        return httpx.Response(200, json=pages[index])


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ({"value": "-1000000", "currency": "usd"}, "amount.value -1000000 < 0"),
        ({"value": "12.5", "currency": "eur"}, "amount.currency 'EUR', not the billing account's"),
        ({"value": "Infinity", "currency": "usd"}, "amount.value 'Infinity' is not finite"),
    ],
)
def test_an_implausible_openai_cost_fails_the_window_and_the_total_stays(
    tmp_path: Path, amount: dict[str, str], says: str
) -> None:
    fake = FakeOpenAI()
    with serve(fake) as url, open_store(tmp_path / "o.duckdb") as store:
        assert run(store, "openai", url, OPENAI_WINDOW).ok
        before = billed(store, "openai")
        fake.routes["/v1/organization/costs"][0]["data"][0]["results"][1]["amount"] = amount
        report = run(store, "openai", url, OPENAI_WINDOW)
        after = billed(store, "openai")
    errors = report.results["openai"].errors
    assert len(errors) == 1 and errors[0].startswith("openai costs: ")
    assert says in errors[0] and "\n" not in errors[0]
    if "currency" not in says and "finite" not in says:
        assert "result 2 (2025-01-01, 'gpt-4o-2024-08-06, input')" in errors[0]
    assert after == before and before[1] > 0


# -- a cursor that never ends (defect 5) -------------------------------------------------------
class Endless(FakeOpenAI):
    """Completions answer ``has_more`` with a fresh cursor and no data, for ever (capped)."""

    def __init__(self, cap: int = 300) -> None:
        super().__init__()
        self.endless = 0
        self.cap = cap

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/completions"):
            return super().__call__(request)
        self.endless += 1
        if self.endless > self.cap:  # the old code would loop until here (then fail on a 4xx)
            return httpx.Response(400, json={"error": {"message": "loopback gave up"}})
        page = {"object": "page", "data": [], "has_more": True, "next_page": f"c{self.endless}"}
        return httpx.Response(200, json=page)


def test_a_cursor_that_never_ends_stops_at_the_windows_page_budget(tmp_path: Path) -> None:
    fake = Endless()
    with serve(fake) as url, open_store(tmp_path / "p.duckdb") as store:
        report = run(store, "openai", url, OPENAI_WINDOW)
        stored = store.scalar("SELECT count(*) FROM usage WHERE endpoint = 'usage/completions'")
    # Three days at 31 daily buckets a page need one page; the default factor allows 4 (+1).
    assert fake.endless == 5
    errors = report.results["openai"].errors
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("openai usage/completions: more than 5 pages (budget for ")
    assert "the cursor never ends" in errors[0]
    assert stored == 0
    # embeddings, costs and the other usage endpoints still collected
    assert report.results["openai"].windows_ok == 2 + len(TOOL_METRICS)


def test_the_page_budget_is_configurable(tmp_path: Path) -> None:
    fake = Endless()
    with serve(fake) as url, open_store(tmp_path / "q.duckdb") as store:
        run(store, "openai", url, OPENAI_WINDOW, page_budget_factor=10)
    assert fake.endless == 11


def test_billing_currency_is_an_iso_code() -> None:
    from pydantic import ValidationError

    assert Settings(_env_file=None, billing_currency="eur").billing_currency == "EUR"  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, billing_currency="euro")  # type: ignore[call-arg]
