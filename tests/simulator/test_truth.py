"""Ground truth matches what is served, and revised actuals settle to it."""

from __future__ import annotations

import datetime as dt

from simulator import SimulatorServer
from tests.simulator.conftest import NEM, START, client_for, make_config


def test_truth_matches_served_actuals_5_and_30(sim, client):
    site_id = sim.site_ids[0]
    day = dt.datetime(2025, 1, 15, tzinfo=NEM)
    for resolution in (5, 30):
        served = client.get(f"/sites/{site_id}/prices", params={"resolution": resolution}).json()
        actuals = [r for r in served if r["type"] == "ActualInterval"]
        truth = sim.truth.prices(site_id, day, day + dt.timedelta(days=1), resolution=resolution)
        assert truth == actuals  # every interval that exists (ended by now), final values, same order


def test_truth_usage_matches_served_usage(sim, client):
    site_id = sim.site_ids[0]
    served = client.get(f"/sites/{site_id}/usage", params={"startDate": "2025-01-08", "endDate": "2025-01-15"}).json()
    truth = sim.truth.usage(site_id, dt.datetime(2025, 1, 8, tzinfo=NEM), dt.datetime(2025, 1, 16, tzinfo=NEM))
    assert truth == served and len(truth) == 7 * 48 * 3
    part = sim.truth.usage(site_id, dt.datetime(2025, 1, 10, 6, tzinfo=NEM), dt.datetime(2025, 1, 10, 7, tzinfo=NEM),
                           channel_identifier="B1")  # fmt: skip
    assert [(r["channelIdentifier"], r["nemTime"]) for r in part] == [
        ("B1", "2025-01-10T06:30:00+10:00"), ("B1", "2025-01-10T07:00:00+10:00")]  # fmt: skip


def test_revised_actuals_settle_to_truth():
    config = make_config(revision_rate=0.5, revision_seconds=1800)
    with SimulatorServer(config) as sim, client_for(sim) as client:
        site_id = sim.site_ids[0]
        window_start = START - dt.timedelta(minutes=30)

        def recent():
            records = client.get(f"/sites/{site_id}/prices", params={"resolution": 5}).json()
            return {r["startTime"]: r for r in records if r["channelType"] == "general"}

        served = recent()
        truth = sim.truth.prices(site_id, window_start, START, channel_type="general")
        assert len(truth) == 5  # whole intervals in the last 30 minutes: 11:40 .. 12:00-12:05
        assert any(served[t["startTime"]] != t for t in truth)  # some show a preliminary value
        sim.clock.advance(dt.timedelta(minutes=30))
        settled = recent()
        assert all(settled[t["startTime"]] == t for t in truth)
