"""Settings, read once at the edge (CLI, notebook parameters) and passed down.

Credentials are :class:`pydantic.SecretStr`: their values print as ``**********`` and are only
unwrapped inside the HTTP client factory / the Postgres connector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Provider = Literal["openai", "vercel", "neon", "upstash"]
PROVIDERS: tuple[Provider, ...] = ("openai", "vercel", "neon", "upstash")

DEFAULT_DB = Path("data/contribux_costs.duckdb")


class Settings(BaseSettings):
    """Every environment variable the package reads (see ``.env.example``)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    vercel_token: SecretStr | None = None
    vercel_team_id: str | None = None
    openai_admin_key: SecretStr | None = None
    neon_api_key: SecretStr | None = None
    neon_org_id: str | None = None
    upstash_email: str | None = None
    upstash_api_key: SecretStr | None = None
    database_url: SecretStr | None = None

    vercel_api_url: str = "https://api.vercel.com"
    openai_api_url: str = "https://api.openai.com/v1"
    neon_api_url: str = "https://console.neon.tech/api/v2"
    upstash_api_url: str = "https://api.upstash.com/v2"

    contribux_costs_db: Path = DEFAULT_DB
    # Optional TOML files: negotiated prices and analysis thresholds/budgets/alert rules.
    contribux_costs_prices: Path | None = None
    contribux_costs_config: Path | None = None
    # Where alert messages link to: a URL or path, ``{month}`` replaced (default: the local
    # reports/<month>/report.html).
    report_url: str | None = None

    http_timeout_s: float = Field(default=30.0, gt=0)
    http_max_tries: int = Field(default=5, ge=1, le=20)
    # Trailing days re-pulled on every run: providers restate recent periods.
    repull_days: int = Field(default=3, ge=0, le=31)
    # The billing account's currency (ISO 4217): a provider row in another currency fails its
    # window instead of being added into these totals.
    billing_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # Pages one cursor walk may take per window, as a multiple of the pages the window needs at
    # the provider's page size (a server that never ends its cursor stops there, with one line).
    page_budget_factor: float = Field(default=4.0, ge=1.0, le=1000.0)

    @field_validator("billing_currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    def configured(self) -> list[Provider]:
        """Providers with credentials present. Empty means: use the demo workspace."""
        out: list[Provider] = []
        if self.openai_admin_key:
            out.append("openai")
        if self.vercel_token:
            out.append("vercel")
        if self.neon_api_key:
            out.append("neon")
        if self.upstash_email and self.upstash_api_key:
            out.append("upstash")
        return out

    @property
    def is_demo(self) -> bool:
        return not self.configured() and self.database_url is None

    def secret_values(self) -> list[str]:
        """Every secret string, for redaction of messages, logs and stored payloads."""
        vals: list[str] = []
        for name in ("vercel_token", "openai_admin_key", "neon_api_key", "upstash_api_key"):
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value():
                vals.append(secret.get_secret_value())
        if self.database_url is not None:
            vals.extend(_url_secrets(self.database_url.get_secret_value()))
        return vals


def _url_secrets(url: str) -> list[str]:
    """The password of a connection URL, and the URL itself (it embeds the password)."""
    from urllib.parse import urlsplit

    out = [url]
    try:
        pw = urlsplit(url).password
    except ValueError:
        pw = None
    if pw:
        out.append(pw)
    return out


CREDENTIALS = (
    "vercel_token",
    "openai_admin_key",
    "neon_api_key",
    "upstash_email",
    "upstash_api_key",
    "database_url",
)


def demo_settings(base: Settings | None = None) -> Settings:
    """``base`` (or the environment) with every credential removed: the demo workspace, whatever
    the environment or ``.env`` holds."""
    values = (base or load_settings()).model_dump()
    return Settings.model_validate({**values, **dict.fromkeys(CREDENTIALS)})


def load_settings(**overrides: object) -> Settings:
    """Read the environment and ``.env`` (in the working directory). Overrides win."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        from contribux_costs.errors import ConfigError

        where = Path(".env").resolve()
        raise ConfigError(
            f"{where} is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}): save it as UTF-8"
        ) from None
