"""Dated price book (shipped TOML + user override), lookups, and bulk pricing of tidy usage."""

from contribux_costs.pricing.book import Meter, PriceBook, PriceEntry, load_pricebook
from contribux_costs.pricing.findings import DataQualityFinding, findings_frame
from contribux_costs.pricing.rate import price_usage

__all__ = [
    "DataQualityFinding",
    "Meter",
    "PriceBook",
    "PriceEntry",
    "findings_frame",
    "load_pricebook",
    "price_usage",
]
