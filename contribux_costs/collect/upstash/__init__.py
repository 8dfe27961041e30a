"""Upstash: database list, stats and INFO snapshots (:mod:`.frames`), usage (:mod:`.usage`)."""

from contribux_costs.collect.upstash.collector import make_collector

__all__ = ["make_collector"]
