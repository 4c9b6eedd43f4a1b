"""One world for the dashboard tests: a migrated database on the real TimescaleDB filled from the simulator
through the loader's own write path, with the simulator kept running so the exporter can poll it.

The simulator is frozen (speed 0) and driven over the day before the real now, one price window every two hours, so
the database holds what a day of `amber-home collect` leaves: actual prices that settled the forecasts
fetched hours earlier (forecast_accuracy), a fresh forecast for the next 36 hours (forecast_latest), a
scripted spike two hours ahead, and two weeks of prices and usage before that (the aggregates). Real now,
because the panels' SQL compares with the database's now()."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from amber.client import AmberClient
from loader.aggregates import refresh_aggregates
from loader.bill import record_bill_settings
from loader.db import upsert_sites
from loader.migrate import migrate
from loader.sync import load_prices_window, load_usage_window
from runtime.settings import Settings
from simulator import SimulatorConfig, SimulatorServer

TIMEZONE = "Australia/Sydney"
READER_PASSWORD = "grafana-reader-test"
NEM = dt.timezone(dt.timedelta(hours=10))
HISTORY_DAYS = 14
SPIKE_AHEAD = dt.timedelta(hours=2)
POLL_EVERY = dt.timedelta(hours=2)  # the collector polls every 5 minutes; every 2 h fills the same lead buckets
# The bill and comparison panels need charges and a plan (docs/bill.md, docs/compare.md).
BILL_ENV = {"AMBER_SUPPLY_CHARGE": "2020-01-01=110.5", "AMBER_SUBSCRIPTION": "2020-01-01=25"}
PLAN = """[[tariff]]
from = 2020-01-01
supply = 100
import = [ { name = "peak", price = 45.5, start = "15:00", end = "21:00" }, { price = 25 } ]
feed_in = 5
"""


@dataclass(frozen=True)
class World:
    url: str  # owner's URL of the filled database
    database: str
    port: int
    sim: SimulatorServer
    site_id: str
    now: dt.datetime  # the simulator's (frozen) now: the real time when the world was built

    def reader_url(self, password: str = READER_PASSWORD) -> str:
        return make_conninfo(self.url, user="amber_reader", password=password)


def nem_date(when: dt.datetime) -> dt.date:
    return when.astimezone(NEM).date()


def fill(client: AmberClient, sim: SimulatorServer, conn: psycopg.Connection, now: dt.datetime) -> str:
    (site,) = client.sites()
    upsert_sites(conn, [site])
    start = now - dt.timedelta(days=1)
    sim.clock.set(start)
    first = nem_date(start) - dt.timedelta(days=HISTORY_DAYS)
    while first < nem_date(start):  # history in windows of at most 7 days
        last = min(first + dt.timedelta(days=6), nem_date(start) - dt.timedelta(days=1))
        load_prices_window(client, conn, site, first, last, now=start)
        load_usage_window(client, conn, site, first, last, now=start)
        first = last + dt.timedelta(days=1)
    when = start
    while when < now:  # a day of polls: forecasts issued at every lead, then settled by actuals
        sim.clock.set(when)
        load_prices_window(client, conn, site, nem_date(when), nem_date(when) + dt.timedelta(days=1), now=when)
        when += POLL_EVERY
    sim.clock.set(now)
    yesterday = nem_date(now) - dt.timedelta(days=1)
    load_prices_window(client, conn, site, yesterday, nem_date(now) + dt.timedelta(days=1), now=now)
    load_usage_window(client, conn, site, yesterday - dt.timedelta(days=1), nem_date(now), now=now)
    refresh_aggregates(conn)
    return site.id


@pytest.fixture(scope="package")
def world(timescale_server, tmp_path_factory) -> Iterator[World]:
    name = timescale_server.create_database()
    url = timescale_server.url(name)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = SimulatorConfig(seed=5, sites=1, resolution=5, speed=0.0, start=now, history_days=60,
                             controlled_load="all", rate_limit=1_000_000)  # fmt: skip
    try:
        migrate(url, timezone=TIMEZONE, reader_password=READER_PASSWORD)
        with SimulatorServer(config) as sim:
            sim.script_spike(sim.site_ids[0], now + SPIKE_AHEAD, now + SPIKE_AHEAD + dt.timedelta(minutes=30))
            client = AmberClient(sim.api_key, sim.base_url, sleeper=lambda _s: None, max_retries=0)
            try:
                with psycopg.connect(url) as conn:
                    site_id = fill(client, sim, conn, now)
                    plan = tmp_path_factory.mktemp("plan") / "plan.toml"
                    plan.write_text(PLAN, encoding="utf-8")
                    record_bill_settings(conn, Settings.from_env({**BILL_ENV, "AMBER_COMPARE_PLAN": str(plan)}))
                    # A backfill half-way through older history (sql/012), for the Health dashboard.
                    conn.execute("INSERT INTO backfill_status VALUES (%s, 90, 30, 600, now(), NULL)", (site_id,))
            finally:
                client.close()
            yield World(url=url, database=name, port=timescale_server.port, sim=sim, site_id=site_id, now=now)
    finally:
        timescale_server.drop_database(name)
