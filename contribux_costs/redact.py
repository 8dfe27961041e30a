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


# A provider may echo part of a key (``vercel-LEAKCHECK-4**`` in a 403 body): any run of this
# many characters or more taken from a secret is masked, not only the whole value.
FRAGMENT = 8


def mask_values(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value and every fragment of ``FRAGMENT`` or more characters
    of one (a run of overlapping fragments is masked as one); nothing else changes."""
    values = {s for s in secrets if s and len(s) >= 4}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    # A connection URL is masked whole; its password is listed on its own and masked in parts,
    # but its host and database name are not secrets and stay readable.
    keys = [v for v in values if "://" not in v]
    grams = sorted({v[i : i + FRAGMENT] for v in keys for i in range(len(v) - FRAGMENT + 1)})
    if not grams or not _contains_any(text, grams):
        return text
    spans: list[tuple[int, int]] = []
    for gram in grams:
        at = text.find(gram)
        while at >= 0:
            spans.append((at, at + FRAGMENT))
            at = text.find(gram, at + 1)
    return _mask_spans(text, spans)


def _contains_any(text: str, grams: list[str]) -> bool:
    """Whether ``text`` holds any of ``grams``: one Aho-Corasick pass (polars, in Rust), so a
    raw page of hundreds of MB without a secret costs one scan, not one per fragment."""
    if len(text) < 4096:
        return any(g in text for g in grams)
    import polars as pl  # the store and collectors load it anyway; messages stay light

    return bool(pl.Series([text]).str.contains_any(grams).item())


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end in _merged(spans):
        out += [text[pos:start], MASK]
        pos = end
    return "".join([*out, text[pos:]])


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


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
