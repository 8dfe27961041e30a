"""The cursor paginator shared by collectors."""

from __future__ import annotations

import pytest

from contribux_costs.collect.paginate import CursorPaginator
from contribux_costs.errors import SchemaError


def walk(cursors: list[str | None], max_pages: int = 100) -> list[str | None]:
    """Drive the paginator as a collector does: each page answers with the next cursor."""
    seen: list[str | None] = []
    paginator = CursorPaginator("openai", "costs", max_pages=max_pages)
    answers = iter(cursors)
    for cursor in paginator:
        seen.append(cursor)
        paginator.advance(next(answers))
    return seen


def test_first_page_has_no_cursor_then_follows_each_next_cursor() -> None:
    assert walk(["c1", "c2", None]) == [None, "c1", "c2"]


@pytest.mark.parametrize("end", [None, ""])
def test_single_page(end: str | None) -> None:
    assert walk([end]) == [None]


def test_repeated_cursor_is_a_schema_error_naming_provider_and_endpoint() -> None:
    with pytest.raises(SchemaError) as info:
        walk(["c1", "c2", "c1"])
    assert str(info.value) == "openai costs: pagination cursor 'c1' repeated; stopping"


def test_runaway_api_is_bounded_by_max_pages() -> None:
    with pytest.raises(SchemaError, match="openai costs: more than 3 pages"):
        walk([f"c{i}" for i in range(10)], max_pages=3)


def test_pages_counts_every_page() -> None:
    paginator = CursorPaginator("neon", "consumption")
    for cursor in paginator:
        paginator.advance(None if cursor == "b" else ("a" if cursor is None else "b"))
    assert paginator.pages == 3
