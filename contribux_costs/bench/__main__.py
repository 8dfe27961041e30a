"""``python -m contribux_costs.bench``: run the cases, print the table, write the JSON.

A missed target is printed as MISSED and the exit status stays 0 (the bench informs, it does
not fail CI); a case that crashes is reported as FAILED with its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contribux_costs.bench import cases
from contribux_costs.bench.common import CaseResult, machine

DEFAULT_OUT = Path("reports/bench/latest.json")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    env = machine()
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="contribux-bench-") as tmp:
        work = Path(tmp)
        for key, run in _cases(args, work).items():
            if key in args.cases:
                results.append(_guarded(key, run))
                print(_row(results[-1]), flush=True)
    total = time.perf_counter() - t0
    report = {
        "started_at": started.isoformat(),
        "total_s": round(total, 1),
        "machine": env,
        "parameters": {
            "results": args.results,
            "scale": args.scale,
            "month": args.month,
            "cases": args.cases,
        },
        "cases": [asdict(r) for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print()
    print(table(results))
    print(f"\ntotal {total:.1f} s on {env['cpu']} ({env['cpus']} CPUs, {env['memory_gb']} GB)")
    print(f"written to {args.out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m contribux_costs.bench", description=__doc__)
    p.add_argument("--results", type=int, default=1_000_000, help="case 1: OpenAI results")
    p.add_argument("--scale", type=float, default=100.0, help="case 3: × the demo's volume")
    p.add_argument("--cases", default="1234", help="which cases to run, e.g. 13")
    p.add_argument("--month", default=previous_month(), help="cases 3, 4: YYYY-MM")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p


def previous_month() -> str:
    """The last full UTC month (what ``make report`` defaults to)."""
    first = datetime.now(UTC).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _cases(args: argparse.Namespace, work: Path) -> dict[str, Callable[[], CaseResult]]:
    return {
        "1": lambda: cases.load_path(args.results, work),
        "2": lambda: cases.collection(args.month, work),
        "3": lambda: cases.analysis(args.month, args.scale, work),
        "4": lambda: cases.report(args.month, work),
    }


def _guarded(key: str, run: Callable[[], CaseResult]) -> CaseResult:
    try:
        return run()
    except Exception as exc:  # a failing case is a row of the table, never a crash
        return CaseResult(f"{key} (failed)", "", error=f"{type(exc).__name__}: {exc}")


HEADER = (
    f"{'case':<24} {'wall s':>8} {'rows/s':>11} {'RSS MB':>8} {'base s':>8} "
    f"{'ratio':>7}  {'target':<34} result"
)


def _num(value: float | None, fmt: str, width: int) -> str:
    return f"{value:{width}{fmt}}" if value is not None else f"{'-':>{width}}"


def _row(r: CaseResult) -> str:
    verdict = "FAILED: " + (r.error or "") if r.error else ("met" if r.met else "MISSED")
    return (
        f"{r.case:<24} {_num(r.wall_s, '.2f', 8)} {_num(r.rows_per_s, ',.0f', 11)} "
        f"{_num(r.rss_mb, '.0f', 8)} {_num(r.baseline_s, '.2f', 8)} {_num(r.ratio, '.2f', 7)}  "
        f"{r.target:<34} {verdict}"
    )


def table(results: list[CaseResult]) -> str:
    """The printed table: one row per case, then its extra figures indented below."""
    lines = [HEADER, "-" * len(HEADER)]
    for r in results:
        lines.append(_row(r))
        for name, value in r.figures.items():
            lines.append(f"    {name}: {json.dumps(value, default=str)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
