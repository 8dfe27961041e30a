"""The four cases: each runs its timed steps in children and returns one :class:`CaseResult`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from contribux_costs.bench.common import CaseResult, run_child

LOAD_TARGET_RATIO = 2.0
LOAD_TARGET_RSS_MB = 1024.0


def load_path(results: int, work: Path) -> CaseResult:
    """Case 1: collector + slice write vs DuckDB ``read_json`` of the same records."""
    case = CaseResult("1 load path", f"<= {LOAD_TARGET_RATIO}x read_json, RSS <= 1 GB")
    folder = Path(tempfile.mkdtemp(prefix="load-", dir=work))
    gen = run_child("load-generate", {"results": results, "folder": str(folder)})
    ndjson = str(folder / "records.ndjson")
    base = run_child("load-baseline", {"ndjson": ndjson, "db": str(folder / "base.duckdb")})
    floor = run_child("load-sql-floor", {"ndjson": ndjson, "db": str(folder / "floor.duckdb")})
    common: dict[str, Any] = {"results": results, "pages": str(folder / "pages")}
    real = run_child("load-path", {**common, "db": str(folder / "path.duckdb")})
    bare = run_child("load-path", {**common, "db": str(folder / "bare.duckdb"), "raw": False})
    seconds = float(real.result["seconds"])
    case.wall_s = seconds
    case.rows_per_s = results / seconds
    case.rss_mb = real.rss_mb
    case.baseline_s = float(base.result["seconds"])
    case.ratio = seconds / case.baseline_s
    case.met = case.ratio <= LOAD_TARGET_RATIO and real.rss_mb <= LOAD_TARGET_RSS_MB
    case.figures = {
        "data": gen.result,
        "baseline_read_json": {**base.result, "rss_mb": base.rss_mb},
        "sql_floor_tidy_usage": {**floor.result, "rss_mb": floor.rss_mb},
        "path_with_raw_landing": {**real.result, "rss_mb": real.rss_mb},
        "path_without_raw_landing": {**bare.result, "rss_mb": bare.rss_mb},
        "ratio_to_sql_floor": seconds / float(floor.result["seconds"]),
        "usage_rows_per_s": float(real.result["usage_rows"]) / seconds,
    }
    return case
