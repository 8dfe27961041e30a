"""Exports beyond one month: FOCUS for a range (one file or per-month Parquet); results files."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from contribux_costs.analysis.engine import CostOptimizer
from contribux_costs.cli import main
from contribux_costs.config import demo_settings, load_settings
from contribux_costs.errors import ConfigError
from contribux_costs.focus import export_focus
from contribux_costs.focus.export_range import export_focus_range, months_between
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.report.exports import export_results
from contribux_costs.store import Store, open_store

DEC, JAN = Month.parse("2024-12"), Month.parse("2025-01")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("range") / "demo.duckdb"
    with open_store(path) as store:
        for m in (DEC, JAN):
            assert collect(demo_settings(load_settings()), store, m.window).ok
    return path


@pytest.fixture
def store(db: Path) -> Store:
    with open_store(db) as s:
        yield s  # type: ignore[misc]


def _total(sql_from: str) -> tuple[int, Decimal]:
    [(rows, total)] = duckdb.sql(f"SELECT count(*), sum(BilledCost) FROM {sql_from}").fetchall()
    return int(rows), Decimal(str(total))


def test_partitioned_parquet_reads_back_with_the_single_month_totals(
    store: Store, tmp_path: Path
) -> None:
    singles = {m: export_focus(store, m, tmp_path / f"{m}.parquet") for m in (DEC, JAN)}
    parts = export_focus_range(store, DEC, JAN, tmp_path / "focus", partitioned=True)
    assert [p.path.parent.name for p in parts] == [
        "x_billing_month=2024-12",
        "x_billing_month=2025-01",
    ]
    glob = f"read_parquet('{tmp_path}/focus/*/*.parquet', hive_partitioning = true)"
    by_month = duckdb.sql(
        f"SELECT x_billing_month, count(*), sum(BilledCost) FROM {glob} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    for (month, rows, total), m in zip(by_month, (DEC, JAN), strict=True):
        assert month == str(m)
        assert (rows, Decimal(str(total))) == (singles[m].rows, singles[m].billed_cost)
        assert _total(f"'{singles[m].path}'") == (rows, Decimal(str(total)))
    both = export_focus_range(store, DEC, JAN, tmp_path / "both.parquet")
    assert both[0].billed_cost == singles[DEC].billed_cost + singles[JAN].billed_cost
    assert _total(f"'{both[0].path}'") == (both[0].rows, both[0].billed_cost)


def test_range_checks() -> None:
    assert months_between(DEC, JAN) == [DEC, JAN]
    with pytest.raises(ConfigError, match="--from is after --to"):
        months_between(JAN, DEC)
    with pytest.raises(ConfigError, match="more than 120 months"):
        months_between(Month(2010, 1), JAN)


def test_cli_range_and_results(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "parts"
    args = ["export", "focus", "--from", "2024-12", "--to", "2025-01", "--db", str(db)]
    assert main([*args, "--partitioned", "--output", str(out)]) == 0
    assert len(list(out.glob("x_billing_month=*/data.parquet"))) == 2
    assert (
        main(
            [
                "export",
                "focus",
                "--month",
                "2025-01",
                "--from",
                "2024-12",
                "--db",
                str(db),
                "--output",
                str(tmp_path / "x.parquet"),
            ]
        )
        == 2
    )
    assert "not both" in capsys.readouterr().err
    for what in ("recommendations", "anomalies", "alerts"):
        for suffix in (".csv", ".json"):
            target = tmp_path / f"{what}{suffix}"
            assert (
                main(
                    ["export", what, "--month", "2025-01", "--db", str(db), "--output", str(target)]
                )
                == 0
            )
            assert target.exists()


def test_results_export_round_trips(db: Path, tmp_path: Path) -> None:
    with CostOptimizer(db) as engine:
        result = engine.analyze_usage("2025-01")
    assert result.recommendations
    n = export_results(result, "recommendations", tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert n == len(data) == len(result.recommendations)
    assert {d["id"] for d in data} == {r.id for r in result.recommendations}
    export_results(result, "recommendations", tmp_path / "r.csv")
    with (tmp_path / "r.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [d["id"] for d in data]
    assert json.loads(rows[0]["evidence"]) == data[0]["evidence"]
    export_results(result.model_copy(update={"alerts": []}), "alerts", tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text().startswith("month,demo,rule_id,")
    with pytest.raises(ConfigError, match=r"use a \.csv or \.json"):
        export_results(result, "alerts", tmp_path / "a.xlsx")
