"""``python -m contribux_costs.bench.child STEP PARAMS_JSON``: one timed step in its own process."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from contribux_costs.bench import analysis_case, collect_case, load_case, report_case
from contribux_costs.bench.common import child_result

STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "load-generate": load_case.generate,
    "load-baseline": load_case.baseline,
    "load-sql-floor": load_case.sql_floor,
    "load-path": load_case.path,
    "report": report_case.run,
    "collect": collect_case.run,
    "analysis-generate": analysis_case.generate,
    "analysis-run": analysis_case.run,
}


def main(argv: list[str]) -> int:
    step, params = argv[0], json.loads(argv[1])
    child_result(STEPS[step](params))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
