"""startTime/endTime/nemTime/date, whole NEM days, the Actual/Current/Forecast split around now, the
estimate flag and the forecast horizon."""

from __future__ import annotations

import datetime as dt
import itertools

from tests.simulator.conftest import NEM, START, UTC, by_channel, parse_utc


def prices(client, site_id, **params):
    response = client.get(f"/sites/{site_id}/prices", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_interval_times_chain_and_nem_midnight(sim, client):
    site_id = sim.site_ids[0]
    general = by_channel(prices(client, site_id, startDate="2025-01-14", endDate="2025-01-14", resolution=5), "general")

    assert len(general) == 288  # a whole NEM day of 5-minute intervals
    first, last = general[0], general[-1]
    assert first["startTime"] == "2025-01-13T14:00:01Z"  # 00:00:01 NEM
    assert first["endTime"] == "2025-01-13T14:05:00Z"
    assert first["nemTime"] == "2025-01-14T00:05:00+10:00"
    assert first["date"] == "2025-01-14"
    # The interval ending at NEM midnight belongs to the day it ends, not the date in its nemTime.
    assert last["nemTime"] == "2025-01-15T00:00:00+10:00"
    assert last["endTime"] == "2025-01-14T14:00:00Z"
    assert last["startTime"] == "2025-01-14T13:55:01Z"
    assert last["date"] == "2025-01-14"

    for before, after in itertools.pairwise(general):
        assert parse_utc(after["startTime"]) == parse_utc(before["endTime"]) + dt.timedelta(seconds=1)
    for interval in general:
        end = parse_utc(interval["endTime"])
        assert interval["endTime"].endswith(":00Z") and end.minute % 5 == 0
        assert interval["startTime"].endswith(":01Z")
        assert dt.datetime.fromisoformat(interval["nemTime"]) == end
        assert interval["nemTime"].endswith("+10:00")
        start_nem = (end - dt.timedelta(minutes=5)).astimezone(NEM)
        assert interval["date"] == start_nem.date().isoformat()
        assert interval["duration"] == 5


def test_thirty_minute_intervals_and_multi_day_range(sim, client):
    records = prices(client, sim.site_ids[0], startDate="2025-01-12", endDate="2025-01-13", resolution=30)
    general = by_channel(records, "general")
    assert len(general) == 96
    assert {r["date"] for r in general} == {"2025-01-12", "2025-01-13"}
    assert all(r["duration"] == 30 and r["type"] == "ActualInterval" for r in general)
    assert all(parse_utc(r["endTime"]).minute in (0, 30) for r in general)
    # Amber's return order: General > Controlled Load > Feed In, each channel's intervals in time order.
    assert [r["channelType"] for r in records[::96]] == ["general", "controlledLoad", "feedIn"]


def test_actual_current_forecast_split_around_now(sim, client):
    general = by_channel(prices(client, sim.site_ids[0], resolution=5), "general")  # dates default to today
    now = START.astimezone(UTC)
    kinds = [r["type"] for r in general]
    assert kinds.count("CurrentInterval") == 1
    current = general[kinds.index("CurrentInterval")]
    assert parse_utc(current["startTime"]) - dt.timedelta(seconds=1) <= now < parse_utc(current["endTime"])
    assert current["nemTime"] == "2025-01-15T12:10:00+10:00"
    for interval in general:
        end = parse_utc(interval["endTime"])
        if interval["type"] == "ActualInterval":
            assert end <= now
        elif interval["type"] == "ForecastInterval":
            assert parse_utc(interval["startTime"]) > now
    assert kinds == sorted(kinds, key=["ActualInterval", "CurrentInterval", "ForecastInterval"].index)
    assert kinds.count("ActualInterval") == 12 * 12 + 1  # 00:00 .. 12:05 NEM


def test_forecasts_reach_the_horizon_only(sim, client):
    records = by_channel(prices(client, sim.site_ids[0], startDate="2025-01-15", endDate="2025-01-18"), "general")
    horizon = START + dt.timedelta(hours=sim.config.forecast_hours)
    forecasts = [r for r in records if r["type"] == "ForecastInterval"]
    assert forecasts and all(parse_utc(r["startTime"]) - dt.timedelta(seconds=1) < horizon for r in forecasts)
    assert parse_utc(forecasts[-1]["endTime"]) > horizon - dt.timedelta(minutes=5)
    assert not [r for r in records if r["date"] == "2025-01-18"]


def test_current_endpoint_previous_next(sim, client):
    params = {"next": 3, "previous": 2, "resolution": 30}
    response = client.get(f"/sites/{sim.site_ids[0]}/prices/current", params=params)
    assert response.status_code == 200
    records = response.json()
    assert [r["channelType"] for r in records] == ["general"] * 6 + ["controlledLoad"] * 6 + ["feedIn"] * 6
    general = by_channel(records, "general")
    assert [r["type"] for r in general] == ["ActualInterval"] * 2 + ["CurrentInterval"] + ["ForecastInterval"] * 3
    assert [r["nemTime"][11:16] for r in general] == ["11:30", "12:00", "12:30", "13:00", "13:30", "14:00"]

    plain = client.get(f"/sites/{sim.site_ids[1]}/prices/current").json()  # site 1: no controlled load
    assert [(r["type"], r["channelType"], r["duration"]) for r in plain] == [
        ("CurrentInterval", "general", 5),  # resolution defaults to the site's intervalLength
        ("CurrentInterval", "feedIn", 5),
    ]


def test_estimate_flag_flips_after_configured_seconds(sim, client):
    site_id = sim.site_ids[0]

    def current(resolution):
        records = client.get(f"/sites/{site_id}/prices/current", params={"resolution": resolution}).json()
        return by_channel(records, "general")[0]

    interval_start = dt.datetime(2025, 1, 15, 12, 5, tzinfo=NEM)
    sim.clock.set(interval_start + dt.timedelta(seconds=30))
    early = current(5)
    assert early["estimate"] is True
    sim.clock.set(interval_start + dt.timedelta(seconds=46))
    locked = current(5)
    assert locked["estimate"] is False
    assert locked["startTime"] == early["startTime"]
    # Once locked in, the current price is the final price the interval will settle at.
    sim.clock.set(interval_start + dt.timedelta(minutes=10))
    truth = sim.truth.prices(site_id, interval_start, interval_start + dt.timedelta(minutes=5), channel_type="general")
    assert locked["perKwh"] == truth[0]["perKwh"] and locked["spotPerKwh"] == truth[0]["spotPerKwh"]

    # A 30-minute current interval is an estimate until its last 5 minutes have run that long.
    half_hour = dt.datetime(2025, 1, 15, 12, 0, tzinfo=NEM)
    sim.clock.set(half_hour + dt.timedelta(minutes=25, seconds=40))
    assert current(30)["estimate"] is True
    sim.clock.set(half_hour + dt.timedelta(minutes=25, seconds=50))
    assert current(30)["estimate"] is False


def test_current_interval_across_nem_midnight(sim, client):
    sim.clock.set(dt.datetime(2025, 1, 15, 23, 57, tzinfo=NEM))
    records = client.get(f"/sites/{sim.site_ids[0]}/prices/current", params={"next": 1, "resolution": 5}).json()
    current, following = by_channel(records, "general")
    assert current["type"] == "CurrentInterval"
    assert current["nemTime"] == "2025-01-16T00:00:00+10:00"
    assert current["date"] == "2025-01-15"
    assert following["nemTime"] == "2025-01-16T00:05:00+10:00"
    assert following["date"] == "2025-01-16"


def test_served_actuals_do_not_change_as_time_passes(sim, client):
    site_id = sim.site_ids[0]
    before = prices(client, site_id, resolution=30)
    sim.clock.advance(dt.timedelta(hours=3))
    after = prices(client, site_id, resolution=30)
    old_actuals = {(r["channelType"], r["startTime"]): r for r in before if r["type"] == "ActualInterval"}
    later = {(r["channelType"], r["startTime"]): r for r in after}
    assert old_actuals and all(later[key] == value for key, value in old_actuals.items())
    # The interval that was current is now an actual, at its final value.
    was_current = next(r for r in before if r["type"] == "CurrentInterval")
    now_actual = later[(was_current["channelType"], was_current["startTime"])]
    assert now_actual["type"] == "ActualInterval" and "estimate" not in now_actual
