"""The deterministic demo platform: one seeded model that every provider's fake API reads.

Every value is a pure function of (seed, day, stream), so any window of any month gives the same
numbers whichever way it is requested (buckets, pages, sub-windows). Shapes that the analysis must
find are planted on purpose and documented here:

- growth: ~3% per month compounding from 2024-01; weekly seasonality (weekends quieter);
- one cost spike per month: on ``spike_day(month)`` a runaway job multiplies gpt-4o traffic;
- Neon branch-per-pull-request sprawl (child branches far beyond the plan's included 10);
- Redis key classes with different hit ratios (the vector-search cache misses most);
- OpenAI mix of gpt-4o, gpt-4o-mini and text-embedding-3-small with partial prompt caching;
- a planted billing variance: the Costs API bills a line item the Usage API does not explain.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from contribux_costs.periods import Month

DEMO_SEED = 20250101
EPOCH = date(2024, 1, 1)
# Weekday multipliers, Monday first: a developer platform is quiet at weekends.
WEEKLY = (1.08, 1.12, 1.10, 1.06, 0.98, 0.72, 0.68)
MONTHLY_GROWTH = 0.03
DEMO_LABEL = "DEMO DATA"


@dataclass(frozen=True)
class DemoModel:
    """Seeded calendar factors shared by the providers' demo routes."""

    seed: int = DEMO_SEED

    def rng(self, day: date, stream: str) -> np.random.Generator:
        """A generator fixed by (seed, day, stream): the same day always draws the same values."""
        digest = hashlib.sha256(f"{self.seed}:{day.isoformat()}:{stream}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def growth(self, day: date) -> float:
        months = (day - EPOCH).days / 30.44
        return float((1 + MONTHLY_GROWTH) ** months)

    def weekly(self, day: date) -> float:
        return WEEKLY[day.weekday()]

    def noise(self, day: date, stream: str, sd: float = 0.05) -> float:
        return float(max(0.5, self.rng(day, stream).normal(1.0, sd)))

    def level(self, day: date, stream: str, sd: float = 0.05) -> float:
        """Growth × weekly seasonality × noise: the multiplier for a daily volume."""
        return self.growth(day) * self.weekly(day) * self.noise(day, stream, sd)

    def spike_day(self, month: Month) -> date:
        """The planted spike's day: a weekday in the second half of every month."""
        d = month.first_day.replace(day=17)
        while d.weekday() >= 5:
            d = d.replace(day=d.day + 1)
        return d

    def is_spike(self, day: date) -> bool:
        return day == self.spike_day(Month.containing(day))

    def hour_share(self, hour: int) -> float:
        """Share of a day's traffic in one UTC hour (US-centred day, sums to 1 over 24 hours)."""
        weights = [_hour_weight(h) for h in range(24)]
        return _hour_weight(hour) / sum(weights)


def _hour_weight(hour: int) -> float:
    # Peak around 18:00 UTC (10:00 Pacific), trough around 09:00 UTC.
    return 1.0 + 0.8 * math.cos((hour - 18) / 24 * 2 * math.pi)
