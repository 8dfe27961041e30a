"""Provider collectors, one module or sub-package each, all of the shape in :mod:`.base`.

``build(name, settings)`` imports a provider module lazily and returns its collector.
"""

from __future__ import annotations

from importlib import import_module

from contribux_costs.collect.base import CollectContext, ProviderCollector, Task
from contribux_costs.config import Settings
from contribux_costs.errors import ConfigError

# Collection sources: the four billing providers, plus Postgres statistics of the Neon database.
SOURCES = ("openai", "vercel", "neon", "upstash", "postgres")


def build(name: str, settings: Settings) -> ProviderCollector:
    """The collector for one source (``make_collector(settings)`` of its module)."""
    if name not in SOURCES:
        raise ConfigError(f"unknown provider {name!r}: choose from {', '.join(SOURCES)}")
    module = import_module(f"contribux_costs.collect.{name}")
    collector: ProviderCollector = module.make_collector(settings)
    return collector


__all__ = ["SOURCES", "CollectContext", "ProviderCollector", "Task", "build"]
