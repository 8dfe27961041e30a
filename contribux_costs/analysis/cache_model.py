"""Cache hit ratios from counter deltas, their trend and class, and the TTL what-if model.

Hit ratios come from counter **deltas** over a window, never from lifetime totals (a cache that
was bad last year and good this month has a mediocre lifetime ratio). Counters reset when a server
restarts: a counter that goes down restarted from 0 and its new value is the increment.

TTL model (per key, Poisson requests at rate λ, TTL T):

- ``"fixed"``: a hit does not extend the expiry. Each miss opens a window of T seconds in which
  λT requests hit on average, so the hit ratio is λT / (1 + λT).
- ``"refresh"``: every hit resets the TTL, so a request hits when the previous one came less than
  T ago: 1 − e^(−λT).

The inverse gives an effective λ from an observed hit ratio and TTL (fixed: λ = h / ((1 − h) T)),
from which other TTLs are predicted. With keys of unequal popularity λ is an *effective* rate and
the predictions are indicative, which is how the findings should phrase them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from contribux_costs.analysis.timeseries import require_columns
from contribux_costs.errors import ConfigError

TtlMode = Literal["fixed", "refresh"]
HitClass = Literal["good", "worth_a_look", "not_paying", "no_traffic"]
SECONDS_PER_MONTH = 30.44 * 86_400
# An observed ratio of exactly 1 means "no miss seen": cap it so that λ stays finite.
_MAX_RATIO = 1 - 1e-9


class HitRatioThresholds(BaseModel):
    """Practitioner defaults (domain notes): >= 0.9 good, 0.8–0.9 worth a look, < 0.8 not paying."""

    model_config = ConfigDict(frozen=True)
    good: float = Field(0.9, ge=0, le=1)
    look: float = Field(0.8, ge=0, le=1)


class HitRatioTrend(BaseModel):
    """Least-squares slope of the daily hit ratio (weighted by the day's requests)."""

    model_config = ConfigDict(frozen=True)
    slope_per_week: float
    days: int
    fitted_first: float
    fitted_last: float


class HitRatioSummary(BaseModel):
    """Hit ratio over a window from summed deltas, its class and its trend."""

    model_config = ConfigDict(frozen=True)
    hits: float
    misses: float
    ratio: float | None
    status: HitClass
    trend: HitRatioTrend | None


class TtlScenario(BaseModel):
    """The predicted hit ratio and monthly misses for one TTL."""

    model_config = ConfigDict(frozen=True)
    ttl_seconds: float
    hit_ratio: float
    misses_per_month: float
    misses_saved_per_month: float


class TtlWhatIf(BaseModel):
    """The effective per-key rate behind an observed hit ratio and what other TTLs would give."""

    model_config = ConfigDict(frozen=True)
    mode: TtlMode
    ttl_seconds: float
    hit_ratio: float
    rate_per_second: float
    requests_per_month: float
    misses_per_month: float
    scenarios: list[TtlScenario]


def counter_deltas(
    snapshots: pl.DataFrame,
    counters: Sequence[str] = ("hits", "misses"),
    *,
    time_col: str = "ts",
    keys: Sequence[str] = (),
) -> pl.DataFrame:
    """Per-interval increments of cumulative counters, with reset detection (never negative).

    Each output row is the interval ending at ``time_col`` (``prev_ts`` is its start); ``reset``
    tells that a counter went down, i.e. restarted, and its new value was taken as the increment.

    >>> counter_deltas(info_snapshots, keys=["database_id"])  # hits, misses per interval
    """
    require_columns(snapshots, [*keys, time_col, *counters])
    rows = snapshots.drop_nulls([time_col, *counters]).sort([*keys, time_col])

    def prev(col: str) -> pl.Expr:
        shifted = pl.col(col).shift(1)
        return shifted.over(list(keys)) if keys else shifted

    deltas = [
        pl.when(pl.col(c) >= prev(c))
        .then(pl.col(c) - prev(c))
        .otherwise(pl.col(c))
        .clip(0)
        .alias(c)
        for c in counters
    ]
    reset = pl.any_horizontal([pl.col(c) < prev(c) for c in counters]).alias("reset")
    return (
        rows.with_columns(prev(time_col).alias("prev_ts"), reset, *deltas)
        .filter(pl.col("prev_ts").is_not_null())
        .select([*keys, "prev_ts", time_col, *counters, "reset"])
    )


def hit_ratio(hits: float, misses: float) -> float | None:
    """hits / (hits + misses), None without traffic. ``hit_ratio(90, 10) == 0.9``"""
    total = hits + misses
    return None if total <= 0 else min(max(hits / total, 0.0), 1.0)


def daily_hit_ratio(
    deltas: pl.DataFrame, *, time_col: str = "ts", keys: Sequence[str] = ()
) -> pl.DataFrame:
    """Sum hit/miss deltas per UTC day (of the interval end): keys, date, hits, misses, ratio.

    >>> daily_hit_ratio(counter_deltas(snapshots))["ratio"]
    """
    require_columns(deltas, [*keys, time_col, "hits", "misses"])
    day = pl.col(time_col).cast(pl.Date) if deltas.schema[time_col] != pl.Date else pl.col(time_col)
    total = pl.col("hits") + pl.col("misses")
    return (
        deltas.group_by([*keys, day.alias("date")])
        .agg(pl.col("hits").sum().cast(pl.Float64), pl.col("misses").sum().cast(pl.Float64))
        .with_columns(
            pl.when(total > 0).then(pl.col("hits") / total).otherwise(None).alias("ratio")
        )
        .sort([*keys, "date"])
    )


def classify_hit_ratio(
    ratio: float | None, thresholds: HitRatioThresholds | None = None
) -> HitClass:
    """The ratio's class from the thresholds.

    >>> classify_hit_ratio(0.85)  # "worth_a_look"
    """
    t = thresholds or HitRatioThresholds()
    if ratio is None:
        return "no_traffic"
    if ratio >= t.good:
        return "good"
    return "worth_a_look" if ratio >= t.look else "not_paying"


def hit_ratio_trend(daily: pl.DataFrame) -> HitRatioTrend | None:
    """Slope per week of the daily ratio (keys summed per day); None with < 2 days of traffic.

    >>> hit_ratio_trend(daily_hit_ratio(deltas)).slope_per_week  # -0.02: two points worse a week
    """
    total = pl.col("hits") + pl.col("misses")
    rows = (
        daily.group_by("date")  # several keys on one day: their summed counters
        .agg(pl.col("hits").sum(), pl.col("misses").sum())
        .filter(total > 0)
        .with_columns((pl.col("hits") / total).alias("ratio"), total.alias("requests"))
        .sort("date")
    )
    if rows.height < 2:
        return None
    x = np.asarray((rows["date"] - rows["date"][0]).dt.total_days().to_numpy(), dtype=np.float64)
    y = np.asarray(rows["ratio"].to_numpy(), dtype=np.float64)
    # polyfit weights multiply residuals: √requests weights each day's squared error by its traffic.
    w = np.sqrt(np.asarray(rows["requests"].to_numpy(), dtype=np.float64))
    slope, intercept = (float(c) for c in np.polyfit(x, y, 1, w=w))
    fitted = [float(np.clip(intercept + slope * v, 0, 1)) for v in (x[0], x[-1])]
    return HitRatioTrend(
        slope_per_week=float(slope) * 7,
        days=rows.height,
        fitted_first=fitted[0],
        fitted_last=fitted[1],
    )


def summarize_hit_ratio(
    daily: pl.DataFrame, thresholds: HitRatioThresholds | None = None
) -> HitRatioSummary:
    """Ratio over the whole frame (sum of deltas, not a mean of daily ratios), class and trend.

    >>> summarize_hit_ratio(daily_hit_ratio(deltas)).status  # "not_paying"
    """
    hits, misses = float(daily["hits"].sum()), float(daily["misses"].sum())
    ratio = hit_ratio(hits, misses)
    status = classify_hit_ratio(ratio, thresholds)
    return HitRatioSummary(
        hits=hits, misses=misses, ratio=ratio, status=status, trend=hit_ratio_trend(daily)
    )


def ttl_hit_ratio(rate: float, ttl: float, mode: TtlMode = "fixed") -> float:
    """Hit ratio for per-key rate λ (req/s) and TTL T (s): ``ttl_hit_ratio(0.01, 300) == 0.75``"""
    _check(rate >= 0 and ttl >= 0, f"rate and TTL must be >= 0, got rate={rate}, ttl={ttl}")
    load = rate * ttl
    return load / (1 + load) if mode == "fixed" else -math.expm1(-load)


def rate_from_hit_ratio(ratio: float, ttl: float, mode: TtlMode = "fixed") -> float:
    """Effective per-key λ behind an observed ratio: ``rate_from_hit_ratio(0.75, 300) == 0.01``"""
    _check(0 <= ratio <= 1, f"hit ratio must be in [0, 1], got {ratio}")
    _check(ttl > 0, f"TTL must be > 0 seconds, got {ttl}")
    h = min(ratio, _MAX_RATIO)
    return h / ((1 - h) * ttl) if mode == "fixed" else -math.log1p(-h) / ttl


def per_key_rate(requests: float, keys: float, seconds: float) -> float:
    """Mean requests per key per second: ``per_key_rate(86_400, 100, 86_400) == 0.01``."""
    _check(keys > 0 and seconds > 0, f"keys and seconds must be > 0, got {keys}, {seconds}")
    return max(requests, 0.0) / keys / seconds


def ttl_what_if(
    ttl_seconds: float,
    requests_per_month: float,
    *,
    observed_ratio: float | None = None,
    rate: float | None = None,
    multipliers: Sequence[float] = (0.5, 2.0, 4.0),
    ttls: Sequence[float] = (),
    mode: TtlMode = "fixed",
) -> TtlWhatIf:
    """Hit ratio and misses saved per month for other TTLs, from an observed ratio or rate.

    >>> ttl_what_if(600, 1e6, observed_ratio=0.6).scenarios[1].misses_saved_per_month  # 2× TTL
    """
    _check((observed_ratio is None) != (rate is None), "pass exactly one of observed_ratio, rate")
    _check(requests_per_month >= 0, f"requests per month must be >= 0, got {requests_per_month}")
    if rate is None:
        rate = rate_from_hit_ratio(float(observed_ratio or 0.0), ttl_seconds, mode)
    current = (
        observed_ratio if observed_ratio is not None else ttl_hit_ratio(rate, ttl_seconds, mode)
    )
    misses = requests_per_month * (1 - current)
    candidates = [ttl_seconds * m for m in multipliers] + list(ttls)
    scenarios = [_scenario(rate, t, mode, requests_per_month, misses) for t in candidates]
    return TtlWhatIf(
        mode=mode,
        ttl_seconds=ttl_seconds,
        hit_ratio=current,
        rate_per_second=rate,
        requests_per_month=requests_per_month,
        misses_per_month=misses,
        scenarios=scenarios,
    )


def _scenario(
    rate: float, ttl: float, mode: TtlMode, requests: float, misses: float
) -> TtlScenario:
    ratio = ttl_hit_ratio(rate, ttl, mode)
    new_misses = requests * (1 - ratio)
    return TtlScenario(
        ttl_seconds=ttl,
        hit_ratio=ratio,
        misses_per_month=new_misses,
        misses_saved_per_month=misses - new_misses,
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"cache model: {message}")
