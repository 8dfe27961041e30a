"""OpenAI completions usage as disjoint priced parts, whatever shape it was collected in.

The 2026 Usage API (openai/openai-openapi ``openapi.yaml``, ``UsageCompletionsResult``, spec of
2026-07-15 on) reports every part of a bucket's tokens: uncached text / audio / image input,
cached text / audio / image input, cache writes, and text / audio / image output; the aggregates
``input_tokens`` (= all input parts), ``input_cached_tokens``, ``input_uncached_tokens`` and
``output_tokens`` overlap them and are not priced. The collector stores the parts (it fills the
text parts from the aggregates when a response lacks them). Rows stored in the 2025 shape
(``input_tokens`` = text input *including* cached, ``output_tokens`` = text output; the collector
then also stored ``input_uncached_tokens = input − cached``) have no text parts: this SQL adds them
at pricing time, so an older store is priced the same way and no token is priced twice.
"""

from __future__ import annotations

from contribux_costs.store.grain import MONTH_USAGE

_GROUP = (
    "provider, endpoint, service, resource_id, resource_name, period_start, period_end, "
    "granularity, dims, billing_date"
)


def _part(metric: str, has: str, value: str) -> str:
    return (
        f"SELECT provider, endpoint, service, resource_id, resource_name, '{metric}' AS metric, "
        "'tokens' AS unit, period_start, period_end, granularity, "
        f"({value})::DOUBLE AS value, dims::JSON AS dimensions, billing_date "
        f"FROM legacy WHERE NOT {has} AND ({value}) IS NOT NULL"
    )


_UNCACHED_TEXT = "coalesce(uncached, input_tokens - coalesce(cached, 0))"

# The month's usage (params ``$first`` / ``$next``), one granularity per day, with the text parts
# of 2025-shaped OpenAI completions rows added.
PRICED_USAGE = f"""
WITH mu AS ({MONTH_USAGE}),
legacy AS (
    SELECT {_GROUP},
           bool_or(metric = 'input_text_tokens') AS has_text,
           bool_or(metric = 'input_cached_text_tokens') AS has_cached_text,
           bool_or(metric = 'output_text_tokens') AS has_output_text,
           sum(value) FILTER (WHERE metric = 'input_tokens') AS input_tokens,
           sum(value) FILTER (WHERE metric = 'input_cached_tokens') AS cached,
           sum(value) FILTER (WHERE metric = 'input_uncached_tokens') AS uncached,
           sum(value) FILTER (WHERE metric = 'output_tokens') AS output_tokens
    FROM (SELECT *, dimensions::VARCHAR AS dims FROM mu)
    WHERE provider = 'openai' AND service = 'completions'
    GROUP BY {_GROUP}
)
SELECT provider, endpoint, service, resource_id, resource_name, metric, unit, period_start,
       period_end, granularity, value, dimensions, billing_date FROM mu
UNION ALL {_part("input_text_tokens", "has_text", _UNCACHED_TEXT)}
UNION ALL {_part("input_cached_text_tokens", "has_cached_text", "cached")}
UNION ALL {_part("output_text_tokens", "has_output_text", "output_tokens")}
"""
