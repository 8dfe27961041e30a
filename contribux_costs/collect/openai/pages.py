"""OpenAI usage pages → one wide row per result, parsed in bulk by DuckDB.

``json.loads`` builds a Python dict per result and ``pl.from_dicts`` walks them again: about
0.15 M results/s, so a month of minute buckets (~1 M results) took longer than the API calls.
DuckDB's JSON reader parses the page text in C++ and hands Arrow columns over: the page's
structure (the union of every key and type, like ``from_dicts`` with full inference) comes from
``json_structure``, and ``from_json`` + ``unnest`` turn the buckets into rows.

This is a *fast path only*: :func:`fast_usage_page` accepts a page only when it has the documented
envelope and flat scalar results; anything else returns ``None`` and the caller parses the page
with ``json.loads`` and the exact validation, which names the problem (or raises the retryable
``JSONDecodeError`` for a body that is not JSON). Both paths give the same wide frame.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

INTEGERS = frozenset({"UBIGINT", "BIGINT"})
SCALARS = INTEGERS | {"DOUBLE", "VARCHAR", "BOOLEAN", "NULL"}
NUMBERS = INTEGERS | {"DOUBLE", "NULL"}


@dataclass(frozen=True)
class WidePage:
    """A page's results, one row each (``_start``/``_end`` = the bucket), and its cursor."""

    wide: pl.DataFrame
    has_more: bool
    next_page: str | None


def is_count(field: str) -> bool:
    """Token and request counts: they must be numbers (else they would drop out of metrics)."""
    return field.endswith("_tokens") or field.startswith("num_")


def fast_usage_page(body: str) -> WidePage | None:
    """The page parsed by DuckDB, or ``None`` when it needs the exact (slow) validation."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # a big page must not draw on stderr
        con.execute("CREATE TEMP TABLE p AS SELECT ?::VARCHAR AS payload", [body])
        row = _one(con, "SELECT json_structure(payload) FROM p")
        structure = json.loads(row[0]) if row and row[0] else None
        shape = _accepted_shape(structure)
        if shape is None:
            return None
        return _transform(con, shape)
    except duckdb.Error:
        return None  # not JSON, or a value DuckDB cannot type: the exact path says which
    finally:
        con.close()


def _accepted_shape(structure: object) -> dict[str, Any] | None:
    """The structure with integers as BIGINT, when it is the documented usage page."""
    if not isinstance(structure, dict) or structure.get("object") != "VARCHAR":
        return None
    if structure.get("has_more", "NULL") not in ("BOOLEAN", "NULL"):
        return None
    if structure.get("next_page", "NULL") not in ("VARCHAR", "NULL"):
        return None
    data = structure.get("data")
    if not isinstance(data, list) or len(data) != 1:
        return None
    bucket = data[0]
    if bucket == "NULL":  # no bucket at all
        return {**structure, "data": ["NULL"]}
    if not isinstance(bucket, dict):
        return None
    times = (bucket.get("start_time"), bucket.get("end_time"))
    results = bucket.get("results")
    if not all(isinstance(t, str) and t in INTEGERS for t in times):
        return None
    if not isinstance(results, list):
        return None
    result = results[0] if len(results) == 1 else None
    if result != "NULL" and not _flat_result(result):
        return None
    text = json.dumps(structure).replace('"UBIGINT"', '"BIGINT"')
    shape: dict[str, Any] = json.loads(text)
    return shape


def _flat_result(result: object) -> bool:
    if not isinstance(result, dict):
        return False
    for field, kind in result.items():
        if not isinstance(kind, str) or kind not in SCALARS:
            return False
        if is_count(field) and kind not in NUMBERS:
            return False
    return True


def _transform(con: duckdb.DuckDBPyConnection, shape: dict[str, Any]) -> WidePage | None:
    con.execute(
        "CREATE TEMP TABLE j AS SELECT from_json(payload, ?) AS j FROM p", [json.dumps(shape)]
    )
    env = _one(con, "SELECT j.object, j.has_more, j.next_page FROM j")
    if env is None or env[0] != "page" or (env[1] and not env[2]):
        return None
    empty = pl.DataFrame()
    if shape["data"] == ["NULL"]:
        return WidePage(empty, bool(env[1]), env[2] if env[1] else None)
    con.execute("CREATE TEMP TABLE b AS SELECT unnest(j.data) AS b FROM j")
    checked = _one(
        con,
        "SELECT count(*) FILTER (WHERE b IS NULL OR b.results IS NULL OR b.start_time IS NULL "
        "OR b.end_time IS NULL OR len(list_filter(b.results, lambda x: x IS NULL)) > 0), "
        "coalesce(sum(len(b.results)), 0) FROM b",
    )
    if checked is None or checked[0]:
        return None  # a bucket without results/times, or a result that is not an object
    if shape["data"][0]["results"] == ["NULL"]:
        if checked[1]:
            return None
        return WidePage(empty, bool(env[1]), env[2] if env[1] else None)
    wide = con.sql(
        "SELECT unnest(b.results, recursive := true), b.start_time AS _start, b.end_time AS _end "
        "FROM b"
    ).pl()
    return WidePage(wide, bool(env[1]), env[2] if env[1] else None)


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...] | None:
    # duckdb 2: a partly fetched result blocks the connection, so fetch everything.
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else None


@dataclass(frozen=True)
class Envelope:
    """A page's cursor fields, read ahead of its results (to ask for the next page sooner)."""

    has_more: bool
    next_page: str | None


ENVELOPE_SQL = (
    "SELECT json_extract(p, ['$.object', '$.has_more', '$.next_page'])::VARCHAR[] "
    "FROM (SELECT ?::VARCHAR AS p)"
)


def page_envelope(body: str) -> Envelope | None:
    """The documented envelope of a JSON page, or ``None`` when the body is not JSON or the
    envelope is doubtful: the caller then parses the page in full at once, which raises the same
    error as before (retryable or schema). The caller checks it against the full parse."""
    return _tail_envelope(body) or _parsed_envelope(body)


HEAD = re.compile(r'\s*\{\s*"object"\s*:\s*"page"\s*,\s*"data"\s*:\s*\[')


def _tail_envelope(body: str) -> Envelope | None:
    # The API writes {"object":"page","data":[...],"has_more":..,"next_page":..}: what follows
    # the data list's last "]" is read alone (microseconds, not a parse of 46 MB).
    end = body.rfind("]")
    tail = body[end + 1 :].strip()
    if end < 0 or not HEAD.match(body[:200]) or not tail.startswith(","):
        return None
    try:
        fields = json.loads("{" + tail[1:])
    except ValueError:
        return None
    if not isinstance(fields, dict) or set(fields) - {"has_more", "next_page"}:
        return None
    more, cursor = fields.get("has_more", False), fields.get("next_page")
    if not isinstance(more, bool) or not (cursor is None or isinstance(cursor, str)):
        return None
    if more and not cursor:
        return None
    return Envelope(more, cursor if more else None)


def _parsed_envelope(body: str) -> Envelope | None:
    con = duckdb.connect()
    try:
        rows = con.execute(ENVELOPE_SQL, [body]).fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    obj, more, cursor = rows[0][0] if rows and rows[0][0] else (None, None, None)
    if obj != '"page"' or more not in (None, "true", "false"):
        return None
    if cursor not in (None, "null") and not str(cursor).startswith('"'):
        return None
    next_page = json.loads(cursor) if cursor not in (None, "null") else None
    if more == "true" and not next_page:
        return None
    return Envelope(more == "true", next_page if more == "true" else None)
