"""Small pagination helpers shared by collectors."""

from __future__ import annotations

import math
from collections.abc import Iterator

from contribux_costs.errors import SchemaError
from contribux_costs.periods import Window


def page_budget(window: Window, item_seconds: float, per_page: int, factor: float) -> int:
    """Pages a cursor walk over ``window`` may take: ``factor`` × the pages the window needs when
    each page holds ``per_page`` items of ``item_seconds`` (e.g. 31 daily buckets), plus one.

    A server that keeps answering "more" with a fresh cursor (and no data) would otherwise keep
    ``collect`` looping until it gave up (5,000 requests in the issue's reproduction)."""
    span = (window.end - window.start).total_seconds()
    needed = max(1, math.ceil(span / item_seconds / per_page))
    return math.ceil(needed * factor) + 1


class CursorPaginator:
    """Yields the cursor for each page: ``None`` first, then whatever ``advance`` was given.

    Stops when the next cursor is empty. A cursor seen before would loop forever, so it is an
    error naming the provider and endpoint; ``max_pages`` (the window's page budget, see
    :func:`page_budget`) ends a cursor that never finishes.
    """

    def __init__(
        self, provider: str, endpoint: str, max_pages: int = 10_000, why: str = ""
    ) -> None:
        self.provider, self.endpoint, self.max_pages = provider, endpoint, max_pages
        self.why = why  # how the budget was derived, for the error line
        self._seen: set[str] = set()
        self._next: str | None = None
        self._done = False
        self.pages = 0

    def __iter__(self) -> Iterator[str | None]:
        yield None
        while not self._done:
            yield self._next

    def advance(self, cursor: str | None) -> None:
        self.pages += 1
        if not cursor:
            self._done = True
            return
        if cursor in self._seen:
            raise SchemaError(
                self.provider,
                self.endpoint,
                f"pagination cursor {cursor[:40]!r} repeated; stopping",
            )
        if self.pages >= self.max_pages:
            why = f" ({self.why})" if self.why else ""
            raise SchemaError(
                self.provider,
                self.endpoint,
                f"more than {self.max_pages} pages{why}: the cursor never ends; stopping "
                "(the window's data was not loaded; PAGE_BUDGET_FACTOR raises the budget)",
            )
        self._seen.add(cursor)
        self._next = cursor
