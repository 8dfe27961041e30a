"""Anomaly detection: weekday baseline, MAD score, dollar and percent thresholds, episodes."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contribux_costs.analysis.anomalies import (
    AnomalyEpisode,
    AnomalyParams,
    detect_anomalies,
    score_days,
)
from contribux_costs.demo.model import DemoModel
from contribux_costs.periods import Month

START = dt.date(2024, 9, 2)  # a Monday
WEEKLY = (1.08, 1.12, 1.10, 1.06, 0.98, 0.72, 0.68)
KEYS = ["provider", "service"]


def spend(
    days: int = 120,
    *,
    level: float = 300.0,
    bumps: dict[int, float] | None = None,
    service: str = "completions",
    seed: int = 11,
) -> pl.DataFrame:
    """Daily cost with ~3 %/month growth, weekday seasonality, 5 % noise and planted bumps."""
    rng = np.random.default_rng(seed)
    bumps = bumps or {}
    rows = []
    for i in range(days):
        day = START + dt.timedelta(days=i)
        value = level * 1.001**i * WEEKLY[day.weekday()] * rng.normal(1.0, 0.05)
        rows.append(
            {
                "provider": "openai",
                "service": service,
                "date": day,
                "value": value * bumps.get(i, 1),
            }
        )
    return pl.DataFrame(rows)


def test_a_planted_one_day_spike_is_found_exactly_once() -> None:
    frame = spend(bumps={80: 3.0})
    episodes = detect_anomalies(frame, KEYS)
    assert len(episodes) == 1
    ep = episodes[0]
    spike_day = START + dt.timedelta(days=80)
    assert (ep.start, ep.end, ep.peak_day, ep.days) == (spike_day, spike_day, spike_day, 1)
    assert ep.series_key == "openai/completions"
    assert ep.key == {"provider": "openai", "service": "completions"}
    actual = frame.filter(pl.col("date") == spike_day)["value"].item()
    assert ep.actual_total == pytest.approx(actual)
    assert ep.excess == pytest.approx(actual - ep.baseline_total)
    assert ep.excess == pytest.approx(actual * 2 / 3, rel=0.15)  # 3× the normal level


def test_normal_weekends_and_mondays_are_not_flagged() -> None:
    scored = score_days(spend(), KEYS)
    assert not scored["anomalous"].any()
    # the weekday baseline follows the weekly shape: Saturday baseline well below Tuesday's
    late = scored.filter(pl.col("date") >= START + dt.timedelta(days=84))
    sat = late.filter(pl.col("date").dt.weekday() == 6)["baseline"].mean()
    tue = late.filter(pl.col("date").dt.weekday() == 2)["baseline"].mean()
    assert isinstance(sat, float) and isinstance(tue, float)
    assert sat < 0.75 * tue


def test_a_weekday_level_on_a_weekend_is_flagged() -> None:
    # Saturday at a Tuesday's level is +55 %: unremarkable against a flat mean, anomalous here.
    frame = spend(bumps={envelope: 1.55 for envelope in [envelope_day(5)]})
    [ep] = detect_anomalies(frame, KEYS)
    assert ep.start.weekday() == 5


def envelope_day(weekday: int) -> int:
    """Index of the first day with the given weekday after day 70."""
    return next(i for i in range(70, 80) if (START + dt.timedelta(days=i)).weekday() == weekday)


def test_a_three_day_elevated_stretch_is_one_episode() -> None:
    frame = spend(bumps={64: 1.8, 65: 2.2, 66: 1.8})  # Tuesday to Thursday
    [ep] = detect_anomalies(frame, KEYS)
    assert (ep.start, ep.end, ep.days) == (
        START + dt.timedelta(days=64),
        START + dt.timedelta(days=66),
        3,
    )
    assert ep.peak_day == START + dt.timedelta(days=65)
    assert ep.excess == pytest.approx(ep.actual_total - ep.baseline_total)


def test_a_small_dollar_spike_on_a_tiny_series_is_not_flagged() -> None:
    tiny = spend(level=0.5, bumps={80: 5.0})  # +$2: 400 % but below the $10 threshold
    assert detect_anomalies(tiny, KEYS) == []
    assert len(detect_anomalies(tiny, KEYS, AnomalyParams(min_excess=1.0))) == 1


def test_a_small_percent_excess_on_a_large_series_is_not_flagged() -> None:
    big = spend(level=100_000.0, bumps={80: 1.28})  # +$28,000 but only +28 %
    assert detect_anomalies(big, KEYS) == []
    looser = AnomalyParams(min_pct=0.2, min_score=3.5)
    assert [e.start for e in detect_anomalies(big, KEYS, looser)] == [START + dt.timedelta(80)]


def test_new_spend_after_a_zero_history_is_flagged() -> None:
    dates = [START + dt.timedelta(days=i) for i in range(40)]
    frame = pl.DataFrame({"date": dates, "value": [0.0] * 35 + [500.0] + [0.0] * 4})
    [ep] = detect_anomalies(frame)
    assert ep.start == dates[35] and ep.excess == 500.0 and ep.excess_pct is None
    assert ep.peak_score == 1e6  # capped: JSON stays finite
    assert AnomalyEpisode.model_validate_json(ep.model_dump_json()) == ep


def test_series_are_scored_separately_and_sorted_by_excess() -> None:
    frame = pl.concat(
        [
            spend(bumps={90: 3.0}),
            spend(level=50.0, bumps={70: 4.0}, service="embeddings", seed=5),
        ]
    )
    episodes = detect_anomalies(frame, KEYS)
    assert [e.series_key for e in episodes] == ["openai/completions", "openai/embeddings"]
    assert episodes[0].excess > episodes[1].excess


def test_no_history_means_no_verdict() -> None:
    scored = score_days(spend(days=10, bumps={9: 10.0}), KEYS)
    assert scored["baseline"].null_count() == 10
    assert not scored["anomalous"].any()


def test_missing_days_count_as_zero_spend() -> None:
    frame = spend().filter(pl.col("date") != START + dt.timedelta(days=50))
    scored = score_days(frame, KEYS)
    assert scored.height == 120
    assert scored.filter(pl.col("date") == START + dt.timedelta(days=50))["value"].item() == 0.0


def test_empty_frame_and_no_keys() -> None:
    empty = spend().head(0)
    assert detect_anomalies(empty, KEYS) == []
    assert score_days(empty, KEYS).columns == [*KEYS, "date", "value", *score_columns()]
    [ep] = detect_anomalies(spend(bumps={80: 3.0}).drop(KEYS))
    assert ep.series_key == "all" and ep.key == {}


def score_columns() -> list[str]:
    return ["baseline", "excess", "score", "anomalous"]


def test_finds_the_demo_platforms_planted_spikes() -> None:
    model = DemoModel()
    days = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(200)]
    values = [300 * model.level(d, "gpt-4o") * (3 if model.is_spike(d) else 1) for d in days]
    frame = pl.DataFrame({"date": days, "value": values})
    found = sorted(e.peak_day for e in detect_anomalies(frame))
    scored_from = days[28]  # two weeks of baseline and seven scored days come first
    spikes = {model.spike_day(Month.containing(d)) for d in days}
    planted = sorted(d for d in spikes if scored_from <= d <= days[-1])
    assert len(planted) == 5
    assert found == planted


def test_episode_json_round_trip() -> None:
    [ep] = detect_anomalies(spend(bumps={80: 3.0}), KEYS)
    assert AnomalyEpisode.model_validate_json(ep.model_dump_json()) == ep


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=1e5), min_size=0, max_size=80),
    min_excess=st.floats(min_value=0, max_value=100),
    min_pct=st.floats(min_value=0, max_value=2),
)
def test_episodes_never_overlap_and_excess_is_bounded(
    values: list[float], min_excess: float, min_pct: float
) -> None:
    dates = [START + dt.timedelta(days=i) for i in range(len(values))]
    frame = pl.DataFrame({"date": dates, "value": values}, schema_overrides={"value": pl.Float64})
    params = AnomalyParams(min_excess=min_excess, min_pct=min_pct, min_score=1.0)
    episodes = sorted(detect_anomalies(frame, (), params), key=lambda e: e.start)
    for ep in episodes:
        assert ep.start <= ep.peak_day <= ep.end
        assert ep.days == (ep.end - ep.start).days + 1
        assert 0 <= ep.excess <= ep.actual_total + 1e-9 * max(1.0, ep.actual_total)
        assert ep.excess >= min_excess * ep.days - 1e-6
    for a, b in itertools.pairwise(episodes):
        assert a.end + dt.timedelta(days=1) < b.start  # disjoint and not even adjacent
