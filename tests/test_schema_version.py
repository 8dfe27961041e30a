"""Schema version (issue 13, defect 7): a database written by the current ``main``'s migrations
is migrated forward in one transaction with every row and total intact; a database written by a
newer release is refused with one line naming both versions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from contribux_costs.cli import main
from contribux_costs.errors import StoreError
from contribux_costs.store import core, open_store
from contribux_costs.store.core import release_version
from tests.report_helpers import demo_db

MAIN_MIGRATIONS = Path(__file__).parent / "fixtures" / "migrations_main"


def old_database(path: Path, source: Path) -> None:
    """``main``'s schema (its migrations, applied one by one as ``main`` did), filled with the
    demo rows of ``source`` (every column ``main`` has)."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for sql in sorted(MAIN_MIGRATIONS.glob("*.sql")):
        con.execute(sql.read_text())
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, now())", [int(sql.name[:3]), sql.name]
        )
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    for table in tables(con):
        if (
            table == "schema_migrations"
            or con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        ):  # type: ignore[index]
            continue  # filled by the migrations themselves (slice_tables)
        cols = ", ".join(f'"{c}"' for c in columns(con, table))
        con.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM src."{table}"')
    con.close()


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def columns(con: duckdb.DuckDBPyConnection, table: str, kind: str = "%") -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = ? AND data_type LIKE ? ORDER BY column_index",
        [table, kind],
    ).fetchall()
    return [str(r[0]) for r in rows]


def totals(
    con: duckdb.DuckDBPyConnection, only: list[str], money: dict[str, list[str]]
) -> dict[str, tuple[object, ...]]:
    """Per table: the row count and the sum of each of its given DECIMAL (money) columns."""
    out: dict[str, tuple[object, ...]] = {}
    for table in only:
        sums = "".join(f', sum("{c}")' for c in money[table])
        out[table] = tuple(con.execute(f'SELECT count(*){sums} FROM "{table}"').fetchone() or ())
    return out


def test_a_main_database_is_migrated_forward_with_every_row_and_total_intact(
    tmp_path: Path,
) -> None:
    source = demo_db(tmp_path / "demo.duckdb")
    old = tmp_path / "old.duckdb"
    old_database(old, source)
    con = duckdb.connect(str(old))
    names = [t for t in tables(con) if t not in ("schema_migrations", "slice_tables")]
    money = {t: columns(con, t, "DECIMAL%") for t in names}  # main's columns, before and after
    before = totals(con, names, money)
    registered = set(con.execute("SELECT * FROM slice_tables").fetchall())
    con.close()
    assert before["charges"][0] and before["focus_charges"][0]  # type: ignore[operator]
    assert isinstance(before["focus_charges"][1], Decimal)

    with open_store(old) as store:
        assert store.schema_version() == release_version() > 30
        assert store.scalar("SELECT version FROM schema_version") == release_version()
        after = totals(store.con, names, money)
        now_registered = set(store.con.execute("SELECT * FROM slice_tables").fetchall())
    assert after == before
    assert registered <= now_registered  # later migrations register their own sliced tables


def test_a_newer_database_is_refused_with_one_line_naming_both_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "newer.duckdb"
    with open_store(db) as store, store.transaction() as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, '999_future.sql', now())")
    ours = release_version()
    with pytest.raises(StoreError) as info:
        open_store(db)
    assert f"schema version 999, newer than this release's {ours}" in str(info.value)
    with pytest.raises(StoreError, match="schema version 999"):
        open_store(db, read_only=True)
    for argv in (["collect", "--month", "2025-01"], ["analyze", "--month", "2025-01"]):
        assert main([*argv, "--db", str(db)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "999" in err[0] and str(ours) in err[0]


def test_pending_migrations_apply_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "half.duckdb"
    with open_store(db):
        pass
    real = core._migrations()
    extra = [
        (900, "900_good.sql", "CREATE TABLE good_one (x INTEGER);"),
        (901, "901_bad.sql", "CREATE TABLE broken (x NOSUCHTYPE);"),
    ]
    monkeypatch.setattr(core, "_migrations", lambda: [*real, *extra])
    with pytest.raises(StoreError, match="NOSUCHTYPE"):
        open_store(db)
    monkeypatch.undo()
    with open_store(db) as store:
        assert "good_one" not in store.tables()
        assert store.schema_version() == release_version()
