"""One error tree for the package; foreign exceptions are translated at the boundary.

Translation uses ``raise … from`` so the cause stays available for debugging.

    CostsError                      base: every error the package raises on purpose
    ├── ConfigError                 bad or missing configuration / user input (month, paths, rules)
    ├── CollectError                a provider call failed (provider, endpoint, status)
    │   └── SchemaError             a provider answered, but not in the shape we expect
    ├── StoreError                  the DuckDB store could not be opened, migrated or written
    ├── PricingError                a price lookup or price-book file is wrong
    └── ReportError                 a notebook failed or a report could not be published

Messages say what failed, where, and what to do next. They never contain secrets: every message
passes through :func:`contribux_costs.redact.redact` before it reaches a user.
"""

from __future__ import annotations


class CostsError(Exception):
    """Base class of every error raised on purpose by contribux-costs."""


class ConfigError(CostsError):
    """Configuration or user input is invalid (names the bad value and the fix)."""


class CollectError(CostsError):
    """A provider request failed after the retry policy gave up."""

    def __init__(
        self, provider: str, endpoint: str, message: str, status: int | None = None
    ) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.status = status
        where = f"{provider} {endpoint}"
        if status is not None:
            where += f" (HTTP {status})"
        super().__init__(f"{where}: {message}")


class SchemaError(CollectError):
    """A provider response did not have the documented shape."""


class StoreError(CostsError):
    """The DuckDB store failed (open, migrate, write)."""


class PricingError(CostsError):
    """The price book is invalid or a lookup is impossible."""


class ReportError(CostsError):
    """Rendering or publishing a report failed."""
