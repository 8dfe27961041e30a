"""Issue 14 (items 6-8): OpenAI usage priced the way OpenAI bills it, and advice on the same rows.

Source of the token fields: openai/openai-openapi ``openapi.yaml`` (spec of 2026-07-15 on),
``UsageCompletionsResult``: ``input_tokens`` includes cached AND cache-write tokens and the text,
audio and image tokens; ``input_uncached_tokens`` = uncached text + audio + image (excluding
cache writes); ``input_text_tokens`` / ``input_audio_tokens`` / ``input_image_tokens`` are the
uncached parts; ``input_cached_*`` the cached parts; ``output_*`` the output parts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from contribux_costs import CostOptimizer
from contribux_costs.analysis import costs
from contribux_costs.analysis.rulebase import Config, RuleContext
from contribux_costs.focus import build_focus
from contribux_costs.periods import Month
from tests.engine_support import charge_row, insert, new_store, usage_row

NOV = Month(2026, 11)
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
M = Decimal(1_000_000)


def _completions(
    day: date, model: str, fields: dict[str, int], project: str = "proj_a", **dims: object
) -> list[dict[str, object]]:
    return [
        usage_row("openai", "completions", k, v, day, project, model, "tokens", dimensions=dims)
        for k, v in fields.items()
    ]


def test_gpt5_usage_on_a_day_the_costs_api_has_not_filled_is_in_the_bill() -> None:
    # Old code: gpt-5 had no price-book entry, so the unbilled day's estimate was dropped.
    store = new_store()
    rows = _completions(
        D2,
        "gpt-5-2025-08-07",
        {
            "input_text_tokens": 2_000_000,
            "output_text_tokens": 1_000_000,
            "num_model_requests": 100,
        },
    )
    insert(store, "usage", rows)
    insert(store, "charges", [charge_row("openai", "1.00", D1, "OpenAI API", "x, input", "p")])
    build = build_focus(store, NOV)
    # 2M × $1.25/1M + 1M × $10/1M = $12.50 estimated for the unbilled day.
    assert build.by_source["estimated"] == Decimal("12.5")
    assert not [f for f in build.findings if "gpt-5" in f.subject]


def test_unpriced_model_is_a_data_quality_finding_with_its_volume() -> None:
    # Old code: the finding sat in pricing_findings and the analysis said nothing.
    store = new_store()
    insert(
        store,
        "usage",
        _completions(
            D2, "gpt-9-preview", {"input_text_tokens": 1_234_567, "num_model_requests": 10}
        ),
    )
    result = CostOptimizer(store).analyze_usage("2026-11", as_of=date(2026, 12, 6))
    notes = [n for n in result.data_quality if "gpt-9-preview" in n]
    assert notes and "1,234,567" in notes[0], result.data_quality


def test_2026_fields_each_at_their_own_rate_without_double_counting() -> None:
    # The spec's own example result (input_tokens 5000 = 1800 cached + 200 cache-write + 3000
    # uncached; uncached = 2500 text + 300 audio + 200 image), on gpt-4.1 (no audio price: the
    # audio volume must be reported, not priced at the text rate).
    store = new_store()
    fields = {
        "input_tokens": 5000,
        "input_cached_tokens": 1800,
        "input_cache_write_tokens": 200,
        "input_uncached_tokens": 3000,
        "output_tokens": 1000,
        "input_text_tokens": 2500,
        "output_text_tokens": 800,
        "input_cached_text_tokens": 1500,
        "input_image_tokens": 200,
        "input_cached_image_tokens": 200,
        "input_audio_tokens": 300,
        "input_cached_audio_tokens": 100,
        "num_model_requests": 5,
    }
    insert(store, "usage", _completions(D2, "gpt-4.1-2025-04-14", fields))
    build = build_focus(store, NOV)
    # text 2500 + image 200 + cache write 200 at $2.00; cached text 1500 + cached image 200 at
    # $0.50; output text 800 at $8.00 (input_tokens / input_uncached_tokens are not re-priced).
    expected = (Decimal(2900) * 2 + Decimal(1700) * Decimal("0.5") + Decimal(800) * 8) / M
    assert build.by_source["estimated"] == expected
    audio = {f.metric: f.volume for f in build.findings if f.kind == "unknown_price"}
    assert audio == {"input_audio_tokens": 300, "input_cached_audio_tokens": 100}


def test_legacy_2025_rows_still_priced_as_input_minus_cached() -> None:
    store = new_store()
    fields = {"input_tokens": 1_000_000, "input_cached_tokens": 400_000, "output_tokens": 100_000}
    insert(store, "usage", _completions(D2, "gpt-4o-mini-2024-07-18", fields))
    build = build_focus(store, NOV)
    expected = (
        600_000 * Decimal("0.15") + 400_000 * Decimal("0.075") + 100_000 * Decimal("0.6")
    ) / M
    assert build.by_source["estimated"] == expected


def test_batch_and_service_tiers_priced_at_their_rates() -> None:
    store = new_store()
    text = {"input_text_tokens": 1_000_000}
    insert(
        store,
        "usage",
        _completions(D2, "gpt-5-2025-08-07", text, batch="true", service_tier="default")
        + _completions(D2, "gpt-5-2025-08-07", text, batch="false", service_tier="flex")
        + _completions(D2, "gpt-5-2025-08-07", text, batch="false", service_tier="priority")
        + _completions(D2, "gpt-5-2025-08-07", text, batch="false", service_tier="default"),
    )
    build = build_focus(store, NOV)
    # batch 50% of $1.25; flex $0.625; priority $2.50; standard $1.25.
    assert build.by_source["estimated"] == Decimal("0.625") + Decimal("0.625") + Decimal(
        "2.50"
    ) + Decimal("1.25")


def _batch_store(batched_share: Decimal) -> RuleContext:
    """$100 of dev gpt-4o-mini output a month, ``batched_share`` of it through the Batch API."""
    store = new_store()
    out = 100 / Decimal("0.60") * M  # $100 at $0.60/1M standard
    batched = out * batched_share * 2  # batch tokens cost half: twice the tokens per dollar
    unbatched = out * (1 - batched_share)
    rows = _completions(
        D2,
        "gpt-4o-mini-2024-07-18",
        {"output_text_tokens": int(unbatched), "num_model_requests": 500},
        "proj_contribux_dev",
        batch="false",
    )
    rows += _completions(
        D2,
        "gpt-4o-mini-2024-07-18",
        {"output_text_tokens": int(batched), "num_model_requests": 500},
        "proj_contribux_dev",
        batch="true",
    )
    insert(store, "usage", rows)
    insert(
        store,
        "charges",
        [
            charge_row(
                "openai",
                "100",
                D2,
                "OpenAI API",
                "gpt-4o-mini-2024-07-18, output",
                "proj_contribux_dev",
            )
        ],
    )
    return RuleContext(store, NOV, Config.load(), date(2026, 12, 6))


def test_batch_saving_only_on_the_non_batched_spend() -> None:
    # $100 already 60% batched: the remaining $40 at 50% off saves $20 (old code claimed $50).
    [c] = costs.batch_api(_batch_store(Decimal("0.6")))
    assert c.savings_usd == pytest.approx(Decimal(20), abs=Decimal("0.01"))
    assert c.basis_usd == pytest.approx(Decimal(40), abs=Decimal("0.01"))


def test_batch_saving_none_when_all_batched() -> None:
    assert costs.batch_api(_batch_store(Decimal(1))) == []


def test_the_focus_build_keeps_the_priced_rows_the_rules_read() -> None:
    # One pricing path, read back: the build stores every day's priced OpenAI rows (billed days
    # too); the rules read them instead of re-pricing a month of hourly usage.
    store = new_store()
    text = {"input_text_tokens": 1_000_000, "num_model_requests": 10}
    insert(store, "usage", _completions(D1, "gpt-5-2025-08-07", text)
           + _completions(D2, "gpt-5-2025-08-07", text))  # fmt: skip
    insert(store, "charges", [charge_row("openai", "1.30", D1, "OpenAI API",
                                         "gpt-5-2025-08-07, input", "proj_a")])  # fmt: skip
    build_focus(store, NOV)
    stored = store.scalar("SELECT sum(cost) FROM openai_priced WHERE month = '2026-11'")
    assert stored == Decimal("2.5")  # both days at $1.25/1M
    ctx = RuleContext(store, NOV, Config.load(), date(2026, 12, 6))
    store.con.execute("DELETE FROM usage WHERE metric = 'input_text_tokens'")  # not re-priced
    [s] = costs.model_spend(ctx)
    assert s.priced == Decimal("2.5")
    assert s.cost == Decimal("1.30") + Decimal("1.25")  # billed day + priced unbilled day
