"""Print the top recommendations of a month.

    python examples/top_recommendations.py                      # the demo month, collected now
    python examples/top_recommendations.py --db data/contribux_costs.duckdb --month 2025-01

Without ``--db`` the demo workspace's January 2025 is collected into a temporary store first.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from contribux_costs import CostOptimizer
from contribux_costs.config import demo_settings
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.report.text import format_recommendation
from contribux_costs.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a collected store (default: collect the demo)")
    parser.add_argument("--month", default="2025-01")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "demo.duckdb"
        if args.db is None:
            with open_store(db) as store:
                collect(demo_settings(), store, month.window)
        with CostOptimizer(db) as optimizer:
            result = optimizer.analyze_usage(month)
    print(f"Top recommendations for {result.month}" + (" (DEMO DATA)" if result.demo else ""))
    for i, rec in enumerate(result.recommendations[: args.top], start=1):
        print(f"{i}. {format_recommendation(rec)}")
        print(f"   → {rec.action}")


if __name__ == "__main__":
    main()
