"""Cache model: counter deltas with resets, windowed hit ratio, trend, classes, TTL what-if."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.analysis.cache_model import (
    HitRatioThresholds,
    TtlMode,
    TtlWhatIf,
    classify_hit_ratio,
    counter_deltas,
    daily_hit_ratio,
    hit_ratio,
    hit_ratio_trend,
    per_key_rate,
    rate_from_hit_ratio,
    summarize_hit_ratio,
    ttl_hit_ratio,
    ttl_what_if,
)
from contribux_costs.errors import ConfigError

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def snapshots(hits: list[int | None], misses: list[int | None], db: str = "db-1") -> pl.DataFrame:
    """INFO-style cumulative counters every 12 hours."""
    ts = [T0 + dt.timedelta(hours=12 * i) for i in range(len(hits))]
    return pl.DataFrame(
        {"database_id": db, "ts": ts, "hits": hits, "misses": misses},
        schema_overrides={"hits": pl.Int64, "misses": pl.Int64},
    )


def test_deltas_subtract_consecutive_snapshots_per_key() -> None:
    frame = pl.concat(
        [snapshots([100, 180, 300], [10, 30, 40]), snapshots([5, 9, 20], [1, 2, 2], db="db-2")]
    )
    deltas = counter_deltas(frame.reverse(), keys=["database_id"])  # input order does not matter
    assert deltas.filter(pl.col("database_id") == "db-1")["hits"].to_list() == [80, 120]
    assert deltas.filter(pl.col("database_id") == "db-1")["misses"].to_list() == [20, 10]
    assert deltas.filter(pl.col("database_id") == "db-2")["hits"].to_list() == [4, 11]
    assert deltas["prev_ts"].to_list()[0] == T0
    assert not deltas["reset"].any()


def test_a_counter_that_goes_down_restarted_from_its_new_value() -> None:
    deltas = counter_deltas(snapshots([1000, 1200, 50, 90], [100, 150, 5, 9]))
    assert deltas["hits"].to_list() == [200, 50, 40]  # not -1150
    assert deltas["misses"].to_list() == [50, 5, 4]
    assert deltas["reset"].to_list() == [False, True, False]


def test_missing_snapshots_are_skipped_not_read_as_zero() -> None:
    deltas = counter_deltas(snapshots([100, None, 300], [10, 20, 30]))
    assert deltas["hits"].to_list() == [200]  # a null is not a reset to 0
    assert deltas["prev_ts"].to_list() == [T0]


def test_lifetime_totals_would_hide_the_current_hit_ratio() -> None:
    # A year of bad caching then a good month: the delta ratio is the month's, not the lifetime's.
    deltas = counter_deltas(snapshots([1_000_000, 1_000_950], [9_000_000, 9_000_050]))
    assert hit_ratio(float(deltas["hits"].sum()), float(deltas["misses"].sum())) == 0.95


def test_daily_hit_ratio_and_summary() -> None:
    deltas = counter_deltas(snapshots([0, 80, 160, 250, 340], [0, 20, 40, 50, 60]))
    daily = daily_hit_ratio(deltas)
    assert daily["date"].to_list() == [
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 3),
    ]
    assert daily["hits"].to_list() == [80.0, 170.0, 90.0]
    assert daily["ratio"].to_list() == pytest.approx([0.8, 170 / 200, 0.9])
    summary = summarize_hit_ratio(daily)
    assert summary.ratio == pytest.approx(340 / 400)  # summed counters, not mean of ratios
    assert summary.status == "worth_a_look"
    assert summary.trend is not None and summary.trend.slope_per_week > 0


def test_a_day_without_traffic_has_no_ratio() -> None:
    daily = daily_hit_ratio(counter_deltas(snapshots([5, 5], [1, 1])))
    assert daily["ratio"].to_list() == [None]
    assert summarize_hit_ratio(daily).status == "no_traffic"


def test_thresholds_classify_with_configurable_defaults() -> None:
    assert [classify_hit_ratio(r) for r in (0.95, 0.9, 0.85, 0.8, 0.79, None)] == [
        "good",
        "good",
        "worth_a_look",
        "worth_a_look",
        "not_paying",
        "no_traffic",
    ]
    strict = HitRatioThresholds(good=0.99, look=0.95)
    assert classify_hit_ratio(0.97, strict) == "worth_a_look"


def test_trend_slope_per_week_and_traffic_weighting() -> None:
    days = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(15)]
    ratios = [0.9 - 0.01 * i for i in range(15)]  # one point worse every day
    daily = pl.DataFrame(
        {
            "date": days,
            "hits": [r * 1000 for r in ratios],
            "misses": [(1 - r) * 1000 for r in ratios],
        }
    )
    trend = hit_ratio_trend(daily)
    assert trend is not None
    assert trend.slope_per_week == pytest.approx(-0.07)
    assert trend.fitted_first == pytest.approx(0.9) and trend.fitted_last == pytest.approx(0.76)
    # a near-empty day with a silly ratio barely moves a traffic-weighted line
    noisy = pl.concat(
        [
            daily,
            pl.DataFrame({"date": [days[-1] + dt.timedelta(1)], "hits": [0.0], "misses": [1.0]}),
        ]
    )
    weighted = hit_ratio_trend(noisy)
    assert weighted is not None and weighted.slope_per_week == pytest.approx(-0.07, abs=0.01)
    assert hit_ratio_trend(daily.head(1)) is None


def test_ttl_models_match_the_domain_formulas() -> None:
    assert ttl_hit_ratio(0.01, 300) == pytest.approx(3 / 4)  # λT = 3
    assert ttl_hit_ratio(0.01, 300, "refresh") == pytest.approx(1 - math.exp(-3))
    assert rate_from_hit_ratio(0.75, 300) == pytest.approx(0.01)
    assert rate_from_hit_ratio(1 - math.exp(-3), 300, "refresh") == pytest.approx(0.01)
    assert per_key_rate(86_400, 100, 86_400) == pytest.approx(0.01)
    assert rate_from_hit_ratio(1.0, 60) > 1e6  # no miss seen: finite, very large


def test_ttl_what_if_predicts_other_ttls_and_misses_saved() -> None:
    what_if = ttl_what_if(600, 1_000_000, observed_ratio=0.6)
    assert what_if.rate_per_second == pytest.approx(0.6 / (0.4 * 600))
    assert what_if.misses_per_month == pytest.approx(400_000)
    half, double, quad = what_if.scenarios
    assert (half.ttl_seconds, double.ttl_seconds, quad.ttl_seconds) == (300, 1200, 2400)
    assert double.hit_ratio == pytest.approx(0.75)  # λT doubles from 1.5 to 3
    assert double.misses_saved_per_month == pytest.approx(150_000)
    assert half.misses_saved_per_month < 0  # a shorter TTL costs misses
    assert TtlWhatIf.model_validate_json(what_if.model_dump_json()) == what_if


def test_ttl_what_if_from_an_observed_rate_and_explicit_ttls() -> None:
    what_if = ttl_what_if(300, 10_000, rate=0.01, multipliers=(), ttls=(1800,))
    assert what_if.hit_ratio == pytest.approx(0.75)
    [scenario] = what_if.scenarios
    assert scenario.hit_ratio == pytest.approx(18 / 19)


def test_bad_inputs_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        ttl_what_if(300, 1000)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        rate_from_hit_ratio(1.2, 300)
    with pytest.raises(ConfigError, match="TTL"):
        rate_from_hit_ratio(0.5, 0)
    with pytest.raises(ConfigError, match="lacks column"):
        counter_deltas(pl.DataFrame({"ts": [T0], "hits": [1]}))


counters = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(hits=counters, misses=counters)
def test_deltas_never_negative_and_ratios_in_unit_interval(
    hits: list[int], misses: list[int]
) -> None:
    n = min(len(hits), len(misses))
    deltas = counter_deltas(snapshots(list(hits[:n]), list(misses[:n])))
    assert deltas.height == n - 1
    assert (deltas["hits"] >= 0).all() and (deltas["misses"] >= 0).all()
    for ratio in daily_hit_ratio(deltas)["ratio"].drop_nulls().to_list():
        assert 0.0 <= ratio <= 1.0
    ratio = summarize_hit_ratio(daily_hit_ratio(deltas)).ratio
    assert ratio is None or 0.0 <= ratio <= 1.0


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(min_value=0, max_value=1e3),
    ttl=st.floats(min_value=0, max_value=1e6),
    factor=st.floats(min_value=1, max_value=100),
    mode=st.sampled_from(["fixed", "refresh"]),
)
def test_ttl_model_is_monotonic_in_ttl_and_bounded(
    rate: float, ttl: float, factor: float, mode: TtlMode
) -> None:
    low, high = ttl_hit_ratio(rate, ttl, mode), ttl_hit_ratio(rate, ttl * factor, mode)
    assert 0.0 <= low <= high <= 1.0
    # refreshing on every hit never does worse than a fixed expiry
    assert ttl_hit_ratio(rate, ttl, "refresh") >= ttl_hit_ratio(rate, ttl, "fixed") - 1e-12


@settings(max_examples=60, deadline=None)
@given(ratio=st.floats(min_value=0, max_value=0.999), ttl=st.floats(min_value=1, max_value=1e5))
def test_rate_inverse_round_trips(ratio: float, ttl: float) -> None:
    modes: tuple[TtlMode, ...] = ("fixed", "refresh")
    for m in modes:
        assert ttl_hit_ratio(rate_from_hit_ratio(ratio, ttl, m), ttl, m) == pytest.approx(
            ratio, abs=1e-9
        )
