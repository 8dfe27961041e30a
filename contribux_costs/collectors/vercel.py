"""vercel collector: placeholder until the vercel work lands (collects nothing yet)."""

from __future__ import annotations

from dataclasses import dataclass

from contribux_costs.collectors.base import CollectContext, Task
from contribux_costs.config import Settings
from contribux_costs.errors import CollectError
from contribux_costs.periods import Window
from contribux_costs.store.slices import SliceWrite


@dataclass
class Placeholder:
    provider: str = "vercel"

    def tasks(self, window: Window, ctx: CollectContext) -> list[Task]:
        return []

    def fetch(self, task: Task, ctx: CollectContext) -> SliceWrite:
        raise CollectError(self.provider, task.endpoint, "not implemented yet")


def make_collector(settings: Settings) -> Placeholder:
    return Placeholder()
