"""Rendering: offline HTML, atomic publish, named failing cell, index, browser check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from contribux_costs.errors import ReportError
from contribux_costs.periods import Month
from contribux_costs.report.render import render_month
from tests.report_helpers import (
    CHROMIUM,
    EXTERNAL_LOAD,
    REPO,
    demo_db,
    drill_check,
    open_offline,
)

JAN = Month.parse("2025-01")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("render")
    db = demo_db(base / "demo.duckdb")
    render_month(JAN, db, base / "reports")
    return db, base / "reports"


def test_report_is_self_contained_and_labelled(rendered: tuple[Path, Path]) -> None:
    _, reports = rendered
    html = (reports / "2025-01" / "report.html").read_text(encoding="utf-8")
    assert EXTERNAL_LOAD.search(html) is None
    # (plotly.js itself contains a topojson CDN default, used only by geo maps: not a load)
    assert "require.min.js" not in html and "mathjax" not in html.lower().split("<body")[0]
    assert html.count("DEMO DATA") >= 1
    assert "2025-01" in html
    assert (reports / "2025-01" / "report.html").stat().st_size < 6_000_000
    # plotly.js inlined exactly once
    assert html.count("plotly.js v") <= 2 and html.count("Plotly.newPlot") >= 1


def test_index_lists_month_with_total(rendered: tuple[Path, Path]) -> None:
    _, reports = rendered
    facts = json.loads((reports / "2025-01" / "summary.json").read_text())
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert facts["demo"] is True and facts["partial"] is False
    assert float(facts["total_usd"]) > 0
    assert f"${float(facts['total_usd']):,.2f}" in index
    assert 'href="2025-01/report.html"' in index and 'href="2025-01/cache.html"' in index


def _failing_notebooks(tmp: Path) -> Path:
    nb_dir = tmp / "nbs"
    nb_dir.mkdir()
    nb = nbformat.read(str(REPO / "notebooks" / "report.ipynb"), as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('boom in the third cell')"))
    nbformat.write(nb, str(nb_dir / "report.ipynb"))
    return nb_dir


def test_failing_notebook_names_cell_and_keeps_previous_report(
    rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    db, reports = rendered
    out = tmp_path / "reports"
    shutil.copytree(reports, out)
    before = (out / "2025-01" / "report.html").read_bytes()
    with pytest.raises(ReportError) as err:
        render_month(JAN, db, out, notebook_dir=_failing_notebooks(tmp_path))
    message = str(err.value)
    assert "cell 3 " in message and "RuntimeError" in message and "boom" in message
    assert "raise RuntimeError" in message  # the cell's first line, to find it
    assert (out / "2025-01" / "report.html").read_bytes() == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_rerender_replaces_month_atomically(rendered: tuple[Path, Path], tmp_path: Path) -> None:
    db, reports = rendered
    out = tmp_path / "reports"
    shutil.copytree(reports, out)
    (out / "2025-01" / "stale.html").write_text("old")
    render_month(JAN, db, out)
    assert not (out / "2025-01" / "stale.html").exists()
    assert (out / "2025-01" / "report.html").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_month_without_data_is_a_clear_error(rendered: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = rendered
    with pytest.raises(
        ReportError, match=r"no collected data for 2023-05.*collect --month 2023-05"
    ):
        render_month(Month.parse("2023-05"), db, tmp_path / "r")
    assert not (tmp_path / "r" / "2023-05").exists()


@pytest.mark.browser
@pytest.mark.parametrize(("page", "min_plots"), [("report", 6), ("cache", 2)])
def test_report_draws_offline_in_chromium(
    rendered: tuple[Path, Path], tmp_path: Path, page: str, min_plots: int
) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required (.ci/run installs it)"
    _, reports = rendered
    shot = tmp_path / f"{page}.png"  # kept in the test's temp dir for a person to look at
    check = open_offline(reports / "2025-01" / f"{page}.html", shot)
    assert check.plots >= min_plots
    assert check.plots_with_traces == check.plots
    assert check.outside_requests == []
    assert check.console_errors == []
    assert shot.stat().st_size > 10_000


def test_every_report_page_is_small_and_offline(rendered: tuple[Path, Path]) -> None:
    _, reports = rendered
    pages = sorted((reports / "2025-01").glob("*.html"))
    assert [p.stem for p in pages] == ["cache", "report"]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert page.stat().st_size < 6_000_000
        assert EXTERNAL_LOAD.search(html) is None
        assert html.count("Plotly.newPlot") >= 2 and "DEMO DATA" in html


def test_explore_notebook_runs_under_papermill(rendered: tuple[Path, Path], tmp_path: Path) -> None:
    import papermill as pm

    db, _ = rendered
    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks" / "explore.ipynb"),
        str(out),
        parameters={"month": "2025-01", "db_path": str(db)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO / "notebooks"),
    )
    executed = nbformat.read(str(out), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = str(outputs)
    assert "focus_charges" in text and "usage" in text


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 420])
@pytest.mark.parametrize("page", ["report", "cache"])
def test_a_filter_changes_every_chart_and_table_offline(
    rendered: tuple[Path, Path], tmp_path: Path, page: str, width: int
) -> None:
    """Done-when of issue 17: pick a provider in the filter bar and every chart and table on the
    page follows (each changes under one of two providers and comes back on reset), dates narrow
    every dated chart, at desktop and phone width, offline, without a console error."""
    _, reports = rendered
    shot = tmp_path / f"{page}-{width}.png"  # kept for a person to look at
    check = drill_check(reports / "2025-01" / f"{page}.html", width, shot)
    assert check.widgets >= (12 if page == "report" else 5)
    assert check.unowned == 0  # every chart and table on the page is a drill-down widget
    assert check.unchanged == []
    assert check.not_restored == []
    assert check.date_unchanged == []
    assert check.outside_requests == [] and check.console_errors == []
    assert check.outside_box == []  # legends and axis titles inside their chart
    assert check.page_overflow <= 0  # wide tables scroll inside their box, not the page


def test_pages_fit_in_two_megabytes(rendered: tuple[Path, Path]) -> None:
    _, reports = rendered
    for page in sorted((reports / "2025-01").glob("*.html")):
        assert page.stat().st_size <= 2_000_000, (page.name, page.stat().st_size)


def test_pages_keep_room_under_two_megabytes(rendered: tuple[Path, Path]) -> None:
    """The demo month leaves real headroom (a workspace with more resources, models and owners
    embeds more drill rows): text columns are dictionary-encoded and the notebook stylesheet
    keeps only the rules the page can use."""
    _, reports = rendered
    for page in sorted((reports / "2025-01").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        assert page.stat().st_size <= 1_750_000, (page.name, page.stat().st_size)
        assert '"dict":[' in html and ".jp-Dialog" not in html  # JupyterLab's dialog CSS


@pytest.mark.browser
def test_budget_line_and_allocation_pivots_follow_the_filters(
    rendered: tuple[Path, Path],
) -> None:
    """The burn-down's budget line is the budget of exactly the selection (none where no budget
    matches); the environment pivot keeps "unallocated" and its total is the rows shown."""
    from playwright.sync_api import sync_playwright

    from tests.report_helpers import CHROMIUM_ARGS

    _, reports = rendered
    budget = """() => {
      const w = JSON.parse(document.getElementById('cc-data').textContent).widgets
        .find(w => w.exact);
      const t = document.getElementById(w.id).data.find(t => t.name === 'budget');
      return t ? [...new Set(t.y)] : [];
    }"""
    pivot = """() => {
      const t = [...document.querySelectorAll('table.cc')].find(
        t => t.tHead.rows[0].cells[0].textContent === 'environment');
      return [...t.tBodies[0].rows].map(r => [r.cells[0].textContent,
        Math.round(parseFloat(r.cells[1].getAttribute('data-v')) * 100)]);
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((reports / "2025-01" / "report.html").as_uri(), wait_until="load")
        seen, pivots = [page.evaluate(budget)], []
        for dim, value in (("provider", "openai"), ("environment", "preview")):
            page.select_option(f"#cc-filters select[data-dim={dim}]", value)
            page.wait_for_timeout(100)
            seen.append(page.evaluate(budget))
            pivots.append(page.evaluate(pivot))
        browser.close()
    assert seen == [[4000], [2000], []]  # total; openai's; no budget for openai in preview
    *parts, total = pivots[0]  # openai: its environments, unallocated kept at $0, then the total
    assert total[0] == "total" and total[1] == sum(c for _, c in parts)
    assert ["unallocated", 0] in parts and ["preview", 0] not in parts and len(parts) >= 2
    assert pivots[1] == [["unallocated", 0]]  # openai has no preview cost
