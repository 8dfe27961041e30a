"""Spend anomalies robust to weekly seasonality, merged into one episode per run of days.

Method, per series (one series per combination of the key columns):

- **Baseline**: the median of the same weekday over the previous ``weeks`` weeks (at least
  ``min_weeks`` of them must exist). A Saturday is compared with past Saturdays, so a quiet weekend
  is never "low" and a busy Monday never "high"; the median ignores a past spike.
- **Score**: the excess ``actual − baseline`` divided by a robust scale, 1.4826 × the median
  absolute excess of the previous ``scale_days`` days (at least 7 scored days), floored at 1 % of
  the baseline so that a perfectly flat series does not divide by zero (a flat zero history
  scores any excess at the cap, 1e6: new spend where there was none).
- A day is **anomalous** only when all of: score ≥ ``min_score``, excess ≥ ``min_excess`` (dollars
  for a cost series: a 300 % jump from $0.10 to $0.40 is not worth an alert) and excess ≥
  ``min_pct`` × baseline (a $50 excess on a $5,000 day is noise).
- Consecutive anomalous days form one **episode** (one alert). Only excess spend is detected
  (drops are not alerts here). Values are expected to be ≥ 0 (costs, volumes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from contribux_costs.analysis.timeseries import (
    MAD_TO_SIGMA,
    FloatArray,
    daily_series,
    dates_of,
    require_columns,
    values_of,
)


class AnomalyParams(BaseModel):
    """Thresholds of the detector (configuration; these are the defaults)."""

    model_config = ConfigDict(frozen=True)
    min_excess: float = Field(10.0, ge=0, description="excess over baseline, in value units (USD)")
    min_pct: float = Field(0.3, ge=0, description="excess as a share of the baseline")
    min_score: float = Field(4.0, ge=0, description="excess in robust standard deviations")
    weeks: int = Field(4, ge=1, description="same-weekday history for the baseline")
    min_weeks: int = Field(2, ge=1, description="weeks of history needed before a day is scored")
    scale_days: int = Field(28, ge=7, description="days of past excess for the robust scale")


class AnomalyEpisode(BaseModel):
    """One alert: a run of consecutive anomalous days of one series."""

    model_config = ConfigDict(frozen=True)
    series_key: str
    key: dict[str, str | None]
    start: dt.date
    end: dt.date
    days: int
    peak_day: dt.date
    peak_value: float
    peak_score: float
    actual_total: float
    baseline_total: float
    excess: float
    excess_pct: float | None


SCORE_CAP = 1e6

_SCORED = {
    "date": pl.Date,
    "value": pl.Float64,
    "baseline": pl.Float64,
    "excess": pl.Float64,
    "score": pl.Float64,
    "anomalous": pl.Boolean,
}


def score_days(
    frame: pl.DataFrame, keys: Sequence[str] = (), params: AnomalyParams | None = None
) -> pl.DataFrame:
    """Every day of every series with its baseline, excess, score and ``anomalous`` flag.

    >>> score_days(costs, ["provider", "service"]).filter("anomalous")
    """
    params = params or AnomalyParams()
    require_columns(frame, [*keys, "date", "value"])
    parts = [_score_series(part, keys, params) for part in _series(frame, keys)]
    if not parts:
        schema = {k: frame.schema[k] for k in keys} | _SCORED
        return pl.DataFrame(schema=schema)
    return pl.concat(parts)


def detect_anomalies(
    frame: pl.DataFrame, keys: Sequence[str] = (), params: AnomalyParams | None = None
) -> list[AnomalyEpisode]:
    """Anomaly episodes of every series, largest excess first.

    >>> detect_anomalies(costs, ["provider", "service"], AnomalyParams(min_excess=25))[0].excess
    """
    scored = score_days(frame, keys, params)
    episodes: list[AnomalyEpisode] = []
    for part in _series(scored, keys):
        episodes.extend(_episodes(part, keys))
    return sorted(episodes, key=lambda e: (-e.excess, e.series_key, e.start))


def _series(frame: pl.DataFrame, keys: Sequence[str]) -> list[pl.DataFrame]:
    if frame.is_empty():
        return []
    if not keys:
        return [frame]
    return frame.partition_by(list(keys), maintain_order=True)


def _score_series(part: pl.DataFrame, keys: Sequence[str], params: AnomalyParams) -> pl.DataFrame:
    daily = daily_series(part)
    y = values_of(daily)
    baseline = _weekday_baseline(y, params.weeks, params.min_weeks)
    excess = y - baseline
    scale = np.maximum(_past_scale(excess, params.scale_days), 0.01 * np.abs(baseline))
    score = _score(excess, scale)
    flag = (
        np.isfinite(baseline)
        & (np.nan_to_num(score, nan=0.0) >= params.min_score)
        & (np.nan_to_num(excess, nan=0.0) >= params.min_excess)
        & (np.nan_to_num(excess - params.min_pct * baseline, nan=-1.0) >= 0)
    )
    scored = daily.with_columns(
        pl.Series("baseline", baseline).fill_nan(None),
        pl.Series("excess", excess).fill_nan(None),
        pl.Series("score", score).fill_nan(None),
        pl.Series("anomalous", flag),
    )
    first = part.row(0, named=True)
    return scored.with_columns(
        [pl.lit(first[k], dtype=part.schema[k]).alias(k) for k in keys]
    ).select([*keys, *_SCORED])


def _score(excess: FloatArray, scale: FloatArray) -> FloatArray:
    # A flat zero history has no scale: any excess over it is "infinitely" unusual. Capped so that
    # the score stays a finite JSON number.
    score = np.divide(excess, scale, out=np.full_like(excess, np.nan), where=scale > 0)
    score[(scale == 0) & (excess > 0)] = SCORE_CAP
    return np.minimum(score, SCORE_CAP)


def _weekday_baseline(y: FloatArray, weeks: int, min_weeks: int) -> FloatArray:
    lagged = np.full((weeks, y.size), np.nan)
    for k in range(1, weeks + 1):
        lagged[k - 1, 7 * k :] = y[: max(y.size - 7 * k, 0)]
    enough = np.sum(np.isfinite(lagged), axis=0) >= min_weeks
    baseline = np.full(y.size, np.nan)
    if np.any(enough):
        baseline[enough] = np.nanmedian(lagged[:, enough], axis=0)
    return baseline


def _past_scale(excess: FloatArray, days: int) -> FloatArray:
    scale = np.full(excess.size, np.nan)
    for t in range(excess.size):
        past = excess[max(0, t - days) : t]
        past = past[np.isfinite(past)]
        if past.size >= 7:
            scale[t] = MAD_TO_SIGMA * float(np.median(np.abs(past)))
    return scale


def _episodes(scored: pl.DataFrame, keys: Sequence[str]) -> list[AnomalyEpisode]:
    flags = scored["anomalous"].to_list()
    episodes: list[AnomalyEpisode] = []
    start: int | None = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            episodes.append(_episode(scored.slice(start, i - start), keys))
            start = None
    return episodes


def _episode(run: pl.DataFrame, keys: Sequence[str]) -> AnomalyEpisode:
    first = run.row(0, named=True)
    key = {k: None if first[k] is None else str(first[k]) for k in keys}
    peak = run.row(int(np.argmax(run["excess"].to_numpy())), named=True)
    baseline = float(run["baseline"].sum())
    excess = float(run["excess"].sum())
    days = dates_of(run)
    return AnomalyEpisode(
        series_key="/".join("∅" if v is None else v for v in key.values()) or "all",
        key=key,
        start=days[0],
        end=days[-1],
        days=run.height,
        peak_day=peak["date"],
        peak_value=float(peak["value"]),
        peak_score=float(peak["score"]),
        actual_total=float(run["value"].sum()),
        baseline_total=baseline,
        excess=excess,
        excess_pct=excess / baseline if baseline > 0 else None,
    )
