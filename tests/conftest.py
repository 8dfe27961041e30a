"""Shared test setup: no real credentials, no developer .env, every test in its own directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_CLEARED = (
    "VERCEL_TOKEN",
    "VERCEL_TEAM_ID",
    "OPENAI_ADMIN_KEY",
    "NEON_API_KEY",
    "NEON_ORG_ID",
    "UPSTASH_EMAIL",
    "UPSTASH_API_KEY",
    "DATABASE_URL",
    "CONTRIBUX_COSTS_DB",
    "CONTRIBUX_COSTS_PRICES",
    "CONTRIBUX_COSTS_CONFIG",
    "BILLING_CURRENCY",
    "PAGE_BUDGET_FACTOR",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear provider credentials/URLs (any case) and run from a tmp dir so no .env is read."""
    for name in list(os.environ):
        upper = name.upper()
        if upper in _CLEARED or upper.endswith("_API_URL"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def focus_exports_conform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every FOCUS file any test writes is checked against the vendored FOCUS 1.3 rules."""
    from contribux_costs.focus import export
    from contribux_costs.focus.conformance import check_export

    real = export.write

    def checked(store: object, query: str, tmp: Path, fmt: str) -> None:
        real(store, query, tmp, fmt)  # type: ignore[arg-type]
        # The temp name ends in .tmp: check it under its real suffix's reader.
        suffix = Path(tmp.name.removesuffix(".tmp")).suffix
        probe = tmp.with_name(f"probe{suffix}")
        probe.hardlink_to(tmp)
        try:
            problems = check_export(probe)
        finally:
            probe.unlink()
        assert not problems, "FOCUS 1.3 conformance: " + "; ".join(map(str, problems))

    monkeypatch.setattr(export, "write", checked)
