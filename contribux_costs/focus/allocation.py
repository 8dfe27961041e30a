"""Who spends it: every FOCUS row's environment (``x_environment``) and owner (``x_owner``).

Ordered rules from the config decide both: for each row, the first rule that matches and names an
environment sets the environment, and the first that matches and names an owner sets the owner.
A rule matches on provider, service, charge category, resource (id or name) and tag values
(OpenAI ``project_id``/``api_key_id``, Neon ``source_metric``/branch, Vercel ``Environment``/
``ProjectName``...), each a case-insensitive glob or a list of globs. A row no rule matches is
``"unallocated"``: shown as such, never guessed.

Shared costs (a team-wide plan fee) are then split by ``[[allocation.shared]]`` rules into one row
per target (environment, owner) with FOCUS 1.3's split cost allocation columns
(:mod:`contribux_costs.focus.split`).

The defaults (``focus/allocation.toml``) fit the platform's deployment guide (production, preview
per pull request, staging, development) and common names (``prod``, ``preview``/``pr-``,
``staging``/``stg``, ``dev``). A user config (``CONTRIBUX_COSTS_CONFIG``, table ``[allocation]``)
replaces ``rules``/``shared`` wholesale, or with ``keep_defaults = true`` puts its rules first and
the defaults after them. This module sits in the FOCUS stage so that every build, export and
analysis sees the same columns; the analysis reads the same rules through
:mod:`contribux_costs.analysis.environments`.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contribux_costs.errors import ConfigError

ENVIRONMENTS = ("production", "preview", "staging", "development")
UNALLOCATED = "unallocated"
Patterns = str | list[str]
_TAG_KEY = re.compile(r"^[A-Za-z0-9_]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """What a row must show for a rule to apply (every given field must match)."""

    provider: Patterns | None = None
    service: Patterns | None = None
    category: Patterns | None = None
    resource: Patterns | None = Field(default=None, description="ResourceId or ResourceName")
    tags: dict[str, Patterns] = {}

    @field_validator("tags")
    @classmethod
    def _keys(cls, tags: dict[str, Patterns]) -> dict[str, Patterns]:
        bad = [k for k in tags if not _TAG_KEY.match(k)]
        if bad:
            raise ValueError(f"tag keys may hold letters, digits and _ only: {bad}")
        return tags

    def expr(self) -> pl.Expr:
        """True on the rows this match selects (columns of ``focus_charges``)."""
        parts = [pl.lit(True)]
        for col, pats in (
            ("x_provider", self.provider),
            ("ServiceName", self.service),
            ("ChargeCategory", self.category),
        ):
            if pats is not None:
                parts.append(_glob(pl.col(col), pats))
        if self.resource is not None:
            parts.append(
                _glob(pl.col("ResourceId"), self.resource)
                | _glob(pl.col("ResourceName"), self.resource)
            )
        for key, pats in self.tags.items():
            parts.append(_glob(pl.col("Tags").str.json_path_match(f"$.{key}"), pats))
        return pl.all_horizontal(parts)


class Rule(Match):
    """A match and what it sets."""

    name: str = ""
    environment: str | None = None
    owner: str | None = None

    @model_validator(mode="after")
    def _sets_something(self) -> Rule:
        if self.environment is None and self.owner is None:
            raise ValueError("a rule must set environment, owner or both")
        if self.environment is not None and self.environment not in ENVIRONMENTS:
            raise ValueError(
                f"environment {self.environment!r} is not one of {', '.join(ENVIRONMENTS)}"
            )
        return self


class Target(_Strict):
    environment: str
    owner: str
    share: float | None = Field(default=None, ge=0)


class SharedRule(Match):
    """A shared cost and how it is split: evenly, in proportion to a usage measure of the
    ``basis`` rows per (environment, owner), or by fixed shares."""

    id: str
    method: Literal["even", "proportional", "fixed"]
    measure: Literal["cost", "quantity"] = "cost"
    basis: Match | None = None
    targets: list[Target] = []

    @model_validator(mode="after")
    def _complete(self) -> SharedRule:
        if self.method == "fixed":
            shares = [t.share for t in self.targets]
            if not shares or any(s is None for s in shares):
                raise ValueError("method 'fixed' needs targets, each with a share")
            if abs(sum(s for s in shares if s is not None) - 1.0) > 1e-9:
                raise ValueError("fixed shares must sum to 1")
        if self.method == "proportional" and self.basis is None:
            raise ValueError("method 'proportional' needs a basis (the rows whose usage splits it)")
        if self.method == "even" and not self.targets and self.basis is None:
            raise ValueError("method 'even' needs targets or a basis")
        return self


class AllocationRules(_Strict):
    """The ordered rules and the shared-cost splits."""

    rules: list[Rule] = []
    shared: list[SharedRule] = []

    @cached_property
    def _env_expr(self) -> pl.Expr:
        return _first([(r.expr(), r.environment) for r in self.rules if r.environment])

    @cached_property
    def _owner_expr(self) -> pl.Expr:
        return _first([(r.expr(), r.owner) for r in self.rules if r.owner])

    def label(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (FOCUS columns) with ``x_environment`` and ``x_owner`` set by the rules."""
        if not frame.height:
            return frame.with_columns(
                pl.lit(None, pl.String).alias("x_environment"),
                pl.lit(None, pl.String).alias("x_owner"),
            )
        return frame.with_columns(
            self._env_expr.alias("x_environment"), self._owner_expr.alias("x_owner")
        )

    def environment_of(
        self,
        provider: str,
        resource_id: str,
        resource_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """The environment the rules give a resource known by provider, id, name (and tags)."""
        row = pl.DataFrame(
            {
                "x_provider": [provider],
                "ServiceName": [None],
                "ChargeCategory": [None],
                "ResourceId": [resource_id],
                "ResourceName": [resource_name],
                "Tags": [json.dumps(tags) if tags else None],
            },
            schema=dict.fromkeys(
                ("x_provider", "ServiceName", "ChargeCategory", "ResourceId", "ResourceName"),
                pl.String,
            )
            | {"Tags": pl.String},
        )
        return str(row.select(self._env_expr)[0, 0])


def _first(pairs: list[tuple[pl.Expr, str | None]]) -> pl.Expr:
    if not pairs:
        return pl.lit(UNALLOCATED)
    # Built from the last rule up, so the first matching rule wins.
    out: pl.Expr = pl.lit(UNALLOCATED)
    for cond, value in reversed(pairs):
        out = pl.when(cond).then(pl.lit(value)).otherwise(out)
    return out


def _glob(col: pl.Expr, patterns: Patterns) -> pl.Expr:
    """Case-insensitive whole-value glob match (``*`` any run, ``?`` one character); null never
    matches."""
    pats = [patterns] if isinstance(patterns, str) else patterns
    rx = "|".join(re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in pats)
    return col.str.contains(f"(?i)^(?:{rx})$").fill_null(False)


def default_table() -> dict[str, Any]:
    text = (resources.files("contribux_costs.focus") / "allocation.toml").read_text("utf-8")
    return tomllib.loads(text)


def allocation_rules(override: dict[str, Any] | None = None) -> AllocationRules:
    """The default rules, with an ``[allocation]`` table from a user config applied."""
    data = default_table()
    if override:
        user = dict(override)
        keep = bool(user.pop("keep_defaults", False))
        for key in ("rules", "shared"):
            if key in user:
                data[key] = [*user.pop(key), *data.get(key, [])] if keep else user.pop(key)
        data.update(user)
    try:
        return AllocationRules.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"allocation config [allocation] {where}: {err['msg']}") from None


def load_allocation(path: Path | None = None) -> AllocationRules:
    """Rules from the ``[allocation]`` table of the TOML file ``path`` (the analysis config,
    ``CONTRIBUX_COSTS_CONFIG``) over the defaults; the defaults alone without it."""
    if path is None:
        return allocation_rules()
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("allocation")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the allocation rules in {path}: {exc}") from None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: [allocation] must be a table")
    return allocation_rules(table)
