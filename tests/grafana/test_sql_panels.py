"""Every SQL query of every dashboard runs on the real TimescaleDB, as Grafana would send it, and returns data.

The database is filled from the simulator through the loader (tests/grafana/conftest.py). Each query is
expanded like Grafana does it (tests/grafana/macros.py: the dashboard's time range and $__interval, the
macros, the template variables — `$site` from running the dashboard's own variable query) and runs as
amber_reader, logged in with the provisioned data source's user and password expansion, so the reader role's
grants are part of what is tested. A query passes when it returns rows with at least one value; a
time-series query must also return a timestamptz column named "time", in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.grafana.conftest import READER_PASSWORD, TIMEZONE, World
from tests.grafana.dashboards import POSTGRES_TYPE, Query, by_uid, provisioned_datasources, queries, variable_queries
from tests.grafana.macros import calculate_interval, dashboard_range, expand_sql, provisioning_value

TIMESTAMPTZ_OID = 1184


@pytest.fixture(scope="module")
def reader(world: World) -> Iterator[psycopg.Connection]:
    """A connection made from the provisioned TimescaleDB data source (user, password from the environment),
    pointed at the test server and database instead of timescaledb:5432/amber."""
    (datasource,) = [ds for ds in provisioned_datasources() if ds["uid"] == "amber-timescaledb"]
    password = provisioning_value(datasource["secureJsonData"]["password"], {},
                                  {"/run/amber-secrets/reader_password": READER_PASSWORD})  # fmt: skip
    url = make_conninfo(world.url, user=datasource["user"], password=password, dbname=world.database)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "amber_reader"
        yield conn


def variable_values(dashboard: dict[str, Any], conn: psycopg.Connection) -> dict[str, str]:
    """What Grafana selects by default: the first option of a query variable, `current` of a custom one."""
    values = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            rows = conn.execute(variable["query"]).fetchall()
            assert rows, f"variable {variable['name']} has no options"
            values[variable["name"]] = str(rows[0][0])
        else:
            values[variable["name"]] = variable["current"]["value"]
    return values


def run(query: Query, conn: psycopg.Connection, now: dt.datetime) -> tuple[list[psycopg.Column], list[tuple]]:
    time_range = dashboard_range(query.dashboard, now)
    interval = calculate_interval(time_range, query.panel.get("interval"))
    sql = expand_sql(query.text, time_range, interval, variable_values(query.dashboard, conn))
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.description), cur.fetchall()


@pytest.mark.parametrize(
    ("dashboard", "variable"), variable_queries(POSTGRES_TYPE), ids=lambda v: v.get("uid", v.get("name"))
)
def test_variable_query_lists_the_loaded_site(world, reader, dashboard, variable):
    rows = reader.execute(variable["query"]).fetchall()
    names = [c.name for c in reader.execute(variable["query"]).description]
    assert names == ["__value", "__text"]
    assert rows and rows[0][0] == world.site_id


@pytest.mark.parametrize("query", queries(POSTGRES_TYPE), ids=lambda q: q.id)
def test_panel_sql_runs_and_returns_data(world, reader, query):
    columns, rows = run(query, reader, dt.datetime.now(dt.UTC))
    names = [c.name for c in columns]
    assert rows, f"{query.id}: no rows"
    assert len(names) == len(set(names)), f"{query.id}: duplicate column names {names}"
    values = [v for row in rows for name, v in zip(names, row, strict=True) if name != "time"]
    assert any(v is not None for v in values), f"{query.id}: every value is NULL"
    if query.target["format"] == "time_series":
        assert "time" in names, f'{query.id}: a time series needs a column "time"'
        assert columns[names.index("time")].type_code == TIMESTAMPTZ_OID, f"{query.id}: time must be timestamptz"
        times = [row[names.index("time")] for row in rows]
        assert times == sorted(times), f"{query.id}: rows must be ordered by time"


# --- what some panels must show ----------------------------------------------------------------------------------


def panel_query(uid: str, title: str, ref: str = "A") -> Query:
    dashboard = by_uid(uid)
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    (target,) = [t for t in panel["targets"] if t["refId"] == ref]
    return Query(dashboard, panel, target)


def as_dicts(columns, rows) -> list[dict[str, Any]]:
    return [dict(zip([c.name for c in columns], row, strict=True)) for row in rows]


def test_forecast_panel_shows_the_next_12_hours_with_the_spike(world, reader):
    now = dt.datetime.now(dt.UTC)
    rows = as_dicts(*run(panel_query("amber-now", "Price: last 6 hours and forecast", "B"), reader, now))
    assert rows[0]["time"] <= now + dt.timedelta(minutes=5) and rows[-1]["time"] < now + dt.timedelta(hours=12)
    assert rows[-1]["time"] >= now + dt.timedelta(hours=11)
    assert all(r["Advanced low"] <= r["Advanced predicted"] <= r["Advanced high"] for r in rows)
    spike = [
        r
        for r in rows
        if world.now + dt.timedelta(hours=2) <= r["time"] < world.now + dt.timedelta(hours=2, minutes=25)
    ]
    assert spike and min(r["Forecast"] for r in spike) > 100, "the scripted spike shows in the forecast"


def test_daily_cost_net_is_imports_plus_export_credits(reader):
    rows = as_dicts(*run(panel_query("amber-history", "Daily cost"), reader, dt.datetime.now(dt.UTC)))
    assert len(rows) >= 7
    for row in rows:
        assert row["Net"] == row["Imports"] + row["Export credits"], row
        assert row["Imports"] > 0  # credits are usually negative, but exporting at a negative price costs


def test_yesterday_is_the_local_day_before_today(world, reader):
    (row,) = as_dicts(*run(panel_query("amber-now", "Yesterday"), reader, dt.datetime.now(dt.UTC)))
    day = dt.datetime.now(ZoneInfo(TIMEZONE)).date() - dt.timedelta(days=1)
    expected = reader.execute("SELECT sum(cost) / 100 FROM cost_daily WHERE site_id = %s AND day = %s",
                              (world.site_id, day)).fetchone()[0]  # fmt: skip
    assert isinstance(row["Yesterday"], Decimal) and row["Yesterday"] == expected


def test_forecast_accuracy_covers_several_lead_times(reader):
    rows = as_dicts(
        *run(panel_query("amber-history", "Forecast accuracy by lead time"), reader, dt.datetime.now(dt.UTC))
    )
    leads = [r["Lead time"] for r in rows]
    assert {"1 h", "4 h", "12 h"} <= set(leads), leads
    assert all(0 <= r["Within advanced range"] <= 1 for r in rows)


def test_heatmap_has_a_row_per_local_day_and_a_column_per_hour(reader):
    columns, rows = run(panel_query("amber-history", "Price by hour of day"), reader, dt.datetime.now(dt.UTC))
    assert [c.name for c in columns] == ["time"] + [f"{h:02d}:00" for h in range(24)]
    assert len(rows) >= 14
    full_days = rows[1:-1]  # the first and last day of the range are cut
    assert full_days and all(v is not None for row in full_days for v in row)


def test_time_range_is_taken_from_the_dashboard(reader):
    query = panel_query("amber-history", "Price distribution")
    now = dt.datetime.now(dt.UTC)
    _, rows = run(query, reader, now)
    _, fewer = run(query, reader, now - dt.timedelta(days=7))  # a range that ends a week ago: fewer prices
    assert 0 < len(fewer) < len(rows)
