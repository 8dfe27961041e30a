"""Months, windows and the Los Angeles billing calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from contribux_costs.errors import ConfigError
from contribux_costs.periods import Month, Window, la_billing_date, parse_utc


@pytest.mark.parametrize(
    ("text", "expected"), [("2025-01", Month(2025, 1)), (" 2025-12 ", Month(2025, 12))]
)
def test_parse_valid(text: str, expected: Month) -> None:
    assert Month.parse(text) == expected
    assert str(expected) == text.strip()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2025-13", "'2025-13'"),
        ("2025-00", "'2025-00'"),
        ("25-01", "'25-01'"),
        ("2025-1", "'2025-1'"),
        ("2025/01", "'2025/01'"),
        ("2025-01-01", "'2025-01-01'"),
        ("1999-12", "'1999-12'"),
        ("２０２５-01", "'２０２５-01'"),  # full-width digits are not YYYY-MM
        ("", "'' (empty)"),
        ("   ", "'' (empty)"),
        (None, "'' (empty)"),
    ],
)
def test_parse_invalid_names_the_value(text: str | None, shown: str) -> None:
    with pytest.raises(ConfigError) as info:
        Month.parse(text)
    assert str(info.value) == f"invalid month {shown}: expected YYYY-MM, e.g. 2025-01"


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 1, 15), Month(2024, 12)),
        (date(2025, 1, 1), Month(2024, 12)),
        (date(2025, 3, 31), Month(2025, 2)),
    ],
)
def test_previous_full(today: date, expected: Month) -> None:
    assert Month.previous_full(today) == expected


def test_month_arithmetic() -> None:
    assert Month(2024, 12).next == Month(2025, 1)
    assert Month(2025, 1).prev == Month(2024, 12)
    assert Month(2025, 3).prev == Month(2025, 2)
    assert Month(2024, 2).days == 29 and Month(2025, 2).days == 28
    assert Month(2025, 1).dates()[-1] == date(2025, 1, 31)
    assert Month.containing(date(2025, 7, 9)) == Month(2025, 7)


def test_utc_window() -> None:
    w = Month(2025, 1).window
    assert (w.start, w.end) == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    assert w.end_ts - w.start_ts == 31 * 86400
    assert Month(2025, 1).is_complete(datetime(2025, 2, 1, tzinfo=UTC))
    assert not Month(2025, 1).is_complete(datetime(2025, 1, 31, 23, tzinfo=UTC))


def test_la_window_follows_daylight_saving() -> None:
    winter = Month(2025, 1).la_window  # PST: midnight is 08:00Z
    assert winter.start == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert winter.end == datetime(2025, 2, 1, 8, tzinfo=UTC)
    summer = Month(2025, 7).la_window  # PDT: midnight is 07:00Z
    assert summer.start == datetime(2025, 7, 1, 7, tzinfo=UTC)
    march = Month(2025, 3).la_window  # DST starts on 9 March: the month is one hour short
    assert march.start.hour == 8 and march.end.hour == 7
    assert march.end - march.start == timedelta(days=31, hours=-1)


def test_la_billing_date() -> None:
    assert la_billing_date(datetime(2025, 1, 1, 7, 59, tzinfo=UTC)) == date(2024, 12, 31)
    assert la_billing_date(datetime(2025, 1, 1, 8, 0, tzinfo=UTC)) == date(2025, 1, 1)


def test_split_covers_the_window_with_no_gap_or_overlap() -> None:
    w = Month(2025, 1).window
    parts = w.split(timedelta(days=7))
    assert [p.end - p.start for p in parts] == [timedelta(days=7)] * 4 + [timedelta(days=3)]
    assert parts[0].start == w.start and parts[-1].end == w.end
    assert all(a.end == b.start for a, b in pairwise(parts))
    assert w.split(timedelta(days=40)) == [w]


def test_window_rejects_naive_or_empty_bounds() -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2025, 1, 1), datetime(2025, 1, 2))
    with pytest.raises(ValueError, match="empty window"):
        Window(t, t)


def test_clamp_end_never_asks_for_the_future() -> None:
    w = Month(2025, 1).window
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    assert w.clamp_end(now) == Window(w.start, now)
    assert w.clamp_end(datetime(2026, 1, 1, tzinfo=UTC)) == w
    assert w.clamp_end(datetime(2024, 1, 1, tzinfo=UTC)).end == w.start + timedelta(seconds=1)


def test_parse_utc() -> None:
    assert parse_utc("2025-01-01T08:00:00Z") == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert parse_utc("2025-01-01T00:00:00-08:00") == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert parse_utc("2025-01-01T08:00:00") == datetime(2025, 1, 1, 8, tzinfo=UTC)
