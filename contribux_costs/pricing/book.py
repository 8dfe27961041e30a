"""The dated price book: load the shipped TOML (and a user's override file), validate, look up.

Example::

    book = load_pricebook()                       # shipped list prices
    book.family("gpt-4o-mini-2024-07-18")         # 'gpt-4o-mini'
    book.lookup("neon/compute", date(2025, 9, 1), plan="launch").price   # Decimal('0.14')
"""

from __future__ import annotations

import difflib
import itertools
import re
import tomllib
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contribux_costs.errors import PricingError

Kind = Literal["usage", "minimum", "recurring", "count"]
Scope = Literal["org", "resource"]
# Rates (price per consumed unit) keep 18 decimals: $0.075 per 1M tokens is 7.5e-8 per token.
RATE_SCALE = Decimal("1e-18")
_DATED = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{4})$")


class PriceEntry(BaseModel):
    """One dated price: valid on ``[effective_from, effective_to)``."""

    model_config = ConfigDict(frozen=True)

    id: str
    provider: str
    sku: str
    plan: str = "*"
    kind: Kind = "usage"
    unit: tuple[str, ...]
    pricing_unit: str
    per: Decimal = Field(gt=0)
    price: Decimal = Field(ge=0)
    included: Decimal = Field(default=Decimal(0), ge=0)
    included_scope: Scope = "org"
    # A per-bucket allowance (Neon's branches): ``included_concurrent`` units free during every
    # hour of each usage bucket, where ``unit_hours`` hours of one unit make one consumed unit
    # (branch-hours / 744 = branch-months). Subtracted per resource per bucket with max(0, ·).
    included_concurrent: Decimal = Field(default=Decimal(0), ge=0)
    unit_hours: Decimal = Field(default=Decimal(1), gt=0)
    effective_from: date
    effective_to: date | None = None
    origin: Literal["pricebook", "override"] = "pricebook"

    @field_validator("unit", mode="before")
    @classmethod
    def _units(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @property
    def rate(self) -> Decimal:
        """USD per consumed unit."""
        return (self.price / self.per).quantize(RATE_SCALE)

    def covers(self, day: date) -> bool:
        """Whether the entry is valid on ``day``."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def matches_plan(self, plan: str) -> bool:
        """Whether ``plan`` fits the entry's plan pattern (``fixed-*`` fits ``fixed-1gb``)."""
        if self.plan.endswith("*"):
            return plan.startswith(self.plan[:-1])
        return self.plan == plan


class Meter(BaseModel):
    """Maps a tidy usage metric to a SKU (or, for OpenAI, a price component of the model family)."""

    provider: str
    service: str = "*"
    metric: str
    sku: str | None = None
    component: str | None = None
    gauge: bool = False
    unit: str | None = None  # the consumed unit after conversion (gauges become GB-months)
    sku_from_service: bool = False
    # OpenAI: the component whose price applies when the family has none for ``component``.
    fallback: str | None = None


class PlanRule(BaseModel):
    field: str
    aliases: dict[str, str] = {}


class PriceBook(BaseModel):
    """Entries, meters, OpenAI model families, plan rules: everything pricing reads."""

    entries: tuple[PriceEntry, ...]
    meters: tuple[Meter, ...]
    families: tuple[str, ...]
    batch_factor: Decimal
    # OpenAI service tiers: a tier billed at a fraction of the standard price (flex), and the
    # tiers that must have entries of their own (priority: never priced at the standard rate).
    tier_factors: dict[str, Decimal] = {}
    own_rate_tiers: tuple[str, ...] = ()
    ignore: dict[str, tuple[str, ...]]
    plans: dict[str, PlanRule]

    def family(self, model_id: str) -> str | None:
        """The family of a (dated) OpenAI model id; the longest family wins; None if unknown."""
        best: str | None = None
        for fam in self.families:
            if model_id == fam or (model_id.startswith(fam) and _DATED.match(model_id[len(fam) :])):
                best = fam if best is None or len(fam) > len(best) else best
        return best

    def lookup(self, sku: str, day: date, plan: str = "*", list_only: bool = False) -> PriceEntry:
        """The entry pricing ``sku`` on ``day`` for ``plan`` (an override wins unless list_only)."""
        found = [
            e
            for e in self.entries
            if e.sku == sku
            and e.covers(day)
            and (e.plan == "*" or e.matches_plan(plan))
            and not (list_only and e.origin == "override")
        ]
        if not found:
            raise PricingError(
                f"no price for {sku!r} (plan {plan!r}) on {day}: add an entry to the price book "
                "or to the override file named by CONTRIBUX_COSTS_PRICES"
            )
        return max(found, key=lambda e: (e.origin == "override", e.plan != "*"))

    def entries_frame(self) -> pl.DataFrame:
        """One row per (entry, accepted unit), money as Decimal, for joins in DuckDB/polars."""
        rows = [
            {
                "entry_id": e.id,
                "provider": e.provider,
                "sku": e.sku,
                "plan": e.plan,
                "plan_like": e.plan.replace("*", "%"),
                "kind": e.kind,
                "unit_lc": u.lower(),
                "pricing_unit": e.pricing_unit,
                "per": e.per,
                "inv_per": (1 / e.per).quantize(RATE_SCALE),
                "price": e.price,
                "rate": e.rate,
                "included": e.included,
                "included_scope": e.included_scope,
                "bucket_per_hour": (e.included_concurrent / e.unit_hours).quantize(RATE_SCALE),
                "effective_from": e.effective_from,
                "effective_to": e.effective_to or date(9999, 1, 1),
                "priority": 1 if e.origin == "override" else 0,
                "plan_specific": 0 if e.plan == "*" else 1,
            }
            for e in self.entries
            for u in e.unit
        ]
        return pl.DataFrame(rows, schema_overrides=_ENTRY_SCHEMA)


_ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "per": pl.Decimal(38, 12),
    "price": pl.Decimal(38, 12),
    "rate": pl.Decimal(38, 18),
    "inv_per": pl.Decimal(38, 18),
    "included": pl.Decimal(38, 12),
    "bucket_per_hour": pl.Decimal(38, 18),
    "priority": pl.Int32(),
    "plan_specific": pl.Int32(),
}


def load_pricebook(override: Path | None = None) -> PriceBook:
    """The shipped price book, with the entries of ``override`` (same TOML format) winning."""
    text = (resources.files("contribux_costs.pricing") / "pricebook.toml").read_text("utf-8")
    base = _parse(text, "the shipped pricebook.toml")
    entries = _entries(base, "pricebook", "pricebook.toml")
    families = list(base["openai"]["families"])
    if override is not None:
        data = _read_override(override)
        entries += _entries({**data, "defaults": base["defaults"]}, "override", str(override))
        families += [f for f in data.get("openai", {}).get("families", []) if f not in families]
    _check_overlaps(entries)
    try:
        return PriceBook(
            entries=tuple(entries),
            meters=tuple(Meter(**m) for m in base["meters"]),
            families=tuple(families),
            batch_factor=Decimal(base["openai"]["batch_factor"]),
            tier_factors={
                k: Decimal(str(v)) for k, v in base["openai"].get("tier_factors", {}).items()
            },
            own_rate_tiers=tuple(base["openai"].get("own_rate_tiers", ())),
            ignore={k: tuple(v) for k, v in base.get("ignore", {}).items()},
            plans={k: PlanRule(**v) for k, v in base.get("plans", {}).items()},
        )
    except (ValidationError, KeyError) as exc:
        text = " ".join(str(exc).split())[:300]
        raise PricingError(f"the shipped pricebook.toml is invalid: {text}") from exc


# What an override file may hold (CONTRIBUX_COSTS_PRICES): dated entries and extra OpenAI model
# families. Anything else was silently ignored before; now a misspelt key names the nearest one.
OVERRIDE_KEYS = frozenset({"version", "entries", "openai"})
OVERRIDE_OPENAI_KEYS = frozenset({"families"})
ENTRY_KEYS = frozenset(PriceEntry.model_fields) - {"origin"}


def _read_override(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise PricingError(
            f"cannot read the price override file {path} ({exc.strerror}): fix "
            "CONTRIBUX_COSTS_PRICES or unset it"
        ) from exc
    except UnicodeDecodeError:
        raise PricingError(f"the price override file {path} is not UTF-8 text") from None
    data = _parse(text, str(path))
    _known_keys(data, OVERRIDE_KEYS, f"{path}: unknown section")
    openai = data.get("openai", {})
    if not isinstance(openai, dict) or not isinstance(data.get("entries", []), list):
        raise PricingError(f"{path}: [openai] must be a table and entries a list of tables")
    _known_keys(openai, OVERRIDE_OPENAI_KEYS, f"{path}: unknown key", "openai.")
    return data


def _known_keys(data: dict[str, Any], known: frozenset[str], what: str, prefix: str = "") -> None:
    """A key outside ``known`` is an error suggesting the nearest known one."""
    for key in data:
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            listed = ", ".join(prefix + k for k in sorted(known))
            hint = f"; did you mean {prefix}{near[0]}?" if near else f" (known: {listed})"
            raise PricingError(f"{what} {prefix}{key}{hint}")


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{where} is not valid TOML: {' '.join(str(exc).split())}") from exc


def _entries(data: dict[str, Any], origin: str, where: str) -> list[PriceEntry]:
    defaults = data.get("defaults", {})
    out: list[PriceEntry] = []
    for i, raw in enumerate(data.get("entries", [])):
        provider = str(raw.get("provider") or str(raw.get("sku", "")).split("/", 1)[0])
        merged = {
            **{k: v for k, v in defaults.items() if not isinstance(v, dict)},
            **defaults.get(provider, {}),
            **raw,
            "provider": provider,
            "origin": origin,
        }
        name = f"{where}: entry {i + 1} ({raw.get('id', '?')})"
        if origin == "override":
            _known_keys(raw, ENTRY_KEYS, f"{name} has unknown key")
        try:
            out.append(PriceEntry(**{k: _dec(k, v) for k, v in merged.items()}))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            got = first.get("input")
            shown = str(got) if isinstance(got, Decimal) else repr(got)
            raise PricingError(f"{name} is invalid: {field} = {shown}: {first['msg']}") from None
        except InvalidOperation:
            raise PricingError(f"{name}: price, per and included must be decimals") from None
    ids = [e.id for e in out]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    if dupes:
        raise PricingError(f"{where}: duplicate entry id(s) {', '.join(dupes)}")
    return out


def _dec(key: str, value: object) -> object:
    # Money and quantities are written as strings in TOML so they never pass through float.
    if key in {"price", "per", "included", "included_concurrent", "unit_hours"} and isinstance(
        value, str | int
    ):
        return Decimal(str(value))
    return value


def _check_overlaps(entries: list[PriceEntry]) -> None:
    """Two entries of one origin for the same sku/plan must not be valid on the same day."""
    groups: dict[tuple[str, str, str, str], list[PriceEntry]] = {}
    for e in entries:
        groups.setdefault((e.origin, e.sku, e.plan, e.kind), []).append(e)
    for (_, sku, plan, _), group in groups.items():
        group.sort(key=lambda e: e.effective_from)
        for a, b in itertools.pairwise(group):
            if a.effective_to is None or a.effective_to > b.effective_from:
                raise PricingError(
                    f"price entries {a.id} and {b.id} both price {sku!r} (plan {plan!r}) "
                    f"from {b.effective_from}: close the first with effective_to"
                )
