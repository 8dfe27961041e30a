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


REPORT_TARGET_S = 8.0


def report(month: str, work: Path) -> CaseResult:
    """Case 4: the second of two ``make report`` runs for ``month`` into a fresh database."""
    case = CaseResult("4 make report (warm)", f"<= {REPORT_TARGET_S:.0f} s wall")
    folder = Path(tempfile.mkdtemp(prefix="report-", dir=work))
    params = {"month": month, "db": str(folder / "r.duckdb"), "reports_dir": str(folder / "out")}
    step = run_child("report", params)
    case.wall_s = float(step.result["seconds"])
    case.rss_mb = step.rss_mb
    case.met = case.wall_s <= REPORT_TARGET_S
    case.figures = {**step.result, "html_kb": _kb(step.result["html_bytes"])}
    return case


def _kb(sizes: dict[str, int]) -> dict[str, float]:
    return {name: round(size / 1024, 1) for name, size in sizes.items()}


COLLECT_TARGET_RATIO = 0.4
COLLECT_PROVIDERS = ("openai", "vercel", "neon", "upstash")
RATE_LIMITS = {"neon": 30}  # requests per minute per account (provider-apis.md)


def collection(month: str, work: Path) -> CaseResult:
    """Case 2: four providers at once vs the sum of each alone, on the +50 ms loopback."""
    case = CaseResult("2 collection concurrency", f"<= {COLLECT_TARGET_RATIO}x sum alone, no 429")
    folder = Path(tempfile.mkdtemp(prefix="collect-", dir=work))
    alone = {
        p: run_child(
            "collect", {"month": month, "db": str(folder / f"{p}.duckdb"), "providers": [p]}
        )
        for p in COLLECT_PROVIDERS
    }
    both = run_child(
        "collect",
        {"month": month, "db": str(folder / "all.duckdb"), "providers": list(COLLECT_PROVIDERS)},
    )
    total_alone = sum(float(s.result["seconds"]) for s in alone.values())
    requests = both.result["requests"]
    within = all(
        requests.get(p, {}).get("max_per_minute", 0) <= limit for p, limit in RATE_LIMITS.items()
    ) and not any(r.get("429") for r in requests.values())
    case.wall_s = float(both.result["seconds"])
    case.rss_mb = both.rss_mb
    case.baseline_s = total_alone
    case.ratio = case.wall_s / total_alone
    case.rows_per_s = float(both.result["usage_rows"]) / case.wall_s
    case.met = case.ratio <= COLLECT_TARGET_RATIO and within
    case.figures = {
        "alone_s": {p: round(float(s.result["seconds"]), 2) for p, s in alone.items()},
        "together_per_provider_s": both.result["per_provider_s"],
        "requests_together": requests,
        "rate_limits_per_minute": RATE_LIMITS,
        "within_rate_limits": within,
        "usage_rows": both.result["usage_rows"],
        "delay_per_response_s": 0.05,
    }
    return case


ANALYSIS_TARGET_S = 2.0


def analysis(month: str, scale: float, work: Path) -> CaseResult:
    """Case 3: ``analyze_usage`` over a year of hourly data at ``scale``× the demo."""
    case = CaseResult("3 analysis (year, hourly)", f"< {ANALYSIS_TARGET_S:.0f} s; floor = 1 scan")
    db = str(Path(tempfile.mkdtemp(prefix="analysis-", dir=work)) / "a.duckdb")
    gen = run_child("analysis-generate", {"month": month, "db": db, "scale": scale})
    case.figures = {"data": gen.result}
    step = run_child("analysis-run", {"month": month, "db": db})
    case.wall_s = float(step.result["seconds"])
    case.rss_mb = step.rss_mb
    case.baseline_s = float(step.result["scan_s"])
    case.ratio = case.wall_s / case.baseline_s
    case.rows_per_s = float(step.result["scanned_rows"]) / case.wall_s
    case.met = case.wall_s < ANALYSIS_TARGET_S
    case.figures["run"] = step.result
    return case
