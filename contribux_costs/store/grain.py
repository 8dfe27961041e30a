"""One granularity per day when reading ``usage``.

Collectors may store one day at several granularities (Neon: hourly for recent days, daily for
older ones; OpenAI: 1d, optionally 1h): each (provider, service, resource, day) is read at one,
the coarsest present, so no reader (pricing, engine, report) counts a day twice.
"""

GRAIN = (
    "CASE granularity WHEN '1d' THEN 1 WHEN 'daily' THEN 1 WHEN '1h' THEN 2 "
    "WHEN 'hourly' THEN 2 WHEN '1m' THEN 3 ELSE 4 END"
)

ONE_GRAIN = (
    f"QUALIFY {GRAIN} = min({GRAIN}) OVER (PARTITION BY provider, service, resource_id, "
    "billing_date)"
)

# The month's usage (params ``$first`` / ``$next``), one granularity per day.
MONTH_USAGE = (
    f"SELECT * FROM usage WHERE billing_date >= $first AND billing_date < $next {ONE_GRAIN}"
)
