"""Child processes, their peak RSS, the machine, and the result records of the bench."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contribux_costs.errors import CostsError


class BenchError(CostsError):
    """A bench step failed (its message names the step; the bench reports it and goes on)."""


@dataclass
class Step:
    """One timed child: what it returned, its wall time seen from outside, and its peak RSS."""

    name: str
    result: dict[str, Any]
    wall_s: float
    rss_mb: float


def run_child(step: str, params: dict[str, Any], timeout_s: float = 900) -> Step:
    """Run ``step`` in a fresh interpreter; its own figures come back through a JSON file."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "contribux_costs.bench.child", step, json.dumps(params)]
        t0 = time.perf_counter()
        # A fixed argv (this interpreter, this package), no shell.
        proc = subprocess.Popen(cmd, env={**os.environ, "BENCH_RESULT": str(out)})  # noqa: S603
        try:
            # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max so far).
            _pid, status, usage = _wait(proc, timeout_s)
        finally:
            if proc.poll() is None:
                proc.kill()
        wall = time.perf_counter() - t0
        if status != 0 or not out.exists():
            raise BenchError(f"bench step {step} failed (exit status {status}); see its output")
        result: dict[str, Any] = json.loads(out.read_text())
    return Step(step, result, wall, usage.ru_maxrss / 1024)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, int, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            raise BenchError(f"bench child {proc.args!r} exceeded {timeout_s:.0f} s")
        time.sleep(0.02)


def machine() -> dict[str, Any]:
    """Where the figures come from (they mean little without it)."""
    import duckdb
    import polars

    cpu = "unknown"
    mem_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        meminfo = Path("/proc/meminfo").read_text().split()
        mem_gb = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "load_average_1m_at_start": round(load, 2),
    }


@dataclass
class CaseResult:
    """One row of the table: the case's figures, its baseline and whether the target is met."""

    case: str
    target: str
    wall_s: float | None = None
    rows_per_s: float | None = None
    rss_mb: float | None = None
    baseline_s: float | None = None
    ratio: float | None = None
    met: bool | None = None
    error: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def child_result(figures: dict[str, Any]) -> None:
    """Called inside a child: hand its figures to the parent."""
    Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(figures, default=str))
