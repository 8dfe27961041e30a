"""Unit costs: business volumes from the application's Postgres (the default read-only queries,
run against a real PostgreSQL), a CSV or the demo's database, over the demo month's costs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from contribux_costs import CostOptimizer
from contribux_costs.analysis.rulebase import Config
from contribux_costs.collect.postgres import volumes as vol
from contribux_costs.demo.model import DemoModel
from contribux_costs.demo.postgres import business_volumes
from contribux_costs.errors import CollectError, ConfigError
from contribux_costs.models import UnitCost
from contribux_costs.periods import Month
from contribux_costs.pipeline import collect
from contribux_costs.store import Store, open_store
from tests.engine_support import demo_settings
from tests.pg_fixture import *  # noqa: F403
from tests.pg_fixture import COLLECTOR_PASSWORD, COLLECTOR_ROLE, PgDb

JAN = Month.parse("2025-01")
DAYS = [JAN.first_day + timedelta(days=i) for i in range(31)]
MICRO = Decimal("0.000001")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("units") / "demo.duckdb")
    assert collect(demo_settings(), store, JAN.window).ok
    yield store
    store.close()


def _units(store: Store, cfg: Config | None = None) -> dict[str, UnitCost]:
    result = CostOptimizer(store, cfg or Config.load()).analyze_usage(JAN)
    return {u.metric: u for u in result.unit_costs}


def _day_costs(store: Store) -> dict[date, Decimal]:
    rows = store.query(
        "SELECT x_billing_date, sum(BilledCost) FROM focus_charges GROUP BY 1"
    ).rows()
    return {d: Decimal(str(c)) for d, c in rows}


def _seed_app_db(db: PgDb) -> None:
    """The contribux tables the default queries read, holding the demo's January volumes."""
    model = DemoModel()
    with db.admin() as con:
        con.execute("CREATE TABLE analytics_events (user_id int, event_type text, "
                    "properties jsonb, created_at timestamptz)")  # fmt: skip
        con.execute("CREATE TABLE opportunities (id serial, embedded_at timestamptz)")
        for day in DAYS:
            v = {k: int(x) for k, x in business_volumes(model, day).items()}
            noon = f"{day.isoformat()} 12:00:00+00"
            # Each active user views twice (distinct users count once); analyses by user 1.
            events = (
                "INSERT INTO analytics_events SELECT {}, {}, '{{}}', %s "
                "FROM generate_series(1, %s) g"
            )
            users = v["active_users"]
            con.execute(events.format(f"g %% {users} + 1", "'page_view'"), [noon, 2 * users])
            con.execute(events.format("1", "'ai_analysis_completed'"), [noon, v["ai_analyses"]])
            con.execute(
                "INSERT INTO opportunities (embedded_at) SELECT %s FROM generate_series(1, %s)",
                [noon, v["opportunities_analysed"]],
            )
        con.execute(f"GRANT SELECT ON analytics_events, opportunities TO {COLLECTOR_ROLE}")


@pytest.mark.postgres
def test_unit_costs_per_active_user_and_ai_analysis_from_a_real_postgres(
    demo_store: Store, pg_fresh_db: PgDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed_app_db(pg_fresh_db)
    monkeypatch.setenv("DATABASE_URL", pg_fresh_db.collector_dsn)
    units = _units(demo_store)
    costs = _day_costs(demo_store)
    model = DemoModel()
    for metric in ("active_users", "ai_analyses"):
        u = units[metric]
        assert u.source == "postgres"
        for day in DAYS:
            volume = business_volumes(model, day)[metric]
            assert u.daily_volume[day] == volume
            assert u.daily[day] == (costs[day] / Decimal(str(volume))).quantize(MICRO)
    month_cost = sum(costs.values(), Decimal(0))
    dau = sum(business_volumes(model, d)["active_users"] for d in DAYS) / 31
    assert units["active_users"].cost_per_unit_usd == (month_cost / Decimal(str(dau))).quantize(
        MICRO
    )
    # The same figures as the demo's own source (the demo database serves these volumes).
    monkeypatch.delenv("DATABASE_URL")
    demo = _units(demo_store)
    for metric, u in units.items():
        assert u.model_copy(update={"source": "demo"}) == demo[metric]


@pytest.mark.postgres
def test_volume_queries_run_read_only_and_errors_name_the_metric(pg_fresh_db: PgDb) -> None:
    with pg_fresh_db.admin() as con:
        con.execute("CREATE TABLE t (d date, v int)")
        con.execute(f"GRANT SELECT, INSERT ON t TO {COLLECTOR_ROLE}")
    dsn = SecretStr(pg_fresh_db.collector_dsn)
    write = vol.VolumeQuery(
        "sneaky", "INSERT INTO t VALUES (now(), 1) RETURNING d AS day, v AS value"
    )
    with pytest.raises(CollectError, match=r"sneaky.*read-only") as exc:
        vol.read_postgres(dsn, [COLLECTOR_PASSWORD], [write], JAN.window)
    assert COLLECTOR_PASSWORD not in str(exc.value) and "\n" not in str(exc.value)
    negative = vol.VolumeQuery("refunds", "SELECT current_date AS day, -3 AS value")
    with pytest.raises(CollectError, match=r"refunds.*-3 is not a finite number"):
        vol.read_postgres(dsn, [COLLECTOR_PASSWORD], [negative], JAN.window)


def test_unit_costs_from_a_csv(demo_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "volumes.csv"
    path.write_text(
        "day,metric,value\n"
        + "".join(f"{d},ai_analyses,100\n" for d in DAYS)
        + "2025-02-01,ai_analyses,999\n",  # outside the month: ignored
        encoding="utf-8",
    )
    cfg = Config({**Config.load().data})
    cfg.data["unit_costs"] = {**cfg.data["unit_costs"], "csv": str(path)}
    units = _units(demo_store, cfg)
    u = units["ai_analyses"]
    assert (u.source, u.month_volume) == ("csv", 3100.0)
    month_cost = sum(_day_costs(demo_store).values(), Decimal(0))
    assert u.cost_per_unit_usd == (month_cost / 3100).quantize(MICRO)
    assert sum(v for v in u.by_environment.values() if v is not None) == pytest.approx(
        u.cost_per_unit_usd, abs=Decimal("0.00001")
    )
    assert "active_users" not in units  # the CSV has no such metric


def test_a_bad_csv_line_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("day,metric,value\n2025-01-01,x,1\n2025-01-02,x,lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"v\.csv line 3: value 'lots'"):
        vol.read_csv(path, JAN.window)
