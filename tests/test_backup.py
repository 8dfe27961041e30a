"""``backup`` and ``restore`` (issue 13, defect 9): Parquet per table plus a manifest of counts
and money totals; restore refuses to overwrite, verifies, and gives the identical analysis."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from contribux_costs.cli import main
from contribux_costs.store import open_store
from tests.report_helpers import demo_db


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("backup") / "demo.duckdb")


def analyze(db: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(["analyze", "--month", "2025-01", "--format", "json", "--db", str(db)]) == 0
    return json.loads(capsys.readouterr().out)


def same(a: Any, b: Any, where: str = "$") -> None:
    """Equal JSON: ids, dollars (Decimal text) and every string exactly; a float to its last
    few bits (DuckDB sums DOUBLEs in parallel, so two runs on ONE database differ there too)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_backup_then_restore_gives_the_identical_analysis(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, restored = tmp_path / "backup", tmp_path / "restored" / "costs.duckdb"
    assert main(["backup", "--db", str(demo), "--output", str(folder)]) == 0
    assert main(["restore", str(folder), "--db", str(restored)]) == 0
    out = capsys.readouterr().out
    assert "backed up" in out and "counts and money totals match the manifest" in out

    manifest = json.loads((folder / "manifest.json").read_text())
    with open_store(demo, read_only=True) as store:
        tables = set(store.tables()) - {"schema_version"}  # a view, not data
        history = store.scalar("SELECT count(*) FROM upstash_snapshots")
    assert set(manifest["tables"]) == tables
    assert all((folder / t["file"]).is_file() for t in manifest["tables"].values())
    assert manifest["tables"]["upstash_snapshots"]["rows"] == history > 0
    assert manifest["tables"]["raw_payloads"]["rows"] > 0
    assert float(manifest["tables"]["focus_charges"]["money"]["BilledCost"]) > 0

    before, after = analyze(demo, capsys), analyze(restored, capsys)
    assert before["recommendations"] and before["current_usage"]
    same(before, after)


def test_restore_refuses_to_overwrite(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "b"
    assert main(["backup", "--db", str(demo), "--output", str(folder)]) == 0
    existing = tmp_path / "existing.duckdb"
    existing.write_bytes(b"precious")
    capsys.readouterr()
    assert main(["restore", str(folder), "--db", str(existing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refuses to overwrite" in err[0]
    assert existing.read_bytes() == b"precious"


def test_an_altered_backup_is_refused_and_nothing_is_written(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "b"
    assert main(["backup", "--db", str(demo), "--output", str(folder)]) == 0
    with (folder / "charges.parquet").open("ab") as f:
        f.write(b"tampered")
    target = tmp_path / "r.duckdb"
    capsys.readouterr()
    assert main(["restore", str(folder), "--db", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "charges" in err[0] and "altered" in err[0]
    assert not target.exists() and list(tmp_path.glob(".r.duckdb*")) == []


def test_a_restore_that_does_not_match_the_manifest_is_rolled_back(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "b"
    assert main(["backup", "--db", str(demo), "--output", str(folder)]) == 0
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tables"]["usage"]["rows"] += 1  # as if a row had been lost on the way
    path.write_text(json.dumps(manifest))
    target = tmp_path / "r.duckdb"
    capsys.readouterr()
    assert main(["restore", str(folder), "--db", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "usage does not match the manifest" in err[0]
    assert not target.exists()


def test_backup_refuses_a_folder_in_use_and_a_missing_database(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    assert main(["backup", "--db", str(demo), "--output", str(used)]) == 2
    assert (
        main(["backup", "--db", str(tmp_path / "none.duckdb"), "--output", str(tmp_path / "n")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not an empty folder" in err[0] and "no database" in err[1]
