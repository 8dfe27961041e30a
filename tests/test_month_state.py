"""One definition of a month's state for every command (issue 12, defects 2 and 3).

A future month is refused with one line (exit 2) before anything runs; a month never collected
is an error (exit 2) naming the command that collects it, in report, analyze, alerts and export.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from contribux_costs.cli import main
from contribux_costs.focus.summary import latest_collected, month_state
from contribux_costs.periods import Month
from contribux_costs.store import open_store
from tests.report_helpers import demo_db


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("state") / "demo.duckdb")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("month", ["2027-03", "2100-01"])
def test_future_month_is_refused_by_every_command(
    month: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, out = tmp_path / "f.duckdb", tmp_path / "reports"
    commands = [
        ["report", "--collect", "--reports-dir", str(out)],
        ["collect"],
        ["analyze"],
        ["alerts"],
        ["export", "focus", "--output", str(tmp_path / "f.csv")],
        ["demo"],
    ]
    for cmd in commands:
        assert main([*cmd, "--month", month, "--db", str(db)]) == 2, cmd
        line = _one_line(capsys)
        assert month in line and "has not started" in line
    assert not db.exists() and not out.exists() and not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize(
    "cmd",
    [
        ["analyze"],
        ["analyze", "--format", "json"],
        ["alerts"],
        ["export", "focus", "--output", "x.csv"],
        ["report"],
    ],
)
def test_uncollected_month_is_an_error_naming_the_collect_command(
    demo: Path, cmd: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*cmd, "--month", "2023-05", "--db", str(demo)]) == 2
    line = _one_line(capsys)
    assert "no collected data for 2023-05" in line
    assert "contribux-costs collect --month 2023-05" in line
    assert capsys.readouterr().out == "" and not Path("x.csv").exists()


def test_missing_database_names_the_collect_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "--month", "2025-01", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "contribux-costs collect --month 2025-01" in _one_line(capsys)
    assert not (tmp_path / "none.duckdb").exists()


def test_month_state_phases(demo: Path) -> None:
    today = date(2025, 1, 20)
    with open_store(demo, read_only=True) as store:
        jan = month_state(store, Month.parse("2025-01"), today)
        dec = month_state(store, Month.parse("2024-12"), today)
        feb = month_state(store, Month.parse("2025-02"), today)
        old = month_state(store, Month.parse("2023-05"), today)
    assert (jan.phase, jan.collected, jan.partial_day, jan.days_elapsed) == (
        "open",
        True,
        today,
        20,
    )
    assert (dec.phase, dec.collected, dec.partial_day, dec.days_elapsed) == (
        "closed",
        True,
        None,
        31,
    )
    assert (feb.phase, feb.collected, feb.days_elapsed) == ("future", False, 0)
    assert (old.phase, old.collected) == ("closed", False)


def test_library_refuses_a_future_month_too(demo: Path) -> None:
    from contribux_costs import CostOptimizer
    from contribux_costs.errors import ConfigError

    with (
        open_store(demo, read_only=True) as store,
        pytest.raises(ConfigError, match="2025-02 has not started"),
    ):
        CostOptimizer(store).analyze_usage("2025-02", as_of=date(2025, 1, 20))


def test_latest_collected_month(demo: Path, tmp_path: Path) -> None:
    with open_store(demo, read_only=True) as store:
        assert latest_collected(store) == Month.parse("2025-01")
    with open_store(tmp_path / "empty.duckdb") as empty:
        assert latest_collected(empty) is None


@pytest.mark.slow
def test_explore_opens_on_the_latest_collected_month_with_a_hint(
    demo: Path, tmp_path: Path
) -> None:
    import nbformat
    import papermill as pm

    from tests.report_helpers import REPO

    out = tmp_path / "explore.ipynb"
    for month, expected in ((None, "month 2025-01: closed"), ("2023-05", "nothing collected")):
        params: dict[str, object] = {"db_path": str(demo)}
        if month:
            params["month"] = month
        pm.execute_notebook(
            str(REPO / "notebooks" / "explore.ipynb"),
            str(out),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
        )
        cells = nbformat.read(str(out), as_version=4).cells
        text = str([o for c in cells if c.cell_type == "code" for o in c.get("outputs", [])])
        assert expected in text
