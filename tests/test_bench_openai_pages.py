"""The OpenAI usage fast path (DuckDB parses the page) agrees with the exact Python parse."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contribux_costs.bench.openai_data import Plan, write_pages
from contribux_costs.collect.openai.collector import exact_usage_page, usage_frame
from contribux_costs.collect.openai.pages import fast_usage_page

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
USAGE_FIXTURES = sorted(FIXTURES.glob("usage_*.json"))


@pytest.mark.parametrize("path", USAGE_FIXTURES, ids=lambda p: p.stem)
def test_fast_path_accepts_real_pages_and_gives_the_exact_frame(path: Path) -> None:
    body = path.read_text()
    fast = fast_usage_page(body)
    exact = exact_usage_page(json.loads(body), "usage/completions")
    assert fast is not None, "a well-formed page must not fall back to the slow parse"
    assert (fast.has_more, fast.next_page) == (exact.has_more, exact.next_page)
    assert_frame_equal(fast.wide, exact.wide)
    kind = "embeddings" if "embeddings" in path.stem else "completions"
    assert_frame_equal(
        usage_frame(fast.wide, kind, "usage/x", "1d"),
        usage_frame(exact.wide, kind, "usage/x", "1d"),
    )


def test_generated_bench_pages_take_the_fast_path(tmp_path: Path) -> None:
    page = write_pages(Plan(250), tmp_path)[0].read_text()
    fast = fast_usage_page(page)
    assert fast is not None and fast.wide.height == 250
    assert_frame_equal(fast.wide, exact_usage_page(json.loads(page), "usage/x").wide)


def _page() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "usage_completions_page1.json").read_text())
    return data


def _mixed_count(p: dict[str, Any]) -> None:
    extra = copy.deepcopy(p["data"][0]["results"][0])
    p["data"][0]["results"].append({**extra, "input_tokens": "5000"})


DOUBTFUL = [
    ("not JSON", None),
    ("a result that is not an object", lambda p: p["data"][0]["results"].append(7)),
    ("a null result", lambda p: p["data"][0]["results"].append(None)),
    ("a bucket without results", lambda p: p["data"].append({"start_time": 1, "end_time": 2})),
    ("a bucket time as text", lambda p: p["data"][0].update(start_time="1735689600")),
    ("a count as text", _mixed_count),
    ("not a page", lambda p: p.update(object="list")),
    ("has_more without a cursor", lambda p: p.update(has_more=True, next_page=None)),
    ("a nested result field", lambda p: p["data"][0]["results"][0].update(x={"a": 1})),
]


@pytest.mark.parametrize(("what", "change"), DOUBTFUL, ids=[d[0] for d in DOUBTFUL])
def test_anything_doubtful_falls_back_to_the_exact_parse(what: str, change: Any) -> None:
    if change is None:
        body = '{"object": "page", "data": ['
    else:
        page = _page()
        change(page)
        body = json.dumps(page)
    assert fast_usage_page(body) is None, what


def test_normalizing_in_slices_gives_the_whole_window_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contribux_costs.collect.openai import collector as openai

    wide = fast_usage_page(write_pages(Plan(250), tmp_path)[0].read_text())
    assert wide is not None
    whole = usage_frame(wide.wide, "completions", "usage/x", "1m")
    monkeypatch.setattr(openai, "NORMALIZE_SLICE", 64)
    sliced = openai._usage_frame_in_slices(wide.wide, "completions", "usage/x", "1m")
    assert whole.height > 250 * 6 and sliced.n_chunks() > 1  # normalized piece by piece
    # The same rows (a table has no order; the unpivot orders by metric within each slice).
    order = ["period_start", "resource_id", "resource_name", "metric"]
    assert_frame_equal(
        sliced.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(order),
        whole.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(order),
    )


ENVELOPES = [
    ('{"object": "page", "data": [], "has_more": true, "next_page": "c2"}', ("tail", True, "c2")),
    (
        '{"object":"page","data":[{"x":[1]}],"has_more":false,"next_page":null}',
        ("tail", False, None),
    ),
    ('{"object": "page", "data": []}', ("duckdb", False, None)),
    # Keys in another order: not the tail shortcut, DuckDB reads the envelope.
    ('{"has_more": true, "next_page": "c3", "object": "page", "data": []}', ("duckdb", True, "c3")),
    (
        '{"object": "page", "data": [], "has_more": true, "next_page": "a]b"}',
        ("duckdb", True, "a]b"),
    ),
]


@pytest.mark.parametrize(("body", "want"), ENVELOPES)
def test_the_cursor_is_read_ahead_of_the_results(body: str, want: tuple[Any, ...]) -> None:
    from contribux_costs.collect.openai import pages as op

    env = op.page_envelope(body)
    assert env is not None and (env.has_more, env.next_page) == want[1:]
    assert (op._tail_envelope(body) is not None) == (want[0] == "tail")


@pytest.mark.parametrize(
    "body",
    [
        '{"object": "page", "data": [',
        '{"object": "list", "data": [], "has_more": false}',
        '{"object": "page", "data": [], "has_more": true, "next_page": null}',
        '{"object": "page", "data": [], "has_more": "yes", "next_page": "c"}',
    ],
)
def test_a_doubtful_envelope_is_not_read_ahead(body: str) -> None:
    from contribux_costs.collect.openai.pages import page_envelope

    assert page_envelope(body) is None  # the page is parsed in full at once, raising as before


def test_a_cursor_that_the_full_parse_contradicts_is_a_schema_error() -> None:
    from concurrent.futures import Future

    from contribux_costs.collect.openai.collector import _settled
    from contribux_costs.collect.openai.pages import Envelope, WidePage
    from contribux_costs.errors import SchemaError

    done: Future[WidePage] = Future()
    done.set_result(WidePage(pl.DataFrame(), True, "b"))
    assert _settled(done, Envelope(True, "b"), "usage/x").next_page == "b"
    with pytest.raises(SchemaError, match="next_page"):
        _settled(done, Envelope(True, "a"), "usage/x")
