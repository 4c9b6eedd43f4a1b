"""Shapes and the price model: sites and channels, interval fields, 5- vs 30-minute consistency,
channel price relations, descriptors, scripted spikes, closing a site and adding a channel."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from simulator import Simulation, render
from simulator.tariff import renewable_descriptor
from tests.simulator.conftest import NEM, START, UTC, by_channel, make_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amber"
INTERVAL_KEYS = {"type", "duration", "spotPerKwh", "perKwh", "date", "nemTime", "startTime", "endTime",
                 "renewables", "channelType", "tariffInformation", "spikeStatus", "descriptor"}  # fmt: skip
DESCRIPTORS = {"extremelyLow", "veryLow", "low", "neutral", "high", "spike"}


def test_sites(sim, client):
    response = client.get("/sites")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    sites = response.json()
    assert [s["id"] for s in sites] == sim.site_ids
    for index, site in enumerate(sites):
        assert set(site) == {"id", "nmi", "channels", "network", "status", "activeFrom", "intervalLength"}
        assert re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", site["id"])
        assert re.fullmatch(r"\d{10}", site["nmi"])
        assert site["status"] == "active"
        assert site["intervalLength"] == 5
        assert dt.date.fromisoformat(site["activeFrom"]) < START.date()
        identifiers = [c["identifier"] for c in site["channels"]]
        assert identifiers == (["E1", "E2", "B1"] if index % 2 == 0 else ["E1", "B1"])
        assert [c["type"] for c in site["channels"]][-1] == "feedIn"
        assert all(set(c) == {"identifier", "type", "tariff"} for c in site["channels"])


def test_interval_fields(sim, client):
    records = client.get(f"/sites/{sim.site_ids[0]}/prices", params={"resolution": 30}).json()
    seen = set()
    for r in records:
        extra = {"ActualInterval": set(), "CurrentInterval": {"estimate", "advancedPrice"},
                 "ForecastInterval": {"advancedPrice"}}[r["type"]]  # fmt: skip
        assert set(r) - {"range"} == INTERVAL_KEYS | extra
        if "range" in r:
            assert r["type"] != "ActualInterval" and r["spikeStatus"] != "none"
            assert r["range"]["min"] <= r["range"]["max"]
        if "advancedPrice" in r:
            band = r["advancedPrice"]
            assert band["low"] <= band["predicted"] <= band["high"]
        assert set(r["tariffInformation"]) == {"period", "season", "demandWindow"}
        assert r["tariffInformation"]["period"] in {"offPeak", "shoulder", "solarSponge", "peak"}
        assert r["tariffInformation"]["season"] == "summer"
        assert r["tariffInformation"]["demandWindow"] == (r["tariffInformation"]["period"] == "peak")
        assert r["spikeStatus"] in {"none", "potential", "spike"}
        assert r["descriptor"] in DESCRIPTORS
        assert 0 <= r["renewables"] <= 100
        seen.add(r["type"])
    assert seen == {"ActualInterval", "CurrentInterval", "ForecastInterval"}


def _fixture_objects():
    objects = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        objects.extend(data if isinstance(data, list) else [data])
    return objects


def _kind(obj: dict) -> str:
    return obj.get("type") if "type" in obj and "nmi" not in obj else ("Site:closed" if "closedOn" in obj else "Site")


def test_contract_key_sets_match_amber_fixtures(sim, client):
    """Every object the simulator emits has the key set of the fixture objects of its type (a documented
    optional `range` may be absent on either side; closedOn only on closed sites)."""
    assert list(FIXTURES.glob("*.json")), f"the Amber JSON fixtures are missing from {FIXTURES}"
    fixture_keys: dict[str, set[frozenset]] = {}
    for obj in _fixture_objects():
        fixture_keys.setdefault(_kind(obj), set()).add(frozenset(obj))

    site_id = sim.site_ids[0]
    sim.close_site(sim.site_ids[1], START.date())
    emitted = client.get("/sites").json()
    emitted += client.get(f"/sites/{site_id}/prices", params={"resolution": 5}).json()
    emitted += client.get(f"/sites/{site_id}/prices/current", params={"next": 12, "previous": 12}).json()
    emitted += client.get(f"/sites/{site_id}/usage", params={"startDate": "2025-01-13", "endDate": "2025-01-14"}).json()
    emitted += client.get("/state/vic/renewables/current", params={"next": 2, "previous": 2}).json()

    def without_range(keys):
        return frozenset(keys) - {"range"}

    checked = set()
    for obj in emitted:
        kind = _kind(obj)
        if kind not in fixture_keys:
            continue
        assert without_range(obj) in {without_range(k) for k in fixture_keys[kind]}, (kind, sorted(obj))
        if "range" in obj:
            assert any("range" in k for k in fixture_keys[kind]), kind
        checked.add(kind)
    assert {"ActualInterval", "CurrentInterval", "ForecastInterval", "Usage", "Site"} <= checked
    for obj in emitted:
        for key in ("tariffInformation", "advancedPrice"):
            if key in obj:
                fixture_nested = [set(f[key]) for f in _fixture_objects() if key in f]
                assert set(obj[key]) in fixture_nested, key


def test_thirty_minute_values_are_means_of_five_minute_values(sim):
    site_id = sim.site_ids[0]
    day_start = dt.datetime(2025, 1, 14, tzinfo=NEM)
    day_end = day_start + dt.timedelta(days=1)
    five = sim.truth.prices(site_id, day_start, day_end, resolution=5)
    thirty = sim.truth.prices(site_id, day_start, day_end, resolution=30)
    assert len(five) == 6 * len(thirty)
    severity = {"none": 0, "potential": 1, "spike": 2}
    for i, half_hour in enumerate(thirty):
        parts = five[6 * i : 6 * i + 6]
        assert {p["channelType"] for p in parts} == {half_hour["channelType"]}
        assert parts[0]["startTime"] == half_hour["startTime"] and parts[-1]["endTime"] == half_hour["endTime"]
        for field in ("perKwh", "spotPerKwh"):
            assert abs(sum(p[field] for p in parts) / 6 - half_hour[field]) < 1e-4
        assert abs(sum(p["renewables"] for p in parts) / 6 - half_hour["renewables"]) < 1e-3
        assert half_hour["spikeStatus"] == max((p["spikeStatus"] for p in parts), key=severity.get)


def test_channel_prices_and_descriptors(sim):
    site_id = sim.site_ids[0]
    start = dt.datetime(2024, 12, 1, tzinfo=NEM)
    records = sim.truth.prices(site_id, start, start + dt.timedelta(days=28), resolution=30)
    general, controlled, feed_in = (by_channel(records, c) for c in ("general", "controlledLoad", "feedIn"))
    assert len(general) == len(controlled) == len(feed_in) == 28 * 48
    assert all(c["perKwh"] < g["perKwh"] for c, g in zip(controlled, general, strict=True))  # controlled load is cheaper
    # Feed-in: negative (the customer is paid) as a rule, positive when the spot price is negative.
    assert sum(f["perKwh"] < 0 for f in feed_in) > 0.8 * len(feed_in)
    assert all((f["perKwh"] > 0) == (f["spotPerKwh"] < 0) for f in feed_in if abs(f["spotPerKwh"]) > 1e-3)
    assert any(f["perKwh"] > 0 for f in feed_in)
    # Daily shape: cheap middays, dear evening peaks.
    def median_at(hour):
        values = sorted(g["perKwh"] for g in general if g["nemTime"][11:16] == hour)
        return values[len(values) // 2]

    assert median_at("12:30") < median_at("01:00") < median_at("19:00")
    assert min(g["perKwh"] for g in general) < 5
    # Natural spike events: spike status, spike descriptor, a price in the hundreds of c/kWh.
    spikes = [g for g in general if g["spikeStatus"] == "spike"]
    assert spikes and all(g["descriptor"] == "spike" for g in spikes)
    assert max(g["perKwh"] for g in spikes) > 100
    assert any(g["spikeStatus"] == "potential" for g in general)
    assert {g["descriptor"] for g in general} >= {"veryLow", "low", "neutral", "high", "spike"}
    assert all(g["descriptor"] != "spike" for g in general if g["spikeStatus"] != "spike")


def test_scripted_spike(sim, client):
    site_id = sim.site_ids[1]
    start = dt.datetime(2025, 1, 15, 18, 0, tzinfo=NEM)  # in the forecast
    sim.script_spike(site_id, start, start + dt.timedelta(minutes=15), spot_per_kwh=400.0)
    records = client.get(f"/sites/{site_id}/prices", params={"resolution": 5}).json()
    general = {r["nemTime"]: r for r in by_channel(records, "general")}
    for end in ("18:05", "18:10", "18:15"):
        r = general[f"2025-01-15T{end}:00+10:00"]
        assert r["type"] == "ForecastInterval"
        assert (r["spikeStatus"], r["descriptor"], r["spotPerKwh"]) == ("spike", "spike", 400.0)
        assert r["perKwh"] > 400
        assert "range" in r
    assert general["2025-01-15T17:45:00+10:00"]["spikeStatus"] == "potential"
    assert general["2025-01-15T18:20:00+10:00"]["spotPerKwh"] != 400.0
    feed_in = {r["nemTime"]: r for r in by_channel(records, "feedIn")}
    assert feed_in["2025-01-15T18:05:00+10:00"]["perKwh"] < -400  # exporting during a spike pays well
    # Living through it: the actuals and the truth carry the scripted spike too.
    sim.clock.set(start + dt.timedelta(hours=1))
    truth = sim.truth.prices(site_id, start, start + dt.timedelta(minutes=15), channel_type="general")
    assert [t["spotPerKwh"] for t in truth] == [400.0] * 3


def test_closed_sites_option():
    sim = Simulation(make_config(sites=3, closed_sites=1))
    sites = [render.site(s, sim.today()) for s in sim.sites()]
    assert [s["status"] for s in sites] == ["active", "active", "closed"]
    closed = sites[2]
    assert closed["activeFrom"] <= closed["closedOn"] < START.date().isoformat()


def test_close_site_and_add_channel_mid_history(sim, client):
    closing, growing = sim.site_ids
    sim.close_site(closing, dt.date(2025, 1, 10))
    sim.add_channel(growing, "E2", "controlledLoad", dt.date(2025, 1, 13))

    sites = {s["id"]: s for s in client.get("/sites").json()}
    assert sites[closing]["status"] == "closed" and sites[closing]["closedOn"] == "2025-01-10"
    assert "closedOn" not in sites[growing]
    assert [c["identifier"] for c in sites[growing]["channels"]] == ["E1", "E2", "B1"]

    usage = client.get(f"/sites/{closing}/usage", params={"startDate": "2025-01-08", "endDate": "2025-01-14"}).json()
    assert {u["date"] for u in usage} == {"2025-01-08", "2025-01-09", "2025-01-10"}

    records = client.get(f"/sites/{growing}/prices", params={"startDate": "2025-01-12", "endDate": "2025-01-13",
                                                              "resolution": 30}).json()  # fmt: skip
    controlled = by_channel(records, "controlledLoad")
    assert {r["date"] for r in controlled} == {"2025-01-13"} and len(controlled) == 48
    assert len(by_channel(records, "general")) == 96
    usage = client.get(f"/sites/{growing}/usage", params={"startDate": "2025-01-12", "endDate": "2025-01-13"}).json()
    assert {u["date"] for u in usage if u["channelIdentifier"] == "E2"} == {"2025-01-13"}

    # A channel that starts in the future is not listed yet.
    sim.add_channel(closing, "E3", "controlledLoad", dt.date(2025, 2, 1))
    listed = {s["id"]: s for s in client.get("/sites").json()}[closing]
    assert "E3" not in [c["identifier"] for c in listed["channels"]]


def test_renewables_endpoint(sim, client, anonymous):
    response = anonymous.get("/state/SA/renewables/current", params={"next": 2, "previous": 1, "resolution": 5})
    assert response.status_code == 200
    records = response.json()
    kinds = [r["type"] for r in records]
    assert kinds == ["ActualRenewable", "CurrentRenewable", "ForecastRenewable", "ForecastRenewable"]
    for r in records:
        assert set(r) == {"type", "duration", "date", "nemTime", "startTime", "endTime", "renewables", "descriptor"}
        assert r["descriptor"] == renewable_descriptor(r["renewables"])
    assert records[1]["nemTime"] == "2025-01-15T12:10:00+10:00"
    assert client.get("/state/tas/renewables/current").status_code == 404
    default = client.get("/state/nsw/renewables/current").json()
    assert [(r["type"], r["duration"]) for r in default] == [("CurrentRenewable", 30)]
    truth = sim.truth.renewables("sa", START - dt.timedelta(minutes=10), START.astimezone(UTC), resolution=5)
    assert truth[-1]["renewables"] == records[0]["renewables"]
