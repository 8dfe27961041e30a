"""The CLI and the Makefile contract: one-line errors, demo collection, `make report` twice."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import polars as pl
import pytest

from contribux_costs.cli import main
from contribux_costs.models import AnalysisResult
from tests.report_helpers import EXTERNAL_LOAD, REPO, demo_db, open_offline


def test_bad_month_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("2025-13", "25-01", "2025-1", ""):
        assert main(["collect", "--month", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and repr(bad) in err[0]
    assert not Path("data").exists()  # nothing written


def test_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTP_TIMEOUT_S", "-3")
    assert main(["report", "--month", "2025-01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP_TIMEOUT_S" in err[0]


def test_unconfigured_provider_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--month", "2025-01", "--provider", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_report_without_data_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--month", "2025-01", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "contribux-costs collect --month 2025-01" in capsys.readouterr().err


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_make_rejects_bad_month_before_doing_anything(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    for bad in ("2025-13", "25-01", "2025-1", ""):
        res = _make("report", f"MONTH={bad}", f"DB={db}", f"REPORTS_DIR={tmp_path / 'r'}")
        assert res.returncode != 0
        lines = (res.stdout + res.stderr).strip().splitlines()
        assert len(lines) == 1 and f"'{bad}'" in lines[0]
    assert not db.exists() and not (tmp_path / "r").exists()


def _fingerprint(db: Path) -> dict[str, tuple[object, ...]]:
    """Row count and the sum of every numeric column, per table (the ledger is a run log: skip)."""
    con = duckdb.connect(str(db), read_only=True)
    out: dict[str, tuple[object, ...]] = {}
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for t in tables:
            if t in ("ingest_ledger", "schema_migrations"):
                continue
            cols = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND "
                "(data_type LIKE 'DECIMAL%' "
                "OR data_type IN ('DOUBLE', 'BIGINT', 'INTEGER', 'HUGEINT'))",
                [t],
            ).fetchall()
            # Sums as DECIMAL: a float sum's last digit depends on DuckDB's parallel order.
            exprs = ", ".join(["count(*)"] + [f'sum("{c[0]}"::DECIMAL(38, 6))' for c in cols])
            out[t] = tuple(con.execute(f"SELECT {exprs} FROM {t}").fetchall()[0])
    finally:
        con.close()
    return out


@pytest.mark.slow
@pytest.mark.browser
def test_make_report_twice_is_identical(tmp_path: Path) -> None:
    db, reports = tmp_path / "c.duckdb", tmp_path / "reports"
    args = ("report", "MONTH=2025-01", f"DB={db}", f"REPORTS_DIR={reports}")
    first = _make(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (reports / "2025-01" / "report.html").exists()
    once = _fingerprint(db)
    second = _make(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert _fingerprint(db) == once
    assert once["usage"][0] > 0 and once["charges"][0] > 0
    # The report `make` wrote draws offline in headless Chromium.
    page = reports / "2025-01" / "report.html"
    assert EXTERNAL_LOAD.search(page.read_text(encoding="utf-8")) is None
    check = open_offline(page, tmp_path / "make-report.png")
    assert check.plots >= 1 and check.plots_with_traces == check.plots
    assert check.outside_requests == [] and check.console_errors == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("cli") / "demo.duckdb")


def test_analyze_json_round_trips_and_table_is_labelled(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--month", "2025-01", "--db", str(demo), "--format", "json"]) == 0
    result = AnalysisResult.model_validate_json(capsys.readouterr().out)
    assert result.month == "2025-01" and result.demo and result.recommendations
    assert main(["analyze", "--month", "2025-01", "--db", str(demo)]) == 0
    table = capsys.readouterr().out
    assert "[DEMO DATA]" in table and "top recommendations" in table
    top = max(result.recommendations, key=lambda r: r.estimated_monthly_savings_usd)
    assert top.title in table


class _Hook(BaseHTTPRequestHandler):
    status = 200
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"no such hook")

    def log_message(self, *args: object) -> None:
        return


def _serve(status: int) -> tuple[HTTPServer, str]:
    _Hook.status, _Hook.bodies = status, []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def test_alerts_exit_code_follows_severity_and_notify_posts(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["alerts", "--month", "2025-01", "--db", str(demo)]
    assert main([*base, "--min-severity", "medium"]) == 1  # the planted spike's daily alert
    assert main([*base, "--min-severity", "critical"]) == 0
    out = capsys.readouterr().out
    assert "DEMO DATA" in out and "High OpenAI usage" in out
    server, url = _serve(200)
    try:
        # --min-severity selects what is posted too: nothing at critical, the spike at medium.
        assert main([*base, "--min-severity", "critical", "--notify", url]) == 0
        assert _Hook.bodies == []
        assert main([*base, "--min-severity", "medium", "--notify", url]) == 1
    finally:
        server.shutdown()
    posted = json.loads(_Hook.bodies[0])
    assert "DEMO DATA" in posted["text"] and "High OpenAI usage" in json.dumps(posted)


def test_failed_webhook_is_reported_not_hidden(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, url = _serve(500)
    try:
        code = main(["alerts", "--month", "2025-01", "--db", str(demo), "--notify", url])
    finally:
        server.shutdown()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "HTTP 500" in err[0]


def test_export_focus_by_suffix(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "focus.parquet"
    assert (
        main(["export", "focus", "--month", "2025-01", "--db", str(demo), "--output", str(out)])
        == 0
    )
    frame = pl.read_parquet(out)
    assert frame.height > 0 and {"BilledCost", "ChargeCategory", "x_cost_source"} <= set(
        frame.columns
    )
    assert "FOCUS rows" in capsys.readouterr().out
    bad = tmp_path / "focus.txt"
    assert (
        main(["export", "focus", "--month", "2025-01", "--db", str(demo), "--output", str(bad)])
        == 2
    )
    assert ".parquet or .csv" in capsys.readouterr().err and not bad.exists()


def test_demo_is_demo_even_with_credentials_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-REAL-LOOKING-KEY-0001")
    monkeypatch.setenv("OPENAI_API_URL", "http://127.0.0.1:9/v1")  # never reached
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--month", "2025-01", "--db", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        mode = con.execute("SELECT value FROM workspace WHERE key = 'mode'").fetchall()
        sources = con.execute("SELECT DISTINCT provider FROM ingest_ledger").fetchall()
    finally:
        con.close()
    assert mode == [("demo",)]
    assert {s[0] for s in sources} >= {"openai", "vercel", "neon", "upstash", "postgres"}
