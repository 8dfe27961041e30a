"""Recommendations with a lifecycle (status in the store, CLI, realised saving, dismissed hidden)
and the 20-line digest (printed and posted through the alerts' webhook path)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contribux_costs import CostOptimizer
from contribux_costs.cli import main
from contribux_costs.periods import Month
from contribux_costs.store import open_store
from tests.report_helpers import demo_db

JAN, FEB = Month.parse("2025-01"), Month.parse("2025-02")
PROD_GPT4O = "ResourceId = 'proj_contribux_prod' AND SkuId LIKE 'gpt-4o-2024-08-06%'"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(
        tmp_path_factory.mktemp("life") / "demo.duckdb", ("2024-12", "2025-01", "2025-02")
    )


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo.duckdb"
    copy.write_bytes(base_db.read_bytes())
    return copy


def _rec_id(db: Path, subject: str, rule: str) -> str:
    with CostOptimizer(db) as engine:
        result = engine.analyze_usage(JAN)
    return next(r.id for r in result.recommendations if r.subject == subject and r.rule_id == rule)


def test_done_in_january_shows_its_realised_saving_in_february(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _rec_id(db, "proj_contribux_prod/gpt-4o", "openai.model_downgrade")
    assert main(["recommendations", "set", rid[:10], "--status", "done", "--month", "2025-01",
                 "--db", str(db)]) == 0  # fmt: skip
    with open_store(db) as store:
        jan = store.scalar(
            f"SELECT sum(BilledCost) FROM focus_charges WHERE {PROD_GPT4O} "
            "AND x_billing_date BETWEEN '2025-01-01' AND '2025-01-31'"
        )
        # Acting on it: prod gpt-4o traffic moved to the mini model, its cost cut to a fifth.
        store.con.execute(
            f"UPDATE focus_charges SET BilledCost = BilledCost / 5 WHERE {PROD_GPT4O} "
            "AND x_billing_date >= '2025-02-01'"
        )
        feb = store.scalar(
            f"SELECT sum(BilledCost) FROM focus_charges WHERE {PROD_GPT4O} "
            "AND x_billing_date >= '2025-02-01' AND x_billing_date < '2025-03-01'"
        )
    with CostOptimizer(db) as engine:
        result = engine.analyze_usage(FEB)
        jan_view = engine.analyze_usage(JAN)
    [tracked] = [t for t in result.tracked_recommendations if t.id == rid]
    expected = (jan / 31 * 28 - feb).quantize(Decimal("0.01"))  # per day: Feb has 28 days
    assert tracked.status == "done" and tracked.marked_in == "2025-01"
    assert tracked.realised_usd == expected and expected > 0
    assert tracked.estimate_usd > 0  # shown beside the estimate recorded when it was marked
    [same] = [t for t in jan_view.tracked_recommendations if t.id == rid]
    assert same.realised_usd is None  # nothing realised in the month it was marked
    capsys.readouterr()
    assert main(["recommendations", "--month", "2025-02", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"${expected:,.2f}" in out and rid[:14] in out


def test_dismissed_stays_hidden_until_its_estimate_moves_by_more_than_a_quarter(db: Path) -> None:
    rid = _rec_id(db, "proj_contribux_dev/gpt-4o", "openai.model_downgrade")
    assert (
        main(
            [
                "recommendations",
                "set",
                rid,
                "--status",
                "dismissed",
                "--month",
                "2025-01",
                "--db",
                str(db),
            ]
        )
        == 2
    )  # fmt: skip  (a reason is required)
    assert main(["recommendations", "set", rid, "--status", "dismissed", "--reason",
                 "evals need gpt-4o", "--month", "2025-01", "--db", str(db)]) == 0  # fmt: skip
    with CostOptimizer(db) as engine:
        hidden = engine.analyze_usage(JAN)
    assert rid not in [r.id for r in hidden.recommendations]
    assert [t.hidden for t in hidden.tracked_recommendations if t.id == rid] == [True]
    with open_store(db) as store:  # dismissed when the estimate was a third of today's
        store.con.execute(
            "UPDATE recommendation_status SET estimate_usd = estimate_usd / 3 WHERE id = ?", [rid]
        )
    with CostOptimizer(db) as engine:
        back = engine.analyze_usage(JAN)
    [rec] = [r for r in back.recommendations if r.id == rid]
    assert rec.status == "dismissed" and rec.status_note and "evals need gpt-4o" in rec.status_note


def test_setting_twice_keeps_one_row_and_unknown_ids_are_one_line_errors(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _rec_id(db, "proj_contribux_prod/gpt-4o", "openai.model_downgrade")
    for status in ("accepted", "done"):
        args = ["recommendations", "set", rid, "--status", status, "--month", "2025-01"]
        assert main([*args, "--db", str(db)]) == 0
    with open_store(db) as store:
        assert store.query("SELECT status FROM recommendation_status")["status"].to_list() == [
            "done"
        ]
    capsys.readouterr()
    assert main(["recommendations", "set", "rec_nosuch", "--status", "done", "--month",
                 "2025-01", "--db", str(db)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rec_nosuch" in err


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_january_digest_fits_in_twenty_lines_and_posts(
    db: Path, tmp_path: Path, hook: tuple[str, type[_Hook]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = hook
    capsys.readouterr()
    args = ["digest", "--month", "2025-01", "--db", str(db), "--reports-dir", str(tmp_path)]
    assert main([*args, "--notify", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 5 <= len(lines) <= 20
    text = "\n".join(lines)
    assert lines[1].startswith("Total $1,") and "vs 2024-12" in lines[1]
    assert "Projected 2025-02: $" in text
    assert sum(1 for line in lines if line[:2] in ("1.", "2.", "3.")) == 3
    assert "gpt-4o" in text and "Alerts (" in text
    assert lines[-1] == "Report: not rendered yet: contribux-costs report --month 2025-01"
    [posted] = handler.received
    assert posted["text"] == lines[0] and "\n".join(lines) in json.dumps(
        posted, ensure_ascii=False
    ).replace("\\n", "\n")
