"""loader.sync against the real simulator and the real TimescaleDB: a window of prices and usage lands and
equals the simulator's truth; forecasts go to `forecasts`; today's empty usage is a successful no-op;
a window nests in a caller's transaction; a failed request writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from amber.client import AmberClient
from amber.errors import AmberUnavailableError
from loader.db import WriteResult, upsert_sites
from loader.migrate import migrate
from loader.sync import WindowResult, load_prices_window, load_usage_window
from simulator import SimulatorConfig, SimulatorServer

NEM = dt.timezone(dt.timedelta(hours=10))
NOW = dt.datetime(2025, 1, 15, 12, 7, 30, tzinfo=NEM)  # mid-interval on a Wednesday, NEM time
TODAY = NOW.date()
FIRST = TODAY - dt.timedelta(days=3)


def nem_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), NEM).astimezone(dt.UTC)


@pytest.fixture
def rig(apache_db):
    migrate(apache_db, timezone="Australia/Sydney")
    config = SimulatorConfig(seed=11, sites=1, resolution=5, speed=0.0, start=NOW, history_days=30,
                             controlled_load="all", rate_limit=100_000)  # fmt: skip
    with SimulatorServer(config) as sim, psycopg.connect(apache_db) as conn:
        client = AmberClient(sim.api_key, sim.base_url, sleeper=lambda _s: None, max_retries=0)
        try:
            (site,) = client.sites()
            upsert_sites(conn, [site])
            yield sim, client, conn, site
        finally:
            client.close()


def stored_prices(conn, site_id: str) -> dict[tuple[str, str], tuple]:
    rows = conn.execute(
        "SELECT channel_type, raw->>'startTime', interval_type, per_kwh, spot_per_kwh, renewables, descriptor,"
        " spike_status, interval_start, interval_end, nem_date, raw FROM prices WHERE site_id = %s",
        (site_id,),
    ).fetchall()
    conn.commit()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_prices_window_lands_and_equals_truth(rig):
    sim, client, conn, site = rig
    now = sim.clock.now()
    result = load_prices_window(client, conn, site, FIRST, TODAY, now=now)
    assert isinstance(result, WindowResult) and result.requests == 1 and result.usage is None
    assert sim.stats.requests.get("prices") == 1

    stored = stored_prices(conn, site.id)
    truth = sim.truth.prices(site.id, nem_midnight(FIRST), now)
    channels = {c.type for c in site.channels}
    assert channels == {"general", "controlledLoad", "feedIn"}
    # Every interval that has ended is stored as an ActualInterval with the settled values, as sent.
    assert len(truth) == len(channels) * (3 * 288 + (12 * 12 + 1))  # 3 whole NEM days + 00:00..12:05
    for item in truth:
        row = stored.pop((item["channelType"], item["startTime"]))
        interval_type, per_kwh, spot, renewables, descriptor, spike, start, end, nem_date, raw = row
        assert interval_type == "ActualInterval"
        assert (per_kwh, spot, renewables) == (
            Decimal(str(item["perKwh"])), Decimal(str(item["spotPerKwh"])), Decimal(str(item["renewables"]))
        )
        assert (descriptor, spike) == (item["descriptor"], item["spikeStatus"])
        assert start == dt.datetime.fromisoformat(item["startTime"]) - dt.timedelta(seconds=1)
        assert end == dt.datetime.fromisoformat(item["endTime"])
        assert nem_date == dt.date.fromisoformat(item["date"])
        assert raw == item
    # What is left is the interval containing now: one CurrentInterval per channel.
    assert sorted((k[0], v[0]) for k, v in stored.items()) == sorted((c, "CurrentInterval") for c in channels)
    assert result.prices == WriteResult(rows=len(truth) + 3, written=len(truth) + 3, kept=0, inserted=len(truth) + 3)

    # The rest of today is forecast: 5-minute intervals from 12:10 to 24:00 NEM, per channel.
    forecasts = conn.execute(
        "SELECT count(*), min(interval_start), max(interval_end), min(issued_at), max(issued_at) FROM forecasts"
    ).fetchone()
    assert forecasts == (3 * (12 * 12 - 2), NOW.replace(minute=10, second=0), nem_midnight(TODAY + dt.timedelta(days=1)),
                         now, now)  # fmt: skip
    assert result.forecasts.written == result.forecasts.rows == forecasts[0]

    # The same window again writes nothing new.
    again = load_prices_window(client, conn, site, FIRST, TODAY, now=now)
    assert (again.prices.written, again.forecasts.written) == (0, 0)
    assert again.prices.kept == result.prices.rows


def test_current_becomes_actual_on_the_next_fetch(rig):
    sim, client, conn, site = rig
    load_prices_window(client, conn, site, TODAY, TODAY, now=sim.clock.now())
    current = ("general", "2025-01-15T02:05:01Z")  # 12:05-12:10 NEM, contains NOW
    assert stored_prices(conn, site.id)[current][0] == "CurrentInterval"
    sim.clock.advance(dt.timedelta(minutes=10))
    result = load_prices_window(client, conn, site, TODAY, TODAY, now=sim.clock.now())
    row = stored_prices(conn, site.id)[current]
    (truth,) = [t for t in sim.truth.prices(site.id, nem_midnight(TODAY), sim.clock.now(), channel_type="general")
                if t["startTime"] == current[1]]  # fmt: skip
    assert row[0] == "ActualInterval" and row[1] == Decimal(str(truth["perKwh"]))
    assert result.prices.inserted == 3 * 2  # two more intervals per channel have started
    # Forecasts issued 10 minutes later fall in other horizon buckets or replace closer ones.
    assert result.forecasts.written > 0


def test_usage_window_lands_and_equals_truth(rig):
    sim, client, conn, site = rig
    last = TODAY - dt.timedelta(days=1)
    result = load_usage_window(client, conn, site, FIRST, last, now=sim.clock.now())
    assert result.prices is None and result.forecasts is None and result.requests == 1
    truth = sim.truth.usage(site.id, nem_midnight(FIRST), nem_midnight(TODAY))
    assert truth and result.usage == WriteResult(len(truth), len(truth), 0, len(truth))
    rows = conn.execute(
        "SELECT channel_identifier, raw->>'startTime', kwh, cost, quality, interval_start, raw FROM usage"
    ).fetchall()
    stored = {(r[0], r[1]): r[2:] for r in rows}
    assert len(stored) == len(truth)
    for item in truth:
        kwh, cost, quality, start, raw = stored[(item["channelIdentifier"], item["startTime"])]
        assert (kwh, cost, quality) == (Decimal(str(item["kwh"])), Decimal(str(item["cost"])), item["quality"])
        assert start == dt.datetime.fromisoformat(item["startTime"]) - dt.timedelta(seconds=1)
        assert raw == item
    # Exact sums: the stored cost adds up to the truth's decimals.
    (total,) = conn.execute("SELECT sum(cost) FROM usage").fetchone()
    assert total == sum(Decimal(str(item["cost"])) for item in truth)
    assert {q for (_c, _s), (_k, _co, q, _st, _r) in stored.items()} >= {"billable", "estimated"}


def test_todays_usage_is_empty_and_fine(rig):
    sim, client, conn, site = rig
    result = load_usage_window(client, conn, site, TODAY, TODAY, now=sim.clock.now())
    assert result == WindowResult(requests=1, usage=WriteResult(0, 0, 0, 0))
    assert result.written == result.rows == 0
    assert conn.execute("SELECT count(*) FROM usage").fetchone() == (0,)


def test_window_nests_in_a_callers_transaction(rig):
    sim, client, conn, site = rig
    with pytest.raises(RuntimeError), conn.transaction():
        result = load_prices_window(client, conn, site, TODAY, TODAY, now=sim.clock.now())
        assert result.prices.written > 0
        raise RuntimeError("bookkeeping failed")
    assert conn.execute("SELECT (SELECT count(*) FROM prices) + (SELECT count(*) FROM forecasts)").fetchone() == (0,)


def test_failed_request_writes_nothing(rig):
    sim, client, conn, site = rig
    sim.faults.fail_next(1, status=503)
    with pytest.raises(AmberUnavailableError):
        load_prices_window(client, conn, site, TODAY, TODAY, now=sim.clock.now())
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM prices").fetchone() == (0,)


def test_now_must_be_aware(rig):
    _sim, client, conn, site = rig
    with pytest.raises(ValueError, match="timezone-aware"):
        load_usage_window(client, conn, site, TODAY, TODAY, now=dt.datetime(2025, 1, 15, 12, 0))  # noqa: DTZ001
