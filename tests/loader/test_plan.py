"""`amber-home query plan` (loader/plan.py) on forecasts the loader stored from the simulator, against a
recount from the simulator's own /prices/current answer at the same moment (brute force over every start,
Fractions): the evening before Sydney's daylight saving ends, with a deadline after the repeated hour."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import psycopg
import pytest

from amber.advisor import parse_loads
from amber.client import AmberClient
from amber_home.cli import main as cli_main
from loader.db import upsert_sites
from loader.migrate import migrate
from loader.plan import plan
from loader.sync import load_prices_window
from simulator import SimulatorConfig, SimulatorServer

TZ = "Australia/Sydney"
SYDNEY = ZoneInfo(TZ)
NOW = dt.datetime(2025, 4, 5, 21, 7, 30, tzinfo=SYDNEY)  # 10:07:30 UTC; 03:00 tomorrow is 17:00 UTC (25-h night)
LOADS = parse_loads("dishwasher 2h, car 4h by 03:00 7kW, battery 1h feedIn")
HORIZONS = (0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880)


@pytest.fixture(scope="module")
def stored(timescale_server):
    name = timescale_server.create_database()
    url = timescale_server.url(name)
    migrate(url, timezone=TZ)
    config = SimulatorConfig(seed=3, sites=1, resolution=5, speed=0.0, start=NOW - dt.timedelta(hours=3),
                             history_days=10, controlled_load="none", rate_limit=100_000)  # fmt: skip
    nem_today = NOW.astimezone(dt.timezone(dt.timedelta(hours=10))).date()
    with SimulatorServer(config) as sim, psycopg.connect(url) as conn:
        client = AmberClient(sim.api_key, sim.base_url, sleeper=lambda _s: None, max_retries=0)
        (site,) = client.sites()
        upsert_sites(conn, [site])
        for when in (NOW - dt.timedelta(hours=3), NOW - dt.timedelta(hours=1), NOW):  # forecasts, then actuals
            sim.clock.set(when)
            load_prices_window(client, conn, site, nem_today, nem_today + dt.timedelta(days=1), now=when)
        served = client.current_prices(site.id, next=400, previous=0, resolution=5)
        client.close()
    yield url, site, served
    timescale_server.drop_database(name)


def recount(served, load, deadline: dt.datetime | None):
    """The cheapest run of whole 5-minute intervals lasting load.minutes, from the current interval on."""
    slots = sorted(
        ((i.end_time - dt.timedelta(minutes=i.duration), i.end_time,
          Fraction(repr(i.per_kwh if i.interval_type == "CurrentInterval" or i.advanced_price is None
                        else i.advanced_price.predicted)))
         for i in served if i.channel_type == load.channel and i.end_time > NOW), key=lambda s: s[0])
    n = -(-load.minutes // 5)
    limit = min(NOW + dt.timedelta(hours=24), deadline or NOW + dt.timedelta(hours=24))
    runs = [(sum(p for *_, p in slots[k:k + n]) / n, slots[k][0], slots[k + n - 1][1])
            for k in range(len(slots) - n + 1) if slots[k + n - 1][1] <= limit]
    best = min(runs, key=lambda r: (r[0], r[1]))
    return best, runs[0][0]


def test_each_window_equals_the_recount_from_the_api(stored):
    url, site, served = stored
    with psycopg.connect(url) as conn:
        result = plan(conn, LOADS, zone=SYDNEY, now=NOW.astimezone(dt.UTC))
        (table,) = result.tables
        rows = {row[0]: row for row in table.rows}
        assert set(rows) == {"dishwasher", "car", "battery"} and result.notice is None
        deadlines = {"car": dt.datetime(2025, 4, 5, 17, 0, tzinfo=dt.UTC)}
        for load in LOADS:
            _, _, channel, start, end, mean, saving, saving_cents, _low, _high, error, count = rows[load.name]
            (want_mean, want_start, want_end), now_mean = recount(served, load, deadlines.get(load.name))
            assert (start, end, channel) == (want_start, want_end, load.channel), load.name
            assert abs(Fraction(mean) - want_mean) < Fraction(1, 10**20)
            assert abs(Fraction(saving) - (now_mean - want_mean)) < Fraction(1, 10**20)
            if load.kw is not None:
                assert abs(Fraction(saving_cents) - (now_mean - want_mean) * 7 * 4) < Fraction(1, 10**18)
            else:
                assert saving_cents is None
            # Past accuracy: recounted from forecast_accuracy at the horizon bucket of the window's lead.
            lead = max(0, int((start - NOW).total_seconds() // 60))
            bucket = max(h for h in HORIZONS if h <= lead)
            want = conn.execute(
                "SELECT avg(abs(coalesce(advanced_price_error, error_per_kwh))), count(*) FROM forecast_accuracy"
                " WHERE site_id = %s AND channel_type = %s AND horizon_minutes = %s", (site.id, load.channel, bucket),
            ).fetchone()
            assert (error, count) == want
        assert rows["car"][4] <= deadlines["car"]
        assert rows["battery"][5] < 0  # the best export hour is paid (Amber's sign)


def test_query_plan_needs_loads_and_prints_json(stored, capsys):
    url, _site, _served = stored
    env = {"DATABASE_URL": url, "AMBER_TIMEZONE": TZ}
    assert cli_main(["query", "plan"], env) == 1
    assert "no loads to plan: set AMBER_LOADS" in capsys.readouterr().err
    # At the real now the stored forecasts (for April 2025) are long past: a one-line reason, exit 0.
    assert cli_main(["query", "plan", "--format", "json"], {**env, "AMBER_LOADS": "kettle 10m"}) == 0
    out, err = capsys.readouterr()
    assert json.loads(out, parse_float=Decimal) == [] and "no window for kettle" in err
