"""Check a FOCUS export against the FOCUS 1.3 column rules vendored in ``spec_1_3.toml``.

The rules are data read from the spec text (each column's feature level, nullability, data type,
allowed values and its "nullability is defined as follows" conditions); this module only applies
them. Custom columns must carry the ``x_`` prefix and come after the FOCUS columns.

    problems = check_export(Path("focus.parquet"))   # [] when the file conforms
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

# Conditional columns this dataset supports (FOCUS: present "when the provider supports" the
# concept): sub-accounts (OpenAI/Neon/Vercel projects), commitments (Vercel), SKUs, regions,
# resources, unit prices and tags. Allocated* columns are optional here (issue 16 fills them).
APPLICABLE_CONDITIONAL = (
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedUnitPrice",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)
_NUMERIC = ("DECIMAL", "DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT")
_ISO_UTC = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|\+00(:?00)?)$"


@dataclass(frozen=True)
class Violation:
    """One broken rule: the column, the rule, and how many rows break it (0 = whole file)."""

    column: str
    rule: str
    rows: int = 0

    def __str__(self) -> str:
        where = f" ({self.rows} rows)" if self.rows else ""
        return f"{self.column}: {self.rule}{where}"


@cache
def spec_rules() -> dict[str, Any]:
    """The vendored FOCUS 1.3 rules: ``{"spec": {...}, "columns": {name: {...}}}``."""
    text = (resources.files("contribux_costs.focus") / "spec_1_3.toml").read_text("utf-8")
    return tomllib.loads(text)


def check_export(
    path: Path | str, applicable: tuple[str, ...] = APPLICABLE_CONDITIONAL
) -> list[Violation]:
    """Every FOCUS 1.3 rule the file at ``path`` (.parquet or .csv) breaks."""
    target = Path(path)
    con = duckdb.connect()
    try:
        quoted = str(target).replace("'", "''")
        # CSV carries no types: read every column as text and let the type rules parse it.
        reader = (
            f"read_parquet('{quoted}')"
            if target.suffix.lower() == ".parquet"
            else f"read_csv('{quoted}', all_varchar = true)"
        )
        con.execute(f"CREATE VIEW focus AS SELECT * FROM {reader}")
        return check_relation(con, "focus", applicable)
    finally:
        con.close()


def check_relation(
    con: duckdb.DuckDBPyConnection, view: str, applicable: tuple[str, ...] = APPLICABLE_CONDITIONAL
) -> list[Violation]:
    """Every rule the table or view ``view`` on ``con`` breaks."""
    columns = {str(r[0]): str(r[1]) for r in con.execute(f'DESCRIBE "{view}"').fetchall()}
    rules: dict[str, dict[str, Any]] = spec_rules()["columns"]
    found = _presence(list(columns), rules, applicable)
    for name, rule in rules.items():
        if name in columns:
            found += _column(con, view, name, columns[name], rule, set(columns))
    return found


def _presence(
    names: list[str], rules: dict[str, dict[str, Any]], applicable: tuple[str, ...]
) -> list[Violation]:
    found = [
        Violation(n, f"{rules[n]['feature_level'].lower()} column is missing")
        for n in rules
        if n not in names and (rules[n]["feature_level"] == "Mandatory" or n in applicable)
    ]
    prefix = spec_rules()["spec"]["custom_column_prefix"]
    found += [
        Violation(n, f"not a FOCUS 1.3 column and not prefixed {prefix!r}")
        for n in names
        if n not in rules and not n.startswith(prefix)
    ]
    custom = [i for i, n in enumerate(names) if n.startswith(prefix)]
    focus = [i for i, n in enumerate(names) if n in rules]
    if custom and focus and min(custom) < max(focus):
        found.append(Violation(names[min(custom)], "custom column placed before FOCUS columns"))
    return found


def _column(
    con: duckdb.DuckDBPyConnection,
    view: str,
    name: str,
    dtype: str,
    rule: dict[str, Any],
    present: set[str],
) -> list[Violation]:
    col = f'"{name}"'
    checks: list[tuple[str, str]] = []
    if not rule["allows_nulls"]:
        checks.append(("MUST NOT be null", f"{col} IS NULL"))
    type_check = _type_check(col, dtype, rule["data_type"])
    if type_check:
        checks.append((f"MUST be of type {rule['data_type']}", type_check))
    if "allowed_values" in rule:
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in rule["allowed_values"])
        checks.append(("MUST be one of the allowed values", f"{col} NOT IN ({values})"))
    for pred in rule.get("null_when", []):
        if _refs(pred) <= present:
            checks.append((f"MUST be null when {pred}", f"({pred}) AND {col} IS NOT NULL"))
    for pred in rule.get("not_null_when", []):
        if _refs(pred) <= present:
            checks.append((f"MUST NOT be null when {pred}", f"({pred}) AND {col} IS NULL"))
    found = []
    for label, bad in checks:
        row = con.execute(f'SELECT count(*) FROM "{view}" WHERE {bad}').fetchone()
        if row and row[0]:
            found.append(Violation(name, label, int(row[0])))
    return found


def _type_check(col: str, dtype: str, spec_type: str) -> str | None:
    """SQL that is true for a row whose value breaks the type, or None when the type decides."""
    if dtype == "VARCHAR" and spec_type == "Decimal":
        return f"{col} IS NOT NULL AND TRY_CAST({col} AS DECIMAL(38, 12)) IS NULL"
    if dtype == "VARCHAR" and spec_type == "Date/Time":
        return f"{col} IS NOT NULL AND NOT regexp_matches({col}, '{_ISO_UTC}')"
    if spec_type == "JSON":
        return f"{col} IS NOT NULL AND coalesce(json_type(TRY_CAST({col} AS JSON)), '') <> 'OBJECT'"
    if dtype == "VARCHAR" or dtype == '"NULL"':
        return None if spec_type == "String" else "false"
    ok = {
        "Decimal": dtype.startswith(_NUMERIC),
        "Date/Time": dtype.startswith("TIMESTAMP"),
        "String": False,
    }.get(spec_type, True)
    return None if ok else "true"


def _refs(predicate: str) -> set[str]:
    return {w for w in re.findall(r"\b[A-Z][A-Za-z]+\b", predicate) if w not in _SQL_WORDS}


_SQL_WORDS = {"IS", "NOT", "NULL", "AND", "OR", "IN", "DISTINCT", "FROM"}
