"""Anomaly causes: the slice whose change explains most of an episode's excess."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from contribux_costs.analysis.causes import explain

SPIKE = date(2025, 1, 17)


def rows(spike: dict[tuple[str, str], float]) -> pl.DataFrame:
    """28 quiet days of four model×project slices at $5/day each, then the spike day."""
    out = []
    for i in range(28, -1, -1):
        day = SPIKE - timedelta(days=i)
        for model in ("gpt-4o", "gpt-4o-mini"):
            for project in ("prod", "dev"):
                extra = spike.get((model, project), 0.0) if day == SPIKE else 0.0
                out.append({"date": day, "cost": 5.0 + extra, "model": model, "project": project})
    return pl.DataFrame(out)


def test_one_slice_names_both_dimensions_with_its_before_and_after() -> None:
    cause = explain(rows({("gpt-4o", "prod"): 90.0}), SPIKE, SPIKE)
    assert cause is not None
    assert [(d.dimension, d.value) for d in cause.drivers] == [
        ("model", "gpt-4o"),
        ("project", "prod"),
    ]
    assert (round(cause.before_usd, 2), round(cause.during_usd, 2)) == (5.0, 95.0)
    assert round(cause.share, 3) == 1.0
    assert "model gpt-4o in project prod: $5.00/day before → $95.00/day during" in cause.sentence()


def test_a_rise_spread_over_every_slice_names_no_single_cause() -> None:
    even = {(m, p): 30.0 for m in ("gpt-4o", "gpt-4o-mini") for p in ("prod", "dev")}
    assert explain(rows(even), SPIKE, SPIKE) is None


def test_a_rise_in_one_model_across_projects_names_the_model_only() -> None:
    cause = explain(rows({("gpt-4o", "prod"): 50.0, ("gpt-4o", "dev"): 50.0}), SPIKE, SPIKE)
    assert cause is not None
    assert [d.dimension for d in cause.drivers] == ["model"]
    assert round(cause.during_usd - cause.before_usd, 2) == 100.0


def test_no_history_before_the_episode_gives_no_cause() -> None:
    assert explain(rows({}).filter(pl.col("date") == SPIKE), SPIKE, SPIKE) is None
