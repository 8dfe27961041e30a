"""``make bench``: performance cases with ratios against baselines measured in the same run.

Every timed step runs in its own child process (``python -m contribux_costs.bench.child``), so
each figure has its own peak RSS and no case warms or bloats another. See ``__main__``.
"""
