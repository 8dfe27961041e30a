"""The DuckDB store: migrations, atomic slice replacement, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from contribux_costs.errors import StoreError
from contribux_costs.periods import Window
from contribux_costs.store import RawPage, SliceWrite, Store, open_store

D0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
LEDGER: dict[str, object] = {"run_id": "r1", "started_at": D0}


def usage(days: range, value: float = 1.0, endpoint: str = "usage/completions") -> pl.DataFrame:
    starts = [D0 + d * DAY for d in days]
    return pl.DataFrame(
        {
            "provider": "openai",
            "endpoint": endpoint,
            "service": "completions",
            "resource_id": "proj_a",
            "resource_name": "gpt-4o-mini-2024-07-18",
            "metric": "input_tokens",
            "unit": "tokens",
            "period_start": starts,
            "period_end": [s + DAY for s in starts],
            "granularity": "1d",
            "value": value,
            "dimensions": '{"project_id": "proj_a"}',
            "billing_date": [s.date() for s in starts],
        }
    )


def charges(days: range, billed: Any = Decimal("1.5")) -> pl.DataFrame:
    starts = [D0 + d * DAY for d in days]
    return pl.DataFrame(
        {
            "provider": "openai",
            "endpoint": "usage/completions",
            "BilledCost": [billed] * len(starts),
            "BillingCurrency": "USD",
            "ChargePeriodStart": starts,
            "ChargePeriodEnd": [s + DAY for s in starts],
            "ChargeCategory": "Usage",
            "ServiceProviderName": "OpenAI",
            "x_billing_date": [s.date() for s in starts],
        }
    )


def window(first: int, last: int) -> Window:
    return Window(D0 + first * DAY, D0 + last * DAY)


def slice_(first: int, last: int, value: float = 1.0, **tables: pl.DataFrame) -> SliceWrite:
    raw = [RawPage({"limit": 31}, D0, '{"object": "page"}')]
    frames = tables or {"usage": usage(range(first, last), value)}
    return SliceWrite("openai", "usage/completions", window(first, last), frames, raw)


def totals(store: Store) -> dict[str, tuple[Any, ...]]:
    return {
        "usage": store.query("SELECT count(*), sum(value) FROM usage").row(0),
        "charges": store.query("SELECT count(*), sum(BilledCost) FROM charges").row(0),
        "raw": store.query("SELECT count(*), sum(seq) FROM raw_payloads").row(0),
        "ok": (store.scalar("SELECT count(*) FROM ingest_ledger WHERE status = 'ok'"),),
    }


def test_migrations_apply_once_and_reopen_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "costs.duckdb"
    with open_store(path) as store:
        versions = store.query("SELECT version FROM schema_migrations")["version"].to_list()
        assert 1 in versions
        assert {"usage", "charges", "ingest_ledger", "raw_payloads"} <= set(store.tables())
        store.write_slice(slice_(0, 3), LEDGER)
    with open_store(path) as again:
        assert again.migrate() == []
        assert again.query("SELECT version FROM schema_migrations")["version"].to_list() == versions
        assert again.scalar("SELECT count(*) FROM usage") == 3  # data survived the reopen


def test_unopenable_path_is_a_store_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "a-directory"
    folder.mkdir()
    with pytest.raises(
        StoreError, match=r"cannot open the DuckDB store at .*a-directory.*CONTRIBUX_COSTS_DB"
    ):
        open_store(folder)


def test_read_only_store_reads_without_migrating(tmp_path: Path) -> None:
    path = tmp_path / "costs.duckdb"
    open_store(path).close()
    with open_store(path, read_only=True) as ro:
        assert ro.scalar("SELECT count(*) FROM usage") == 0


def test_write_slice_replaces_instead_of_duplicating() -> None:
    store = open_store()
    sw = slice_(0, 3, usage=usage(range(3)), charges=charges(range(3)))
    store.write_slice(sw, LEDGER)
    once = totals(store)
    store.write_slice(sw, LEDGER)
    again = totals(store)
    assert once["usage"] == again["usage"] == (3, 3.0)
    assert once["charges"] == again["charges"] == (3, Decimal("4.5"))
    assert once["raw"] == again["raw"] == (1, 0)
    assert again["ok"] == (2,)  # the ledger records every run


def test_write_slice_touches_only_its_provider_endpoint_and_window() -> None:
    store = open_store()
    store.write_slice(slice_(0, 6), LEDGER)
    other = SliceWrite(
        "openai",
        "usage/embeddings",
        window(0, 6),
        {"usage": usage(range(6), 5.0, "usage/embeddings")},
    )
    store.write_slice(other, LEDGER)
    store.write_slice(slice_(2, 4, value=10.0), LEDGER)  # re-pull days 2..3 only
    rows = store.query(
        "SELECT endpoint, day(period_start) AS d, value FROM usage ORDER BY endpoint, d"
    )
    completions = rows.filter(pl.col("endpoint") == "usage/completions")["value"].to_list()
    assert completions == [1.0, 1.0, 10.0, 10.0, 1.0, 1.0]
    assert rows.filter(pl.col("endpoint") == "usage/embeddings")["value"].to_list() == [5.0] * 6


def test_an_empty_new_slice_clears_the_window() -> None:
    store = open_store()
    store.write_slice(slice_(0, 3), LEDGER)
    store.write_slice(slice_(0, 3, usage=pl.DataFrame()), LEDGER)
    assert store.scalar("SELECT count(*) FROM usage") == 0


def test_failure_midway_rolls_back_everything_and_keeps_old_data() -> None:
    store = open_store()
    store.write_slice(slice_(0, 3, usage=usage(range(3)), charges=charges(range(3))), LEDGER)
    before = totals(store)
    bad = slice_(0, 3, usage=usage(range(3), 99.0), charges=charges(range(3), "not money"))
    with pytest.raises(StoreError, match=r"writing openai usage/completions 2025-01-01.*failed"):
        store.write_slice(bad, LEDGER)
    assert totals(store) == before  # usage deleted+inserted first, then rolled back too
    assert store.scalar("SELECT count(*) FROM ingest_ledger") == 1
    # The connection is usable after the rollback.
    store.write_slice(slice_(0, 3, value=2.0), LEDGER)
    assert store.scalar("SELECT sum(value) FROM usage") == 6.0


def test_unregistered_table_is_refused_and_nothing_is_written() -> None:
    store = open_store()
    store.write_slice(slice_(0, 3), LEDGER)
    before = totals(store)
    sw = slice_(0, 3, usage=usage(range(3), 7.0), workspace=pl.DataFrame({"key": ["k"]}))
    with pytest.raises(StoreError, match="'workspace' is not registered for slice writes"):
        store.write_slice(sw, LEDGER)
    assert totals(store) == before


def test_insert_is_by_column_name() -> None:
    store = open_store()
    frame = usage(range(2))
    store.write_slice(slice_(0, 2, usage=frame.select(reversed(frame.columns))), LEDGER)
    row = store.query("SELECT metric, unit, value, resource_id FROM usage LIMIT 1").row(0)
    assert row == ("input_tokens", "tokens", 1.0, "proj_a")


def test_ledger_and_raw_rows_describe_the_run() -> None:
    store = open_store()
    ledger: dict[str, object] = {**LEDGER, "duration_ms": 12.5, "demo": True}
    store.write_slice(slice_(0, 3), ledger)
    row = store.query(
        "SELECT run_id, provider, endpoint, status, rows, pages, duration_ms, error, demo "
        "FROM ingest_ledger"
    ).row(0)
    assert row == ("r1", "openai", "usage/completions", "ok", 3, 1, 12.5, None, True)
    raw = store.query("SELECT request_params, payload, fetched_at FROM raw_payloads").row(0)
    assert raw[0] == '{"limit": 31}' and raw[1] == '{"object": "page"}' and raw[2] == D0


def test_record_failure_writes_a_failed_ledger_row_and_keeps_data() -> None:
    store = open_store()
    store.write_slice(slice_(0, 3), LEDGER)
    store.record_failure("openai", "costs", window(0, 3), LEDGER, "openai costs: boom")
    failed = store.query(
        "SELECT endpoint, status, rows, error FROM ingest_ledger WHERE status='failed'"
    )
    assert failed.rows() == [("costs", "failed", 0, "openai costs: boom")]
    assert store.scalar("SELECT count(*) FROM usage") == 3


def test_a_ledger_that_cannot_be_written_is_a_store_error() -> None:
    store = open_store()
    store.close()
    with pytest.raises(StoreError, match="recording the failure of openai costs failed"):
        store.record_failure("openai", "costs", window(0, 3), LEDGER, "boom")


def test_query_and_scalar_take_parameters() -> None:
    store = open_store()
    store.write_slice(slice_(0, 3), LEDGER)
    frame = store.query("SELECT count(*) AS n FROM usage WHERE period_start >= ?", [D0 + DAY])
    assert frame["n"][0] == 2
    assert store.scalar("SELECT ? + 1", [41]) == 42
    assert store.scalar("SELECT value FROM workspace WHERE key = 'nothing'") is None


def test_dictionary_json_goes_in_checked_once_per_value_and_stays_queryable() -> None:
    store = open_store()
    frame = usage(range(3)).with_columns(
        pl.Series("dimensions", ['{"model": "a"}', '{"model": "b"}', '{"model": "a"}']).cast(
            pl.Categorical
        )
    )
    store.write_slice(slice_(0, 3, usage=frame), LEDGER)
    got = store.query("SELECT dimensions->>'model' AS m, typeof(dimensions) AS t FROM usage")
    assert got["m"].to_list() == ["a", "b", "a"] and set(got["t"]) == {"JSON"}


def test_only_checked_dictionary_text_is_handed_over_as_arrow_json() -> None:
    import pyarrow as pa

    from contribux_costs.store.core import _trusted_json

    store = open_store()
    good = pa.table({"d": pa.array(['{"a": 1}', None, '{"a": 1}']).dictionary_encode()})
    typed = _trusted_json(store.con, good, "d").column("d").type
    assert isinstance(typed, pa.DictionaryType) and isinstance(typed.value_type, pa.JsonType)
    bad = pa.table({"d": pa.array(['{"a": 1}', "{oops"]).dictionary_encode()})
    assert _trusted_json(store.con, bad, "d").equals(bad)
    plain = pa.table({"d": pa.array(['{"a": 1}'])})
    assert _trusted_json(store.con, plain, "d").equals(plain)


@pytest.mark.parametrize("categorical", [True, False])
def test_text_that_is_not_json_is_still_refused(categorical: bool) -> None:
    store = open_store()
    store.write_slice(slice_(0, 2, value=5.0), LEDGER)
    dims = pl.Series("dimensions", ['{"model": "a"}', "{not json"])
    frame = usage(range(2)).with_columns(dims.cast(pl.Categorical) if categorical else dims)
    with pytest.raises(StoreError, match="usage/completions"):
        store.write_slice(slice_(0, 2, usage=frame), LEDGER)
    assert totals(store)["usage"] == (2, 10.0)


def test_every_raw_page_lands_in_order_with_what_was_asked() -> None:
    store = open_store()
    pages = [RawPage({"page": f"c{i}"}, D0 + i * DAY, f'{{"n": {i}}}') for i in range(3)]
    sw = SliceWrite("openai", "usage/completions", window(0, 2), {"usage": usage(range(2))}, pages)
    store.write_slice(sw, LEDGER)
    store.write_slice(sw, LEDGER)  # a re-run replaces them, it does not add a second set
    got = store.query(
        "SELECT seq, request_params->>'page' AS page, fetched_at, payload FROM raw_payloads "
        "ORDER BY seq"
    )
    assert got.rows() == [(i, f"c{i}", D0 + i * DAY, f'{{"n": {i}}}') for i in range(3)]
