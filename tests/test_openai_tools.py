"""OpenAI usage beyond completions/embeddings: tool calls priced per the price book, units it
does not price (images, audio, vector-store bytes) reported as findings with their volume."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pricing_support import money, usage, write

from contribux_costs.periods import Month
from contribux_costs.pricing import load_pricebook, price_usage
from contribux_costs.store import Store, open_store

JAN = Month.parse("2025-01")
D = date(2025, 1, 10)


@pytest.fixture
def store() -> Store:
    return open_store()


def _tool(metric: str, unit: str, service: str, name: str, value: float) -> dict[str, object]:
    return usage(
        "openai", metric, unit, D, value, resource_id="proj_a", service=service, resource_name=name
    )


def test_tool_calls_are_priced_and_other_units_become_findings(store: Store) -> None:
    write(
        store,
        "usage",
        [
            _tool("num_requests", "calls", "web_search_calls", "web-search", 350),
            _tool("num_requests", "calls", "file_search_calls", "file-search", 400),
            _tool("num_sessions", "sessions", "code_interpreter_sessions", "code-interpreter", 10),
            _tool("images", "images", "images", "gpt-image-1", 12),
            _tool("characters", "characters", "audio_speeches", "tts-1", 1450),
            _tool("input_tokens", "tokens", "moderations", "omni-moderation-latest", 9000),
        ],
    )
    lines, findings = price_usage(store, load_pricebook(), JAN, ["openai"])
    cost = {r["sku"]: money(r["cost"]) for r in lines.iter_rows(named=True)}
    assert cost == {
        "openai/web-search/calls": Decimal("3.50"),  # 350 x $10 / 1K
        "openai/file-search/calls": Decimal("1.00"),  # 400 x $2.50 / 1K
        "openai/code-interpreter/sessions": Decimal("0.30"),  # 10 x $0.03
    }
    unpriced = {(f.metric, f.volume) for f in findings}
    assert unpriced == {("images", 12.0), ("characters", 1450.0)}  # moderations are free
