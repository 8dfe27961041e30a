"""Months, windows and billing days.

All stored timestamps are UTC. Providers that bill on another calendar (Vercel: the Los Angeles
day) keep their own ``billing_date`` beside the UTC bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from contribux_costs.errors import ConfigError

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)  # no full-width/other-script digits


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, e.g. ``Month.parse("2025-01")``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str | None) -> Month:
        """Parse ``YYYY-MM`` strictly; raise :class:`ConfigError` naming the bad value."""
        raw = "" if text is None else str(text).strip()
        m = _MONTH_RE.match(raw)
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
            shown = repr(raw) + ("" if raw else " (empty)")
            raise ConfigError(f"invalid month {shown}: expected YYYY-MM, e.g. 2025-01")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def previous_full(cls, today: date | None = None) -> Month:
        """The last month that has fully ended (UTC)."""
        today = today or datetime.now(UTC).date()
        first = today.replace(day=1)
        prev = first - timedelta(days=1)
        return cls(prev.year, prev.month)

    @classmethod
    def containing(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def prev(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def days(self) -> int:
        return (self.next.first_day - self.first_day).days

    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    @property
    def window(self) -> Window:
        """The UTC window [first midnight, next month's first midnight)."""
        return Window(utc_midnight(self.first_day), utc_midnight(self.next.first_day))

    @property
    def la_window(self) -> Window:
        """The month on the Los Angeles billing calendar, as UTC instants (Vercel)."""
        return Window(la_midnight(self.first_day), la_midnight(self.next.first_day))

    def is_complete(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return now >= self.window.end

    def phase(self, today: date | None = None) -> Phase:
        """``future`` (starts after today), ``open`` (contains today) or ``closed`` (UTC)."""
        today = today or datetime.now(UTC).date()
        if today < self.first_day:
            return "future"
        return "open" if today < self.next.first_day else "closed"


Phase = Literal["future", "open", "closed"]


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")

    def split(self, max_span: timedelta) -> list[Window]:
        """Consecutive sub-windows no longer than ``max_span``."""
        out: list[Window] = []
        cur = self.start
        while cur < self.end:
            nxt = min(cur + max_span, self.end)
            out.append(Window(cur, nxt))
            cur = nxt
        return out

    def months(self) -> list[Month]:
        """Every calendar month (UTC) the window touches."""
        out = [Month.containing(self.start.date())]
        while out[-1].next.window.start < self.end:
            out.append(out[-1].next)
        return out

    def clamp_end(self, now: datetime) -> Window:
        """Cut the window at ``now`` (never ask providers for the future)."""
        return Window(self.start, min(self.end, max(now, self.start + timedelta(seconds=1))))

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        return int(self.end.timestamp())

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def la_midnight(day: date) -> datetime:
    """Midnight in Los Angeles on ``day`` as a UTC instant (08:00Z in winter, 07:00Z in summer)."""
    local = datetime(day.year, day.month, day.day, tzinfo=LOS_ANGELES)
    return local.astimezone(UTC)


def la_billing_date(instant: datetime) -> date:
    """The Los Angeles calendar day an instant belongs to (Vercel's billing day)."""
    return instant.astimezone(LOS_ANGELES).date()


def parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset) to an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
