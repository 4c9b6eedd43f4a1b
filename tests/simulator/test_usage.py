"""Usage: channels, signs and cost, quality by day, today empty, resolution, estimated values."""

from __future__ import annotations

import datetime as dt

from simulator import SimulatorServer
from tests.simulator.conftest import NEM, client_for, make_config


def usage(client, site_id, start, end, **params):
    response = client.get(f"/sites/{site_id}/usage", params={"startDate": start, "endDate": end, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_usage_channels_signs_and_cost(sim, client):
    records = usage(client, sim.site_ids[0], "2025-01-12", "2025-01-12")
    assert [r["channelIdentifier"] for r in records[::48]] == ["E1", "E2", "B1"]
    assert len(records) == 3 * 48  # 30-minute resolution by default
    for r in records:
        assert r["type"] == "Usage" and r["duration"] == 30 and r["quality"] == "billable"
        # Cost in cents is the energy moved times the price, kept to fractions of a cent.
        assert abs(r["cost"] - abs(r["kwh"]) * r["perKwh"]) < 1e-5
    general = [r for r in records if r["channelIdentifier"] == "E1"]
    feed_in = [r for r in records if r["channelIdentifier"] == "B1"]
    controlled = [r for r in records if r["channelIdentifier"] == "E2"]
    assert all(r["kwh"] >= 0 for r in general) and sum(r["kwh"] for r in general) > 5
    assert all(r["kwh"] <= 0 for r in feed_in)
    midday = [r for r in feed_in if "10:00" <= r["nemTime"][11:16] <= "14:00"]
    assert all(r["kwh"] < 0 for r in midday)  # exporting rooftop solar
    assert all(r["kwh"] == 0 for r in feed_in if r["nemTime"][11:16] <= "05:00")
    assert any(r["cost"] < 0 for r in midday if r["perKwh"] < 0)  # a credit
    assert 0 < sum(r["kwh"] for r in controlled) < sum(r["kwh"] for r in general) + 20
    assert any(r["cost"] != round(r["cost"], 2) for r in records)  # not rounded to whole cents

    # Usage carries the settled price of its interval.
    prices = client.get(f"/sites/{sim.site_ids[0]}/prices", params={"startDate": "2025-01-12", "endDate": "2025-01-12",
                                                                     "resolution": 30}).json()  # fmt: skip
    price = {(p["channelType"], p["startTime"]): p for p in prices}
    for r in records:
        p = price[(r["channelType"], r["startTime"])]
        assert (r["perKwh"], r["spotPerKwh"], r["descriptor"], r["renewables"]) == (
            p["perKwh"], p["spotPerKwh"], p["descriptor"], p["renewables"])  # fmt: skip


def test_quality_by_day_and_today_empty(sim, client):
    site_id = sim.site_ids[1]
    records = usage(client, site_id, "2025-01-12", "2025-01-16")
    days = {r["date"] for r in records}
    assert days == {"2025-01-12", "2025-01-13", "2025-01-14"}  # nothing for today (the 15th) or later
    assert {r["quality"] for r in records if r["date"] < "2025-01-14"} == {"billable"}
    yesterday = [r for r in records if r["date"] == "2025-01-14" and r["channelIdentifier"] == "E1"]
    qualities = [r["quality"] for r in yesterday]
    assert qualities == ["billable"] * 24 + ["estimated"] * 24  # yesterday_estimated_fraction = 0.5
    assert usage(client, site_id, "2025-01-15", "2025-01-15") == []

    # A day later, yesterday's estimates are billable and "today" has moved on.
    sim.clock.advance(dt.timedelta(days=1))
    later = usage(client, site_id, "2025-01-14", "2025-01-15")
    assert {r["quality"] for r in later if r["date"] == "2025-01-14"} == {"billable"}
    assert {r["date"] for r in later} == {"2025-01-14", "2025-01-15"}


def test_five_minute_usage_sums_to_thirty(sim, client):
    site_id = sim.site_ids[0]
    thirty = usage(client, site_id, "2025-01-13", "2025-01-13")
    five = usage(client, site_id, "2025-01-13", "2025-01-13", resolution=5)
    assert len(five) == 6 * len(thirty)
    for i, half_hour in enumerate(thirty):
        parts = five[6 * i : 6 * i + 6]
        assert abs(sum(p["kwh"] for p in parts) - half_hour["kwh"]) < 1e-9


def test_usage_before_the_site_was_active_is_empty(sim, client):
    site_id = sim.site_ids[0]
    active_from = dt.date.fromisoformat(client.get("/sites").json()[0]["activeFrom"])
    before = (active_from - dt.timedelta(days=2)).isoformat()
    records = usage(client, site_id, before, active_from.isoformat())
    assert {r["date"] for r in records} == {active_from.isoformat()}


def test_estimated_usage_may_differ_from_its_final_value():
    with SimulatorServer(make_config(usage_estimate_error=0.2)) as sim, client_for(sim) as client:
        site_id = sim.site_ids[0]
        served = usage(client, site_id, "2025-01-14", "2025-01-14")
        day = dt.datetime(2025, 1, 14, tzinfo=NEM)
        truth = sim.truth.usage(site_id, day, day + dt.timedelta(days=1))
        assert [(t["channelIdentifier"], t["startTime"]) for t in truth] == [
            (s["channelIdentifier"], s["startTime"]) for s in served
        ]
        pairs = list(zip(served, truth, strict=True))
        assert all(s == t for s, t in pairs if s["quality"] == "billable")
        assert any(s["kwh"] != t["kwh"] for s, t in pairs if s["quality"] == "estimated" and t["kwh"])
        # When the day is billed, the served values become the final ones.
        sim.clock.advance(dt.timedelta(days=1))
        final = sim.truth.usage(site_id, day, day + dt.timedelta(days=1))
        assert usage(client, site_id, "2025-01-14", "2025-01-14") == final
