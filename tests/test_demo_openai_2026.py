"""Issue 14 done-when on the demo workspace: the 2026 OpenAI fields, Batch traffic, a gpt-5
model (with priority-tier traffic) collected, priced part by part, and equal to the demo's bill."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from contribux_costs.analysis.openai_spend import model_spend
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store
from tests.engine_support import demo_settings

NOV = Month.parse("2026-11")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(tmp_path_factory.mktemp("demo2026") / "demo.duckdb")
    report = collect(demo_settings(), s, NOV.window)
    assert report.ok, report.summary_lines()
    yield s
    s.close()


def test_demo_collects_the_2026_fields_batch_and_tiers(store: Store) -> None:
    metrics = set(
        store.query("SELECT DISTINCT metric FROM usage WHERE provider = 'openai'")["metric"]
    )
    assert {"input_cache_write_tokens", "input_image_tokens", "input_text_tokens"} <= metrics
    dims = store.query(
        "SELECT DISTINCT resource_name AS model, json_extract_string(dimensions, '$.batch') AS b, "
        "json_extract_string(dimensions, '$.service_tier') AS tier FROM usage "
        "WHERE provider = 'openai' AND service = 'completions'"
    ).rows()
    assert ("gpt-4o-mini-2024-07-18", "true", "default") in dims
    assert ("gpt-5-2025-08-07", "false", "priority") in dims


def test_every_part_priced_at_its_rate_equals_the_demo_bill(store: Store) -> None:
    ctx = RuleContext(store, NOV, Config.load(), NOV.next.first_day)
    spend = {(s.project_id, s.model): s for s in model_spend(ctx)}
    gpt5 = spend[("proj_contribux_prod", "gpt-5-2025-08-07")]
    mini = spend[("proj_contribux_dev", "gpt-4o-mini-2024-07-18")]
    for s in (gpt5, mini):
        assert s.billed and s.priced > 0
        # The demo bills each slice and part at its own rate; pricing the usage part by part
        # (text, image, cache writes, cached; batch at 50%, priority at its own price) gives the
        # same dollars up to the demo's per-day token rounding.
        assert abs(s.priced - s.cost) <= s.cost * Decimal("0.001"), (s.model, s.priced, s.cost)
    # 60% of dev gpt-4o-mini traffic is batched (at half price): the 40% not batched is
    # 0.4 / (0.4 + 0.6 × 0.5) = 4/7 of the spend, and only that can still move to the Batch API.
    assert float(mini.batchable / mini.priced) == pytest.approx(4 / 7, rel=0.01)
    notes = [n for n in ctx.notes if "unpriced openai" in n]
    assert notes == []
