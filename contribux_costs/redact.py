"""Keep secrets out of messages, logs, stored payloads and reports."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
# Keys whose values are secrets wherever they appear in a provider payload.
SECRET_KEYS = frozenset(
    {
        "password",
        "rest_token",
        "read_only_rest_token",
        "token",
        "api_key",
        "secret",
        "authorization",
    }
)
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value (longest first) and any bearer/basic credential."""
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", mask_values(text, secrets))


def mask_values(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value (longest first); nothing else changes."""
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def drop_secret_keys(obj: object) -> object:
    """A copy of a JSON-like value with every secret-named key removed (recursively)."""
    if isinstance(obj, dict):
        return {k: drop_secret_keys(v) for k, v in obj.items() if k.lower() not in SECRET_KEYS}
    if isinstance(obj, list):
        return [drop_secret_keys(v) for v in obj]
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record it sees."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._secrets)
        record.args = None
        return True
