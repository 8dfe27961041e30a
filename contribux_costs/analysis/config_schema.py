"""The analysis config's schema, read from ``defaults.toml`` itself: an override may only use the
sections and keys the defaults have, with the defaults' types, and no sign the defaults forbid.

A mistyped setting used to be ignored, which silently switched its safeguard off (a budget of
``"lots"`` or ``-500`` removed that budget's alerts; ``[budgetz]`` and ``openaii`` were dropped).
Now each is one :class:`ConfigError` line naming the file, the key and the value, suggesting the
nearest known key (:func:`difflib.get_close_matches`). Every number in the defaults is ≥ 0, so a
negative one is an error; a budget must be > 0 and every number finite.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from contribux_costs.errors import ConfigError

# Tables whose keys are the user's own names (model ids); their values still have one shape.
# Owner budgets are named by the user's own teams.
OPEN_TABLES = frozenset({"openai.downgrade.targets", "openai.list_prices", "budgets.owners"})
# Sections another loader validates with its own schema (focus/allocation.py: ordered rules).
DELEGATED = frozenset({"allocation"})
# Budgets are named by key: the defaults' names, or any provider (its own spend).
BUDGET_NAMES = frozenset({"openai", "vercel", "neon", "upstash", "postgres", "total", "database"})


def check_override(extra: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` at the first key of ``extra`` the schema does not allow."""
    _table(extra, defaults, "", where)


def _table(extra: dict[str, Any], known: dict[str, Any], path: str, where: str) -> None:
    allowed = set(known) | (BUDGET_NAMES if path == "budgets" else set())
    for key, value in extra.items():
        dotted = f"{path}.{key}" if path else key
        if not path and key in DELEGATED:
            continue
        if path in OPEN_TABLES:
            sample = next(iter(known.values()), None)
            if path.startswith("budgets."):
                _budget(value, dotted, where)
            elif sample is not None:
                _value(value, sample, dotted, where)
            continue
        if key not in allowed:
            raise ConfigError(_unknown(dotted, key, allowed, path, where, isinstance(value, dict)))
        default = known.get(key)
        if default is None:  # a budget named by a provider: a number like every budget
            default = 1.0
        if path.split(".")[0] == "budgets" and _is_number(default):
            _budget(value, dotted, where)
        _value(value, default, dotted, where)


def _budget(value: Any, dotted: str, where: str) -> None:
    """A budget (total, provider, environment or owner): a finite number of USD above zero."""
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ConfigError(_wrong(value, "a number > 0 (USD a month)", dotted, where))


def _value(value: Any, default: Any, dotted: str, where: str) -> None:
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(_wrong(value, "a table", dotted, where))
        _table(value, default, dotted, where)
    elif isinstance(default, list):
        _list(value, default, dotted, where)
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(_wrong(value, "true or false", dotted, where))
    elif _is_number(default):
        _number(value, default, dotted, where)
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(_wrong(value, "a string", dotted, where))


def _number(value: Any, default: float, dotted: str, where: str) -> None:
    if not _is_number(value):
        raise ConfigError(_wrong(value, "a number", dotted, where))
    if not math.isfinite(value):
        raise ConfigError(_wrong(value, "a finite number", dotted, where))
    if default >= 0 and value < 0:
        raise ConfigError(_wrong(value, "a number ≥ 0", dotted, where))


def _list(value: Any, default: list[Any], dotted: str, where: str) -> None:
    if not isinstance(value, list):
        raise ConfigError(_wrong(value, "a list", dotted, where))
    if not default:
        return
    if all(isinstance(d, dict) for d in default):  # an array of tables: the union of their keys
        keys: dict[str, Any] = {}
        for d in default:
            keys.update({k: v for k, v in d.items() if k not in keys})
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ConfigError(_wrong(item, "a table", f"{dotted}[{i + 1}]", where))
            _table(item, keys, f"{dotted}[{i + 1}]", where)
        return
    for i, item in enumerate(value):
        _value(item, default[0], f"{dotted}[{i + 1}]", where)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wrong(value: Any, expected: str, dotted: str, where: str) -> str:
    return f"analysis config {where}: {dotted} = {value!r} must be {expected}"


def _unknown(dotted: str, key: str, allowed: set[str], path: str, where: str, table: bool) -> str:
    what = "section" if table and not path else "key"
    shown = f"[{dotted}]" if what == "section" else dotted
    near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    hint = ""
    if near:
        full = f"{path}.{near[0]}" if path else near[0]
        hint = f"; did you mean {f'[{full}]' if what == 'section' else full}?"
    return f"analysis config {where}: unknown {what} {shown}{hint}"
