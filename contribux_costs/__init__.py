"""contribux-costs: cost and capacity analytics for the contribux platform."""

from contribux_costs.analysis.engine import CostOptimizer

__all__ = ["CostOptimizer"]
