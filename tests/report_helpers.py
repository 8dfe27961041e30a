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


def _outside(url: str, check: PageCheck | DrillCheck) -> None:
    if not url.startswith(("file:", "data:", "blob:", "about:")):
        check.outside_requests.append(url)


# Every chart's traces and every table's visible rows, by widget id (the drill-down's widgets).
_SIGNATURES = """() => {
  const out = {};
  for (const w of JSON.parse(document.getElementById('cc-data').textContent).widgets) {
    const el = document.getElementById(w.id);
    if (!el) { out[w.id] = 'missing'; continue; }
    out[w.id] = w.type === 'chart'
      ? JSON.stringify((el.data || []).map(t => [t.name, t.x, t.y]))
      : [...el.tBodies[0].rows].filter(r => !r.hidden).map(r => r.textContent).join('|');
  }
  return out;
}"""
# Charts and tables on the page that no drill-down widget owns (must be none).
_UNOWNED = """() => {
  const data = JSON.parse(document.getElementById('cc-data').textContent);
  const ids = new Set(data.widgets.map(w => w.id));
  const all = [...document.querySelectorAll('.js-plotly-plot, table.cc')];
  return all.filter(e => !ids.has(e.id)).length;
}"""
# Legends and axis titles drawn outside their chart's box (phone layout), legends that overlap
# the tick labels or hide entries behind a scrollbar, and page overflow.
_OUTSIDE = """() => {
  const bad = [];
  for (const div of document.querySelectorAll('.js-plotly-plot')) {
    const box = div.getBoundingClientRect();
    const lg = div._fullLayout.legend;
    if (div._fullLayout.showlegend && lg && lg._height > lg._effHeight + 1)
      bad.push(div.id + ' legend scrolls');
    for (const part of div.querySelectorAll('.legend, .xtitle, .ytitle, .gtitle')) {
      const r = part.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
          || r.bottom > box.bottom + 1)) bad.push(div.id + ' ' + part.getAttribute('class'));
    }
    const legend = div.querySelector('.legend'), x = div.querySelector('.xtick');
    const ticks = [...div.querySelectorAll('.xtick, .xtitle')].map(e => e.getBoundingClientRect());
    if (legend && x) {
      const l = legend.getBoundingClientRect();
      if (ticks.some(t => t.bottom > l.top + 1 && t.top < l.bottom)) bad.push(div.id + ' overlap');
    }
  }
  return bad;
}"""


@dataclass
class DrillCheck:
    widgets: int = 0
    unowned: int = 0
    unchanged: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    date_unchanged: list[str] = field(default_factory=list)
    outside_box: list[str] = field(default_factory=list)
    page_overflow: int = 0
    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def drill_check(html: Path, width: int, screenshot: Path) -> DrillCheck:
    """Open a report at ``width`` px, pick each provider in the filter bar in turn (as a person
    would) and record which charts and tables never changed; reset; narrow the dates."""
    from playwright.sync_api import sync_playwright

    check = DrillCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 1200})
        page.on("request", lambda r: _outside(r.url, check))  # type: ignore[arg-type]
        page.on(
            "console", lambda m: check.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: check.console_errors.append(str(e)))
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        base = page.evaluate(_SIGNATURES)
        check.widgets, check.unowned = len(base), page.evaluate(_UNOWNED)
        check.outside_box = page.evaluate(_OUTSIDE)
        check.page_overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        changed: set[str] = set()
        provider = "#cc-filters select[data-dim=provider]"
        for value in ("openai", "neon"):
            page.select_option(provider, value)
            page.wait_for_timeout(200)
            now = page.evaluate(_SIGNATURES)
            changed |= {k for k in base if now[k] != base[k]}
        page.screenshot(path=str(screenshot), full_page=True)
        check.unchanged = sorted(set(base) - changed)
        page.click("#cc-filters button")  # reset
        page.wait_for_timeout(200)
        back = page.evaluate(_SIGNATURES)
        check.not_restored = sorted(k for k in base if back[k] != base[k])
        page.evaluate(
            "() => { const to = document.querySelector('#cc-filters input[data-dim=to]');"
            " to.value = to.value.slice(0, 8) + '10';"
            " to.dispatchEvent(new Event('change', {bubbles: true})); }"
        )
        page.wait_for_timeout(200)
        dated = page.evaluate(_SIGNATURES)
        data = page.evaluate("() => JSON.parse(document.getElementById('cc-data').textContent)")
        with_dates = [
            w["id"]
            for w in data["widgets"]
            if w["type"] == "chart" and "date" not in (w.get("ignore") or [])
        ]
        check.date_unchanged = [k for k in with_dates if dated[k] == base[k]]
        browser.close()
    return check
