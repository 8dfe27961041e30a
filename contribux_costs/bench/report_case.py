"""Case 4, the report: ``make report`` for one month with a warm environment.

The first run warms everything (uv environment, bytecode, the month's data collected into a
fresh database); the second run is timed. Both are the real Makefile target, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from contribux_costs.bench.common import BenchError

REPO = Path(__file__).resolve().parents[2]


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Child step: ``make report`` twice (warm-up, timed); the HTML files and their sizes."""
    month, db, out = str(params["month"]), str(params["db"]), str(params["reports_dir"])
    cmd = ["make", "--no-print-directory", "report", f"MONTH={month}", f"DB={db}"]
    cmd.append(f"REPORTS_DIR={out}")
    warm = _make(cmd)
    timed = _make(cmd)
    folder = Path(out) / month
    files = {p.name: p.stat().st_size for p in sorted(folder.glob("*.html"))}
    if "report.html" not in files:
        raise BenchError(f"make report wrote no {folder / 'report.html'}")
    return {"seconds": timed, "warmup_s": warm, "month": month, "html_bytes": files}


def _make(cmd: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_RESULT"}
    t0 = time.perf_counter()
    # A fixed argv (make and this repository's Makefile), no shell.
    done = subprocess.run(  # noqa: S603
        cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(cmd)} failed: {' | '.join(tail)}")
    return seconds
