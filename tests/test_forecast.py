"""Forecasts: trend × weekday model, backtest, month-end projection, time to limit."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contribux_costs.analysis.forecast import (
    Forecast,
    backtest,
    forecast,
    month_end_projection,
    time_to_limit,
)
from contribux_costs.analysis.timeseries import daily_series
from contribux_costs.errors import ConfigError
from contribux_costs.periods import Month

START = dt.date(2024, 9, 2)  # a Monday
WEEKLY = (1.08, 1.12, 1.10, 1.06, 0.98, 0.72, 0.68)


def seasonal(
    days: int, *, noise: float = 0.0, growth: float = 0.001, seed: int = 7
) -> pl.DataFrame:
    """Growth × weekday × noise, like the demo platform's spend."""
    rng = np.random.default_rng(seed)
    dates = [START + dt.timedelta(days=i) for i in range(days)]
    values = [
        100.0 * (1 + growth) ** i * WEEKLY[d.weekday()] * (1 + rng.normal(0, noise) if noise else 1)
        for i, d in enumerate(dates)
    ]
    return pl.DataFrame({"date": dates, "value": values})


def truth(day: dt.date) -> float:
    return 100.0 * 1.001 ** (day - START).days * WEEKLY[day.weekday()]


def test_recovers_trend_and_weekday_pattern() -> None:
    fc = forecast(seasonal(120), 14)
    assert fc.method == "linear-trend×weekday"
    assert [p.date for p in fc.points] == [START + dt.timedelta(days=120 + i) for i in range(14)]
    for p in fc.points:
        assert p.point == pytest.approx(truth(p.date), rel=0.01)
    assert fc.slope_per_day > 0
    assert fc.weekday_factors[5] < 0.8 < 1.0 < fc.weekday_factors[1]


def test_backtest_error_is_small_and_good_on_a_regular_series() -> None:
    fc = forecast(seasonal(150, noise=0.05), 14)
    assert fc.backtest is not None
    assert len(fc.backtest.origins) == 3
    assert fc.backtest.n_points == 42
    assert fc.backtest.wape is not None and fc.backtest.wape < 0.08
    assert fc.backtest.period_variance is not None and fc.backtest.period_variance < 0.05
    assert fc.backtest.good
    assert fc.backtest.coverage is not None and fc.backtest.coverage > 0.5


def test_backtest_flags_a_series_it_cannot_predict() -> None:
    rng = np.random.default_rng(3)
    dates = [START + dt.timedelta(days=i) for i in range(120)]
    wild = pl.DataFrame({"date": dates, "value": rng.exponential(100.0, 120) ** 1.5})
    result = backtest(wild, 14, 5)
    assert result is not None
    assert not result.good
    assert result.period_variance is not None and result.period_variance >= 0.12


def test_backtest_metrics_on_a_perfectly_predictable_series() -> None:
    result = backtest(seasonal(100, growth=0.0), 7, [START + dt.timedelta(days=70)])
    assert result is not None
    assert result.origins == [START + dt.timedelta(days=70)]
    assert result.wape == pytest.approx(0.0, abs=1e-9)
    assert result.mape == pytest.approx(0.0, abs=1e-9)
    assert result.smape == pytest.approx(0.0, abs=1e-9)


def test_backtest_needs_two_weeks_before_an_origin() -> None:
    assert backtest(seasonal(20), 7, 3) is None
    assert forecast(seasonal(20), 7).backtest is None


def test_a_spike_in_the_history_does_not_tilt_the_trend() -> None:
    frame = seasonal(84).with_columns(
        pl.when(pl.col("date") == START + dt.timedelta(days=80))
        .then(pl.col("value") * 10)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    for p in forecast(frame, 7).points:
        assert p.point == pytest.approx(truth(p.date), rel=0.03)


def test_missing_days_are_filled_with_zero_or_interpolated() -> None:
    frame = pl.DataFrame({"date": [dt.date(2025, 1, 1), dt.date(2025, 1, 3)], "value": [1.0, 3.0]})
    assert daily_series(frame)["value"].to_list() == [1.0, 0.0, 3.0]
    assert daily_series(frame, fill="interpolate")["value"].to_list() == [1.0, 2.0, 3.0]
    gapped = seasonal(60).filter(pl.col("date") != START + dt.timedelta(days=59))
    # the forecast starts after the last observed day, whatever gaps precede it
    assert forecast(gapped, 3).points[0].date == START + dt.timedelta(days=59)


def test_nan_values_are_missing_days() -> None:
    dates = [dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    frame = pl.DataFrame({"date": dates, "value": [1.0, math.nan, 3.0]})
    assert daily_series(frame)["value"].to_list() == [1.0, 0.0, 3.0]
    assert daily_series(frame, fill="interpolate")["value"].to_list() == [1.0, 2.0, 3.0]


def test_duplicate_rows_of_a_day_are_summed() -> None:
    frame = pl.DataFrame({"date": [dt.date(2025, 1, 1)] * 2, "value": [1.5, 2.5]})
    assert daily_series(frame)["value"].to_list() == [4.0]


def test_short_series_falls_back_to_the_median_with_a_wide_interval() -> None:
    frame = seasonal(10)
    fc = forecast(frame, 5)
    assert fc.method == "median-fallback"
    median = float(np.median(frame["value"].to_numpy()[-7:]))
    for p in fc.points:
        assert p.point == pytest.approx(median)
        assert p.upper - p.point >= 0.5 * median
        assert p.point - p.lower >= 0.5 * median or p.lower == 0.0


def test_empty_and_all_zero_series() -> None:
    empty = pl.DataFrame(schema={"date": pl.Date, "value": pl.Float64})
    assert forecast(empty, 5).method == "no-data"
    assert forecast(empty, 5).points == []
    zeros = pl.DataFrame({"date": seasonal(30)["date"], "value": [0.0] * 30})
    fc = forecast(zeros, 5)
    assert [(p.point, p.lower, p.upper) for p in fc.points] == [(0.0, 0.0, 0.0)] * 5


def test_bad_input_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="horizon"):
        forecast(seasonal(30), -1)
    with pytest.raises(ConfigError, match="level"):
        forecast(seasonal(30), 7, level=80)
    with pytest.raises(ConfigError, match="fit_days"):
        forecast(seasonal(30), 7, fit_days=7)
    with pytest.raises(ConfigError, match="lacks column"):
        forecast(pl.DataFrame({"day": [START], "cost": [1.0]}), 3)


def test_forecast_json_round_trip() -> None:
    fc = forecast(seasonal(60, noise=0.05), 7)
    assert Forecast.model_validate_json(fc.model_dump_json()) == fc
    assert fc.to_frame().columns == ["date", "point", "lower", "upper"]


def test_month_end_projection_of_an_open_month() -> None:
    frame = seasonal(150, noise=0.03)  # 2024-09-02 .. 2025-01-29
    month = Month.parse("2024-12")
    p = month_end_projection(frame, month, dt.date(2024, 12, 11))
    in_month = frame.filter(pl.col("date").is_between(dt.date(2024, 12, 1), dt.date(2024, 12, 31)))
    before = in_month.filter(pl.col("date") < dt.date(2024, 12, 11))["value"].sum()
    assert not p.closed
    assert (p.days_actual, p.days_remaining) == (10, 21)
    assert p.actual_to_date == pytest.approx(before)  # as_of itself is not an actual
    assert p.lower <= p.projected <= p.upper
    assert p.projected == pytest.approx(in_month["value"].sum(), rel=0.03)
    assert p.backtest is not None


def test_month_end_projection_of_a_closed_month_is_the_actual() -> None:
    frame = seasonal(150)
    p = month_end_projection(frame, Month.parse("2024-11"), dt.date(2025, 1, 3))
    total = frame.filter(pl.col("date").dt.month() == 11)["value"].sum()
    assert p.closed and p.method == "actual"
    assert p.projected == p.lower == p.upper == pytest.approx(total)
    assert p.days_remaining == 0


def test_month_end_projection_ignores_data_after_as_of() -> None:
    frame = seasonal(150)
    month = Month.parse("2024-12")
    cut = frame.filter(pl.col("date") < dt.date(2024, 12, 15))
    assert month_end_projection(frame, month, dt.date(2024, 12, 15)) == month_end_projection(
        cut, month, dt.date(2024, 12, 15)
    )


def test_time_to_limit_of_a_growing_gauge() -> None:
    dates = [START + dt.timedelta(days=i) for i in range(60)]
    gauge = pl.DataFrame({"date": dates, "value": [5.0 + 0.1 * i for i in range(60)]})
    ttl = time_to_limit(gauge, 11.05)
    assert ttl.current == pytest.approx(10.9)  # the last observed day
    assert ttl.days == 2
    assert ttl.crossing_date == dates[-1] + dt.timedelta(days=2)
    assert time_to_limit(gauge, 12.95).days == 21
    assert time_to_limit(gauge, 1e6).days is None
    assert time_to_limit(gauge, 5.0).days == 0  # already above


def test_time_to_limit_of_a_running_total() -> None:
    dates = [START + dt.timedelta(days=i) for i in range(28)]
    daily = pl.DataFrame({"date": dates, "value": [10.0] * 28})
    result = time_to_limit(daily, 1000.0, kind="cumulative", used=500.0)
    assert result.days == 50
    assert result.crossing_date == dates[-1] + dt.timedelta(days=50)
    assert result.earliest_days is not None and result.earliest_days <= 50
    assert time_to_limit(daily, 305.0, kind="cumulative").days == 3  # used = 280 by default


# Costs and volumes: zeros or amounts from a millionth up (subnormal floats are not money).
amounts = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6))
series_values = st.lists(amounts, min_size=0, max_size=70)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=series_values, horizon=st.integers(0, 20))
def test_intervals_always_contain_the_point(values: list[float], horizon: int) -> None:
    dates = [START + dt.timedelta(days=i) for i in range(len(values))]
    fc = forecast(
        pl.DataFrame({"date": dates, "value": values}, schema_overrides={"value": pl.Float64}),
        horizon,
    )
    assert Forecast.model_validate_json(fc.model_dump_json()) == fc  # finite, JSON-safe
    for p in fc.points:
        assert p.lower <= p.point <= p.upper
        assert p.lower >= 0.0
        assert all(math.isfinite(v) for v in (p.lower, p.point, p.upper))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(amounts, min_size=1, max_size=90))
def test_closed_month_projection_equals_the_sum(values: list[float]) -> None:
    dates = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(len(values))]
    frame = pl.DataFrame({"date": dates, "value": values}, schema_overrides={"value": pl.Float64})
    jan = Month.parse("2025-01")
    p = month_end_projection(frame, jan, dt.date(2025, 6, 1))
    expected = sum(v for d, v in zip(dates, values, strict=True) if d.month == 1)
    assert p.projected == pytest.approx(expected)
    assert p.lower == p.upper == p.projected


def test_month_end_intervals_cover_most_actuals() -> None:
    """Calibration check of the 80 % interval of a month's total on a noisy seasonal series."""
    frame = seasonal(400, noise=0.05, seed=21)
    covered, errors = [], []
    for month in [Month(2024, m) for m in (11, 12)] + [Month(2025, m) for m in range(1, 9)]:
        actual = frame.filter(pl.col("date").dt.month_start() == month.first_day)["value"].sum()
        for day in (5, 12, 19, 26):
            p = month_end_projection(frame, month, month.first_day.replace(day=day))
            covered.append(p.lower <= actual <= p.upper)
            errors.append(abs(p.projected - actual) / actual)
    assert 0.65 <= float(np.mean(covered)) <= 1.0
    assert float(np.mean(errors)) < 0.03


def test_month_end_projection_of_a_future_month_is_all_forecast() -> None:
    frame = seasonal(120)  # ends 2024-12-30
    p = month_end_projection(frame, Month.parse("2025-01"), dt.date(2024, 12, 31))
    assert (p.days_actual, p.days_remaining, p.actual_to_date) == (0, 31, 0.0)
    expected = sum(truth(d) for d in Month.parse("2025-01").dates())
    assert p.projected == pytest.approx(expected, rel=0.02)
    assert p.lower <= p.projected <= p.upper
