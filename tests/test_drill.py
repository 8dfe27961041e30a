"""The drill-down's embedded data (report/drill.py) and the small display fixes of issue 17."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from contribux_costs import CostOptimizer
from contribux_costs.focus.summary import month_total
from contribux_costs.periods import Month
from contribux_costs.report import charts, html, sections
from contribux_costs.report import data as rd
from contribux_costs.report import views as rv
from contribux_costs.report.drill import (
    Drill,
    cost_facts,
    decode_column,
    dimension_sql,
    encode_column,
    enrich,
)
from contribux_costs.store import Store, open_store
from tests.report_helpers import demo_db

JAN = Month.parse("2025-01")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("drill") / "demo.duckdb")


@pytest.fixture(scope="module")
def store(db: Path) -> Store:
    return open_store(db, read_only=True)


def test_facts_add_up_to_the_month_and_carry_the_filter_dimensions(store: Store) -> None:
    facts = cost_facts(store, JAN)
    month = facts.filter(pl.col("date") >= JAN.first_day)
    assert abs(Decimal(str(month["cost"].sum())) - month_total(store, JAN)) < Decimal("0.01")
    assert facts["date"].min() == Month.parse("2024-12").first_day  # history for the charts
    # the allocation columns (x_environment, x_owner) give every row an environment and owner
    assert set(month["environment"]) == {"production", "preview", "staging", "development"}
    assert month["owner"].null_count() == 0
    models = set(month.filter(pl.col("provider") == "openai")["model"].drop_nulls())
    assert {"gpt-4o", "gpt-4o-mini"} <= models  # dated ids folded into families
    assert (
        month.filter(pl.col("provider") != "openai")["model"].null_count()
        == month.filter(pl.col("provider") != "openai").height
    )


def test_without_allocation_columns_environment_falls_back_to_the_tag(
    db: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "old.duckdb"
    shutil.copyfile(db, copy)
    with open_store(copy) as store:  # a store from before the allocation columns
        store.con.execute("ALTER TABLE focus_charges DROP COLUMN x_environment")
        store.con.execute("ALTER TABLE focus_charges DROP COLUMN x_owner")
        assert dimension_sql(store)["environment"] == "json_extract_string(Tags, '$.Environment')"
        facts = cost_facts(store, JAN)
        drill = Drill(store, JAN)
    assert drill.dims == ["provider", "environment", "service", "resource", "model"]
    month = facts.filter(pl.col("date") >= JAN.first_day)
    assert set(month["environment"].drop_nulls()) == {"production", "preview"}  # Vercel's tag
    assert "owner" not in facts.columns


def test_usage_rows_get_the_environment_their_resource_has(store: Store) -> None:
    facts = pl.DataFrame(
        {"provider": ["neon", "neon", "neon"], "resource": ["prod", "stg", "stg"],
         "environment": ["production", "staging", "staging"], "cost": [1.0, 2.0, 3.0]}
    )  # fmt: skip
    usage = pl.DataFrame({"provider": ["neon", "neon"], "resource": ["prod", "other"]})
    out = enrich(usage, facts)
    assert out["environment"].to_list() == ["production", None]


def test_tables_carry_row_dimensions_raw_values_and_scroll(store: Store) -> None:
    result = CostOptimizer(store).analyze_usage(JAN)
    drill = Drill(store, JAN)
    page = sections.top_recommendations(drill, result)
    assert page.startswith('<div class="cc-scroll">')
    first = json.loads(re.search(r'data-f="([^"]*)"', page).group(1).replace("&quot;", '"'))  # type: ignore[union-attr]
    assert first == {"provider": "openai", "model": "gpt-4o", "resource": "proj_contribux_prod"}
    top = rv.split_recommendations(result.recommendations)[0][0]
    assert f'data-v="{rv.shown_cents(top)}"' in page  # sorted by its number, not its text
    # every saving is listed (the headline is their sum), so no limit
    assert drill.widgets[0] == {"id": drill.widgets[0]["id"], "type": "rows", "limit": None}
    script = drill.script()
    data = json.loads(re.search(r'id="cc-data">(.*?)</script>', script).group(1))  # type: ignore[union-attr]
    assert data["dims"] == drill.dims and data["first"] == "2025-01-01"
    embedded = script.split('id="cc-data">', 1)[1].split("</script>", 1)[0]
    assert data["last"] == "2025-01-31" and "</" not in embedded  # cannot close the element


def test_anomaly_rows_link_to_the_filters_of_their_cause(store: Store) -> None:
    result = CostOptimizer(store).analyze_usage(JAN)
    page = sections.anomalies(Drill(store, JAN), result)
    assert "driven by model gpt-4o in project proj_contribux_prod" in page
    assert "#cc:provider=openai&amp;from=2025-01-10&amp;model=gpt-4o" in page
    assert "resource=proj_contribux_prod&amp;environment=production&amp;to=2025-01-17" in page


def test_cells_show_yes_no_and_thousands() -> None:
    assert (html.cell(True), html.cell(False), html.cell(1800)) == ("yes", "no", "1,800")
    frame = pl.DataFrame({"slow": [True], "calls": [12345]})
    assert ">yes<" in html.table(frame) and ">True<" not in html.table(frame)


def test_query_text_is_cut_at_a_word_with_an_ellipsis(store: Store) -> None:
    long = "SELECT id, full_name, description FROM repositories WHERE stars > $1 " * 3
    short = rd.shorten(long)
    assert len(short) <= 90 and short.endswith("…") and long.startswith(short[:-1])
    assert short[-2].isalnum() and not long[len(short) - 1].isalnum()  # cut between words
    for q in rd.slowest_queries(store, JAN)["query"].to_list():
        assert len(q) <= 90 and (q.endswith("…") or " ".join(q.split()) == q)


def test_ttl_rows_in_whole_seconds_with_the_advised_ttl(store: Store) -> None:
    result = CostOptimizer(store).analyze_usage(JAN)
    ttl = rv.ttl_table(result)
    assert ttl["what-if TTL s"].dtype == pl.Int64
    page = html.table(ttl)
    assert "1,800" in page and "1,800.00" not in page
    advised = ttl.filter(pl.col("") == "advised")
    rec = next(r for r in result.recommendations if r.rule_id == "cache.low_hit_key_class")
    assert f"~{advised['what-if TTL s'][0]:,} s" in rec.action  # the TTL the advice names


def test_usage_axes_start_at_zero() -> None:
    frame = pl.DataFrame({"date": [1, 2], "value": [6.0, 7.0], "resource": ["p", "p"]})
    fig = charts.lines(frame, "date", "value", "resource", "Neon", "CU-hours")
    assert fig.layout.yaxis.rangemode == "tozero"


def test_legends_sit_under_the_plot_in_room_of_their_own() -> None:
    """Anchored to the figure's bottom (not the plot's), so plotly reserves the legend's rows
    below the tick labels; each of 11 lines keeps a colour of its own."""
    frame = pl.DataFrame(
        {"date": [1] * 11, "value": [1.0] * 11, "resource": [f"db-{i}" for i in range(11)]}
    )
    fig = charts.lines(frame, "date", "value", "resource", "Upstash", "commands")
    legend = fig.layout.legend
    assert (legend.orientation, legend.yref, legend.yanchor, legend.y) == (
        "h",
        "container",
        "bottom",
        0,
    )
    assert len({t.line.color for t in fig.data}) == 11


def test_a_page_inlines_the_basic_plotly_bundle_once() -> None:
    emit = charts.FigureEmitter()
    frame = pl.DataFrame({"date": [1], "value": [1.0], "resource": ["p"]})
    first = emit.html(charts.lines(frame, "date", "value", "resource", "A title", "y"))
    second = emit.html(charts.lines(frame, "date", "value", "resource", "B", "y"))
    assert "plotly.js (basic - minified) v" in first and "plotly.js" not in second
    assert '<div class="cc-chart-title">A title</div>' in first
    assert charts.PLOTLY_JS.stat().st_size < 2_000_000


def test_months_before_the_previous_one_are_one_row_a_month(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "four.duckdb"
    shutil.copyfile(db, copy)
    with open_store(copy) as store:
        mar = Month.parse("2025-03")
        daily = cost_facts(store, JAN)
        later = cost_facts(store, mar)  # Dec is now three months back: only month-over-month
    old = later.filter(pl.col("date") < JAN.first_day)
    assert set(old["date"]) == {Month.parse("2024-12").first_day}
    assert (
        abs(old["cost"].sum() - daily.filter(pl.col("date") < JAN.first_day)["cost"].sum()) < 1e-6
    )


def test_text_columns_are_dictionary_encoded_and_round_trip(store: Store) -> None:
    """The embedded sources write each text value once; decoding (as drill.js does) gives back
    every row's value, nulls included, and numbers stay plain."""
    drill = Drill(store, JAN)
    data = json.loads(re.search(r'id="cc-data">(.*?)</script>', drill.script()).group(1))  # type: ignore[union-attr]
    facts = data["sources"]["facts"]
    assert facts["cols"] == drill.facts.columns
    for name, col in zip(facts["cols"], facts["data"], strict=True):
        expected = drill.facts[name].to_list()
        if name == "cost":
            assert col == [round(v, 6) for v in expected]
            continue
        assert set(col) == {"dict", "codes"}
        assert len(col["dict"]) == len(set(col["dict"])) < len(col["codes"])
        shown = [v.isoformat() if name == "date" and v is not None else v for v in expected]
        assert decode_column(col) == shown
    assert None in decode_column(facts["data"][facts["cols"].index("model")])  # nulls survive
    assert encode_column(["a", None, "b", "a"]) == {"dict": ["a", "b"], "codes": [0, None, 1, 0]}
    assert decode_column([1.5, None]) == [1.5, None]
