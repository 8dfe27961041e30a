"""Split shared costs across (environment, owner) targets, exactly, with FOCUS 1.3's columns.

Each *origin charge* a ``[[allocation.shared]]`` rule matches becomes one *allocated charge* per
target (FOCUS 1.3, "Data Generator-Calculated Split Cost Allocation Handling"): dimensions, unit
prices and Tags stay the origin's; summable metrics (costs, quantities) are split so that the
allocated charges add up to the origin exactly — costs to the cent by largest remainder (a sub-cent
rest of the origin goes to the largest part), quantities to 1e-12. The split rows carry
``AllocatedMethodId``, ``AllocatedMethodDetails`` (``Elements`` with the ``AllocatedRatio``, and the
usage measure that set it), ``AllocatedResourceId``/``Name`` (the target) and ``AllocatedTags``.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from typing import Any

import polars as pl

from contribux_costs.focus.allocation import AllocationRules, SharedRule

CENT = Decimal("0.01")
FINE = Decimal("1e-12")
COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
QUANTITY_COLUMNS = ("ConsumedQuantity", "PricingQuantity", "x_allowance_used")
TAG_PREFIX = "contribux-costs/"
METHOD_PREFIX = "contribux-costs/"


def round_parts(parts: dict[str, Decimal], total: Decimal | None = None) -> dict[str, Decimal]:
    """``parts`` to the cent, adding up to ``total`` (default: their exact sum) to the cent.

    Largest remainder: each part is truncated to the cent, then the cents still missing go to
    the parts with the largest truncated remainders (ties: the first key)."""
    exact = sum(parts.values(), Decimal(0))
    target = (exact if total is None else total).quantize(CENT)
    floors = {k: v.quantize(CENT, rounding=ROUND_DOWN) for k, v in parts.items()}
    missing = int((target - sum(floors.values(), Decimal(0))) / CENT)
    step = CENT if missing >= 0 else -CENT
    order = sorted(parts, key=lambda k: -abs(parts[k] - floors[k]))
    for k in (order * (abs(missing) // max(len(order), 1) + 1))[: abs(missing)]:
        floors[k] += step
    return floors


def split_exact(amount: Decimal, weights: list[Decimal], quantum: Decimal = CENT) -> list[Decimal]:
    """``amount`` in parts proportional to ``weights`` that sum to ``amount`` exactly.

    Whole quanta are shared by largest remainder (ties to the earlier part); what is left below one
    quantum (an origin of 0.355 USD has half a cent) goes to the largest weight's part.
    """
    total = sum(weights, Decimal(0))
    if not weights or total <= 0:
        raise ValueError("split_exact needs positive total weight")
    sign = Decimal(-1) if amount < 0 else Decimal(1)
    units = (abs(amount) / quantum).to_integral_value(ROUND_DOWN)
    rest = abs(amount) - units * quantum
    exact = [units * w / total for w in weights]
    parts = [e.to_integral_value(ROUND_DOWN) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: int(units - sum(parts, Decimal(0)))]:
        parts[i] += 1
    out = [p * quantum for p in parts]
    out[max(range(len(weights)), key=lambda i: (weights[i], -i))] += rest
    return [sign * p for p in out]


def apply_shared(frame: pl.DataFrame, rules: AllocationRules) -> pl.DataFrame:
    """``frame`` (labelled by :meth:`AllocationRules.label`) with every shared charge split."""
    for rule in rules.shared:
        if not frame.height:
            break
        claimed = rule.expr() & pl.col("AllocatedMethodId").is_null()
        origin = frame.filter(claimed)
        if not origin.height:
            continue
        targets = _targets(rule, frame.filter(~claimed))
        if not targets:
            continue  # no basis this month: the charge stays as labelled (unallocated if so)
        rows = [r for row in origin.iter_rows(named=True) for r in _split_row(row, rule, targets)]
        split = pl.from_dicts(rows, schema=frame.schema)
        frame = pl.concat([frame.filter(~claimed), split])
    return frame


Target = tuple[str, str, Decimal, Decimal | None]  # environment, owner, weight, usage quantity


def _targets(rule: SharedRule, others: pl.DataFrame) -> list[Target]:
    if rule.method == "fixed" or (rule.method == "even" and rule.targets):
        weights = [
            (t.environment, t.owner, Decimal(str(t.share)) if t.share is not None else Decimal(1))
            for t in rule.targets
        ]
        return [(e, o, w, None) for e, o, w in weights if w > 0]
    assert rule.basis is not None  # the model requires it for these methods
    col = "BilledCost" if rule.measure == "cost" else "ConsumedQuantity"
    basis = (
        others.filter(rule.basis.expr())
        .group_by("x_environment", "x_owner")
        .agg(pl.col(col).sum().alias("q"))
        .filter(pl.col("q") > 0)
        .sort("x_environment", "x_owner")
    )
    out: list[Target] = []
    for env, owner, q in basis.iter_rows():
        qty = Decimal(str(q))
        out.append((str(env), str(owner), Decimal(1) if rule.method == "even" else qty, qty))
    return out


def _split_row(
    row: dict[str, Any], rule: SharedRule, targets: list[Target]
) -> list[dict[str, Any]]:
    weights = [t[2] for t in targets]
    total = sum(weights, Decimal(0))
    parts: dict[str, list[Any]] = {}
    for col, quantum in [(c, CENT) for c in COST_COLUMNS] + [(c, FINE) for c in QUANTITY_COLUMNS]:
        value = row.get(col)
        parts[col] = (
            [None] * len(targets) if value is None else split_exact(value, weights, quantum)
        )
    unit = "USD" if rule.measure == "cost" else (row.get("ConsumedUnit") or "units")
    out = []
    for i, (env, owner, weight, qty) in enumerate(targets):
        element: dict[str, Any] = {"AllocatedRatio": float(weight / total)}
        if qty is not None and rule.method != "even":
            element |= {"UsageUnit": unit, "UsageQuantity": float(qty)}
        details = {"Elements": [element], "x_RuleId": rule.id}
        new = dict(row)
        new.update({col: vals[i] for col, vals in parts.items()})
        new.update(
            x_environment=env,
            x_owner=owner,
            AllocatedMethodId=f"{METHOD_PREFIX}{rule.method}-{rule.measure}"
            if rule.method == "proportional"
            else f"{METHOD_PREFIX}{rule.method}",
            AllocatedMethodDetails=json.dumps(details, separators=(",", ":")),
            AllocatedResourceId=f"{env}/{owner}",
            AllocatedResourceName=f"{owner} ({env})",
            AllocatedTags=json.dumps(
                {f"{TAG_PREFIX}environment": env, f"{TAG_PREFIX}owner": owner},
                separators=(",", ":"),
            ),
        )
        out.append(new)
    return out


def allocate(frame: pl.DataFrame, rules: AllocationRules) -> pl.DataFrame:
    """Label every row with its environment and owner, then split the shared costs."""
    return apply_shared(rules.label(frame), rules)
