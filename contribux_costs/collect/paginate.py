"""Small pagination helpers shared by collectors."""

from __future__ import annotations

from collections.abc import Iterator

from contribux_costs.errors import SchemaError


class CursorPaginator:
    """Yields the cursor for each page: ``None`` first, then whatever ``advance`` was given.

    Stops when the next cursor is empty. A cursor seen before would loop forever, so it is an
    error naming the provider and endpoint (``max_pages`` bounds a runaway API too).
    """

    def __init__(self, provider: str, endpoint: str, max_pages: int = 10_000) -> None:
        self.provider, self.endpoint, self.max_pages = provider, endpoint, max_pages
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
            raise SchemaError(self.provider, self.endpoint, f"more than {self.max_pages} pages")
        self._seen.add(cursor)
        self._next = cursor
