"""One line and exit 2 for what the user or the machine got wrong (issue 13, defect 8); exit 130
for Ctrl-C without a traceback; README and code agree on collect's exit code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from contribux_costs.cli import main
from contribux_costs.store import open_store
from tests.bridge import serve
from tests.report_helpers import REPO


def one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and "internal error" not in err[0], err
    return err[0]


def filled(path: Path) -> bytes:
    with open_store(path) as store, store.transaction() as con:
        con.execute(
            "INSERT INTO usage SELECT 'demo', 'e', 's', 'r' || (i % 50), NULL, 'm', 'u', "
            "TIMESTAMPTZ '2025-01-01' + to_hours(i % 700), TIMESTAMPTZ '2025-01-01' + "
            "to_hours(i % 700 + 1), '1h', i, NULL, DATE '2025-01-01' + (i % 28)::INTEGER "
            "FROM range(300000) t(i)"
        )
    return path.read_bytes()


def truncated(path: Path, how: str) -> Path:
    """``half``: DuckDB cannot even open it. ``tail``: it opens, but its tables cannot be read
    (cut from the end in 32 KiB steps until that is so; what used to be exit 3)."""
    data = filled(path)
    if how == "half":
        path.write_bytes(data[: len(data) // 2])
        return path
    for cut in range(len(data), 0, -32768):
        path.write_bytes(data[:cut])
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error:
            continue
        try:
            con.execute("SELECT max(version), max(name) FROM schema_migrations").fetchall()
            con.execute("SELECT sum(value) FROM usage").fetchall()
        except duckdb.IOException:
            return path
        finally:
            con.close()
    raise AssertionError("no cut opens but cannot be read")


@pytest.mark.parametrize("how", ["half", "tail"])
@pytest.mark.parametrize("command", ["analyze", "collect", "export"])
def test_a_truncated_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, how: str
) -> None:
    db = truncated(tmp_path / "cut.duckdb", how)
    argv = [command, "--month", "2025-01", "--db", str(db)]
    if command == "export":
        argv = ["export", "focus", *argv[1:], "--output", str(tmp_path / "f.csv")]
    line = one_line_exit_2(argv, capsys)
    assert str(db) in line


def test_a_non_utf8_env_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_bytes(b"VERCEL_TOKEN=caf\xe9\n")
    line = one_line_exit_2(["analyze", "--db", str(tmp_path / "x.duckdb")], capsys)
    assert str(tmp_path / ".env") in line and "UTF-8" in line


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_a_database_path_that_cannot_be_created_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # chmod does not stop root: a path below a regular file, or below /proc (a filesystem that
    # refuses new files for everyone), cannot be created whoever runs the tests.
    (tmp_path / "plain.txt").write_text("x")
    db = (
        tmp_path / "plain.txt" / "data" / "c.duckdb"
        if where == "under_a_file"
        else Path("/proc/contribux-costs-test/c.duckdb")
    )
    line = one_line_exit_2(["collect", "--month", "2025-01", "--db", str(db)], capsys)
    assert str(db) in line


def test_a_price_entry_with_a_bad_date_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[entries]]\nid = "deal"\nsku = "neon/compute"\nprice = "0.1"\nunit = "CU-hours"\n'
        'pricing_unit = "CU-hour"\neffective_from = "2025-02-30"\n'
    )
    monkeypatch.setenv("CONTRIBUX_COSTS_PRICES", str(prices))
    from contribux_costs.cli import build_parser

    assert build_parser()  # the export path prices rows through the book
    with open_store(tmp_path / "e.duckdb"):
        pass
    line = one_line_exit_2(
        ["export", "focus", "--month", "2025-01", "--db", str(tmp_path / "e.duckdb"),
         "--output", str(tmp_path / "f.csv")],
        capsys,
    )  # fmt: skip
    assert "effective_from = '2025-02-30'" in line


@pytest.mark.parametrize("after_s", [0.3, 1.0, 3.0])
def test_ctrl_c_exits_130_quietly(tmp_path: Path, after_s: float) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("VERCEL_", "OPENAI_", "NEON_", "UPSTASH_", "DATABASE_URL"))
    }
    exe = Path(sys.executable).parent / "contribux-costs"
    cmd = [str(exe), "demo", "--month", "2025-01", "--db", str(tmp_path / "d.duckdb")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    # Progress lines (stderr is not a terminal) may come first; the end is one word.
    assert err.strip().splitlines()[-1] == "interrupted", err


def test_readme_and_code_agree_on_collects_exit_code_when_one_source_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    said = re.search(r"`collect` exits (\d) when a source fails", readme)
    assert said, "README must state collect's exit code when one source fails"
    failing = httpx.Response(503, json={"error": {"code": "unavailable"}})
    with serve(lambda _r: failing) as url:
        monkeypatch.setenv("VERCEL_TOKEN", "vercel-FAKE-exit-0001")
        monkeypatch.setenv("VERCEL_API_URL", url)
        monkeypatch.setenv("HTTP_MAX_TRIES", "1")
        code = main(["collect", "--month", "2025-01", "--db", str(tmp_path / "c.duckdb")])
    assert "vercel" in capsys.readouterr().out
    assert code == int(said.group(1))
