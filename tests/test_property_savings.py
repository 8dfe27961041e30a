"""Issue 14 done-when: no recommendation's savings exceed the priced cost of the rows it acts on,
computed from the same FOCUS rows as the bill (``focus_charges``, built by the pricing step)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contribux_costs import CostOptimizer
from contribux_costs.store import Store
from tests.engine_support import charge_row, insert, new_store, usage_row

DAYS = (date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4))  # the 2nd is billed
MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-5-2025-08-07", "gpt-4.1-2025-04-14")

part = st.tuples(
    st.sampled_from(["proj_a", "proj_contribux_dev"]),
    st.sampled_from(MODELS),
    st.sampled_from(["default", "flex", "priority"]),
    st.booleans(),  # batch
    st.integers(0, 40_000_000),  # uncached text input
    st.integers(0, 40_000_000),  # cached text input
    st.integers(0, 5_000_000),  # output
    st.integers(1, 20_000),  # requests
)


def _store(parts: list[tuple[str, str, str, bool, int, int, int, int]], billed: Decimal) -> Store:
    store = new_store()
    usage, charges = [], []
    for project, model, tier, batch, text, cached, out, req in parts:
        dims = {"batch": str(batch).lower(), "service_tier": tier}
        fields = {"input_text_tokens": text, "input_cached_text_tokens": cached,
                  "output_text_tokens": out, "num_model_requests": req}  # fmt: skip
        for day in DAYS:
            usage += [
                usage_row(
                    "openai", "completions", k, v, day, project, model, "tokens", dimensions=dims
                )
                for k, v in fields.items()
            ]
        # The Costs API's bill of the first day, off the list price by some discount or uplift.
        charges.append(
            {**charge_row("openai", billed * (text + 10 * out) / 1_000_000, DAYS[0], "OpenAI API",
                       f"{model}, input", project),
             "SkuId": f"{model}, input", "ResourceId": project}
        )  # fmt: skip
    insert(store, "usage", usage)
    insert(store, "charges", charges)
    return store


def _focus_cost(store: Store, project: str, model: str) -> Decimal:
    """BilledCost of the FOCUS rows of one (project, model): billed line items + priced rows."""
    value = store.scalar(
        "SELECT coalesce(sum(BilledCost), 0) FROM focus_charges WHERE x_provider = 'openai' "
        "AND ResourceId = ? AND (ResourceName = ? OR split_part(SkuId, ', ', 1) = ?)",
        [project, model, model],
    )
    return Decimal(str(value))


# Each example is a whole analysis (~1 s): no shrinking phase, so a failure reports at once.
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(part, min_size=1, max_size=4, unique_by=lambda p: (p[0], p[1], p[2], p[3])),
    st.decimals(Decimal("0.5"), Decimal("3"), places=2),
)
def test_no_saving_exceeds_the_focus_cost_of_its_rows(
    parts: list[tuple[str, str, str, bool, int, int, int, int]], billed: Decimal
) -> None:
    store = _store(parts, billed)
    result = CostOptimizer(store).analyze_usage("2026-11", as_of=date(2026, 12, 6))
    total = Decimal(str(store.scalar("SELECT coalesce(sum(BilledCost), 0) FROM focus_charges")))
    openai = [r for r in result.recommendations if r.provider == "openai"]
    for r in openai:
        rows = _focus_cost(store, str(r.evidence["project_id"]), str(r.evidence["model"]))
        assert r.estimated_monthly_savings_usd <= rows + Decimal("0.01"), (r, rows)
        assert r.basis_usd <= rows + Decimal("0.01"), (r, rows)
    assert sum(r.estimated_monthly_savings_usd for r in openai) <= total + Decimal("0.05")
