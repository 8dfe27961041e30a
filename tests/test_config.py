"""Settings and redaction: credentials never reach a message, log, table or report."""

from __future__ import annotations

import logging
from pathlib import Path

import pydantic
import pytest

from contribux_costs.config import Settings, load_settings
from contribux_costs.redact import MASK, RedactingFilter, drop_secret_keys, redact

KEY = "sk-admin-PLANTED-SECRET-123"
PG_PASSWORD = "pg-PLANTED-pw-456"
PG_URL = f"postgresql://app:{PG_PASSWORD}@ep-x.neon.tech/contribux?sslmode=require"


def test_the_test_environment_is_clean() -> None:
    settings = Settings()
    assert settings.is_demo and settings.configured() == [] and settings.secret_values() == []


def test_secrets_never_appear_in_repr_str_or_dumps() -> None:
    settings = Settings(
        openai_admin_key=KEY,  # type: ignore[arg-type]
        upstash_email="dev@example.com",
        upstash_api_key="upstash-PLANTED-789",  # type: ignore[arg-type]
        database_url=PG_URL,  # type: ignore[arg-type]
    )
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    for text in shown:
        assert "PLANTED" not in text
    assert settings.openai_admin_key is not None
    assert settings.openai_admin_key.get_secret_value() == KEY


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    (tmp_path / ".env").write_text("NEON_API_KEY=neon-key-123456\nHTTP_MAX_TRIES=2\n")
    settings = load_settings()
    assert settings.configured() == ["openai", "neon"]
    assert settings.http_max_tries == 2 and not settings.is_demo
    assert load_settings(http_max_tries=4).http_max_tries == 4  # overrides win


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # A blank line copied from .env.example must not switch the demo off with an empty key.
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "")
    monkeypatch.setenv("OPENAI_API_URL", "")
    settings = Settings()
    assert settings.is_demo and settings.openai_api_url == "https://api.openai.com/v1"


def test_upstash_needs_both_email_and_key() -> None:
    assert Settings(upstash_email="dev@example.com").configured() == []
    both = Settings(upstash_email="a@b.c", upstash_api_key="k-123456")  # type: ignore[arg-type]
    assert both.configured() == ["upstash"]


def test_database_url_alone_leaves_demo_mode() -> None:
    settings = Settings(database_url=PG_URL)  # type: ignore[arg-type]
    assert settings.configured() == [] and not settings.is_demo
    assert set(settings.secret_values()) == {PG_URL, PG_PASSWORD}


@pytest.mark.parametrize(("name", "bad"), [("http_max_tries", 0), ("repull_days", 40)])
def test_out_of_range_numbers_are_refused(name: str, bad: int) -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings(**{name: bad})  # type: ignore[arg-type]


# -- redaction ---------------------------------------------------------------------------------
def test_redact_masks_known_values_longest_first() -> None:
    text = redact(f"key {KEY} and its prefix sk-admin-PLANTED", [KEY, "sk-admin-PLANTED"])
    assert text == f"key {MASK} and its prefix {MASK}"


def test_redact_masks_bearer_and_basic_credentials_it_was_not_told_about() -> None:
    text = redact("Authorization: Bearer abc.DEF-123_xyz sent; Basic dXNlcjpwYXNz too")
    assert text == f"Authorization: Bearer {MASK} sent; Basic {MASK} too"


def test_redact_ignores_tiny_or_empty_secrets() -> None:
    # Masking "a" or "" would shred every message; 4+ characters is the floor.
    assert redact("a cat sat", ["a", "", "cat"]) == "a cat sat"
    assert redact("a cats sat", ["cats"]) == f"a {MASK} sat"


def test_drop_secret_keys_recursively_and_case_insensitively() -> None:
    payload = {
        "databases": [
            {"database_id": "db1", "password": "p", "REST_TOKEN": "t", "read_only_rest_token": "r"},
            {"database_id": "db2", "nested": {"api_key": "k", "Authorization": "x", "ok": 1}},
        ],
        "token": "tok",
    }
    assert drop_secret_keys(payload) == {
        "databases": [{"database_id": "db1"}, {"database_id": "db2", "nested": {"ok": 1}}]
    }
    assert payload["token"] == "tok"  # the input is not modified


def test_redacting_filter_masks_log_records(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("contribux_costs.test")
    log.addFilter(RedactingFilter([KEY]))
    try:
        with caplog.at_level(logging.INFO, logger="contribux_costs.test"):
            log.info("calling with %s", KEY)
    finally:
        log.filters.clear()
    assert caplog.messages == [f"calling with {MASK}"]
