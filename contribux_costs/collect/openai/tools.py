"""OpenAI Usage API endpoints beyond completions/embeddings: each result's volume as tidy usage.

Paths and result fields per openai/openai-openapi ``openapi.yaml`` (Usage*Result objects) and
../shared/docs/provider-apis.md: moderations (``input_tokens``, priced like embeddings: free,
kept as volume), images (``images``), audio_speeches (``characters``), audio_transcriptions
(``seconds``), vector_stores (``usage_bytes``), code_interpreter_sessions (``num_sessions``),
file_search_calls and web_search_calls (``num_requests``). ``resource_name`` is the tool (or
the model where the endpoint is per model) so the price book can map it to a SKU.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from contribux_costs.errors import SchemaError

PROVIDER = "openai"
# endpoint → (volume field, unit, tool family for pricing or None = priced per model).
TOOL_METRICS: dict[str, tuple[str, str, str | None]] = {
    "moderations": ("input_tokens", "tokens", None),
    "images": ("images", "images", None),
    "audio_speeches": ("characters", "characters", None),
    "audio_transcriptions": ("seconds", "seconds", None),
    "vector_stores": ("usage_bytes", "bytes", "vector-store"),
    "code_interpreter_sessions": ("num_sessions", "sessions", "code-interpreter"),
    "file_search_calls": ("num_requests", "calls", "file-search"),
    "web_search_calls": ("num_requests", "calls", "web-search"),
}
# group_by values each endpoint accepts (vector stores / code interpreter: project only).
TOOL_GROUP_BY: dict[str, list[str]] = {
    k: ["project_id"] if v[2] in ("vector-store", "code-interpreter") else ["model", "project_id"]
    for k, v in TOOL_METRICS.items()
}
_DIMS = ("project_id", "model", "user_id", "api_key_id", "size", "source", "context_level")
_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "endpoint": pl.String(),
    "service": pl.String(),
    "resource_id": pl.String(),
    "resource_name": pl.String(),
    "metric": pl.String(),
    "unit": pl.String(),
    "period_start": pl.Datetime("us", "UTC"),
    "period_end": pl.Datetime("us", "UTC"),
    "granularity": pl.String(),
    "value": pl.Float64(),
    "dimensions": pl.String(),
    "billing_date": pl.Date(),
}


def tool_usage_frame(
    results: list[dict[str, Any]], kind: str, endpoint: str, width: str
) -> pl.DataFrame:
    """Results (each with ``_start``/``_end`` from its bucket) → one usage row per result."""
    field, unit, tool = TOOL_METRICS[kind]
    rows = []
    for r in results:
        value = r.get(field)
        if value is None:
            raise SchemaError(PROVIDER, endpoint, f"a {kind} result has no {field!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(PROVIDER, endpoint, f"result field {field!r} is not a number")
        start = datetime.fromtimestamp(r["_start"], UTC)
        dims = {d: r.get(d) for d in _DIMS if d in r}
        rows.append(
            {
                "provider": PROVIDER,
                "endpoint": endpoint,
                "service": kind,
                "resource_id": r.get("project_id"),
                "resource_name": tool or r.get("model"),
                "metric": field,
                "unit": unit,
                "period_start": start,
                "period_end": datetime.fromtimestamp(r["_end"], UTC),
                "granularity": width,
                "value": float(value),
                "dimensions": json.dumps(dims, sort_keys=True),
                "billing_date": start.date(),
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA)
