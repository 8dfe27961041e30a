"""Plotly figures as self-contained HTML for notebooks and reports.

Why not plotly's renderers: the default renderer emits a JSON mimetype that nbconvert drops, and
``notebook_connected`` loads plotly.js from a CDN (a blank chart offline). :class:`FigureEmitter`
inlines plotly.js with the first figure of a page only, and never adds MathJax.
"""

from __future__ import annotations

from typing import Any

import polars as pl

PROVIDER_COLORS = {
    "openai": "#10a37f",
    "vercel": "#111827",
    "neon": "#00a37a",
    "upstash": "#e11d48",
    "postgres": "#336791",
}
PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#f97316"]


class FigureEmitter:
    """Turns figures into HTML fragments; plotly.js is included in the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any) -> str:
        first = self.count == 0
        self.count += 1
        html: str = fig.to_html(
            full_html=False,
            include_plotlyjs=first,
            include_mathjax=False,
            config={"displaylogo": False, "responsive": True},
        )
        return html

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
        xaxis_title="day (UTC)",
        template="plotly_white",
        height=420,
        legend_title_text=color,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    return fig
