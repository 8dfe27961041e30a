"""Alert rules, budget levels, severities, Slack-compatible notification (loopback server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contribux_costs.analysis import alerts
from contribux_costs.analysis.engine import evaluate_alerts
from contribux_costs.analysis.rulebase import Config
from contribux_costs.errors import ConfigError
from contribux_costs.models import Alert, AnalysisResult, Projection, ProviderUsage


def _result(
    openai_days: dict[int, str], neon: str = "0", closed: bool = True, forecast: str | None = None
) -> AnalysisResult:
    daily = {date(2025, 1, d): Decimal(v) for d, v in openai_days.items()}
    openai_total = sum(daily.values(), Decimal(0))
    usage = {
        "openai": ProviderUsage(
            provider="openai", cost_usd=openai_total, cost_source="billed", daily_cost=daily
        ),
        "neon": ProviderUsage(provider="neon", cost_usd=Decimal(neon), cost_source="computed"),
    }
    by_provider = {"openai": Decimal(forecast or openai_total), "neon": Decimal(neon)}
    proj = Projection(
        closed=closed, month_to_date_usd=openai_total, remaining_usd=Decimal(0),
        projected_usd=sum(by_provider.values(), Decimal(0)), lower_usd=Decimal(0),
        upper_usd=Decimal(0), by_provider=by_provider,
    )  # fmt: skip
    return AnalysisResult(
        month="2025-01", demo=True, current_usage=usage, projected_monthly_cost=proj
    )


def _ids(found: list[Alert]) -> list[str]:
    return [a.rule_id for a in found]


def test_daily_openai_cost_over_100_fires_once_per_episode() -> None:
    res = _result({1: "50", 2: "120", 3: "130", 4: "40", 9: "101"})
    daily = [a for a in alerts.evaluate(res, Config.load()) if a.rule_id == "openai_daily_cost"]
    assert [(a.day, a.observed) for a in daily] == [
        (date(2025, 1, 2), 130.0),
        (date(2025, 1, 9), 101.0),
    ]
    assert all(a.severity == "medium" for a in daily)


def test_database_cost_over_150_percent_of_budget_is_high() -> None:
    cfg = Config.load()
    budget = cfg.num("budgets.database")
    over = alerts.evaluate(_result({}, neon=str(budget * 1.6)), cfg)
    under = alerts.evaluate(_result({}, neon=str(budget * 1.4)), cfg)
    assert "database_budget" in _ids(over) and "database_budget" not in _ids(under)
    assert next(a for a in over if a.rule_id == "database_budget").severity == "high"


def test_budget_levels_highest_crossed_on_actual_and_forecast() -> None:
    cfg = Config.load()
    budget = cfg.num("budgets.openai")
    res = _result({1: str(budget * 0.6)}, closed=False, forecast=str(budget * 1.1))
    found = {a.rule_id: a for a in alerts.evaluate(res, cfg)}
    assert found["budget.openai.actual"].threshold == 0.5
    assert found["budget.openai.actual"].severity == "low"
    assert found["budget.openai.forecast"].threshold == 1.0
    assert found["budget.openai.forecast"].severity == "high"


def test_closed_month_has_no_forecast_budget_alerts() -> None:
    cfg = Config.load()
    res = _result({1: str(cfg.num("budgets.openai") * 2)})
    assert not [a for a in alerts.evaluate(res, cfg) if a.basis == "forecast"]


def test_user_rule_from_override_file(tmp_path: Path) -> None:
    extra = tmp_path / "rules.toml"
    extra.write_text(
        '[[alerts.rules]]\nid = "total_month"\nname = "Monthly spend"\nmetric = "monthly_cost"\n'
        'threshold = 10.0\nseverity = "critical"\n'
    )
    found = alerts.evaluate(_result({1: "20"}), Config.load(extra))
    assert _ids(found)[0] == "total_month"  # worst first
    assert "openai_daily_cost" not in _ids(found)  # lists replace: the override owns the rules


def test_bad_rule_names_itself() -> None:
    cfg = Config({"alerts": {"rules": [{"id": "broken", "metric": "nope"}]}})
    with pytest.raises(ConfigError, match="broken"):
        alerts.load_rules(cfg)


def test_one_alert_per_anomaly_episode_above_the_dollar_threshold() -> None:
    from contribux_costs.models import Anomaly

    def episode(day: int, days: int, excess: str) -> Anomaly:
        start = date(2025, 1, day)
        return Anomaly(
            provider="openai", service="OpenAI API", start=start,
            end=date(2025, 1, day + days - 1), days=days, cost_usd=Decimal(excess) + 30,
            expected_usd=Decimal(30), excess_usd=Decimal(excess), excess_pct=float(excess) / 0.3,
        )  # fmt: skip

    res = _result({})
    res.anomalies = [episode(3, 2, "120"), episode(17, 1, "96.7"), episode(24, 1, "12")]
    found = [a for a in alerts.evaluate(res, Config.load()) if a.rule_id == "cost_anomaly"]
    assert [(a.day, a.observed) for a in found] == [
        (date(2025, 1, 3), 120.0),
        (date(2025, 1, 17), 96.7),
    ]
    assert "2025-01-03 to 2025-01-04" in found[0].message and found[0].provider == "openai"


def test_alerts_at_or_above() -> None:
    res = _result({2: "150"}, neon="1000")
    found = alerts.evaluate(res, Config.load())
    high = alerts.alerts_at_or_above(found, "high")
    assert high and all(a.severity in ("high", "critical") for a in high)
    assert len(alerts.alerts_at_or_above(found, "info")) == len(found)
    with pytest.raises(ConfigError):
        alerts.alerts_at_or_above(found, "urgent")


def test_evaluate_alerts_refuses_a_result_of_another_month() -> None:
    with pytest.raises(ConfigError, match="2025-01"):
        evaluate_alerts(_result({}), "2025-02")


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []  # noqa: RUF012
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok" if self.status < 400 else b"invalid_payload")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_notify_posts_slack_message(hook: tuple[str, type[_Hook]]) -> None:
    url, handler = hook
    found = alerts.evaluate(_result({2: "150"}), Config.load())
    alerts.notify(url, found, month="2025-01")
    [msg] = handler.received
    assert msg["text"] == f"contribux-costs: {len(found)} alert(s) for 2025-01"
    assert "High OpenAI usage" in json.dumps(msg["blocks"])


def test_notify_failure_is_raised_not_hidden(hook: tuple[str, type[_Hook]]) -> None:
    url, handler = hook
    handler.status = 500
    with pytest.raises(alerts.NotifyError, match="HTTP 500"):
        alerts.notify(url, [])


def test_notify_unreachable_raises() -> None:
    with pytest.raises(alerts.NotifyError, match="failed"):
        alerts.notify("http://127.0.0.1:9/none", [])
