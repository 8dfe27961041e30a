"""Shared helpers for the report tests: a demo database and an offline browser check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from contribux_costs.config import Settings
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import open_store

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXTERNAL_LOAD = re.compile(
    r"<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)


def demo_db(path: Path, months: tuple[str, ...] = ("2024-12", "2025-01")) -> Path:
    """Collect the demo workspace for ``months`` into a fresh database."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with open_store(path) as store:
        for m in months:
            report = collect(settings, store, Month.parse(m).window)
            assert report.ok, report.summary_lines()
    return path


@dataclass
class PageCheck:
    plots: int = 0
    plots_with_traces: int = 0
    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def open_offline(html: Path, screenshot: Path) -> PageCheck:
    """Open a report in headless Chromium; record every request leaving the file, and errors."""
    from playwright.sync_api import sync_playwright

    check = PageCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2000})
        page.on("request", lambda r: _outside(r.url, check))
        page.on(
            "console", lambda m: check.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: check.console_errors.append(str(e)))
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        check.plots = page.locator(".js-plotly-plot").count()
        check.plots_with_traces = page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')]"
            ".filter(d => d.querySelector('svg.main-svg') && d.data && d.data.length > 0"
            " && d.querySelectorAll('.trace').length > 0).length"
        )
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return check


def _outside(url: str, check: PageCheck) -> None:
    if not url.startswith(("file:", "data:", "blob:", "about:")):
        check.outside_requests.append(url)
