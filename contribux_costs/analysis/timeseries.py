"""Shared helpers for daily series: gap filling, robust statistics, least squares, error metrics.

A *daily series* is a polars frame with a ``date`` column (``pl.Date``) and a ``value`` column
(float). Everything here is pure: frames and arrays in, frames, arrays and floats out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from contribux_costs.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Fill = Literal["zero", "interpolate"]

# 1.4826 × MAD estimates the standard deviation of a normal sample, robust to outliers.
MAD_TO_SIGMA = 1.4826
# Fewer days than two full weeks cannot separate a weekday effect from noise.
MIN_SEASONAL_DAYS = 14
# The short-series fallback's interval is at least ±50 % of its point.
_FALLBACK_REL = 0.5


def daily_series(
    frame: pl.DataFrame,
    *,
    fill: Fill = "zero",
    start: date | None = None,
    end: date | None = None,
    date_col: str = "date",
    value_col: str = "value",
) -> pl.DataFrame:
    """One row per calendar day from ``start`` to ``end`` (inclusive), duplicates summed.

    Missing days become 0 with ``fill="zero"`` (a usage table has no row for a day with no usage)
    or are linearly interpolated with ``fill="interpolate"`` (gauges such as storage, where a
    missing day is a missing observation; edges take the nearest observed value).

    >>> daily_series(frame, fill="interpolate")  # 01-01 = 1.0, 01-03 = 3.0 -> 01-02 = 2.0
    """
    require_columns(frame, (date_col, value_col))
    sums = (
        frame.select(
            pl.col(date_col).cast(pl.Date).alias("date"),
            pl.col(value_col).cast(pl.Float64).fill_nan(None).alias("value"),  # NaN = missing
        )
        .drop_nulls()  # a day whose only values are missing is a missing day
        .group_by("date")
        .agg(pl.col("value").sum())
    )
    if sums.is_empty() and (start is None or end is None):
        return pl.DataFrame(schema={"date": pl.Date, "value": pl.Float64})
    first = start if start is not None else _as_date(sums["date"].min())
    last = end if end is not None else _as_date(sums["date"].max())
    if last < first:
        return pl.DataFrame(schema={"date": pl.Date, "value": pl.Float64})
    days = pl.date_range(first, last, "1d", eager=True).alias("date").to_frame()
    out = days.join(sums, on="date", how="left")
    if fill == "zero":
        return out.with_columns(pl.col("value").fill_null(0.0))
    filled = pl.col("value").interpolate().forward_fill().backward_fill().fill_null(0.0)
    return out.with_columns(filled)


def require_columns(frame: pl.DataFrame, columns: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`ConfigError` naming the columns a frame lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"series frame lacks column(s) {missing}; it has {frame.columns}: pass a frame with "
            "one date column and one numeric value column"
        )


def _as_date(value: object) -> date:
    if not isinstance(value, date):
        raise ConfigError(f"expected a date in the series, got {value!r}")
    return value


def values_of(series: pl.DataFrame) -> FloatArray:
    """The ``value`` column as a float64 numpy array."""
    return np.asarray(series["value"].to_numpy(), dtype=np.float64)


def dates_of(series: pl.DataFrame) -> list[date]:
    """The ``date`` column as Python dates."""
    return [_as_date(d) for d in series["date"].to_list()]


def future_dates(last: date, horizon: int) -> list[date]:
    """The ``horizon`` days after ``last``."""
    return [last + timedelta(days=i) for i in range(1, horizon + 1)]


def robust_sigma(values: FloatArray) -> float:
    """1.4826 × median absolute deviation (0.0 for an empty array)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


def linear_fit(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)`` of ``y ≈ a + b·x`` (flat for fewer than 2 points)."""
    if x.size == 0:
        return 0.0, 0.0
    if x.size < 2 or float(np.ptp(x)) == 0.0:
        return float(np.mean(y)), 0.0
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(coef[0]), float(coef[1])


def wape(actual: FloatArray, predicted: FloatArray) -> float | None:
    """Weighted absolute percentage error: Σ|a − p| / Σ|a| (None when Σ|a| is 0)."""
    denom = float(np.sum(np.abs(actual)))
    if denom == 0.0:
        return None
    return float(np.sum(np.abs(actual - predicted)) / denom)


def mape(actual: FloatArray, predicted: FloatArray) -> float | None:
    """Mean absolute percentage error over the days whose actual is not 0 (None: no such day)."""
    mask = actual != 0
    if not np.any(mask):
        return None
    return float(np.mean(np.abs((actual[mask] - predicted[mask]) / actual[mask])))


def smape(actual: FloatArray, predicted: FloatArray) -> float | None:
    """Symmetric MAPE in [0, 2]: mean of |a − p| / ((|a| + |p|) / 2); a = p = 0 scores 0."""
    if actual.size == 0:
        return None
    denom = (np.abs(actual) + np.abs(predicted)) / 2
    err = np.abs(actual - predicted)
    ratios = np.divide(err, denom, out=np.zeros_like(err), where=denom > 0)
    return float(np.mean(ratios))


# --- the seasonal-trend model behind analysis.forecast (method documented there) ---


@dataclass(frozen=True)
class SeasonalTrendFit:
    """A fitted model; ``intercept`` is the de-seasonalised level on the last observed day."""

    method: str
    last: date | None
    n: int
    intercept: float
    slope: float
    factors: FloatArray
    rel_q: float
    abs_q: float
    floor: float


def fit_seasonal_trend(daily: pl.DataFrame, *, level: float, fit_days: int) -> SeasonalTrendFit:
    """Fit weekday factors and a robust line on the last ``fit_days`` days of a filled series.

    >>> fit_seasonal_trend(daily_series(frame), level=0.8, fit_days=56).slope  # units per day
    """
    daily = daily.tail(fit_days)
    y = values_of(daily)
    last = dates_of(daily.tail(1))[0] if daily.height else None
    floor = 0.0 if y.size == 0 or float(y.min()) >= 0 else -math.inf
    ones = np.ones(7)
    if y.size == 0:
        return SeasonalTrendFit("no-data", None, 0, 0.0, 0.0, ones, 0.0, 0.0, floor)
    if y.size < MIN_SEASONAL_DAYS:
        point = float(np.median(y[-7:]))
        half = max(_FALLBACK_REL * abs(point), 2 * robust_sigma(y))
        return SeasonalTrendFit("median-fallback", last, y.size, point, 0.0, ones, 0.0, half, floor)
    weekdays = _weekdays(daily)
    factors = _weekday_factors(y, weekdays)
    x = np.arange(y.size, dtype=np.float64)
    seasonal = factors[weekdays]
    used = seasonal > 0
    intercept, slope = _robust_line(x[used], y[used] / seasonal[used])
    fitted = np.maximum((intercept + slope * x) * seasonal, floor)
    rel_q, abs_q = _residual_quantiles(y, fitted, level)
    # Re-base the line so that x = 0 is the last observed day.
    base = intercept + slope * (y.size - 1)
    return SeasonalTrendFit(
        "linear-trend×weekday", last, y.size, base, slope, factors, rel_q, abs_q, floor
    )


def _weekdays(daily: pl.DataFrame) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    return np.asarray(daily["date"].dt.weekday().to_numpy(), dtype=np.int64) - 1


def _weekday_factors(
    y: FloatArray, weekdays: np.ndarray[tuple[int], np.dtype[np.int64]]
) -> FloatArray:
    moving = np.convolve(y, np.ones(7) / 7, mode="valid")  # centred: moving[i] is day i + 3
    centre = y[3 : 3 + moving.size]
    ok = moving > 0
    ratios = np.divide(centre, moving, out=np.zeros_like(centre), where=ok)
    days = weekdays[3 : 3 + moving.size]
    factors = np.ones(7)
    for wd in range(7):
        sel = ok & (days == wd)
        if np.any(sel):
            factors[wd] = float(np.median(ratios[sel]))
    mean = float(factors.mean())
    factors = factors / mean if mean > 0 else np.ones(7)
    # A weekday a million times quieter than the week is a weekday without usage (and dividing
    # by its factor would overflow).
    return np.where(factors < 1e-6, 0.0, factors)


def _robust_line(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    # Least squares on winsorised data: residuals beyond 4 robust sigmas from a Theil–Sen line
    # (median of pairwise slopes, unmoved by a spike) are clipped, then the line is refitted.
    if x.size < 3:
        return linear_fit(x, y)
    i, j = np.triu_indices(x.size, k=1)
    slope = float(np.median((y[j] - y[i]) / (x[j] - x[i])))
    intercept = float(np.median(y - slope * x))
    resid = y - (intercept + slope * x)
    sigma = robust_sigma(resid)
    clipped = intercept + slope * x + np.clip(resid, -4 * sigma, 4 * sigma)
    return linear_fit(x, clipped)


def _residual_quantiles(y: FloatArray, fitted: FloatArray, level: float) -> tuple[float, float]:
    positive = fitted > 0
    rel = np.abs(y[positive] - fitted[positive]) / fitted[positive]
    rel_q = float(np.quantile(rel, level)) if rel.size else 0.0
    abs_q = float(np.quantile(np.abs(y - fitted), level))
    return rel_q, abs_q


def predict_seasonal_trend(
    fit: SeasonalTrendFit, horizon: int
) -> tuple[list[date], FloatArray, FloatArray, FloatArray]:
    """Dates, points, lower and upper bounds of the ``horizon`` days after the fit's last day.

    >>> predict_seasonal_trend(fit, 7)[1]  # the 7 point forecasts
    """
    if fit.last is None:
        empty = np.zeros(0)
        return [], empty, empty, empty  # nothing observed: no dates to forecast from
    days = future_dates(fit.last, horizon)
    h = np.arange(1, horizon + 1, dtype=np.float64)
    weekday = np.array([d.weekday() for d in days], dtype=np.int64)
    point = np.maximum((fit.intercept + fit.slope * h) * fit.factors[weekday], fit.floor)
    base = fit.rel_q * np.abs(point) if fit.rel_q > 0 else np.full(horizon, fit.abs_q)
    half = base * np.sqrt(1 + h / fit.n)
    return days, point, np.maximum(point - half, fit.floor), point + half


def sum_half_width(halves: list[float]) -> float:
    """Half-width of the interval of a sum of days, from the days' half-widths.

    Day errors are partly independent (noise: half-widths add in quadrature) and partly shared
    (a wrong level or slope moves every day the same way: they add linearly). The mean of the two
    is used; the backtest's coverage and period variance show how well that holds.
    """
    arr = np.asarray(halves, dtype=np.float64)
    return 0.5 * (float(arr.sum()) + float(np.sqrt((arr**2).sum())))


def origin_positions(
    days: list[date],
    horizon: int,
    origins: int | Sequence[date],
    step: int,
    *,
    min_train: int,
) -> list[int]:
    """Backtest origins as indexes into ``days``: a count spaced ``step`` back from the end, or
    explicit dates; only those with ``min_train`` days before and ``horizon`` days after."""
    n = len(days)
    if isinstance(origins, int):
        candidates = [n - horizon - i * step for i in range(origins)]
    else:
        index = {d: i for i, d in enumerate(days)}
        candidates = [index[d] for d in origins if d in index]
    return sorted(p for p in set(candidates) if p >= min_train and p + horizon <= n)
