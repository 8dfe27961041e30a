"""Issue 12 through the CLI and the report's views: money that adds up, one forecast, the open
month like for like, one alert per event, honest CLI messages."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from contribux_costs.analysis.engine import CostOptimizer
from contribux_costs.cli import main
from contribux_costs.focus.summary import month_total, provider_totals
from contribux_costs.models import AnalysisResult
from contribux_costs.periods import Month
from contribux_costs.report import views as rv
from contribux_costs.report.html import cell, money, pct
from contribux_costs.store import open_store
from tests.report_helpers import REPO, demo_db

JAN = Month.parse("2025-01")
OPEN = Month.containing(datetime.now(UTC).date())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("i12") / "demo.duckdb")


@pytest.fixture(scope="module")
def open_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    months = (str(OPEN.prev), str(OPEN))
    return demo_db(tmp_path_factory.mktemp("i12open") / "open.duckdb", months)


def _rows_sum(store_path: Path, month: Month) -> tuple[Decimal, Decimal]:
    with open_store(store_path, read_only=True) as store:
        rows = provider_totals(store, month)
        cost = sum((Decimal(money(v)[1:].replace(",", "")) for v in rows["cost"]), Decimal(0))
        prev = sum((Decimal(money(v)[1:].replace(",", "")) for v in rows["previous"]), Decimal(0))
    return cost, prev


def _screen(db: Path, month: Month) -> tuple[rv.FirstScreen, AnalysisResult]:
    with open_store(db, read_only=True) as store:
        result = CostOptimizer(store).analyze_usage(month)
        return rv.first_screen(store, month, result), result


@pytest.mark.parametrize("which", ["closed", "open"])
def test_header_total_is_the_sum_of_the_provider_rows_shown(
    which: str, demo: Path, open_demo: Path
) -> None:
    db, month = (demo, JAN) if which == "closed" else (open_demo, OPEN)
    screen, _ = _screen(db, month)
    cost, prev = _rows_sum(db, month)
    kpis = dict(screen.kpis)
    total_label = f"total {month}" + (" so far" if which == "open" else "")
    assert kpis[total_label] == money(cost)  # to the cent
    vs = next(k for k in kpis if k.startswith(f"vs {month.prev}"))
    assert vs.endswith(f"({money(prev)})")
    assert kpis[vs] == money(cost - prev, signed=True)


def test_open_month_compares_the_same_days_and_forecasts_to_month_end(open_demo: Path) -> None:
    today = datetime.now(UTC).date()
    screen, result = _screen(open_demo, OPEN)
    vs = next(k for k, _ in screen.kpis if k.startswith("vs "))
    assert f"days 1–{today.day}" in vs
    with open_store(open_demo, read_only=True) as store:
        same_days = month_total(store, OPEN.prev, today.day)
        whole = month_total(store, OPEN.prev)
    assert money(same_days) in vs and (today.day >= OPEN.prev.days or same_days < whole)
    # Actuals to yesterday, today drawn apart as partial, forecast from today to next month end.
    if screen.history.height:
        assert screen.history["date"].max() < today
    assert screen.partial["date"].to_list() in ([today], [])
    dates = screen.forecast["date"].to_list()
    assert dates[0] <= today and dates[-1] == OPEN.next.next.first_day.replace(day=1).fromordinal(
        OPEN.next.next.first_day.toordinal() - 1
    )
    assert result.month_state == "open"


def test_analyze_json_carries_the_reports_forecast(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--month", "2025-01", "--db", str(demo), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    nm = data["next_month_forecast"]
    assert nm["month"] == "2025-02" and nm["backtest_error_pct"] is not None
    assert Decimal(nm["lower_usd"]) <= Decimal(nm["point_usd"]) <= Decimal(nm["upper_usd"])
    screen, _ = _screen(demo, JAN)
    assert dict(screen.kpis)["projected 2025-02"] == money(Decimal(nm["point_usd"]))
    assert f"{nm['backtest_error_pct']:.0f}%" in screen.forecast_text
    assert money(Decimal(nm["lower_usd"])) in screen.forecast_text


def test_analyze_table_total_is_the_sum_of_its_provider_rows(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--month", "2025-01", "--db", str(demo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    total = next(ln for ln in lines if ln.startswith("month total: "))
    head = lines.index(next(ln for ln in lines if ln.startswith("provider ")))
    rows = [ln.split()[1] for ln in lines[head + 1 : head + 5]]
    shown = sum((Decimal(v.lstrip("$").replace(",", "")) for v in rows), Decimal(0))
    assert total.startswith(f"month total: {money(shown)} ")
    assert "next month 2025-02: " in "\n".join(lines)


def test_savings_headline_is_the_sum_of_the_rows_listed(demo: Path) -> None:
    screen, result = _screen(demo, JAN)
    listed = screen.top_recommendations["saving / month"].to_list()
    headline = next(v for k, v in screen.kpis if k.startswith("savings identified"))
    assert headline == money(sum(listed, Decimal(0)))
    assert all(v > 0 for v in listed)  # no $0.00 finding, no growth forecast among savings
    added = screen.cost_increases["added cost / month"].to_list()
    negatives = [r for r in result.recommendations if r.estimated_monthly_savings_usd <= -0.005]
    assert len(added) == len(negatives) and all(v > 0 for v in added)


def test_recurring_downgrade_saving_leaves_the_anomaly_out(demo: Path) -> None:
    _, result = _screen(demo, JAN)
    downgrades = [r for r in result.recommendations if r.rule_id == "openai.model_downgrade"]
    assert downgrades
    gpt4o = next(r for r in downgrades if "gpt-4o " in r.title + " ")
    assert "2025-01-17" in str(gpt4o.evidence.get("saving_basis", ""))
    assert 0 < float(gpt4o.evidence["typical_month_factor"]) < 1


def test_no_negative_zero() -> None:
    assert cell(-0.0001) == "0.00" and cell(-0.0) == "0.00"
    assert pct(-0.000001, signed=True, digits=2) == "+0.00%" and pct(-0.0) == "0.0%"
    assert money(Decimal("-0.001"), signed=True) == "$0.00"


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        type(self).bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_one_alert_per_event_min_severity_and_webhook_message(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["alerts", "--month", "2025-01", "--db", str(demo)]
    main([*base, "--min-severity", "info"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    jan17 = [ln for ln in lines if "2025-01-17" in ln and "openai" in ln.lower()]
    assert len(jan17) == 1, lines  # the anomaly and the daily threshold: one alert
    assert "anomaly" in jan17[0].lower() and "openai_daily_cost" in jan17[0]
    main([*base, "--min-severity", "high"])
    out = capsys.readouterr().out
    assert "[MEDIUM" not in out and "[LOW" not in out and "[INFO" not in out
    monkeypatch.setenv("REPORT_URL", "https://costs.example.com/{month}/report.html")
    _Hook.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        main([*base, "--min-severity", "medium", "--notify", url])
    finally:
        server.shutdown()
    text = json.dumps(json.loads(_Hook.bodies[0]))
    assert "https://costs.example.com/2025-01/report.html" in text
    for name in ("Spend anomaly", "High OpenAI usage"):
        assert f"{name}: {name}" not in text
    assert "[LOW" not in text and "*LOW*" not in text and "*INFO*" not in text


def test_unknown_provider_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--month", "2025-01", "--provider", "aws"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown provider 'aws'" in err[0]
    assert "openai, vercel, neon, upstash, postgres" in err[0]


def test_top_level_help_has_a_description_and_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "contribux-costs report --collect --month" in out
    assert "Cost and capacity analytics" in out and "a thin shell" not in out


def test_collect_summary_says_what_the_pricing_step_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--month", "2025-01", "--db", str(tmp_path / "c.duckdb")]) == 0
    focus = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("focus")]
    assert len(focus) == 1 and "1 month(s) re-priced" in focus[0]
    rebuilt = int(focus[0].split("re-priced, ")[1].split(" FOCUS")[0].replace(",", ""))
    assert rebuilt > 100


@pytest.mark.parametrize(("exists", "said"), [(False, True), (True, False)])
def test_make_setup_says_when_it_builds_the_environment(
    tmp_path: Path, exists: bool, said: bool
) -> None:
    env_dir = tmp_path / "venv"
    if exists:
        env_dir.mkdir()
    res = subprocess.run(
        ["make", "--no-print-directory", "setup", "UV=true"],
        cwd=REPO,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0
    assert ("setting up the environment (first run, ~1 min)" in res.stdout) is said
