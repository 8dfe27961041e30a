"""Month figures that the report and the CLI show: totals, per provider, per day, freshness.

Costs come from the FOCUS table (``focus_charges``) once it is built for the month, else from the
provider-billed ``charges`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from contribux_costs.errors import ConfigError
from contribux_costs.focus.split import round_parts
from contribux_costs.periods import Month, Phase
from contribux_costs.store import Store


@dataclass(frozen=True)
class CostSource:
    table: str
    provider_col: str
    cost_col: str
    day_col: str


BILLED = CostSource("charges", "provider", "BilledCost", "x_billing_date")
FOCUS = CostSource("focus_charges", "x_provider", "BilledCost", "x_billing_date")


def cost_source(store: Store, month: Month) -> CostSource:
    if "focus_charges" in store.tables():
        n = store.scalar(
            "SELECT count(*) FROM focus_charges WHERE x_billing_date >= ? AND x_billing_date < ?",
            [month.first_day, month.next.first_day],
        )
        if n:
            return FOCUS
    return BILLED


def daily_by_provider(store: Store, month: Month) -> pl.DataFrame:
    """One row per (day, provider): cost in USD (Decimal)."""
    src = cost_source(store, month)
    return store.query(
        f"SELECT {src.day_col} AS day, {src.provider_col} AS provider, "
        f"sum({src.cost_col}) AS cost FROM {src.table} "
        f"WHERE {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL ORDER BY day, provider",
        [month.first_day, month.next.first_day],
    )


def provider_totals(store: Store, month: Month, today: date | None = None) -> pl.DataFrame:
    """Per provider: this month, the previous month, and the change, each rounded to the cent
    first so that every column adds up to the totals shown (:func:`month_total`).

    For an open month (``today`` inside it) the previous month is taken over the same days
    (1 … today's day number): month-to-date against the same days, like for like.
    """
    state = month_state(None, month, today)
    days = state.days_elapsed if state.phase == "open" else None
    cur = _totals(store, month).rename({"cost": "cost"})
    prev = _totals(store, month.prev, days).rename({"cost": "previous"})
    joined = cur.join(prev, on="provider", how="full", coalesce=True).with_columns(
        pl.col("cost").fill_null(Decimal(0)), pl.col("previous").fill_null(Decimal(0))
    )
    return joined.with_columns((pl.col("cost") - pl.col("previous")).alias("change")).sort(
        "cost", descending=True
    )


def _totals(store: Store, month: Month, days: int | None = None) -> pl.DataFrame:
    """Per provider, to the cent, adding up to the month's exact total rounded to the cent
    (largest remainder, as every breakdown on the page); ``days``: only the first days."""
    src = cost_source(store, month)
    end = month.next.first_day
    if days is not None:
        end = min(end, month.first_day + timedelta(days=days))
    frame = store.query(
        f"SELECT {src.provider_col} AS provider, sum({src.cost_col}) AS cost "
        f"FROM {src.table} WHERE {src.day_col} >= ? AND {src.day_col} < ? GROUP BY ALL",
        [month.first_day, end],
    )
    if frame.height == 0:
        return pl.DataFrame(schema={"provider": pl.String, "cost": pl.Decimal(38, 2)})
    exact = {str(p): Decimal(str(c)) for p, c in frame.select("provider", "cost").rows()}
    parts = round_parts(exact)
    return pl.DataFrame(
        {"provider": list(parts), "cost": list(parts.values())},
        schema={"provider": pl.String, "cost": pl.Decimal(38, 2)},
    )


def month_total(store: Store, month: Month, days: int | None = None) -> Decimal:
    """The month's total as shown: its exact total to the cent, which the per-provider rows beside
    it add up to (largest remainder). ``days``: first days only."""
    frame = _totals(store, month, days)
    total = sum((Decimal(str(v)) for v in frame["cost"].to_list()), Decimal(0))
    return total.quantize(Decimal("0.01"))


def is_demo(store: Store) -> bool:
    return bool(store.scalar("SELECT value FROM workspace WHERE key = 'mode'") == "demo")


def freshness(store: Store, month: Month) -> pl.DataFrame:
    """The latest run per source/endpoint touching the month: status, rows, when, error."""
    return store.query(
        "SELECT provider, endpoint, arg_max(status, finished_at) AS status, "
        "arg_max(rows, finished_at) AS rows, max(finished_at) AS collected_at, "
        "arg_max(error, finished_at) AS last_error, bool_or(demo) AS demo "
        "FROM ingest_ledger WHERE window_start < ? AND window_end > ? GROUP BY ALL "
        "ORDER BY provider, endpoint",
        [month.window.end, month.window.start],
    )


def has_data(store: Store, month: Month) -> bool:
    n = store.scalar(
        "SELECT count(*) FROM ingest_ledger "
        "WHERE status = 'ok' AND window_start < ? AND window_end > ?",
        [month.window.end, month.window.start],
    )
    return bool(n)


@dataclass(frozen=True)
class MonthState:
    """What a month is, for every command, notebook and the index (one definition).

    ``phase``: future / open / closed relative to ``today`` (UTC). ``collected``: a collection run
    covering the month succeeded. In an open month, ``today`` is a partial day: its cost is still
    growing, so it is drawn and counted as partial, and comparisons use ``days_elapsed`` days.
    """

    month: Month
    phase: Phase
    collected: bool
    today: date

    @property
    def partial_day(self) -> date | None:
        return self.today if self.phase == "open" else None

    @property
    def days_elapsed(self) -> int:
        """Days of the month up to and including today (open), all days (closed), 0 (future)."""
        if self.phase == "future":
            return 0
        return self.month.days if self.phase == "closed" else self.today.day

    @property
    def label(self) -> str:
        return {"future": "future", "open": "in progress (partial)", "closed": "closed"}[self.phase]


def month_state(store: Store | None, month: Month, today: date | None = None) -> MonthState:
    """The month's :class:`MonthState`; ``store`` None means nothing is collected."""
    today = today or datetime.now(UTC).date()
    phase = month.phase(today)
    collected = phase != "future" and store is not None and has_data(store, month)
    return MonthState(month, phase, collected, today)


def refuse_future(month: Month, today: date | None = None) -> None:
    """One line for a month that has not begun (nothing can be collected or reported)."""
    today = today or datetime.now(UTC).date()
    if month.phase(today) == "future":
        raise ConfigError(
            f"{month} has not started yet (today is {today.isoformat()} UTC): nothing to collect "
            "or report; choose this month or an earlier one"
        )


def require_collected(
    store: Store, month: Month, db: Path | str, today: date | None = None
) -> MonthState:
    """The month's state when it can be reported; a future or never-collected month is a
    :class:`ConfigError` (exit 2) naming the command that collects it."""
    refuse_future(month, today)
    state = month_state(store, month, today)
    if not state.collected:
        raise ConfigError(
            f"no collected data for {month} in {db}: run "
            f"`contribux-costs collect --month {month}` first"
        )
    return state


def latest_collected(store: Store, today: date | None = None) -> Month | None:
    """The latest month (up to today) holding collected usage or charges, or None."""
    today = today or datetime.now(UTC).date()
    last = store.scalar(
        "SELECT max(d) FROM (SELECT max(billing_date) AS d FROM usage WHERE billing_date <= ? "
        "UNION ALL SELECT max(x_billing_date) FROM charges WHERE x_billing_date <= ?)",
        [today, today],
    )
    if last is None:
        return None
    month = Month.containing(last)
    return month if has_data(store, month) else None
