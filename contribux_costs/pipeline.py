"""Collect, then price: the two stages every collection run needs, in order.

The collect stage never imports pricing or FOCUS; this module runs a collection and then rebuilds
the FOCUS rows of every month it touched, so callers get a priced month in one call.
"""

from __future__ import annotations

import time

from contribux_costs.collect.http import RetryPolicy
from contribux_costs.collect.runner import CollectReport, Progress, SourceResult, is_settled
from contribux_costs.collect.runner import collect as collect_only
from contribux_costs.collect.workspace import Workspace, resolve
from contribux_costs.config import Settings
from contribux_costs.errors import CostsError
from contribux_costs.focus import build_focus
from contribux_costs.focus.allocation import load_allocation
from contribux_costs.periods import Month, Window
from contribux_costs.pricing import load_pricebook
from contribux_costs.store import Store

__all__ = ["collect", "collect_month", "reprice"]


def collect(
    settings: Settings,
    store: Store,
    window: Window,
    only: list[str] | None = None,
    progress: Progress | None = None,
    workspace: Workspace | None = None,
    policy: RetryPolicy | None = None,
) -> CollectReport:
    """Collect ``window`` (as :func:`contribux_costs.collect.runner.collect`) and re-derive the
    FOCUS rows of every month it touched."""
    report = collect_only(settings, store, window, only, progress, workspace, policy)
    reprice(settings, store, window, report)
    return report


def collect_month(
    settings: Settings, store: Store, month: Month, progress: Progress | None = None
) -> CollectReport | None:
    """Collect ``month`` unless it is settled (then only its FOCUS rows are re-priced: None)."""
    ws = resolve(settings)
    if is_settled(store, month, ws.sources, settings.repull_days):
        report = CollectReport("", month.window, ws.demo, {})
        reprice(settings, store, month.window, report)
        return None if report.ok else report
    report = collect_only(settings, store, month.window, progress=progress, workspace=ws)
    reprice(settings, store, month.window, report)
    return report


def reprice(settings: Settings, store: Store, window: Window, report: CollectReport) -> None:
    """Re-derive the FOCUS rows of every month in ``window`` (prices, allowances).

    A pricing failure is reported like a failed source: the collected data stays committed.
    """
    result = SourceResult("focus")
    t0 = time.perf_counter()
    for month in window.months():
        try:
            # The user's negotiated prices (CONTRIBUX_COSTS_PRICES) override the list prices.
            # Environment/owner rules: the [allocation] table of CONTRIBUX_COSTS_CONFIG.
            built = build_focus(
                store,
                month,
                load_pricebook(settings.contribux_costs_prices),
                load_allocation(settings.contribux_costs_config),
            )
            result.windows_ok += 1
            result.rows += built.rows
        except CostsError as exc:
            result.windows_failed += 1
            result.errors.append(f"pricing {month}: {exc}")
    result.seconds = time.perf_counter() - t0
    report.results["focus"] = result
