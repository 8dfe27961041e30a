"""OpenAI: Usage API (per endpoint) and Costs API collector; page parsing in :mod:`.pages`."""

from contribux_costs.collect.openai.collector import make_collector

__all__ = ["make_collector"]
