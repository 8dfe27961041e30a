"""Plotly figures as self-contained HTML for notebooks and reports.

Why not plotly's renderers: the default renderer emits a JSON mimetype that nbconvert drops, and
``notebook_connected`` loads plotly.js from a CDN (a blank chart offline). :class:`FigureEmitter`
inlines plotly.js with the first figure of a page only, and never adds MathJax.

Which plotly.js: the vendored *basic* bundle (``assets/plotly-basic.min.js``: scatter and bar, all
the report draws; 1.2 MB instead of 4.8 MB), so a page fits in 2 MB fully offline. Titles are
HTML above the chart (they wrap on a phone and the toolbar never covers them); legends sit under
the plot, axes use automatic margins so labels stay inside the chart.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import polars as pl

PROVIDER_COLORS = {
    "openai": "#10a37f",
    "vercel": "#0f172a",
    "neon": "#7c3aed",
    "upstash": "#f59e0b",
    "postgres": "#336791",
}
# Twelve distinct colours: a chart with one line per database (11 in the demo) repeats none.
PALETTE = [
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4",
    "#84cc16", "#f97316", "#ec4899", "#64748b", "#a16207", "#0f766e",
]  # fmt: skip


PLOTLY_JS = Path(__file__).parent / "assets" / "plotly-basic.min.js"
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


class FigureEmitter:
    """Turns figures into HTML fragments; plotly.js is included in the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any, div_id: str | None = None) -> str:
        first = self.count == 0
        self.count += 1
        title = fig.layout.title.text or ""
        fig.update_layout(title_text="")
        html: str = fig.to_html(
            full_html=False, include_plotlyjs=False, include_mathjax=False, config=CONFIG,
            div_id=div_id,
        )  # fmt: skip
        lib = f"<script>{PLOTLY_JS.read_text(encoding='utf-8')}</script>" if first else ""
        head = f'<div class="cc-chart-title">{escape(title)}</div>' if title else ""
        return f'{lib}<div class="cc-chart">{head}{html}</div>'

    def show(self, fig: Any) -> None:
        from IPython.display import HTML, display

        display(HTML(self.html(fig)))


def stacked_daily(frame: pl.DataFrame, x: str, y: str, color: str, title: str, y_title: str) -> Any:
    """A stacked bar chart of ``y`` per ``x`` split by ``color`` (one trace per group)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    groups = sorted(frame[color].unique().to_list()) if frame.height else []
    for i, key in enumerate(groups):
        part = frame.filter(pl.col(color) == key).sort(x)
        fig.add_trace(
            go.Bar(
                x=part[x].to_list(),
                y=part[y].to_list(),
                name=str(key),
                marker_color=PROVIDER_COLORS.get(str(key), PALETTE[i % len(PALETTE)]),
            )
        )
    fig.update_layout(
        barmode="stack",
        title=title,
        yaxis_title=y_title,
        template="plotly_white",
        height=420,
    )
    return _compact(fig)


def _layout(fig: Any, title: str, y_title: str, x_title: str, height: int = 400) -> Any:
    fig.update_layout(
        title=title,
        yaxis_title=y_title,
        xaxis_title=x_title,
        template="plotly_white",
        height=height,
    )
    return _compact(fig)


def _compact(fig: Any) -> Any:
    """Legend under the plot (a phone has no width to spare beside it), automatic margins so
    tick labels and axis titles stay inside the chart, room above for the toolbar only. Date
    axes carry no title (the dates say it; days are UTC, as the report says).

    The legend is anchored to the bottom of the figure (``yref="container"``): plotly then
    reserves its height below the tick labels, so it can neither overlap them nor leave the
    chart however many rows it wraps onto. On a page, ``drill.js`` grows the figure by the
    legend's height at the width it is shown at (``fitLegend``), so the plot keeps its height
    and the legend shows every entry (11 Upstash databases on a 420 px phone)."""
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
        legend={
            "orientation": "h",
            "yref": "container",
            "yanchor": "bottom",
            "y": 0,
            "xanchor": "left",
            "x": 0,
        },
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True, rangemode="tozero")  # costs and usage start at zero
    return fig


def lines(
    frame: pl.DataFrame,
    x: str,
    y: str,
    color: str,
    title: str,
    y_title: str,
    percent: bool = False,
) -> Any:
    """One line per ``color`` group (e.g. hit ratio per cache, CU-hours per project)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    groups = sorted(frame[color].unique().to_list()) if frame.height else []
    for i, key in enumerate(groups):
        part = frame.filter(pl.col(color) == key).sort(x)
        fig.add_trace(
            go.Scatter(
                x=part[x].to_list(),
                y=part[y].to_list(),
                name=str(key),
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
                marker={"size": 4},
            )
        )
    # Usage and ratios start at zero: an axis from 6 makes a small change look like a cliff.
    fig.update_yaxes(rangemode="tozero", **({"tickformat": ".0%"} if percent else {}))
    return _layout(fig, title, y_title, "")


def forecast_band(
    history: pl.DataFrame, points: pl.DataFrame, title: str, partial: pl.DataFrame | None = None
) -> Any:
    """Actual daily cost, then the forecast with its prediction interval as a shaded band;
    ``partial`` (an open month's today, still growing) is a hollow marker, not part of the line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history["date"].to_list(),
            y=history["value"].to_list(),
            name="actual",
            mode="lines",
            line={"color": "#111827"},
        )
    )
    if points.height:
        x = points["date"].to_list()
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=points["upper"].to_list() + points["lower"].to_list()[::-1],
                fill="toself",
                fillcolor="rgba(37,99,235,0.15)",
                line={"width": 0},
                name="80% interval",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=points["point"].to_list(),
                name="forecast",
                mode="lines",
                line={"color": "#2563eb", "dash": "dash"},
            )
        )
    if partial is not None and partial.height:
        fig.add_trace(
            go.Scatter(
                x=partial["date"].to_list(),
                y=partial["value"].to_list(),
                name="today (partial)",
                mode="markers",
                marker={"color": "#111827", "symbol": "circle-open", "size": 9},
            )
        )
    return _layout(fig, title, "USD per day", "")


def hbar(frame: pl.DataFrame, label: str, value: str, title: str, x_title: str) -> Any:
    """Horizontal bars, largest on top (e.g. cost by model)."""
    import plotly.graph_objects as go

    part = frame.sort(value)
    fig = go.Figure(
        go.Bar(
            x=part[value].to_list(),
            y=part[label].to_list(),
            orientation="h",
            marker_color=PALETTE[0],
            text=[f"${v:,.2f}" for v in part[value].to_list()],
            textposition="outside",
            cliponaxis=False,
        )
    )
    return _layout(fig, title, "", x_title, height=max(260, 50 * part.height + 120))
