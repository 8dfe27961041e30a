"""Recommendations with a history: a status per stable id, realised savings, dismissed ones hidden.

Statuses (``recommendation_status``, migration 090): ``open`` (the default, no row), ``accepted``,
``dismissed`` (with a reason) and ``done``. When a status is set, the recommendation's estimate and
its **baseline** are recorded: the cost of the rows it acts on in that month (the provider's FOCUS
rows matching every ``/``-part of its subject: resource id or name, service, model family, project)
and the number of billed days it covers.

- **Realised saving** of a done recommendation, in every month after the one it was marked in:
  the baseline's daily cost × the later month's billed days − that month's cost of the same rows.
  Per day, so a 28-day February is not a "saving" against a 31-day January.
- **Dismissed** ones stay out of the list until their evidence changes *materially*: the current
  estimate differs from the one recorded at dismissal by more than ``MATERIAL_CHANGE`` (25 %) of it.
  Then the recommendation shows again, still marked dismissed, with a note saying what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, get_args

import polars as pl

from contribux_costs.errors import ConfigError
from contribux_costs.models import Recommendation, TrackedRecommendation
from contribux_costs.periods import Month
from contribux_costs.store import Store

Status = Literal["open", "accepted", "dismissed", "done"]
STATUSES: tuple[str, ...] = get_args(Status)
MATERIAL_CHANGE = Decimal("0.25")
TABLE = "recommendation_status"
_MODEL = r"regexp_replace(split_part(coalesce(SkuId, ''), ',', 1), '-\d{4}-\d{2}-\d{2}$', '')"
_PROJECT = (
    "coalesce(json_extract_string(Tags, '$.project_id'), "
    "json_extract_string(Tags, '$.ProjectName'))"
)


def scope_cost(store: Store, month: Month, provider: str, subject: str) -> tuple[Decimal, int]:
    """(cost of the rows a recommendation acts on in ``month``, billed days of the month)."""
    if "focus_charges" not in store.tables():
        return Decimal(0), 0
    parts = [p for p in subject.split("/") if p]
    match = " AND ".join(
        f"(? IN (ResourceId, ResourceName, ServiceName, {_MODEL}, {_PROJECT}))" for _ in parts
    )
    window = [month.first_day, month.next.first_day]
    cost = store.scalar(
        "SELECT coalesce(sum(BilledCost), 0) FROM focus_charges WHERE x_provider = ? "
        f"AND x_billing_date >= ? AND x_billing_date < ? AND {match or 'true'}",
        [provider, *window, *parts],
    )
    days = store.scalar(
        "SELECT count(DISTINCT x_billing_date) FROM focus_charges "
        "WHERE x_billing_date >= ? AND x_billing_date < ?",
        window,
    )
    return Decimal(cost), int(days)


def statuses(store: Store) -> pl.DataFrame:
    """Every recorded status row (empty before migration 090 or on an old read-only store)."""
    if TABLE not in store.tables():
        return pl.DataFrame()
    return store.query(f"SELECT * FROM {TABLE} ORDER BY set_at")


def find(recs: list[Recommendation], ident: str) -> Recommendation | None:
    """The recommendation whose id is ``ident`` or starts with it (unique prefix)."""
    hits = [r for r in recs if r.id == ident or r.id.startswith(ident)]
    if len(hits) > 1 and not any(r.id == ident for r in hits):
        raise ConfigError(
            f"recommendation id {ident!r} is ambiguous: {len(hits)} ids start with it"
        )
    return next((r for r in hits if r.id == ident), hits[0] if hits else None)


def set_status(
    store: Store,
    month: Month,
    recs: list[Recommendation],
    ident: str,
    status: str,
    reason: str | None = None,
) -> str:
    """Record ``status`` for a recommendation of ``month`` (found by id or unique prefix); returns
    its full id. Dismissing needs a reason. Setting again replaces the row (no duplicates)."""
    if status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    if status == "dismissed" and not (reason or "").strip():
        raise ConfigError("dismissing a recommendation needs --reason (why it does not apply)")
    rec = find(recs, ident)
    if rec is None:
        raise ConfigError(
            f"no recommendation {ident!r} in {month}: list them with "
            f"`contribux-costs recommendations --month {month}`"
        )
    baseline, days = scope_cost(store, month, rec.provider, rec.subject)
    row: list[object] = [rec.id, status, reason, datetime.now(UTC), str(month), rec.provider]
    row.append(rec.rule_id)
    row += [rec.subject, rec.title, rec.estimated_monthly_savings_usd, baseline, days]
    with store.transaction() as con:
        con.execute(f"DELETE FROM {TABLE} WHERE id = ?", [rec.id])
        con.execute(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(row))})", row)
    return rec.id


def apply(
    store: Store, month: Month, recs: list[Recommendation]
) -> tuple[list[Recommendation], list[TrackedRecommendation]]:
    """The month's recommendations with their status (dismissed ones left out unless their
    evidence changed materially) and every tracked (non-open) recommendation with its figures."""
    rows = {r["id"]: r for r in statuses(store).iter_rows(named=True)}
    current = {r.id: r for r in recs}
    shown: list[Recommendation] = []
    for rec in recs:
        row = rows.get(rec.id)
        if row is None:
            shown.append(rec)
            continue
        note = _material_note(row, rec) if row["status"] == "dismissed" else None
        if row["status"] == "dismissed" and note is None:
            continue
        shown.append(rec.model_copy(update={"status": row["status"], "status_note": note}))
    tracked = [
        _tracked(store, month, row, current.get(row["id"]), shown)
        for row in rows.values()
        if row["status"] != "open" and row["month"] <= str(month)
    ]
    return shown, tracked


def _material_note(row: dict[str, object], rec: Recommendation) -> str | None:
    then = Decimal(str(row["estimate_usd"]))
    now = rec.estimated_monthly_savings_usd
    if abs(now - then) <= MATERIAL_CHANGE * abs(then):
        return None
    return (
        f"dismissed in {row['month']} ({row['reason']}); shown again: the estimate moved "
        f"from ${then:,.2f} to ${now:,.2f} (more than {MATERIAL_CHANGE:.0%})"
    )


def _tracked(
    store: Store,
    month: Month,
    row: dict[str, object],
    rec: Recommendation | None,
    shown: list[Recommendation],
) -> TrackedRecommendation:
    realised = None
    if row["status"] == "done" and str(row["month"]) < str(month):
        cost, days = scope_cost(store, month, str(row["provider"]), str(row["subject"]))
        base_days = int(row["baseline_days"])  # type: ignore[call-overload]
        if base_days and days:
            per_day = Decimal(str(row["baseline_usd"])) / base_days
            realised = (per_day * days - cost).quantize(Decimal("0.01"))
    return TrackedRecommendation(
        id=str(row["id"]),
        status=row["status"],
        reason=None if row["reason"] is None else str(row["reason"]),
        marked_in=str(row["month"]),
        provider=str(row["provider"]),
        title=str(row["title"]),
        estimate_usd=Decimal(str(row["estimate_usd"])),
        baseline_usd=Decimal(str(row["baseline_usd"])).quantize(Decimal("0.01")),
        realised_usd=realised,
        current_estimate_usd=None if rec is None else rec.estimated_monthly_savings_usd,
        hidden=row["status"] == "dismissed" and all(r.id != row["id"] for r in shown),
    )
