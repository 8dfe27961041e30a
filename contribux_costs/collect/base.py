"""The one shape every provider collector has.

A collector is built from settings, turns a request window into tasks (one per endpoint and
sub-window), and fetches one task into a :class:`SliceWrite`. The runner writes each slice
atomically, so a failed task leaves that window's earlier data in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from contribux_costs.collect.http import HttpClients
from contribux_costs.config import Settings
from contribux_costs.demo.transport import DemoClock
from contribux_costs.periods import Window
from contribux_costs.store.slices import SliceWrite

if TYPE_CHECKING:
    from contribux_costs.store import Store


@dataclass(frozen=True)
class Task:
    """One unit of collection: an endpoint over a window (written as one slice)."""

    endpoint: str
    window: Window


@dataclass
class CollectContext:
    """What a collector may use: settings, the HTTP seam and a clock."""

    settings: Settings
    clients: HttpClients
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Set when collecting the demo workspace. Shared by all sources' threads: never mutate it;
    # a source that replays history builds its own transport with its own DemoClock.
    demo_clock: DemoClock | None = None
    # The store being written, for sources that derive rows from their own stored history
    # (Upstash keeps no history: its daily usage comes from the stored snapshots). Read only.
    store: Store | None = None


class ProviderCollector(Protocol):
    """What the runner needs from a provider module's collector."""

    provider: str

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        """Split the requested window into tasks (respecting the provider's limits)."""
        ...

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        """Fetch one task completely; raise :class:`CollectError` on failure."""
        ...
