"""Export a month's recommendations, anomalies or alerts as CSV or JSON (by the file's suffix).

    result = CostOptimizer(db).analyze_usage("2026-11")
    export_results(result, "recommendations", Path("recs.csv"))

JSON is a list of objects (the ``analyze --format json`` shapes); CSV has one row per item with
nested fields (evidence, causes) as JSON text, so the file opens in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contribux_costs.errors import ConfigError, StoreError
from contribux_costs.models import Alert, AnalysisResult, Anomaly, Recommendation

_MODELS: dict[str, type[BaseModel]] = {
    "recommendations": Recommendation,
    "anomalies": Anomaly,
    "alerts": Alert,
}
RESULT_KINDS = tuple(_MODELS)


def export_results(result: AnalysisResult, what: str, path: Path | str) -> int:
    """Write ``result.<what>`` to ``path`` (.csv or .json) atomically; returns the item count."""
    if what not in RESULT_KINDS:
        raise ConfigError(f"cannot export {what!r}: choose one of {', '.join(RESULT_KINDS)}")
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"cannot export {what} to {target.name!r}: use a .csv or .json file name")
    items = [
        {"month": result.month, "demo": result.demo, **m.model_dump(mode="json")}
        for m in getattr(result, what)
    ]
    header = ["month", "demo", *_MODELS[what].model_fields]
    text = json.dumps(items, indent=2) + "\n" if suffix == ".json" else _csv(items, header)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {what} to {target}: {exc.strerror or exc}") from exc
    return len(items)


def _csv(items: list[dict[str, Any]], header: list[str]) -> str:
    fields = list(header)
    for item in items:  # union of keys, first-seen order (optional fields may be absent)
        fields += [k for k in item if k not in fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: _cell(v) for k, v in item.items()})
    return out.getvalue()


def _cell(value: object) -> object:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
