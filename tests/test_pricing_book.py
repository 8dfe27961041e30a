"""The price book: dated entries, model families, overrides, validation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from contribux_costs.errors import PricingError
from contribux_costs.pricing import load_pricebook


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # longest family wins, never gpt-4o
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o", "gpt-4o"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("text-embedding-3-small", "text-embedding-3-small"),
        ("gpt-4o-audio-preview-2024-12-17", None),  # a different product, not gpt-4o
        ("ft:gpt-4o-mini-2024-07-18:org::abc", None),  # fine-tunes have their own prices
        ("gpt-5-2025-08-07", "gpt-5"),  # issue 14: the gpt-5 family is priced
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5.1-2025-11-13", "gpt-5.1"),  # never gpt-5
        ("o3-2025-04-16", "o3"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-6-2026-10-01", None),
    ],
)
def test_model_family(model: str, family: str | None) -> None:
    assert load_pricebook().family(model) == family


def test_neon_compute_is_dated() -> None:
    book = load_pricebook()
    # 2025 usage-based price, also applied before 2025-08-14 (documented assumption).
    assert book.lookup("neon/compute", date(2025, 1, 15), "launch").price == Decimal("0.14")
    # Neon's blog of 2025-11-03 ("Starting today"): $0.14 → $0.106, $0.26 → $0.222.
    assert book.lookup("neon/compute", date(2025, 11, 2), "launch").price == Decimal("0.14")
    assert book.lookup("neon/compute", date(2025, 11, 3), "launch").price == Decimal("0.106")
    assert book.lookup("neon/compute", date(2025, 11, 3), "scale").price == Decimal("0.222")
    assert book.lookup("neon/compute", date(2026, 1, 1), "scale").price == Decimal("0.222")


def test_neon_worked_examples_from_usage_calculations() -> None:
    # Source: neondatabase/website content/docs/introduction/usage-calculations.md.
    book = load_pricebook()
    day = date(2026, 6, 1)
    # "Example: compute": 500000 CU-seconds on Scale = 138.89 CU-hours x $0.222 = $30.83.
    compute = Decimal(500000) / 3600 * book.lookup("neon/compute", day, "scale").rate
    assert compute.quantize(Decimal("0.01")) == Decimal("30.83")
    # "Example: storage": 2500000000000 byte-hours / 744 / 1e9 = 3.36 GB-months x $0.35 = $1.18.
    gb_months = Decimal(2500000000000) / 744 / 1000000000
    assert gb_months.quantize(Decimal("0.01")) == Decimal("3.36")
    storage = gb_months * book.lookup("neon/storage", day, "launch").rate
    assert storage.quantize(Decimal("0.01")) == Decimal("1.18")
    # "Byte-hours": 2 GB for a full 31-day month = 1488000000000 byte-hours = 2.0 GB-months = $0.70.
    two_gb = Decimal(2000000000 * 24 * 31) / 744 / 1000000000
    assert (two_gb * book.lookup("neon/storage", day).rate).quantize(Decimal("0.01")) == Decimal(
        "0.70"
    )


def test_rate_is_exact_per_consumed_unit() -> None:
    entry = load_pricebook().lookup("openai/gpt-4o-mini/cached_input", date(2025, 1, 1))
    # $0.075 per 1M tokens = 7.5e-8 per token, exact in Decimal.
    assert entry.rate == Decimal("0.000000075")
    upstash = load_pricebook().lookup("upstash/commands", date(2025, 1, 1), "payg")
    assert upstash.rate == Decimal("0.000002")  # $0.20 / 100,000 commands
    assert upstash.included == 0  # pay-as-you-go has no free commands
    free = load_pricebook().lookup("upstash/commands", date(2025, 1, 1), "free")
    assert (free.price, free.included) == (0, Decimal(500_000))


def test_unknown_sku_is_an_error_not_zero() -> None:
    with pytest.raises(PricingError, match="no price for 'neon/compute'"):
        load_pricebook().lookup("neon/compute", date(2025, 1, 1), "free")


def test_override_wins_and_list_price_stays(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[[entries]]\nid = "negotiated.gpt-4o.input"\nsku = "openai/gpt-4o/input"\n'
        'price = "2.00"\neffective_from = 2025-01-01\n'
    )
    book = load_pricebook(path)
    day = date(2025, 3, 1)
    assert book.lookup("openai/gpt-4o/input", day).id == "negotiated.gpt-4o.input"
    assert book.lookup("openai/gpt-4o/input", day).price == Decimal("2.00")
    assert book.lookup("openai/gpt-4o/input", day, list_only=True).price == Decimal("2.50")
    # Before the override's start the shipped price applies.
    assert book.lookup("openai/gpt-4o/input", date(2024, 12, 31)).price == Decimal("2.50")


def test_override_can_add_a_family(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[openai]\nfamilies = ["gpt-5"]\n[[entries]]\nid = "x.gpt-5.input"\n'
        'sku = "openai/gpt-5/input"\nprice = "1.25"\n'
    )
    book = load_pricebook(path)
    assert book.family("gpt-5-2025-08-07") == "gpt-5"
    assert book.lookup("openai/gpt-5/input", date(2025, 9, 1)).pricing_unit == "1M tokens"


def test_missing_override_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="CONTRIBUX_COSTS_PRICES"):
        load_pricebook(tmp_path / "nope.toml")


def test_invalid_override_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[entries]\nid = 1")
    with pytest.raises(PricingError, match="not valid TOML"):
        load_pricebook(path)


def test_invalid_entry_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[entries]]\nid = "neg"\nsku = "neon/storage"\nprice = "-1"\n')
    with pytest.raises(PricingError, match=r"entry 1 \(neg\) is invalid"):
        load_pricebook(path)


def test_overlapping_entries_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "overlap.toml"
    path.write_text(
        '[[entries]]\nid = "a"\nsku = "neon/storage"\nunit = "GB-months"\n'
        'pricing_unit = "GB-month"\nprice = "0.30"\neffective_from = 2025-01-01\n'
        '[[entries]]\nid = "b"\nsku = "neon/storage"\nunit = "GB-months"\n'
        'pricing_unit = "GB-month"\nprice = "0.31"\neffective_from = 2025-06-01\n'
    )
    with pytest.raises(PricingError, match="both price 'neon/storage'"):
        load_pricebook(path)


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    entry = (
        '[[entries]]\nid = "dup"\nsku = "neon/storage"\nunit = "GB-months"\n'
        'pricing_unit = "GB-month"\nprice = "0.30"\neffective_from = {}\neffective_to = {}\n'
    )
    path = tmp_path / "dup.toml"
    path.write_text(
        entry.format("2025-01-01", "2025-02-01") + entry.format("2025-02-01", "2025-03-01")
    )
    with pytest.raises(PricingError, match="duplicate entry id"):
        load_pricebook(path)


def test_shipped_book_is_package_data() -> None:
    import contribux_costs.pricing as pkg

    assert (Path(pkg.__file__).parent / "pricebook.toml").is_file()
    assert len(load_pricebook().entries) > 40
