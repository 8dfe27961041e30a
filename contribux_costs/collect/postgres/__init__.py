"""Postgres statistics (pg_stat_statements and friends): snapshots, and reset-safe deltas."""

from contribux_costs.collect.postgres.collector import make_collector

__all__ = ["make_collector"]
