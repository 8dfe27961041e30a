"""Rendering with the default RELATIVE reports folder, both notebooks in parallel (defect 1).

papermill's ``cwd=`` changes the whole process's working directory; while the two notebooks
rendered in threads, a relative staging folder was resolved against the other thread's directory
("output folder reports/.tmp-… doesn't exist"). Rendered several times: the old code failed about
one run in two on a busy machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from contribux_costs.periods import Month
from contribux_costs.report.render import clean_stale_staging, render_month
from tests.report_helpers import demo_db

JAN = Month.parse("2025-01")
RUNS = 4


@pytest.mark.slow
def test_relative_reports_dir_renders_every_time(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    os.chdir(tmp_path)  # the autouse fixture restores the directory
    db = demo_db(Path("demo.duckdb"))
    stale = tmp_path / "reports" / ".tmp-2025-01-killed"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    for _ in range(RUNS):
        done = render_month(JAN, db, Path("reports"))
        assert sorted(p.name for p in done.files) == ["cache.html", "report.html"]
        assert Path.cwd() == tmp_path  # nothing moved the process's directory
    assert sorted(p.name for p in (tmp_path / "reports" / "2025-01").iterdir()) == [
        "cache.html",
        "report.html",
        "summary.json",
    ]
    assert [p.name for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")] == []
    # The kernels' TCP warning is kept off the terminal (defect 10).
    assert "IPKernelApp" not in capfd.readouterr().err


def test_recent_staging_folder_is_left_alone(tmp_path: Path) -> None:
    busy = tmp_path / ".tmp-2025-02-running"
    busy.mkdir()
    clean_stale_staging(tmp_path)
    assert busy.exists()
