"""Read errors from psycopg become CollectErrors that say what to do (and never the DSN)."""

from __future__ import annotations

import psycopg
from pydantic import SecretStr

from contribux_costs.collect.postgres.collector import NOT_PRELOADED, STATEMENTS, LiveSource

DSN = "postgresql://app:Pw-Secret-7731@ep-x.neon.tech:5433/contribux?sslmode=require"


def source() -> LiveSource:
    return LiveSource(SecretStr(DSN), [DSN, "Pw-Secret-7731"], statement_timeout_ms=30_000)


def test_not_preloaded() -> None:
    exc = psycopg.errors.ObjectNotInPrerequisiteState(
        'pg_stat_statements must be loaded via "shared_preload_libraries"'
    )
    err = source().query_error(STATEMENTS, exc)
    assert str(err) == f"postgres pg_stat_statements: {NOT_PRELOADED}"


def test_statement_timeout() -> None:
    exc = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    assert "longer than 30000 ms" in str(source().query_error(STATEMENTS, exc))


def test_privilege_error_names_the_grant_and_redacts() -> None:
    exc = psycopg.errors.InsufficientPrivilege(f"permission denied (dsn {DSN})")
    text = str(source().query_error(STATEMENTS, exc))
    assert "GRANT pg_read_all_stats" in text
    assert "Pw-Secret-7731" not in text and "app:" not in text


def test_other_errors_keep_the_first_line_only_redacted() -> None:
    exc = psycopg.OperationalError("server closed the connection Pw-Secret-7731\nDETAIL: x")
    text = str(source().query_error(STATEMENTS, exc))
    assert (
        text == "postgres pg_stat_statements: reading pg_stat_statements failed: "
        "server closed the connection ***"
    )


def test_host_for_messages_has_no_credentials() -> None:
    assert source().host() == "ep-x.neon.tech:5433"
    assert LiveSource(SecretStr("host=h junk"), []).host() == "(unparsable DATABASE_URL)"
