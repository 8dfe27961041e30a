"""FOCUS 1.3 conformance: the demo export against the spec's column rules (spec_1_3.toml)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from contribux_costs.config import demo_settings, load_settings
from contribux_costs.focus import export_focus
from contribux_costs.focus.conformance import (
    APPLICABLE_CONDITIONAL,
    check_export,
    check_relation,
    spec_rules,
)
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store

MONTH = Month.parse("2025-01")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = open_store(tmp_path_factory.mktemp("conf") / "demo.duckdb")
    report = collect(demo_settings(load_settings()), store, MONTH.window)
    assert report.ok, report.summary_lines()
    return store


def test_spec_rules_cite_their_source() -> None:
    rules = spec_rules()
    assert rules["spec"]["version"] == "1.3"
    cols = rules["columns"]
    assert len(cols) >= 60
    assert all("FOCUS_Spec@" in c["source"] for c in cols.values())
    assert cols["ProviderName"]["deprecated"] == "1.3"
    assert cols["ServiceProviderName"]["feature_level"] == "Mandatory"
    assert set(APPLICABLE_CONDITIONAL) <= set(cols)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_demo_export_conforms(demo: Store, tmp_path: Path, suffix: str) -> None:
    out = export_focus(demo, MONTH, tmp_path / f"focus{suffix}").path
    assert check_export(out) == []
    names = [d[0] for d in duckdb.sql(f"DESCRIBE SELECT * FROM '{out}'").fetchall()]
    rules = spec_rules()["columns"]
    mandatory = {n for n, r in rules.items() if r["feature_level"] == "Mandatory"}
    assert mandatory | set(APPLICABLE_CONDITIONAL) <= set(names)
    first_x = min(i for i, n in enumerate(names) if n.startswith("x_"))
    assert all(n.startswith("x_") for n in names[first_x:])


def test_sub_accounts_are_projects(demo: Store, tmp_path: Path) -> None:
    out = export_focus(demo, MONTH, tmp_path / "focus.parquet").path
    rows = duckdb.sql(
        f"SELECT x_provider, count(*) FILTER (SubAccountId IS NOT NULL), count(*), "
        f"any_value(SubAccountType) FILTER (SubAccountId IS NOT NULL), "
        f"bool_and(ProviderName = ServiceProviderName AND PublisherName = ServiceProviderName) "
        f"FROM '{out}' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    got = {r[0]: r[1:] for r in rows}
    assert got["neon"][0] == got["neon"][1] and got["neon"][2] == "Project"
    assert got["openai"][0] == got["openai"][1]
    assert got["upstash"][0] == 0  # Upstash has no sub-account construct
    assert all(r[3] for r in got.values())


def _bad(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    con.execute(f"CREATE OR REPLACE VIEW v AS {sql}")
    return [str(v) for v in check_relation(con, "v")]


def test_checker_catches_each_kind_of_break(demo: Store, tmp_path: Path) -> None:
    out = export_focus(demo, MONTH, tmp_path / "focus.parquet").path
    con = duckdb.connect()
    base = f"SELECT * FROM '{out}'"
    assert _bad(con, base) == []
    missing = _bad(con, f"SELECT * EXCLUDE (ProviderName) FROM '{out}'")
    assert missing == ["ProviderName: mandatory column is missing"]
    assert any(
        "not a FOCUS 1.3 column" in v for v in _bad(con, f"SELECT *, 1 AS Environment FROM '{out}'")
    )
    assert any("placed before" in v for v in _bad(con, f"SELECT 1 AS x_first, * FROM '{out}'"))
    nulls = _bad(
        con,
        f"SELECT * REPLACE (CASE WHEN x_provider = 'neon' THEN NULL "
        f"ELSE SubAccountName END AS SubAccountName) FROM '{out}'",
    )
    assert nulls and nulls[0].startswith("SubAccountName: MUST NOT be null when SubAccountId")
    values = _bad(con, f"SELECT * REPLACE ('Usage-based' AS ChargeFrequency) FROM '{out}'")
    assert values and "allowed values" in values[0]
    typed = _bad(con, f"SELECT * REPLACE (BilledCost::VARCHAR || 'x' AS BilledCost) FROM '{out}'")
    assert typed and "type Decimal" in typed[0]
